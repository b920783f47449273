"""How cost grows with output size: one CSV row per (model, resolution), all on the meta device.

    python -m benchmarks.scaling --models all --resolutions 64,128,256,512,1024 --out scaling.csv

Only the primary counter is used (cross-checks live in benchmarks.efficiency), so the whole
grid takes seconds and needs no memory even for CIPS at 1024.
"""

from __future__ import annotations

import csv
import io
import logging

from tqdm import tqdm

import models
from benchmarks import counting
from benchmarks.cliutil import (
    OneLineParser,
    UsageError,
    check_writable,
    parse_int_list,
    run,
    setup_logging,
)
from benchmarks.efficiency import count_costs, validate_request
from data.atomic import atomic_write_text

log = logging.getLogger("pixbench.scaling")

COLUMNS = [
    "model", "resolution", "params", "params_mapping", "params_synthesis", "macs",
    "macs_paper_convention", "macs_fir", "train_saved_bytes", "inference_peak_bytes",
]  # fmt: skip


def scaling_row(name: str, resolution: int) -> dict:
    costs = count_costs(name, resolution, counters=(counting.PRIMARY,), demod_extra=False)
    mem = counting.activation_bytes(name, resolution)
    return {
        "model": name, "resolution": resolution,
        **{k: costs[k] for k in COLUMNS[2:8]},
        "train_saved_bytes": mem["train_saved"], "inference_peak_bytes": mem["inference_peak_live"],
    }  # fmt: skip


def scaling_table(names, resolutions) -> list[dict]:
    grid = [(n, r) for n in names for r in resolutions]
    for n, r in grid:
        validate_request(n, r)
    return [scaling_row(n, r) for n, r in tqdm(grid, desc="scaling", unit="model", leave=False)]


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def parse_models(text: str) -> list[str]:
    if text == "all":
        return models.available()
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in models.available()]
    if not names or unknown:
        raise UsageError(
            f"unknown model(s) {unknown or text!r}; available: {', '.join(models.available())}"
        )
    return names


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m benchmarks.scaling", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="all", help="'all' or comma-separated registry names")
    p.add_argument("--resolutions", default="64,128,256,512,1024")
    p.add_argument("--out", required=True, help="CSV file (written atomically)")
    a = p.parse_args(argv)
    setup_logging()
    names = parse_models(a.models)
    resolutions = parse_int_list(a.resolutions, "--resolutions")
    for r in resolutions:
        validate_request(names[0], r)
    out = check_writable(a.out)
    rows = scaling_table(names, resolutions)
    atomic_write_text(out, to_csv(rows))
    log.info("wrote %s (%d rows)", out, len(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
