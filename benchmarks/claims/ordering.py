"""Which model's quality ranks above another's: the one rule the report orders models by.

A quality number is a mean over seeds, and the seeds disagree; two models whose means differ by
less than that disagreement are not ordered by the run, however the means fall. So model A ranks
above model B on a metric only when their per-seed intervals separate:

    interval = mean ± t_{0.975, n−1} · s / √n

from the `per_seed` values of the quality result (n seeds, sample std s; Student's t because s is
itself estimated from a handful of seeds), and A's interval lies wholly on the better side of B's
(`lower_is_better` from the metric registry). Overlapping intervals: `not separable at N = <num_gen>
(seeds …)`. One seed on either side gives no spread to judge by: not judged. Two intervals that
do not overlap is a stricter test than a t-test of the difference (each interval is 95 %), which
is the side to err on when a run has 2 or 3 seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

from scipy import stats

from benchmarks.quality import registry

CONFIDENCE = 0.95
ABOVE, NOT_SEPARABLE, NOT_JUDGED = "above", "not separable", "not judged"


@dataclass(frozen=True)
class SeedInterval:
    """A metric's mean over seeds with its t interval (lo = hi = mean for one seed)."""

    mean: float
    lo: float
    hi: float
    n: int


@dataclass(frozen=True)
class Order:
    """How two models compare on one metric: `verdict` ABOVE (then `better` is the one above),
    NOT_SEPARABLE or NOT_JUDGED, with the sentence the report shows."""

    key: str
    a: str
    b: str
    verdict: str
    better: str | None
    text: str


def seed_interval(values) -> SeedInterval:
    """mean ± t_{0.975, n−1} · s/√n of the per-seed values."""
    xs = [float(v) for v in values]
    n = len(xs)
    if n == 0:
        raise ValueError("no per-seed values")
    mean = math.fsum(xs) / n
    if n < 2:
        return SeedInterval(mean, mean, mean, n)
    s = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * s / math.sqrt(n)
    return SeedInterval(mean, mean - half, mean + half, n)


def per_seed(result: dict, key: str) -> list[float] | None:
    """The per-seed values behind summary key `key` of a quality result (metrics are nested by
    mode for per-mode metrics, `<stem>_<mode>` in the summary); None when it has none."""
    for stem, entry in (result.get("metrics") or {}).items():
        if "mean" in entry:
            if stem == key:
                return entry.get("per_seed") or [entry["mean"]]
            continue
        for mode, stat in entry.items():
            if registry.result_key(stem, mode) == key:
                return stat.get("per_seed") or [stat["mean"]]
    return None


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _span(i: SeedInterval) -> str:
    return f"{_fmt(i.mean)} [{_fmt(i.lo)}–{_fmt(i.hi)}]" if i.n > 1 else _fmt(i.mean)


def _sample(result: dict) -> str:
    card = result.get("card") or {}
    return f"N = {card.get('num_gen')} (seeds {', '.join(map(str, card.get('seeds') or []))})"


def compare(key: str, a: str, ra: dict, b: str, rb: dict) -> Order | None:
    """Model `a` (quality result `ra`) against `b` (`rb`) on summary key `key`; None when either
    result lacks the key."""
    va, vb = per_seed(ra, key), per_seed(rb, key)
    if va is None or vb is None:
        return None
    ia, ib = seed_interval(va), seed_interval(vb)
    sample = _sample(ra) if _sample(ra) == _sample(rb) else f"{_sample(ra)} / {_sample(rb)}"
    numbers = f"{a} {_span(ia)}, {b} {_span(ib)}"
    if ia.n < 2 or ib.n < 2:
        text = f"{a} and {b} not judged: one seed at {sample} gives no spread ({numbers})"
        return Order(key, a, b, NOT_JUDGED, None, text)
    if ia.hi < ib.lo or ib.hi < ia.lo:
        lower = a if ia.hi < ib.lo else b
        better = lower if registry.key_info(key).lower_is_better else (b if lower == a else a)
        worse = b if better == a else a
        text = f"{better} above {worse} ({numbers}; 95 % t intervals over seeds, {sample})"
        return Order(key, a, b, ABOVE, better, text)
    text = f"{a} and {b} not separable at {sample} ({numbers}: the intervals overlap)"
    return Order(key, a, b, NOT_SEPARABLE, None, text)


def pairwise(results: dict[str, dict], key: str) -> list[Order]:
    """Every pair of models (in the order given) that both have `key`: {model: quality result}."""
    out = []
    for a, b in combinations(results, 2):
        found = compare(key, a, results[a], b, results[b])
        if found is not None:
            out.append(found)
    return out
