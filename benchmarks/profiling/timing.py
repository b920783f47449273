"""Timing primitives shared by the profiler and the pytest-benchmark suites: one place that knows
how to time a forward honestly (warm-up, CUDA sync, median/IQR) and what the device's dense
fp32 matmul rate is, so "utilization" always means achieved MAC/s ÷ matmul MAC/s of one run.

The matmul rate (the "roof") is not one number measured once: on a shared machine it moves with
the load. `Roof` samples it in the same process, with the same thread count, interleaved with the
timed runs (one sample before each batch size and one after the last), keeps min/median/max, and
says when a latency row cannot be trusted (`check_row`): a utilization above 1 is impossible, and
a roof that moved more than ROOF_DRIFT_LIMIT during the job means the denominator is unknown.
"""

from __future__ import annotations

import statistics
import time

import torch

# Largest relative move of the roof, (max − min) / median over the job's samples, that a latency
# row survives. Why 25 %: on an idle machine successive 1024³ matmul samples agree within a few
# percent, so a larger move means another process took cores for part of the job; utilization
# against the median is then uncertain by more than its first digit, and a figure that may be
# wrong in its first digit is not reported as a result.
ROOF_DRIFT_LIMIT = 0.25
ROOF_SAMPLE_REPEATS = 10  # timed matmuls per roof sample (their median is the sample)
ROOF_N = 1024


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_callable(fn, device: torch.device, warmup: int, repeats: int, min_time: float = 0.0):
    """Seconds per call, after `warmup` untimed calls; keeps going until `min_time` has passed."""
    for _ in range(warmup):
        fn()
    sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


def summarize(times: list[float]) -> dict:
    q = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    return {
        "median_ms": 1e3 * statistics.median(times),
        "iqr_ms": 1e3 * (q[2] - q[0]),
        "repeats": len(times),
    }


@torch.no_grad()
def matmul_macs_per_s(
    device: torch.device, n: int = ROOF_N, dtype=torch.float32, repeats: int = ROOF_SAMPLE_REPEATS
) -> float:
    """Dense n×n×n matmul rate (MAC/s) on `device`: one sample of the roof (median of repeats)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    times = time_callable(lambda: a @ b, device, warmup=3, repeats=repeats)
    return n**3 / statistics.median(times)


class Roof:
    """The matmul roof of one latency job, sampled between the timed runs.

    roof = Roof(device)
    for b in batch_sizes:
        roof.sample()          # before each batch size
        ... time batch b ...
    roof.sample()              # after the last
    roof.summary()             # min/median/max, spread, samples, threads
    """

    def __init__(self, device: torch.device, drift_limit: float = ROOF_DRIFT_LIMIT):
        self.device = device
        self.drift_limit = drift_limit
        self.samples: list[float] = []
        self.threads: list[int] = []

    def sample(self) -> float:
        self.threads.append(torch.get_num_threads())
        value = float(matmul_macs_per_s(self.device))
        self.samples.append(value)
        return value

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """(max − min) / median of the samples: how far the roof moved during the job."""
        return (max(self.samples) - min(self.samples)) / self.median

    def summary(self) -> dict:
        return {
            "median_macs_per_s": self.median,
            "min_macs_per_s": min(self.samples),
            "max_macs_per_s": max(self.samples),
            "spread": self.spread,
            "drift_limit": self.drift_limit,
            "samples_macs_per_s": list(self.samples),
            "threads": sorted(set(self.threads)),
            "sample": f"median of {ROOF_SAMPLE_REPEATS} dense fp32 {ROOF_N}³ matmuls",
            "placement": "one sample before each batch size and one after the last, same process",
        }

    def check_row(self, utilization: float, threads: int) -> str | None:
        """Why a latency row timed during this job is invalid, or None when it is a result."""
        reasons = []
        if not utilization < 1.0:  # also catches NaN
            reasons.append(
                f"utilization {utilization:.2f} > 1: the model cannot beat a dense "
                "matmul, so the roof sample was measured under other load"
            )
        if self.spread > self.drift_limit:
            reasons.append(
                f"matmul roof moved {100 * self.spread:.0f} % during the job "
                f"({min(self.samples) / 1e9:.3g}–{max(self.samples) / 1e9:.3g} GMAC/s; "
                f"limit {100 * self.drift_limit:.0f} %)"
            )
        if set(self.threads) != {threads}:
            reasons.append(
                f"thread count changed between roof ({sorted(set(self.threads))}) "
                f"and timed runs ({threads})"
            )
        return "; ".join(reasons) or None


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
    *,
    warmup: int,
    min_repeats: int,
    ci_target: float,
    max_time: float,
    min_time: float = 0.0,
    between=None,
    round_s: float | None = None,
) -> dict:
    """Time `fn` in rounds, `between()` (the reference kernels) after each, until the bootstrap
    95 % CI of the median is within ±`ci_target` of it or `max_time` seconds passed; at least
    `min_repeats` calls and `min_time` seconds either way. On CUDA: CUDA events, warm-up for at
    least CUDA_WARMUP_S, the L2 flushed before every timed call (Triton's do_bench practice).

    Returns the times and their summary: median/IQR, `ci95_ms`, the CI's relative half-width,
    repeats, rounds, seconds, the thread counts seen and why repeating stopped."""
    from .noise import bootstrap_median_ci, relative_half_width

    round_s = ROUND_S if round_s is None else round_s
    flush = _l2_flush(device)
    t0, n = time.perf_counter(), 0
    while n < warmup or (device.type == "cuda" and time.perf_counter() - t0 < CUDA_WARMUP_S):
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
        if len(times) >= min_repeats and elapsed >= min_time:
            ci = bootstrap_median_ci(times)
            if relative_half_width(statistics.median(times), ci) < ci_target:
                stop = "ci"
                break
            if elapsed >= max_time:
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
