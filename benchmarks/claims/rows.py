"""One claim as a row of the claims table, and the five verdicts a row can have; shared by the
efficiency and quality claims (verdicts.py) and the speed claims (speed.py).

`inconclusive` is a measured claim whose measurement cannot decide it: its interval holds the
paper's value and a plausible alternative too, or it rests on a noisy timing. Its explanation
starts with `inconclusive: <why> (interval a–b)`."""

from __future__ import annotations

from dataclasses import dataclass

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
PAPER_ONLY = "reproduced only under paper convention"
NOT_MEASURED = "not measured"
INCONCLUSIVE = "inconclusive"
VERDICTS = (REPRODUCED, PAPER_ONLY, INCONCLUSIVE, NOT_REPRODUCED, NOT_MEASURED)  # report order


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
    measured_lo: float | None = None  # the measured value's interval, where it has one (speed)
    measured_hi: float | None = None
    evidence: str = ""  # the table rows it was computed from (common.evidence refs, spaced)
