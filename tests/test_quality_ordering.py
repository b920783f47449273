"""The quality ordering rule (benchmarks/claims/ordering.py): a model ranks above another only
when their per-seed t intervals separate; overlapping intervals are "not separable at N = …";
one seed is not judged. Hand-made per-seed values, so every interval is known exactly."""

from __future__ import annotations

import math

import pytest

from benchmarks.claims import ordering

T_2 = 4.302652729749464  # t_{0.975, 2}: Student's t table, 2 degrees of freedom


def _result(values, num_gen=1000, key="fd_proxy", mode="clean"):
    stat = {"per_seed": list(values), "mean": sum(values) / len(values)}
    entry = {mode: stat} if mode else stat
    return {
        "metrics": {key: entry},
        "card": {"num_gen": num_gen, "seeds": list(range(len(values)))},
    }


@pytest.mark.numerics
def test_seed_interval_is_the_t_interval():
    """mean ± t_{0.975,n−1}·s/√n: for [1, 2, 3], s = 1, so half = 4.3027/√3 (scipy's t quantile
    against the table value to 1e-12)."""
    i = ordering.seed_interval([1.0, 2.0, 3.0])
    half = T_2 / math.sqrt(3)
    assert (i.mean, i.n) == (2.0, 3)
    assert i.lo == pytest.approx(2 - half, abs=1e-12) and i.hi == pytest.approx(2 + half, abs=1e-12)
    one = ordering.seed_interval([5.0])
    assert (one.lo, one.hi, one.n) == (5.0, 5.0, 1)


def test_separated_intervals_order_by_the_metrics_direction():
    """Lower FD is better: [10 ± 0.25] against [20 ± 0.25] (half-widths 4.30·0.1/√3) separate,
    so the lower ranks above, whichever is given first; for a higher-is-better metric (recall)
    the higher does."""
    low, high = _result([10.0, 10.1, 9.9]), _result([20.0, 20.1, 19.9])
    for a, ra, b, rb in (("A", low, "B", high), ("B", high, "A", low)):
        o = ordering.compare("fd_proxy_clean", a, ra, b, rb)
        assert o.verdict == ordering.ABOVE and o.better == "A"
        assert o.text.startswith("A above B (")
    rec_low = _result([0.1, 0.11, 0.09], key="recall_proxy", mode=None)
    rec_high = _result([0.5, 0.51, 0.49], key="recall_proxy", mode=None)
    o = ordering.compare("recall_proxy", "A", rec_low, "B", rec_high)
    assert o.verdict == ordering.ABOVE and o.better == "B"


def test_overlapping_intervals_are_not_separable():
    """Means 10 and 11 with per-seed spread s = 1: each interval ±4.30/√3 = ±2.48, overlapping;
    the means differ, but the run does not order them."""
    o = ordering.compare(
        "fd_proxy_clean", "A", _result([9.0, 10.0, 11.0]), "B", _result([10.0, 11.0, 12.0])
    )
    assert o.verdict == ordering.NOT_SEPARABLE and o.better is None
    assert "A and B not separable at N = 1000 (seeds 0, 1, 2)" in o.text


def test_one_seed_is_not_judged():
    o = ordering.compare("fd_proxy_clean", "A", _result([10.0]), "B", _result([30.0, 31.0]))
    assert o.verdict == ordering.NOT_JUDGED and "one seed" in o.text


def test_pairwise_over_models_and_missing_keys():
    results = {
        "A": _result([10.0, 10.1, 9.9]),
        "B": _result([20.0, 20.1, 19.9]),
        "C": _result([10.0, 20.0, 15.0]),
        "D": _result([1.0, 1.0], key="kd_proxy"),  # no fd_proxy_clean: left out
    }
    found = ordering.pairwise(results, "fd_proxy_clean")
    assert [(o.a, o.b, o.verdict) for o in found] == [
        ("A", "B", ordering.ABOVE),
        ("A", "C", ordering.NOT_SEPARABLE),
        ("B", "C", ordering.NOT_SEPARABLE),
    ]
    assert ordering.per_seed(results["D"], "fd_proxy_clean") is None
