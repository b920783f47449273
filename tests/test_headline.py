"""reports.headline reads claims.csv in its current format only: one from before the numeric
columns is refused in one line (re-run the claims step), never guessed from its text."""

from __future__ import annotations

import pandas as pd
import pytest

from common.cli import UsageError
from reports.headline import ClaimsFormatError, claim_numbers

ROW = {"claim": "c", "paper": "83.77 G", "measured": "—", "verdict": "not measured"}


def test_current_claims_give_numbers():
    claims = pd.DataFrame([{**ROW, "paper_value": "83.77", "measured_value": 45.1, "unit": None}])
    row = claim_numbers(claims).iloc[0]
    assert row.paper_value == pytest.approx(83.77) and pd.isna(row.measured_value)
    assert row.unit == ""


def test_claims_without_numeric_columns_are_refused_in_one_line():
    with pytest.raises(ClaimsFormatError) as info:
        claim_numbers(pd.DataFrame([ROW]))
    message = str(info.value)
    assert isinstance(info.value, UsageError) and "\n" not in message
    assert "paper_value, measured_value, unit" in message and "benchmarks.claims" in message


def _claims(verdicts: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {**ROW, "claim": f"c{i}", "verdict": v, "explanation": f"why {i}", "source": "s"}
            for i, v in enumerate(verdicts)
        ]
    )


def test_inconclusive_claims_are_counted_and_listed_apart():
    """Inconclusive is its own count and its own list (with its why), never folded into held or
    did not hold."""
    from benchmarks.claims.rows import VERDICTS as ORDER
    from reports.headline import VERDICTS, counts, headline_html, headline_markdown, summary_line

    claims = _claims(
        ["reproduced", "inconclusive", "inconclusive", "not reproduced", "not measured"]
    )
    assert counts(claims) == {
        "reproduced": 1,
        "reproduced only under paper convention": 0,
        "inconclusive": 2,
        "not reproduced": 1,
        "not measured": 1,
    }
    assert list(VERDICTS) == list(ORDER)  # every verdict has a colour, a class and a heading
    line = summary_line(claims)
    assert "1 held" in line and "2 were inconclusive" in line and "1 did not hold" in line
    page = headline_html(claims)
    assert "<h3 class='v-inconclusive'>Inconclusive: the measurement cannot decide (2)" in page
    assert "c1: paper 83.77 G, measured — (why 1) [s]." in page  # the why comes with it
    md = headline_markdown(claims)
    assert "**Inconclusive: the measurement cannot decide**" in md
    assert md.count("\n- ") == 4  # reproduced, 2 inconclusive, not reproduced; not measured: count


def test_quality_ordering_in_the_headline():
    """The headline's quality ordering is benchmarks.claims.ordering's, per dataset, pairwise."""
    from reports.headline import headline_html, quality_orders

    def result(per_seed):
        return {
            "metrics": {"fd_proxy": {"clean": {"per_seed": per_seed, "mean": 0.0}}},
            "card": {"num_gen": 1000, "seeds": list(range(len(per_seed)))},
        }

    quality = {
        ("faces", "pixelfolder"): result([10.0, 10.1, 9.9]),
        ("faces", "cips"): result([20.0, 20.1, 19.9]),
        ("faces", "stylegan2"): result([10.0, 12.0, 8.0]),
    }
    orders = quality_orders(quality, "fd_proxy_clean")
    texts = [o.text for o in orders["faces"]]
    assert any(t.startswith("PixelFolder above CIPS") for t in texts)
    assert any("not separable at N = 1000 (seeds 0, 1, 2)" in t for t in texts)
    page = headline_html(None, orders=orders)
    assert "Quality ordering on fd_proxy_clean" in page and "PixelFolder above CIPS" in page
    assert quality_orders(quality, None) == {}
