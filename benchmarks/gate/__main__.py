"""CI regression gate for model cost: `python -m benchmarks.gate [--baseline PATH] [--update]`
(see check.py for what counts as drift)."""

from __future__ import annotations

import logging
import sys

from benchmarks.gate.check import DEFAULT_BASELINE, format_table, run_check
from common.cli import OneLineParser, run, setup_logging

log = logging.getLogger("pixbench.gate")


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m benchmarks.gate", description=__doc__.splitlines()[0])
    p.add_argument("--baseline", default=str(DEFAULT_BASELINE))
    p.add_argument(
        "--update", action="store_true", help="rewrite the baseline from the current models"
    )
    a = p.parse_args(argv)
    setup_logging()
    status, drifts = run_check(a.baseline, a.update)
    if a.update:
        log.info("baseline rewritten: %s", a.baseline)
    elif drifts:
        print(format_table(drifts))
        print(f"{len(drifts)} drift(s) against {a.baseline}; if intended, run "
              "`python -m benchmarks.gate --update` and commit the baseline", file=sys.stderr)  # fmt: skip
    else:
        log.info("params and MACs match %s", a.baseline)
    return status


if __name__ == "__main__":
    raise SystemExit(run(main))
