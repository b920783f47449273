"""One line of the pre-flight report: what was checked, its status and, for a problem, the fix.
Its own module so that each group of checks (workflow.preflight, workflow.machine_check) can
make items without importing the other."""

from __future__ import annotations

from dataclasses import dataclass, field

OK, NOTE, MISSING, MISMATCH = "OK", "NOTE", "MISSING", "MISMATCH"
PROBLEMS = (MISSING, MISMATCH)


@dataclass
class Item:
    check: str  # dataset | package | weights | gpus | disk
    name: str
    status: str  # OK | NOTE | MISSING | MISMATCH
    detail: str
    fix: str = ""
    data: dict = field(default_factory=dict)

    @property
    def problem(self) -> bool:
        return self.status in PROBLEMS
