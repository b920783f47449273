"""What a comparison reads off one run's results (reports.collect.RunResults, read without a
config so any two folders compare whatever config files are left on disk): the settings each
file records, the device and machine it was timed on, its config hash and code version. Nothing
here runs a model."""

from __future__ import annotations

import hashlib
import json

from benchmarks.profiling.measures.latency import OLD_KNOB_NAMES
from benchmarks.profiling.timing import TIMING_FIELDS
from common.invocation import code_text
from common.provenance import device_label, isa_summary
from reports.collect import RunResults

# what makes two runs' quality numbers incomparable when it differs (keys of the metric card)
QUALITY_PROTOCOL = ("extractor", "num_gen", "num_real", "truncation_psi", "noise_mode", "modes")
CARD_SETTINGS = (*QUALITY_PROTOCOL, "seeds", "batch")


def config_sha256(run: RunResults) -> str:
    """The config hash the pre-flight check recorded; without one, a hash of every setting
    the results record (marked so), which still tells two differently-run folders apart."""
    if run.preflight.get("config_sha256"):
        return run.preflight["config_sha256"]
    text = json.dumps(settings(run), sort_keys=True, default=str)
    return "settings:" + hashlib.sha256(text.encode()).hexdigest()


def run_device(run: RunResults) -> str:
    """The device a run was timed on, else the one its metrics were computed on."""
    for p in run.profiles.values():
        if p.get("latency"):
            return device_label(p["latency"]["device_info"])
    for q in run.quality.values():
        if q.get("card", {}).get("device"):
            return device_label(q["card"]["device"])
    return "not recorded"


def machine(run: RunResults, label: str) -> dict | None:
    """The fingerprint of the machine behind device `label` in this run (machines())."""
    return machines(run.profiles.values()).get(label)


def code_version(run: RunResults) -> str:
    """The pixbench version and commit the run's invocation record names (older results
    have none), then the library versions the profiles record."""
    code = (run.invocation or {}).get("code")
    head = code_text(code) if code else "pixbench commit not recorded"
    for p in run.profiles.values():
        if p.get("versions"):
            libs = ", ".join(f"{k} {v}" for k, v in p["versions"].items() if v)
            return f"{head}; {libs}"
    return head if code else "not recorded"


def machines(profiles) -> dict[str, dict | None]:
    """Device label -> the fingerprint of the run's machine on it: of the timed jobs on that
    label, the one whose kernel peak was highest, None when no job recorded a fingerprint
    (profiles made before fingerprints). The best job, not each job's own: load only slows a
    kernel, and one job of a quiet run read 117 GMAC/s against 214–234 in the others (the
    device roofline's rule, docs/roofline.md)."""
    out: dict[str, dict | None] = {}
    for p in profiles:
        lat = p.get("latency")
        if not lat:
            continue
        label = device_label(lat["device_info"])
        fp, best = lat.get("fingerprint"), out.get(label)
        if best is None or (fp and _peak(fp) > _peak(best)):
            out[label] = fp
    return out


def _peak(fp: dict) -> float:
    return (fp.get("roof") or {}).get("peak_macs_per_s") or 0.0


def giga(x: float) -> str:
    """A rate in G…/s as the header and the comparison write it: whole numbers from 10."""
    v = x / 1e9
    return f"{v:.0f}" if v >= 10 else f"{v:.2g}"


def fingerprint_line(fp: dict) -> str:
    """One fingerprint as a reader names the machine, e.g. `AMD EPYC 9R14, 2 threads, AVX-512
    (bf16), peak 110 GMAC/s [105–116], STREAM 20 GB/s` (the peak and its range of samples)."""
    gpu, roof = fp.get("gpu"), fp.get("roof") or {}
    if gpu:
        clock = (gpu.get("nvidia_smi") or {}).get("clocks.applications.graphics") or ""
        if not clock.replace(".", "").isdigit():  # "[N/A]" or no nvidia-smi: torch's maximum
            clock = f"{gpu['max_sm_clock_mhz']:.0f}" if gpu.get("max_sm_clock_mhz") else "?"
        parts = [gpu["name"], f"{gpu['memory_bytes'] / 2**30:.0f} GiB", f"SM clock {clock} MHz"]
    else:
        cpu = fp["cpu"]
        parts = [cpu["model"], f"{fp['threads']} threads", isa_summary(cpu["isa_flags"])]
    if roof.get("peak_macs_per_s"):
        lo, hi = roof["peak_range_macs_per_s"]
        parts.append(f"peak {giga(roof['peak_macs_per_s'])} GMAC/s [{giga(lo)}–{giga(hi)}]")
    if roof.get("bandwidth_bytes_per_s"):
        parts.append(f"STREAM {giga(roof['bandwidth_bytes_per_s'])} GB/s")
    return ", ".join(parts)


def device_line(profiles) -> str:
    """The timing device of a run for a report's header: its label and its machine's
    fingerprint, or `fingerprint not recorded` for older profiles; `not recorded` untimed."""
    found = machines(profiles)
    if not found:
        return "not recorded"
    label, fp = next(iter(found.items()))
    return f"{label}, machine: {fingerprint_line(fp) if fp else 'fingerprint not recorded'}"


def _flat(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}", v, out)
    else:
        out[prefix] = value


def settings(run: RunResults) -> dict:
    """Every setting the results record, flattened to `where.key` names (e.g.
    `quality[faces/stylegan2].num_gen`, `train[faces/stylegan2].seed`, `profile[stylegan2@64]
    .latency.latency_repeats`), so two runs' differences can be listed one per line. Profile
    knobs go by their config names, whatever the profile's age."""
    out: dict = {}
    for (d, m), q in run.quality.items():
        card = q.get("card", {})
        where = f"quality[{d}/{m}]"
        for key in CARD_SETTINGS:
            _flat(f"{where}.{key}", card.get(key), out)
        out[f"{where}.dataset_sha256"] = card.get("dataset", {}).get("sha256")
        out[f"{where}.kimg"] = q.get("generator", {}).get("kimg")
    for (d, m), r in run.train_meta.items():
        for key in ("train", "build", "hparams", "variant"):
            if key in r:
                _flat(f"train[{d}/{m}].{key}", r[key], out)
    for (m, res), p in run.profiles.items():
        where = f"profile[{m}@{res}]"
        _flat(f"{where}.overrides", p.get("overrides", {}), out)
        lat = p.get("latency") or {}
        for key, value in lat.items():
            key = OLD_KNOB_NAMES.get(key, key)  # an older profile's name for the same knob
            if key in (*TIMING_FIELDS, "claim_ci_target", "claim_max_time", "noise_mode"):
                out[f"{where}.latency.{key}"] = value
    return out


def setting_diffs(a: RunResults, b: RunResults) -> list[tuple[str, object, object]]:
    """(setting, value in a, value in b) for every recorded setting that differs (a setting one
    run has and the other lacks counts: e.g. a model trained in one run only)."""
    sa, sb = settings(a), settings(b)
    return [
        (k, sa.get(k, "absent"), sb.get(k, "absent"))
        for k in sorted(set(sa) | set(sb))
        if sa.get(k, "absent") != sb.get(k, "absent")
    ]


def incomparable_quality(a: RunResults, b: RunResults, dataset: str, model: str) -> str | None:
    """Why the quality numbers of (dataset, model) cannot be compared between a and b, or None:
    a different protocol setting (num_gen, extractor, …) or different real images."""
    ca = a.quality[(dataset, model)].get("card", {})
    cb = b.quality[(dataset, model)].get("card", {})
    for key in QUALITY_PROTOCOL:
        if ca.get(key) != cb.get(key):
            return f"not comparable: {key} differs"
    if ca.get("dataset", {}).get("sha256") != cb.get("dataset", {}).get("sha256"):
        return "not comparable: dataset differs"
    return None
