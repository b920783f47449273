"""Timing primitives shared by the profiler and the pytest-benchmark suites: one place that knows
how to time a forward honestly (warm-up, CUDA sync, median/IQR) and what the device's dense
fp32 matmul rate is, so "utilization" always means achieved MAC/s ÷ matmul MAC/s of one run."""

from __future__ import annotations

import statistics
import time

import torch


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
    device: torch.device, n: int = 1024, dtype=torch.float32, repeats: int = 10
) -> float:
    """Dense n×n×n matmul rate (MAC/s) on `device`: the roof that utilization is measured against."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    times = time_callable(lambda: a @ b, device, warmup=3, repeats=repeats)
    return n**3 / statistics.median(times)
