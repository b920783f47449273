"""Timing that survives a shared machine (benchmarks/profiling/noise.py, timing.time_adaptive):
the bootstrap CI of the median covers the true median as often as a 95 % interval should, on
synthetic data; adaptive timing stops at its CI target on stable times and at its cap on
unstable ones; and a real timed job with a competing CPU load is flagged noisy with its CI."""

import dataclasses
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from benchmarks.profiling import noise, roofline, timing
from benchmarks.profiling.measures import latency as profile_latency
from common.settings import Profile


@pytest.mark.numerics
def test_bootstrap_ci_of_the_median_covers_it_about_95_percent_of_the_time():
    """Coverage over M synthetic data sets of n skewed (log-normal) times with a known median.

    Error model: the M hit/miss outcomes are Bernoulli(p), p the CI's true coverage; the
    percentile bootstrap of a median at n = 31 falls between the order-statistic intervals
    [x(11), x(21)] and [x(10), x(22)], whose exact coverages P(j ≤ Binomial(31, ½) ≤ k − 1) are
    0.929 and 0.971. So the observed rate must lie within 4 standard errors √(p(1−p)/M) of that
    band (a false alarm ≈ 1e-4 for a correct CI)."""
    n, m, true_median = 31, 400, 1.0
    rng = np.random.default_rng(1)
    hits = 0
    for i in range(m):
        x = true_median * rng.lognormal(0.0, 0.3, n)
        lo, hi = noise.bootstrap_median_ci(x, resamples=1000, seed=i)
        hits += lo <= true_median <= hi
    se = math.sqrt(0.95 * 0.05 / m)
    assert 0.929 - 4 * se <= hits / m <= 0.971 + 4 * se


def test_bootstrap_ci_is_seeded_and_brackets_the_median():
    x = [5.0, 1.0, 3.0, 2.0, 4.0, 6.0, 7.0]
    a, b = noise.bootstrap_median_ci(x), noise.bootstrap_median_ci(x)
    assert a == b and a[0] <= 4.0 <= a[1]
    assert noise.bootstrap_median_ci([2.0]) == (2.0, 2.0)
    assert noise.relative_half_width(4.0, (3.0, 5.0)) == 0.25


def test_load_meter_fields():
    with noise.LoadMeter() as m:
        sum(range(10_000))
    r = m.result()
    assert len(r["loadavg"]) == 2 and r["seconds"] >= 0
    if os.path.exists("/proc/stat"):
        for k in ("steal_fraction", "cpu_busy_other"):
            assert r[k] is None or 0.0 <= r[k] <= 1.0


def _fake_times(monkeypatch, values):
    it = iter(values)
    monkeypatch.setattr(timing, "_timed_call", lambda fn, device, flush: next(it))


def test_stable_times_stop_at_the_ci_target(monkeypatch):
    """Identical times: the CI is a point, so timing stops after the minimum repeats."""
    _fake_times(monkeypatch, iter(lambda: 0.01, None))
    calls = []
    out = timing.time_adaptive(
        lambda: None,
        torch.device("cpu"),
        Profile(latency_warmup=0, latency_repeats=6, latency_ci_target=0.05, latency_max_time=60),
        round_s=0.0,
        between=lambda: calls.append(1),
    )
    assert out["stopped_by"] == "ci" and out["repeats"] == 6 and out["ci_half_width"] == 0
    assert out["ci95_ms"] == [10.0, 10.0] and len(calls) == 5  # a reference turn between rounds


def test_unstable_times_stop_at_the_cap(monkeypatch):
    """Times alternating 1 and 3 ms never give a median CI within ±5 %: the cap stops them."""
    _fake_times(monkeypatch, iter([1e-3, 3e-3] * 10_000))
    out = timing.time_adaptive(
        lambda: time.sleep(0), torch.device("cpu"),
        Profile(latency_warmup=0, latency_repeats=6, latency_ci_target=0.05,
                latency_max_time=0.05), round_s=0.0,
    )  # fmt: skip
    assert out["stopped_by"] == "time cap" and out["ci_half_width"] >= 0.05


def fixed_roof(monkeypatch, rates=None):
    """A Roofline whose kernels report fixed rates (MAC/s or bytes/s) instead of running."""
    rates = rates or {"sgemm 256": (1e11, "macs"), "stream copy": (1e10, "bytes")}
    monkeypatch.setattr(roofline, "best_rate", lambda k, device: (rates[k.name][0], 0.0))
    kernels = [roofline.Kernel(name, None, 1.0, unit) for name, (_, unit) in rates.items()]
    return roofline.Roofline(torch.device("cpu"), kernels=kernels)


def _busy_loops(n, cpus=None):
    """n processes spinning forever, on `cpus` only when given (Linux affinity)."""
    code = "while True: pass"
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    return [subprocess.Popen([sys.executable, "-c", code], preexec_fn=pin) for _ in range(n)]


def test_competing_cpu_load_flags_the_row_noisy_with_its_ci(monkeypatch):
    """A real timed job on a tiny model while busy-loop processes compete for its core.

    Why this is deterministic enough: the CI target is ±0.05 % with a 1.5 s cap. With two busy
    processes runnable on the forward's core the scheduler takes it away for whole time
    slices (a few ms) at random points. A forward of ~12 ms alone spans several slices, so each
    one is interrupted a random number of times, and the ~30 that fit in 1.5 s pin their median
    to ±0.4–2 % at best (measured on a 2-core EPYC), 8× the target or more. (A forward shorter
    than a slice mostly runs uninterrupted, and the median of those can be tight: a 4-ms
    forward against ±0.2 % came back not noisy in 2 runs of 8.) The row must then come back
    noisy, with its CI and the measured load in the reason, and still valid (a slow, noisy row
    is a figure with a wide CI, not an invalid one)."""
    small = {"width": 0.125, "z_dim": 32, "n_mlp": 2}  # ~12 ms per forward on one core
    roof = fixed_roof(monkeypatch)  # the roof's own sampling is not what is tested here
    # where affinity can be set, this process and two busy loops share one core, so the load
    # is the same on a 2-core laptop and a 64-core server; elsewhere one loop per core
    pinned = hasattr(os, "sched_setaffinity")
    affinity = os.sched_getaffinity(0) if pinned else None
    if pinned:
        core = {min(affinity)}
        os.sched_setaffinity(0, core)
        procs = _busy_loops(2, core)
    else:
        procs = _busy_loops(os.cpu_count() or 1)
    threads = torch.get_num_threads()
    # one intra-op thread: with several, each parallel region waits for its slowest, descheduled
    # thread, which makes a tiny forward take a whole time slice and the test slow, not surer
    torch.set_num_threads(1)
    try:
        time.sleep(0.2)  # let them start
        lat = profile_latency.measure_latency(
            "stylegan2", 64, "cpu", (1,), 1e6,
            Profile(latency_warmup=1, latency_repeats=6, latency_ci_target=0.0005,
                    latency_max_time=1.5), roof=roof, **small,
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
        if pinned:
            os.sched_setaffinity(0, affinity)
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
    row = lat["by_batch"]["1"]
    assert row["noisy"] is True and row["valid"] is True
    lo, hi = row["ci95_ms"]
    assert lo <= row["median_ms"] <= hi
    assert "CI" in row["noisy_reason"] and profile_latency.ms(lo) in row["noisy_reason"]
    if os.path.exists("/proc/stat"):
        assert row["load"]["cpu_busy_other"] > 0
        assert "other processes used" in row["noisy_reason"]
    assert 0 < row["utilization"] <= 1


def test_claim_rows_are_timed_to_their_own_target_and_cap(monkeypatch):
    """The row a speed claim is judged on (256 px, batch 1) repeats to ±claim_ci_target within
    claim_max_time; every other row keeps latency_ci_target / latency_max_time; whether a row is
    noisy is judged against latency_ci_target for all. The timing itself is replaced by fixed
    stats (what is tested is which knobs each row gets and what it says about them)."""
    seen = {}

    def fake(fn, device, p, *, between):
        ci_target, max_time = p.latency_ci_target, p.latency_max_time
        seen[len(seen) + 1] = (ci_target, max_time)
        hw = 0.04  # between the claim target (3 %) and the noisy bar (5 %): claim row capped
        stop = "time cap" if hw >= ci_target else "ci"
        return {
            "median_ms": 10.0, "iqr_ms": 1.0, "repeats": 40, "ci95_ms": [9.6, 10.4],
            "ci_half_width": hw, "rounds": 10, "seconds": max_time if stop != "ci" else 1.0,
            "stopped_by": stop, "threads_seen": [torch.get_num_threads()], "times_ms": [10.0],
        }  # fmt: skip

    monkeypatch.setattr(profile_latency, "time_adaptive", fake)
    knobs = Profile(latency_warmup=0, latency_ci_target=0.05, latency_max_time=5.0,
                    claim_ci_target=0.03, claim_max_time=20.0)  # fmt: skip
    lat = profile_latency.measure_latency(
        "stylegan2", profile_latency.CLAIM_RESOLUTION, "cpu", (1, 2), 1e6, knobs,
        roof=fixed_roof(monkeypatch), bytes_per_image=lambda b: 1e5,
        width=0.0625, z_dim=32, n_mlp=2,
    )  # fmt: skip
    assert seen == {1: (0.03, 20.0), 2: (0.05, 5.0)}
    claim, other = lat["by_batch"]["1"], lat["by_batch"]["2"]
    assert claim["claim_row"] is True and other["claim_row"] is False
    assert claim["timed_until"] == "20 s cap" and other["timed_until"] == "±5 % target"
    assert claim["noisy"] is False and other["noisy"] is False  # ±4 % is inside the ±5 % bar
    assert (lat["claim_ci_target"], lat["claim_max_time"]) == (0.03, 20.0)
    # a claim target looser than the common one, or a shorter cap, never times a claim row less
    seen.clear()
    looser = dataclasses.replace(knobs, claim_ci_target=0.1, claim_max_time=1.0)
    profile_latency.measure_latency(
        "stylegan2", profile_latency.CLAIM_RESOLUTION, "cpu", (1,), 1e6, looser,
        roof=fixed_roof(monkeypatch), bytes_per_image=lambda b: 1e5,
        width=0.0625, z_dim=32, n_mlp=2,
    )  # fmt: skip
    assert seen == {1: (0.05, 5.0)}
