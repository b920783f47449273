"""The verdict rules of a run comparison (reports.compare), kept apart from the reading and
rendering so each rule can be tested on hand-made numbers.

Why these rules (docs for README "Compare runs"):

- **Exact counts** (params, MACs) are deterministic functions of the architecture: any
  difference is a change, never noise. Verdict `identical` or `changed`.
- **Quality** metrics vary with the sampling seed. A run records each metric per seed
  (`per_seed`, mean, sample std). The difference of the means is judged against
  `NOISE_K · sqrt(std_a² + std_b²)`: the spread of the difference of two single-seed draws.
  We deliberately use the per-seed std, not the standard error std/√n: runs here have 2-3
  seeds, whose std estimate is itself poor, and the standard error would call ordinary
  seed-to-seed wobble a change (a Welch t-test with 1-2 degrees of freedom is no better).
  `|Δ| ≤ 2·σ_Δ` is "within noise"; beyond it the metric's registered direction
  (`lower_is_better`) says better or worse. With one seed on either side there is no
  spread to judge by: the verdict says so and is never a regression.
- **Latency** (median of the timed forwards, with its spread s: half its bootstrap 95 % CI,
  or its IQR in a profile made before CIs) is judged within noise when
  `|Δ| ≤ max(s_a, s_b, LATENCY_FLOOR · median_a)`: s covers the uncertainty inside one job,
  the 10 % floor the drift between jobs (another tenant, clocks), which one job cannot see; it is the margin the README's pytest-benchmark gate uses. Timings from
  different devices (name, type or thread count) are never compared raw; they are compared
  as a ratio to a reference model timed at the same size in the same run, when both runs
  have one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NOISE_K = 2.0  # |Δ| beyond NOISE_K combined per-seed std is a change
LATENCY_FLOOR = 0.10  # run-to-run timing drift no single job's IQR shows

IDENTICAL, CHANGED = "identical", "changed"
BETTER, WORSE, NOISE = "better", "worse", "within noise"
ONE_SEED = "not judged: one seed (no spread)"
GATE_FAIL = (CHANGED, WORSE)  # the verdicts that fail `--gate`


@dataclass(frozen=True)
class Stat:
    """One measured number: mean (or median) with its spread and how many draws it rests on."""

    mean: float
    spread: float | None = None  # per-seed std (quality) or IQR (latency); None: unknown
    n: int = 1


def exact(a, b) -> str:
    """Params and MACs: counted, not sampled, so any difference is a change."""
    return IDENTICAL if a == b else CHANGED


def _direction(delta: float, lower_is_better: bool) -> str:
    return BETTER if (delta < 0) == lower_is_better else WORSE


def quality(a: Stat, b: Stat, lower_is_better: bool) -> str:
    """Run b against baseline a (module docstring: the 2·combined-std rule)."""
    delta = b.mean - a.mean
    if delta == 0:
        return IDENTICAL
    if a.n < 2 or b.n < 2 or a.spread is None or b.spread is None:
        return ONE_SEED
    sigma = math.hypot(a.spread, b.spread)
    if abs(delta) <= NOISE_K * sigma:
        return NOISE
    return _direction(delta, lower_is_better)


def latency(a: Stat, b: Stat) -> str:
    """Median latency of b against baseline a (lower is better)."""
    delta = b.mean - a.mean
    if delta == 0:
        return IDENTICAL
    tol = max(a.spread or 0.0, b.spread or 0.0, LATENCY_FLOOR * abs(a.mean))
    if abs(delta) <= tol:
        return NOISE
    return _direction(delta, lower_is_better=True)


def ratio(x: Stat, ref: Stat) -> Stat:
    """x/ref with its spread propagated to first order (relative spreads add in quadrature)."""
    r = x.mean / ref.mean
    rel = math.hypot((x.spread or 0.0) / x.mean, (ref.spread or 0.0) / ref.mean)
    return Stat(r, r * rel, min(x.n, ref.n))


def fails_gate(verdict: str) -> bool:
    return verdict in GATE_FAIL
