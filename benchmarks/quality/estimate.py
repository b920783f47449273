"""A metric value with its 95 % interval, and how per-seed intervals become the summary's.

A metric function may return an `Estimate` instead of a float (alone, or as a value of its
`{output: value}` dict). `float(estimate)` is its value, so code that only wants the number
keeps working; `evaluation.summarize` writes the interval beside the per-seed values:

    S = {"per_seed": [v, ...], "mean": m, "std": s,
         "ci95_per_seed": [[lo, hi], ...], "ci95": [lo, hi], "ci_method": "..."}

Registry-free on purpose: the registry, the metrics and the evaluation all import it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """`value` with a 95 % interval [lo, hi] and the name of the method that made it; lo/hi are
    None when the data cannot give an interval (too few images for the method), never NaN, so
    the result JSON stays standard JSON."""

    value: float
    lo: float | None
    hi: float | None
    method: str

    def __float__(self) -> float:
        return float(self.value)

    @property
    def interval(self) -> list[float] | None:
        if self.lo is None or self.hi is None:
            return None
        return [float(self.lo), float(self.hi)]


def finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def interval_summary(values: Sequence) -> dict:
    """The interval part of a summary: {} unless every seed's value is an Estimate.

    The seed mean's interval is the mean of the per-seed bounds. It is conservative whatever the
    correlation between seeds: every seed's generated set is scored against the SAME real set,
    so their errors are correlated and do not average out like independent ones would. For
    intervals that are (estimate ± z·sd), the standard deviation is a norm, so
    sd(mean of seeds) ≤ mean of the per-seed sds, with equality only for perfectly correlated
    seeds; the mean of the bounds is therefore at least as wide as the mean's own interval.
    A seed without an interval (None bounds) makes the mean's interval None too.
    """
    if not values or not all(isinstance(v, Estimate) for v in values):
        return {}
    per_seed = [v.interval for v in values]
    methods = sorted({v.method for v in values})
    mean = None
    if all(ci is not None for ci in per_seed):
        mean = [sum(ci[0] for ci in per_seed) / len(per_seed)]
        mean.append(sum(ci[1] for ci in per_seed) / len(per_seed))
    return {"ci95_per_seed": per_seed, "ci95": mean, "ci_method": "; ".join(methods)}
