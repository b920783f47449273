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
- **Machines** with one device label (two 2-core "AMD EPYC" VMs ran the same conv at 214–234
  and 103–116 GMAC/s) are told apart by the fingerprint's measured kernel peak: the best sample
  of the fastest roof kernel, its spread the range of that kernel's samples. Peaks that differ
  by more than `max(s_a, s_b, PEAK_FLOOR · peak_a)` are different machines, and their timings
  go the different-devices way (ratios only). The floor is the latency floor for the same
  reason: clocks and other tenants move a rate between jobs by more than one job's samples
  show, and a re-timed machine must still compare raw.
- **Load**: a timed row records the share of the CPUs other processes used meanwhile
  (`cpu_busy_other`) and whether its CI stayed wider than its target (`noisy`). Other
  processes taking a share f of the CPUs the job's threads need slow a CPU-bound median by up
  to 1/(1 − f); beyond f = LATENCY_FLOOR / (1 + LATENCY_FLOOR) (9 %) that alone moves it by
  more than the 10 % floor, so such a row, or a noisy one, is `not comparable: timed under
  load (86 % other CPU)` / `not comparable: noisy timing`: it neither passes nor fails the
  gate. Idle CPUs beyond the job's threads absorb other load first.
- **Missing**: a profile, metric or timed row the baseline has and the new run lacks is
  `missing in new run` and fails the gate (a run that crashed half-way must not pass on the
  few numbers it wrote), unless the gate is told `--allow-missing`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NOISE_K = 2.0  # |Δ| beyond NOISE_K combined per-seed std is a change
LATENCY_FLOOR = 0.10  # run-to-run timing drift no single job's IQR shows
PEAK_FLOOR = LATENCY_FLOOR  # the same drift, seen in a kernel's peak
# other processes' share of the job's CPUs beyond which load alone exceeds the latency floor
LOAD_CEILING = LATENCY_FLOOR / (1 + LATENCY_FLOOR)

IDENTICAL, CHANGED = "identical", "changed"
BETTER, WORSE, NOISE = "better", "worse", "within noise"
ONE_SEED = "not judged: one seed (no spread)"
MISSING, NEW = "missing in new run", "only in new run"
NOT_COMPARABLE = "not comparable"  # the prefix of every verdict that is not a judgement
GATE_FAIL = (CHANGED, WORSE)  # the verdicts that fail `--gate`; MISSING too, unless allowed


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


def same_machine(a: Stat, b: Stat) -> bool:
    """Two measured kernel peaks (Stat: best sample, range of samples) are one machine's when
    they differ by no more than either's spread or the floor (module docstring)."""
    tol = max(a.spread or 0.0, b.spread or 0.0, PEAK_FLOOR * abs(a.mean))
    return abs(b.mean - a.mean) <= tol


def ratio(x: Stat, ref: Stat) -> Stat:
    """x/ref with its spread propagated to first order (relative spreads add in quadrature)."""
    r = x.mean / ref.mean
    rel = math.hypot((x.spread or 0.0) / x.mean, (ref.spread or 0.0) / ref.mean)
    return Stat(r, r * rel, min(x.n, ref.n))


def load_share(row: dict) -> float | None:
    """The share of the job's own CPUs that other processes took while a row was timed (module
    docstring: idle CPUs beyond the job's threads absorb other load first), None unrecorded."""
    other, load = row.get("cpu_busy_other"), row.get("load") or {}
    other = other if other is not None else load.get("cpu_busy_other")
    if other is None:
        return None
    cpus, threads = load.get("cpus"), row.get("threads")
    if not cpus or not threads or threads >= cpus:
        return float(other)
    return min(1.0, max(0.0, (other * cpus - (cpus - threads)) / threads))


def timed_under_load(row: dict) -> str | None:
    """Why a timed row cannot be judged for the load it ran under, or None: other processes
    beyond LOAD_CEILING of its CPUs, or a noisy row (CI wider than its target)."""
    share = load_share(row)
    other = row.get("cpu_busy_other", (row.get("load") or {}).get("cpu_busy_other"))
    if share is not None and share > LOAD_CEILING:
        return f"timed under load ({100 * other:.0f} % other CPU)"
    if row.get("noisy"):
        return "noisy timing (95 % CI wider than its target)"
    return None


def fails_gate(verdict: str, allow_missing: bool = False) -> bool:
    """Whether a row's verdict fails `--gate`: changed, worse, or missing unless allowed."""
    return verdict in GATE_FAIL or (verdict == MISSING and not allow_missing)
