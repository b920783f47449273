"""Efficiency profile of one generator: every registered measure (registry.py, one file each in
measures/) run in registration order into one dict, what `python -m benchmarks.profiling` writes.

Why the job takes the typed `settings.Profile` section whole: which batch sizes are timed at this
resolution (`cfg.batch_sizes_at`), the timing protocol and which MAC counters run
(`counting.counters_for`, from `cfg.fvcore_max_resolution`) are all decided here from it, so a
workflow rule passes the section and nothing about counters or timing knobs.

Counting happens on the meta device (no memory, no arithmetic; see counting.py), except fvcore,
which needs one real batch-1 forward on CPU. Latency is the only measure that runs the model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import models
from benchmarks.profiling import counting, registry
from common.cli import UsageError
from common.device import DEFAULT_DEVICE, resolve_device
from common.provenance import device_info, versions
from common.settings import Profile

log = logging.getLogger("pixbench.profiling")

SCHEMA = "pixbench.efficiency/1"


def validate_request(name: str, resolution) -> tuple[str, int]:
    """Reject bad input with a UsageError before any work; which resolutions a model supports is
    the model's own rule (its builder raises), checked by `build_checked`."""
    if name not in models.available():
        raise UsageError(f"unknown model {name!r}; available: {', '.join(models.available())}")
    try:
        r = int(resolution)
    except (TypeError, ValueError):
        raise UsageError(f"resolution must be an integer, got {resolution!r}") from None
    if isinstance(resolution, float) and resolution != r:
        raise UsageError(f"resolution must be an integer, got {resolution!r}")
    return name, r


def build_checked(name: str, resolution: int, **build):
    """The generator on meta, or a UsageError naming the bad build override."""
    try:
        return counting.build_for_counting(name, resolution, "meta", **build)
    except (TypeError, ValueError) as e:
        raise UsageError(
            f"cannot build {name} at {resolution} with overrides {build}: {e}"
        ) from None


def check_counters(counters) -> tuple[str, ...]:
    """An explicit counter choice (API callers that must stay on meta) still needs the primary,
    which every headline number comes from."""
    names = tuple(counters)
    if counting.PRIMARY not in names or any(n not in counting.COUNTERS for n in names):
        raise UsageError(
            f"counters must include {counting.PRIMARY} and only use "
            f"{', '.join(counting.COUNTERS)}; got {names!r}"
        )
    return names


def context(
    model: str,
    resolution,
    cfg: Profile,
    build: dict | None = None,
    device=DEFAULT_DEVICE,
    latency: bool = True,
    counters=None,
) -> registry.Context:
    """The checked job a measure reads: bad input is a UsageError here, before any work."""
    name, res = validate_request(model, resolution)
    build = dict(build or {})
    build_checked(name, res, **build)
    counters = counters or counting.counters_for(res, cfg.fvcore_max_resolution)
    return registry.Context(
        model=name,
        resolution=res,
        build=build,
        cfg=cfg,
        device=resolve_device(device) if isinstance(device, str) else device,
        batch_sizes=tuple(cfg.batch_sizes_at(res)) if latency else (),
        counters=check_counters(counters),
    )


def run_measures(ctx: registry.Context, only: Sequence[str] | None = None) -> dict:
    """The profile dict: each registered measure that applies (`only`: those named and what they
    need), in registration order but after the measures it needs (registry.run_order)."""
    result = {
        "schema": SCHEMA,
        "model": ctx.model,
        "resolution": ctx.resolution,
        "overrides": ctx.build,
    }
    seconds, t0 = {}, time.perf_counter()
    for m in registry.run_order(only):
        missing = [n for n in m.needs if n not in seconds]
        if missing or not m.runs(ctx):
            why = f" (needs {', '.join(missing)}, which did not run)" if missing else ""
            log.info("%s: not measured here%s", m.name, why)
            continue
        log.info("%s of %s@%d", m.name, ctx.model, ctx.resolution)
        t = time.perf_counter()
        result.update(m(ctx))
        seconds[m.name] = time.perf_counter() - t
    result["measures"] = list(seconds)
    result["device_info"] = device_info(ctx.device)
    result["versions"] = versions(("torch", "fvcore", "ptflops"))
    result["profile_seconds"] = {**seconds, "total": time.perf_counter() - t0}
    return result


def profile(
    model: str,
    resolution,
    cfg: Profile,
    build: dict | None = None,
    device=DEFAULT_DEVICE,
    *,
    latency: bool = True,
    counters=None,
    only: Sequence[str] | None = None,
) -> dict:
    """The full profile dict (what `--out` holds): every registered measure of `model` at
    `resolution` with build overrides `build`, timed at `cfg.batch_sizes_at(resolution)` unless
    `latency` is False. `counters` (default: from cfg.fvcore_max_resolution) is for callers that
    must stay on meta; `only` names the measures a caller needs (the cost gate: params, MACs,
    FIR). Raises UsageError (bad input) or counting.CounterDisagreement."""
    ctx = context(model, resolution, cfg, build, device, latency, counters)
    return run_measures(ctx, only)
