"""CI regression gate for model cost: `python -m benchmarks.gate [--baseline PATH] [--update]`
(see check.py for what counts as drift and why a new model passes)."""

from __future__ import annotations

import logging
import sys

from benchmarks.gate.check import (
    DEFAULT_BASELINE,
    NEW,
    failures,
    format_table,
    load_baseline,
    model_of,
    run_check,
    summarize,
)
from common.cli import OneLineParser, run, setup_logging

log = logging.getLogger("pixbench.gate")
UPDATE_HINT = "`python -m benchmarks.gate --update`"


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
        report_update(a.baseline, drifts)
    else:
        report_check(a.baseline, drifts)
    return status


def report_check(baseline: str, drifts) -> None:
    """The drifts that fail (table on stdout, a one-line verdict on stderr), then the new models
    (listed with their numbers; they pass), or one line saying all is clean."""
    failing, new = failures(drifts), [d for d in drifts if d.status == NEW]
    if failing:
        print(format_table(failing))
        print(
            f"{len(failing)} drift(s) against {baseline}; if intended, run {UPDATE_HINT} and "
            "commit the baseline",
            file=sys.stderr,
        )
    if new:
        print(format_table(new))
        names = sorted({model_of(d.key) for d in new})
        print(
            f"{len(names)} new model(s) not in the baseline yet, listed and not gated: "
            f"{', '.join(names)}; run {UPDATE_HINT} and commit the baseline to gate them"
        )
    if not drifts:
        log.info("params and MACs match %s", baseline)


def report_update(baseline: str, drifts) -> None:
    """What --update did: how many entries it wrote, and which of them are new, changed or gone."""
    written = len(load_baseline(baseline)[0])
    parts = summarize(drifts)
    counts = ", ".join(f"{len(keys)} {what}" for what, keys in parts.items())
    print(f"wrote {written} entries to {baseline}: {counts}")
    for what, keys in parts.items():
        for key in keys:
            print(f"  {what}: {key}")


if __name__ == "__main__":
    raise SystemExit(run(main))
