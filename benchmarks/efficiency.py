"""Efficiency profile of one generator: parameters, MACs (two conventions, three counters),
activation memory and latency, as one JSON file.

    python -m benchmarks.efficiency --model pixelfolder --resolution 256 --out pf256.json
    python -m benchmarks.efficiency --model cips --resolution 1024 --no-latency \\
        --counters flop_counter_mode,ptflops_aten --out cips1024.json

Counting happens on the meta device (no memory, no arithmetic; see benchmarks/counting.py),
except fvcore, which needs one real batch-1 forward on CPU. Latency is the only part that runs
the model for real. Python API: `profile_model(...)` returns the dict that the CLI writes.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import sys
import time
import warnings

import torch

import models
from benchmarks import counting
from benchmarks.cliutil import (
    OneLineParser,
    UsageError,
    check_writable,
    parse_int_list,
    run,
    setup_logging,
)
from benchmarks.timing import (
    device_info,
    matmul_macs_per_s,
    summarize,
    time_callable,
)
from data.atomic import atomic_write_text
from common.device import resolve_device

log = logging.getLogger("pixbench.efficiency")

SCHEMA = "pixbench.efficiency/1"
MIN_RES, MAX_RES = 32, 1024
COUNTER_TOLERANCE = 0.005  # counters must agree within 0.5 % (SPEC §7 spread is ≤ 0.05 %)
MACS_UNIT = (
    "multiply-accumulates (MACs, not FLOPs; FLOPs ≈ 2 × MACs) of conv/linear/matmul at batch 1; "
    "FIR filters, bias, activations and weight-modulation arithmetic excluded"
)
EXIT_DISAGREE = 1
FVCORE_SLOW_MACS = 500e9  # above this, warn that the fvcore cross-check is a slow real forward


class CounterDisagreement(RuntimeError):
    """The MAC counters disagree by more than COUNTER_TOLERANCE: a counting bug somewhere."""


# --------------------------------------------------------------------------- validation
def validate_request(name: str, resolution, batch_sizes=(1,)) -> tuple[str, int, tuple[int, ...]]:
    """Reject bad input with a UsageError before any work is done."""
    if name not in models.available():
        raise UsageError(f"unknown model {name!r}; available: {', '.join(models.available())}")
    try:
        r = int(resolution)
    except (TypeError, ValueError):
        raise UsageError(f"resolution must be an integer, got {resolution!r}") from None
    if isinstance(resolution, float) and resolution != r:
        raise UsageError(f"resolution must be an integer, got {resolution!r}")
    if r < MIN_RES or r > MAX_RES or r & (r - 1):
        raise UsageError(
            f"resolution must be a power of two in [{MIN_RES}, {MAX_RES}], got {resolution}"
        )
    bs = tuple(batch_sizes)
    if not bs or any(not isinstance(b, int) or isinstance(b, bool) or b < 1 for b in bs):
        raise UsageError(f"batch sizes must be positive integers, got {batch_sizes!r}")
    return name, r, bs


def parse_overrides(items: list[str] | None) -> dict:
    """["width=0.5", "modconv_mode=grouped"] → {"width": 0.5, "modconv_mode": "grouped"}."""
    out = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise UsageError(f"--override expects key=value, got {item!r}")
        out[key.strip()] = _parse_value(raw.strip())
    return out


def _parse_value(raw: str):
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(raw.lower(), raw)


def parse_counters(text: str) -> tuple[str, ...]:
    if text == "all":
        return counting.COUNTERS
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [n for n in names if n not in counting.COUNTERS]
    if unknown or counting.PRIMARY not in names:
        raise UsageError(
            f"--counters must include {counting.PRIMARY} and only use {', '.join(counting.COUNTERS)}; got {text!r}"
        )
    return names


# --------------------------------------------------------------------------- counting
def _build_checked(name, resolution, **overrides):
    try:
        return counting.build_for_counting(name, resolution, "meta", **overrides)
    except (TypeError, ValueError) as e:
        raise UsageError(
            f"cannot build {name} at {resolution} with overrides {overrides}: {e}"
        ) from None


def count_costs(name: str, resolution: int, counters=counting.COUNTERS, demod_extra: bool = True,
                **overrides) -> dict:  # fmt: skip
    """Params and MACs (both conventions, per module, per counter); raises CounterDisagreement.
    `demod_extra` adds one more meta pass for `macs_modconv_demod_matmul`."""
    g = _build_checked(name, resolution, **overrides)
    z = counting.example_input(g)
    out = counting.count_params(g)
    true = counting.count_macs(g, z, "true")
    paper = counting.count_macs(g, z, "paper")
    extra = None
    if demod_extra:
        default_path = counting.build_generator(name, resolution, "meta", **overrides).train()
        extra = counting.count_macs(default_path, z).total - true.total
    out.update(
        macs=true.macs,
        macs_unit=MACS_UNIT,
        macs_fir=true.fir,
        macs_with_fir=true.total,
        macs_paper_convention=paper.macs,
        macs_by_module=true.by_module,
        macs_by_module_paper_convention=paper.by_module,
        macs_fir_by_module=true.fir_by_module,
        macs_modconv_demod_matmul=extra,
    )
    by_counter = {counting.PRIMARY: _counter_entry(true, "meta")}
    if "ptflops_aten" in counters:
        log.info("ptflops (aten backend) on meta")
        fresh = counting.build_for_counting(name, resolution, "meta", **overrides)
        by_counter["ptflops_aten"] = _counter_entry(
            counting.count_macs_ptflops(fresh, z), "meta", headline=False
        )
    if "fvcore" in counters:
        log.info("fvcore: one batch-1 forward on CPU (it cannot trace meta tensors)")
        if true.total > FVCORE_SLOW_MACS:
            log.warning(
                "fvcore needs a real %.0f GMAC CPU forward here; --counters flop_counter_mode,ptflops_aten "
                "stays on meta",
                true.total / 1e9,
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g_cpu = counting.build_for_counting(name, resolution, "cpu", **overrides)
            by_counter["fvcore"] = _counter_entry(
                counting.count_macs_fvcore(g_cpu, counting.example_input(g_cpu, device="cpu")),
                "cpu",
            )
        del g_cpu
    out["macs_by_counter"] = by_counter
    out["counter_agreement"] = check_agreement(by_counter)
    return out


def _counter_entry(m: counting.MacCount, device: str, headline: bool = True) -> dict:
    return {"macs_with_fir": m.total, "macs": m.macs if headline else None, "device": device}


def check_agreement(by_counter: dict, tolerance: float = COUNTER_TOLERANCE) -> dict:
    """Every counter's total (FIR included, as each tool reports it) vs the primary's."""
    ref = by_counter[counting.PRIMARY]["macs_with_fir"]
    diffs = {k: counting.rel_diff(v["macs_with_fir"], ref) for k, v in by_counter.items()}
    worst = max(diffs, key=diffs.get)
    if diffs[worst] > tolerance:
        raise CounterDisagreement(
            f"MAC counters disagree: {worst} gives {by_counter[worst]['macs_with_fir']:,} vs "
            f"{counting.PRIMARY} {ref:,} ({100 * diffs[worst]:.3f} % > {100 * tolerance:.1f} %)"
        )
    return {"compared": "macs_with_fir", "max_rel_diff": max(diffs.values()), "tolerance": tolerance,
            "rel_diff_by_counter": diffs}  # fmt: skip


# --------------------------------------------------------------------------- latency
def measure_latency(name, resolution, device, batch_sizes, macs, warmup=3, repeats=10,
                    min_time=0.0, **overrides) -> dict:  # fmt: skip
    """Timed eval-mode no-grad forwards (const noise) per batch size, vs this run's matmul roof."""
    dev = resolve_device(device) if isinstance(device, str) else device
    roof = matmul_macs_per_s(dev)
    log.info("matmul roof on %s: %.1f GMAC/s", dev, roof / 1e9)
    G = models.build(name, resolution, **overrides).to(dev).eval()
    by_batch = {}
    for b in batch_sizes:
        z = torch.randn(b, G.z_dim, generator=torch.Generator().manual_seed(0)).to(dev)
        log.info(
            "latency %s@%d batch %d: %d warm-up + ≥%d timed forwards",
            name,
            resolution,
            b,
            warmup,
            repeats,
        )
        with torch.no_grad():
            times = time_callable(
                lambda z=z: G(z, noise_mode="const"), dev, warmup, repeats, min_time
            )
            stats = summarize(times)
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
                G(z, noise_mode="const")
                stats["cuda_max_memory_allocated"] = torch.cuda.max_memory_allocated(dev)
        sec = stats["median_ms"] / 1e3
        stats.update(
            images_per_s=b / sec,
            achieved_macs_per_s=macs * b / sec,
            utilization=macs * b / sec / roof,
        )
        by_batch[str(b)] = stats
    return {"device_info": device_info(dev), "matmul_macs_per_s": roof, "noise_mode": "const",
            "mode": "eval, no_grad", "warmup": warmup, "min_repeats": repeats, "min_time_s": min_time,
            "by_batch": by_batch}  # fmt: skip


# --------------------------------------------------------------------------- API
def profile_model(name: str, resolution: int, device: str = "auto", batch_sizes=(1,), latency: bool = True,
                  counters=counting.COUNTERS, warmup: int = 3, repeats: int = 10, min_time: float = 0.0,
                  **overrides) -> dict:  # fmt: skip
    """The full profile dict (what `--out` holds). Raises UsageError / CounterDisagreement."""
    name, resolution, batch_sizes = validate_request(name, resolution, batch_sizes)
    dev = resolve_device(device)
    t0 = time.perf_counter()
    log.info("counting %s@%d (counters: %s)", name, resolution, ", ".join(counters))
    result = {"schema": SCHEMA, "model": name, "resolution": resolution, "overrides": overrides}
    result.update(count_costs(name, resolution, counters, **overrides))
    t1 = time.perf_counter()
    log.info("activation memory %s@%d on meta", name, resolution)
    result["activation_bytes"] = counting.activation_bytes(name, resolution, **overrides)
    t2 = time.perf_counter()
    result["counting"] = {
        "device": "meta (fvcore: cpu)",
        "batch": 1,
        "model_mode": "train mode under no_grad (only CIPS differs: embedding used directly, no grid_sample)",
        "modconv_path": "grouped (official); the activations path adds macs_modconv_demod_matmul",
        "paper_convention": "each stride-2 transposed conv counted as a dense conv over its 2H×2W output (×4)",
    }
    result["device_info"] = device_info(dev)
    result["versions"] = _versions()
    if latency:
        result["latency"] = measure_latency(
            name,
            resolution,
            dev,
            batch_sizes,
            result["macs"],
            warmup,
            repeats,
            min_time,
            **overrides,
        )
    result["profile_seconds"] = {
        "count": t1 - t0,
        "activation": t2 - t1,
        "total": time.perf_counter() - t0,
    }
    return result


def _versions() -> dict:
    out = {}
    for pkg in ("torch", "fvcore", "ptflops"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


# --------------------------------------------------------------------------- CLI
def main(argv=None) -> int:
    p = OneLineParser(prog="python -m benchmarks.efficiency", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help=f"one of {', '.join(models.available())}")
    p.add_argument("--resolution", required=True)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (latency only)")
    p.add_argument("--batch-sizes", default="1", help="comma-separated, e.g. 1,8")
    p.add_argument("--no-latency", action="store_true", help="skip timing (counting only)")
    p.add_argument(
        "--override", action="append", metavar="KEY=VALUE", help="builder override, repeatable"
    )
    p.add_argument(
        "--counters", default="all", help=f"'all' or a subset of {','.join(counting.COUNTERS)}"
    )
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument(
        "--min-time", type=float, default=0.0, help="keep timing until this many seconds passed"
    )
    p.add_argument("--out", required=True, help="JSON file (written atomically)")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    setup_logging(a.verbose)
    batch_sizes = parse_int_list(a.batch_sizes, "--batch-sizes")
    name, resolution, batch_sizes = validate_request(a.model, a.resolution, batch_sizes)
    if a.warmup < 0 or a.repeats < 1 or a.min_time < 0:
        raise UsageError("--warmup must be ≥ 0, --repeats ≥ 1 and --min-time ≥ 0")
    overrides, counters = parse_overrides(a.override), parse_counters(a.counters)
    out = check_writable(a.out)
    try:
        dev = resolve_device(a.device)
    except (ValueError, RuntimeError) as e:
        raise UsageError(str(e)) from None
    _build_checked(name, resolution, **overrides)  # bad overrides fail here, before any work
    try:
        result = profile_model(
            name, resolution, str(dev), batch_sizes, not a.no_latency, counters,
            a.warmup, a.repeats, a.min_time, **overrides,
        )  # fmt: skip
    except CounterDisagreement as e:
        print(f"error: {e}", flush=True, file=sys.stderr)
        return EXIT_DISAGREE
    atomic_write_text(out, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    log.info(
        "wrote %s: %.3f G MACs, %.2f M params", out, result["macs"] / 1e9, result["params"] / 1e6
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
