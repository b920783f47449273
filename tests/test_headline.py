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
