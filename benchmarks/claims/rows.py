"""One claim as a row of the claims table, and the four verdicts a row can have; shared by the
efficiency and quality claims (verdicts.py) and the speed claims (speed.py)."""

from __future__ import annotations

from dataclasses import dataclass

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
PAPER_ONLY = "reproduced only under paper convention"
NOT_MEASURED = "not measured"


@dataclass
class ClaimRow:
    claim: str
    source: str
    paper: str
    measured: str
    tolerance: str
    verdict: str
    explanation: str
    paper_value: float | None = None  # the numbers behind `paper` / `measured`, for charts
    measured_value: float | None = None
    unit: str = ""
