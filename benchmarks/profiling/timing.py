"""Timing primitives shared by the profiler and the pytest-benchmark suites: one place that knows
how to time a forward honestly (warm-up, CUDA sync and events, median/IQR, a bootstrap CI and
repeats until it is narrow: `time_adaptive`). What a timed rate is compared with, the device's
measured roofline, is roofline.py.

`time_adaptive` takes the config's `profile:` section (common.settings.Profile) whole and reads its
knobs by their config names, so a knob has one name from the YAML file to the loop that obeys it;
a caller that needs another bound (a claim row's tighter target) passes a replaced section.
"""

from __future__ import annotations

import math
import statistics
import time

import torch

from common.settings import Profile


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def summarize(times: list[float]) -> dict:
    q = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    return {
        "median_ms": 1e3 * statistics.median(times),
        "iqr_ms": 1e3 * (q[2] - q[0]),
        "repeats": len(times),
    }


# --------------------------------------------------------------------------- adaptive timing
ROUND_S = 0.25  # a timing round lasts at least this long (≥ 1 call), then the roof takes a turn
CUDA_WARMUP_S = 0.2  # on CUDA, warm-up lasts at least this long (clocks, caches, allocator)
CI_MIN_REPEATS = 6  # fewest times whose min and max bound a median with ≥ 95 % confidence
L2_FLUSH_MULTIPLE = 2  # CUDA: the L2 flush buffer is this many times the L2


def _l2_flush(device: torch.device):
    """A buffer larger than the GPU's L2 (zeroed between timed calls so no call starts with the
    previous one's operands in cache), None on CPU."""
    if device.type != "cuda":
        return None
    l2 = int(getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 0)) or 2**26
    return torch.empty(L2_FLUSH_MULTIPLE * l2, dtype=torch.uint8, device=device)


def _timed_call(fn, device: torch.device, flush) -> float:
    if device.type == "cuda":
        flush.zero_()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def time_adaptive(
    fn,
    device: torch.device,
    p: Profile,
    *,
    between=None,
    round_s: float | None = None,
) -> dict:
    """Time `fn` in rounds, `between()` (the reference kernels) after each, until the bootstrap
    95 % CI of the median is within ±`p.latency_ci_target` of it or `p.latency_max_time` seconds
    passed; after `p.latency_warmup` untimed calls, at least `p.latency_repeats` timed calls and
    `p.min_time` seconds either way. On CUDA: CUDA events, warm-up for at least CUDA_WARMUP_S,
    the L2 flushed before every timed call (Triton's do_bench practice).

    Returns the times and their summary: median/IQR, `ci95_ms`, the CI's relative half-width,
    repeats, rounds, seconds, the thread counts seen and why repeating stopped."""
    from .noise import bootstrap_median_ci, relative_half_width

    round_s = ROUND_S if round_s is None else round_s
    flush = _l2_flush(device)
    t0, n = time.perf_counter(), 0
    while n < p.latency_warmup or (
        device.type == "cuda" and time.perf_counter() - t0 < CUDA_WARMUP_S
    ):
        fn()
        n += 1
    sync(device)
    times: list[float] = []
    threads: set[int] = set()
    rounds, start = 0, time.perf_counter()
    while True:
        t_round = time.perf_counter()
        while True:
            threads.add(torch.get_num_threads())
            times.append(_timed_call(fn, device, flush))
            if time.perf_counter() - t_round >= round_s:
                break
        rounds += 1
        elapsed = time.perf_counter() - start
        if len(times) >= p.latency_repeats and elapsed >= p.min_time:
            ci = bootstrap_median_ci(times)
            if relative_half_width(statistics.median(times), ci) < p.latency_ci_target:
                stop = "ci"
                break
            if elapsed >= p.latency_max_time:
                stop = "time cap"
                break
        if between is not None:
            between()
    med = statistics.median(times)
    return {
        **summarize(times),
        "ci95_ms": [1e3 * ci[0], 1e3 * ci[1]],
        "ci_half_width": relative_half_width(med, ci),
        "rounds": rounds,
        "seconds": time.perf_counter() - start,
        "stopped_by": stop,
        "threads_seen": sorted(threads),
        "times_ms": [1e3 * t for t in times],
    }


# the Profile fields time_adaptive reads: what a section that times records about its timing
TIMING_FIELDS = (
    "latency_warmup",
    "latency_repeats",
    "min_time",
    "latency_ci_target",
    "latency_max_time",
)


def timing_record(p: Profile) -> dict:
    """The knobs `time_adaptive` read from `p`, by their config names (for a profile's record)."""
    return {name: getattr(p, name) for name in TIMING_FIELDS}


# --------------------------------------------------------------------------- ratio of two timings
def log_half(med: float, lo: float, hi: float) -> float:
    """δ of one timing: the wider side of its 95 % interval, relative, in log space."""
    return max(math.log(hi / med), math.log(med / lo))


def ratio_interval(a: tuple, b: tuple) -> tuple[float, float, float]:
    """b's median ÷ a's, each a (median, lo, hi) timing, with its 95 % interval: ratio × e^(±δ),
    δ = √(δa² + δb²). Two independent timings with multiplicative errors, so their relative
    half-widths add in quadrature in log space: the one method of the speed claims
    (benchmarks/claims/speed.py) and of the variant grid's speed-ups."""
    ratio = b[0] / a[0]
    delta = math.hypot(log_half(*a[:3]), log_half(*b[:3]))
    return ratio, ratio * math.exp(-delta), ratio * math.exp(delta)
