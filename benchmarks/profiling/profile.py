"""Efficiency profile of one generator: parameters, MACs (two conventions, three counters),
activation memory and latency, as one dict (what `python -m benchmarks.profiling` writes).

Counting happens on the meta device (no memory, no arithmetic; see counting.py), except fvcore,
which needs one real batch-1 forward on CPU. Latency is the only part that runs the model.
"""

from __future__ import annotations

import logging
import time
import warnings

import torch

import models
from benchmarks.profiling import counting
from benchmarks.profiling.timing import Roof, summarize, time_callable
from common.cli import UsageError
from common.device import resolve_device
from common.provenance import device_info, versions
from common.settings import Profile, defaults

log = logging.getLogger("pixbench.profiling")

SCHEMA = "pixbench.efficiency/1"
COUNTER_TOLERANCE = 0.005  # counters must agree within 0.5 % (their spread is ≤ 0.05 %)
MACS_UNIT = (
    "multiply-accumulates (MACs, not FLOPs; FLOPs ≈ 2 × MACs) of conv/linear/matmul at batch 1; "
    "FIR filters, bias, activations and weight-modulation arithmetic excluded"
)
FVCORE_SLOW_MACS = 500e9  # above this, warn that the fvcore cross-check is a slow real forward


_LATENCY = defaults(Profile)


class CounterDisagreement(RuntimeError):
    """The MAC counters disagree by more than COUNTER_TOLERANCE: a counting bug somewhere."""


# --------------------------------------------------------------------------- validation
def validate_request(name: str, resolution, batch_sizes=(1,)) -> tuple[str, int, tuple[int, ...]]:
    """Reject bad input with a UsageError before any work; which resolutions a model supports is
    the model's own rule (its builder raises), checked by `_build_checked`."""
    if name not in models.available():
        raise UsageError(f"unknown model {name!r}; available: {', '.join(models.available())}")
    try:
        r = int(resolution)
    except (TypeError, ValueError):
        raise UsageError(f"resolution must be an integer, got {resolution!r}") from None
    if isinstance(resolution, float) and resolution != r:
        raise UsageError(f"resolution must be an integer, got {resolution!r}")
    bs = tuple(batch_sizes)
    if not bs or any(not isinstance(b, int) or isinstance(b, bool) or b < 1 for b in bs):
        raise UsageError(f"batch sizes must be positive integers, got {batch_sizes!r}")
    return name, r, bs


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
def _time_batch(G, dev, b: int, warmup: int, repeats: int, min_time: float) -> dict:
    z = torch.randn(b, G.z_dim, generator=torch.Generator().manual_seed(0)).to(dev)
    log.info("latency batch %d: %d warm-up + ≥%d timed forwards", b, warmup, repeats)
    with torch.no_grad():
        times = time_callable(lambda: G(z, noise_mode="const"), dev, warmup, repeats, min_time)
        stats = summarize(times)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
            G(z, noise_mode="const")
            stats["cuda_max_memory_allocated"] = torch.cuda.max_memory_allocated(dev)
    stats["threads"] = torch.get_num_threads()
    return stats


def measure_latency(name, resolution, device, batch_sizes, macs,
                    warmup=_LATENCY["latency_warmup"], repeats=_LATENCY["latency_repeats"],
                    min_time=_LATENCY["min_time"], **overrides) -> dict:  # fmt: skip
    """Timed eval-mode no-grad forwards (const noise) per batch size, against the matmul roof
    sampled in this process before each batch size and after the last (timing.Roof). A row whose
    utilization exceeds 1, or timed while the roof moved more than timing.ROOF_DRIFT_LIMIT, is
    kept with `valid: false` and its `invalid_reason`: a figure, never a result."""
    dev = resolve_device(device) if isinstance(device, str) else device
    G = models.build(name, resolution, **overrides).to(dev).eval()
    roof = Roof(dev)
    by_batch = {}
    for b in batch_sizes:
        before = roof.sample()
        by_batch[str(b)] = _time_batch(G, dev, b, warmup, repeats, min_time)
        by_batch[str(b)]["roof_before_macs_per_s"] = before
    roof.sample()
    log.info("matmul roof on %s: median %.1f GMAC/s (min %.1f, max %.1f, spread %.0f %%)", dev,
             roof.median / 1e9, min(roof.samples) / 1e9, max(roof.samples) / 1e9,
             100 * roof.spread)  # fmt: skip
    for i, (b, stats) in enumerate(by_batch.items()):
        sec = stats["median_ms"] / 1e3
        achieved = macs * int(b) / sec
        stats.update(images_per_s=int(b) / sec, achieved_macs_per_s=achieved,
                     utilization=achieved / roof.median,
                     roof_after_macs_per_s=roof.samples[i + 1])  # fmt: skip
        reason = roof.check_row(stats["utilization"], stats["threads"])
        stats.update(valid=reason is None, invalid_reason=reason)
        if reason:
            log.warning("latency %s@%d batch %s is INVALID: %s", name, resolution, b, reason)
    return {"device_info": device_info(dev), "matmul_macs_per_s": roof.median,
            "roof": roof.summary(), "noise_mode": "const", "mode": "eval, no_grad",
            "warmup": warmup, "min_repeats": repeats, "min_time_s": min_time,
            "by_batch": by_batch}  # fmt: skip


# --------------------------------------------------------------------------- API
def profile_model(name: str, resolution: int, device: str = "auto", batch_sizes=(1,), latency: bool = True,
                  counters=counting.COUNTERS, warmup: int = _LATENCY["latency_warmup"],
                  repeats: int = _LATENCY["latency_repeats"], min_time: float = _LATENCY["min_time"],
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
    result["versions"] = versions(("torch", "fvcore", "ptflops"))
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
