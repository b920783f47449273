"""How much a timing can be trusted: a bootstrap confidence interval of the median, and the load
the machine was under while it was taken.

Why a bootstrap CI of the median: forward times on a shared machine are skewed (another process
only ever adds time), so a mean ± std misleads and an IQR says how wide the times are, not how
well their median is known. Resampling the times with replacement and taking the 2.5th and 97.5th
percentiles of the resampled medians gives a 95 % interval for the median without assuming a
distribution (the percentile bootstrap; seeded, so a profile is reproducible from its times).

Why record load: a wide CI says a figure is uncertain; the load says why. Linux's /proc/stat
gives, since boot, the jiffies every CPU spent busy, idle and stolen by the hypervisor ("steal");
the deltas over a job give the fraction of the machine's CPU time that was stolen, and the
fraction used by processes other than this one (all busy time minus this process's own CPU
time). Elsewhere those fields are None.
"""

from __future__ import annotations

import os
import time

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


def bootstrap_median_ci(
    times, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED, level=CONFIDENCE
) -> tuple[float, float]:
    """Percentile-bootstrap `level` CI of the median of `times` (numpy, seeded)."""
    x = np.asarray(times, dtype=float)
    if x.size == 0:
        raise ValueError("no times to bootstrap")
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    medians = np.median(x[rng.integers(0, x.size, size=(resamples, x.size))], axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(medians, [alpha, 1 - alpha])
    return float(lo), float(hi)


def relative_half_width(median: float, ci: tuple[float, float]) -> float:
    """(hi − lo) / 2 ÷ median: the CI's half-width as a fraction of the median."""
    return (ci[1] - ci[0]) / 2 / median if median > 0 else float("inf")


def _proc_stat() -> list[int] | None:
    """The aggregate `cpu` line of /proc/stat in jiffies (user nice system idle iowait irq softirq
    steal ...), None where there is none."""
    try:
        with open("/proc/stat") as f:
            first = f.readline().split()
    except OSError:
        return None
    if not first or first[0] != "cpu":
        return None
    return [int(v) for v in first[1:]]


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


class LoadMeter:
    """Load during a span of work: `with LoadMeter() as m: ...; m.result()`."""

    def __enter__(self):
        self.load_before = _loadavg()
        self.stat_before = _proc_stat()
        self.own_before = _own_cpu_s()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.load_after = _loadavg()
        self.stat_after = _proc_stat()
        self.own_after = _own_cpu_s()
        return False

    def result(self) -> dict:
        steal = other = None
        a, b = self.stat_before, self.stat_after
        if a and b and len(a) >= 8 and len(b) >= 8:
            d = [y - x for x, y in zip(a, b, strict=False)]
            total = sum(d[:8])  # guest time is already counted in user/nice
            if total > 0:
                hz = os.sysconf("SC_CLK_TCK")
                idle = d[3] + d[4]
                busy = total - idle - d[7]
                steal = d[7] / total
                own = (self.own_after - self.own_before) * hz
                other = min(1.0, max(0.0, (busy - own) / total))
        return {
            "loadavg": [self.load_before, self.load_after],
            "steal_fraction": steal,
            "cpu_busy_other": other,
            "cpus": os.cpu_count(),
            "seconds": self.seconds,
            "how": "loadavg: 1-min load average before/after; steal_fraction and cpu_busy_other: "
            "fractions of all CPUs' time during the span (/proc/stat deltas; other = busy time "
            "minus this process's own CPU time); None where /proc/stat is absent",
        }


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):
        return None
