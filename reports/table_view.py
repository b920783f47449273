"""A table of the report as its reader meets it, through one entry point (`table_block`): the
table in its reader's form (reports.columns.display), split by purpose when all its columns would
not fit a 1280 px window or a printed A4 page, each part repeating the columns that identify a
row; long text (why a row is invalid or a variant was skipped) folded into a detail row under
its row; each row's HTML id the evidence name a claim links to (common.evidence); and under it
the CSV and Markdown it was written to, and the command that recomputes it.

Why split rather than scroll: a scroll box hides the columns that decide (a reader at 1280 px
never saw the roofline or precision/recall columns) and print cuts them off for good. The CSV
stays one file with every column; only the HTML is split.
"""

from __future__ import annotations

import html
import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from benchmarks.profiling import registry as measure_registry
from benchmarks.quality import registry
from common import evidence
from common.layout import Layout
from reports import columns
from reports import html as H

# the columns that identify a row of each table (machine names); every part of a split table
# repeats them, so a part read alone still says which model and size a number belongs to
KEYS = {
    "latency": ("model", "resolution", "batch"),
    "efficiency": ("model", "resolution"),
    "scaling": ("model", "resolution"),
    "quality": ("dataset", "model"),
    "blocks": ("model", "resolution", "block"),
    "variants": ("model", "resolution", "speed_variant"),
}
DEFAULT_KEYS = ("model",)

# the evidence name (common.evidence) of a row, for the tables a claim can be computed from
REFS: dict[str, Callable[[pd.Series], str]] = {
    "latency": lambda r: evidence.latency_ref(r["model"], r["resolution"], r["batch"]),
    "efficiency": lambda r: evidence.efficiency_ref(r["model"], r["resolution"]),
    "quality": lambda r: evidence.quality_ref(r["dataset"], r["model"]),
}

# A cap, not a measurement: the widest parts the tests fill (tests/test_report_tables.py, 10
# columns of the longest values a run writes) fit a printed A4 page; a part that a new measure's
# columns push past this many is cut into "(continued)" parts until it is given a place in
# PARTS. Whether a table fits is what the browser test measures, at 1280 px and in print.
MAX_COLUMNS = 12


def _measure(col: str) -> str | None:
    c = measure_registry.column(col, None)
    return measure_registry.measure_of(c.name).name if c else None


def _by_set(*groups: set[str]) -> Callable[[str], int]:
    """Part index of a column: the first group naming it, else the last part."""
    return lambda col: next((i for i, g in enumerate(groups) if col in g), len(groups))


def _quality_part(col: str) -> int:
    """Distances first (FD/FID, KD/KID, …), then the manifold metrics (precision, recall,
    density, coverage), then how the numbers were made."""
    info = registry.key_info(col, None)
    if info is None:
        return 2
    return 1 if registry.get(info.metric).features.name == "manifold" else 0


def _efficiency_part(col: str) -> int:
    return 1 if _measure(col) in ("memory", "traffic") else 0


def _paper_part(col: str) -> int:
    return 0 if col.startswith("paper_") else 1


TIMING = {"status", "median_ms", "ci95_lo_ms", "ci95_hi_ms", "timed_until", "iqr_ms"}
ROOFLINE = {"achieved_GMAC_per_s", "intensity_at_batch", "attainable_GMAC_per_s", "peak_GMAC_per_s"}
ROOFLINE |= {"utilization_vs_attainable", "peak_kernel", "bandwidth_GB_per_s"}
# (captions of the parts, part of a machine-named column) of each table split by purpose
PARTS: dict[str, tuple[tuple[str, ...], Callable[[str], int]]] = {
    "latency": (
        ("Timing", "Roofline: achieved against attainable", "The roof during the timing, device"),
        _by_set(TIMING | {"images_per_s"}, ROOFLINE),
    ),
    "efficiency": (("Size and compute", "Memory"), _efficiency_part),
    "scaling": (("Size and compute", "Memory"), _efficiency_part),
    "quality": (
        (
            "Distances between generated and real features",
            "Precision, recall, density, coverage",
            "How the numbers were made: trained variant, kimg, features, N, seeds",
        ),
        _quality_part,
    ),
    "blocks": (
        ("Where the time goes", "How it was timed"),
        _by_set({"block_GMACs", "share_macs", "block_ms", "share_time", "block_GMAC_per_s"}),
    ),
    "variants": (
        ("Speed-up over eager fp32", "Timing", "Error and device"),
        _by_set(
            {"variants_batch", "variant_verdict", "speedup", "speedup_lo", "speedup_hi"},
            {"variant_median_ms", "variant_ci95_lo_ms", "variant_ci95_hi_ms"}
            | {"variant_utilization", "first_call_s"},
        ),
    ),
    "table2_vs_paper": (("The paper's numbers", "This run's numbers"), _paper_part),
}
FOLD = ("status", "variant_verdict")  # "INVALID: why": the cell keeps "INVALID", why folds
_REASON = re.compile(r"^(?P<head>[A-Za-z][\w -]{0,24}): (?P<why>.+)$", re.S)


def shown_names(raw: pd.DataFrame) -> dict[str, str]:
    """{machine name: shown name} of the columns `columns.display(name, raw)` shows (the view's
    own `status` included)."""
    return {c: columns.column_name(c) for c in [*raw.columns, "status"]}


def parts(name: str, raw: pd.DataFrame, shown: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """(caption, shown columns) of each part: the identifying columns, then the part's own;
    one part, no caption, for a table not split by purpose."""
    names = shown_names(raw)
    back = {v: k for k, v in names.items() if v in shown}
    keys = [names[k] for k in KEYS.get(name, DEFAULT_KEYS) if names.get(k) in shown]
    captions, part_of = PARTS.get(name, (("",), lambda col: 0))
    groups: list[list[str]] = [[] for _ in captions]
    for col in shown.columns:
        if col not in keys:
            groups[min(part_of(back.get(col, col)), len(captions) - 1)].append(col)
    out = []
    width = MAX_COLUMNS - len(keys)
    for caption, cols in zip(captions, groups, strict=True):
        for i in range(0, len(cols), width):
            more = " (continued)" if i else ""
            out.append(((caption + more).strip(), keys + cols[i : i + width]))
    return out or [("", keys)]


def row_anchors(name: str, raw: pd.DataFrame | None) -> list[str | None]:
    """Each row's HTML id (its evidence name as an anchor), None for a table no claim reads and
    for a row whose name an earlier row already took (ids are unique in a page)."""
    if raw is None or raw.empty or name not in REFS:
        return [None] * (0 if raw is None else len(raw))
    seen, out = set(), []
    for _, row in raw.iterrows():
        ident = evidence.anchor(REFS[name](row))
        out.append(None if ident in seen else ident)
        seen.add(ident)
    return out


def anchors(frames: dict[str, pd.DataFrame]) -> set[str]:
    """Every row id the tables in `frames` give their rows: where a claim's link may point."""
    return {a for name, df in frames.items() for a in row_anchors(name, df) if a}


def fold(shown: pd.DataFrame, names: dict[str, str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """`INVALID: why` cells of the FOLD columns cut to `INVALID`, the why moved to a column of
    its own that table_html folds under the row; returns the frame and its detail columns."""
    shown, detail = shown.copy(), {}
    for col in [names[c] for c in FOLD if names.get(c) in shown]:
        found = [_REASON.match(str(v)) for v in shown[col]]
        if not any(found):
            continue
        why = f"{col}: why"
        shown[why] = [m["why"] if m else "" for m in found]
        shown[col] = [m["head"] if m else v for m, v in zip(found, shown[col], strict=True)]
        detail[why] = "why"
    return shown, detail


def files_line(csv: str | None, command: str | None = None) -> str:
    """Under a table: the CSV and Markdown it was written to (beside report.html), and the
    command that recomputes its numbers."""
    out = []
    if csv:
        out.append(
            "Data: "
            + " · ".join(
                f'<a href="{html.escape(f)}">{html.escape(f)}</a>' for f in (csv, _md(csv))
            )
        )
    if command:
        out.append(f"Reproduce: <code>{html.escape(command)}</code>")
    return f"<p class='files'>{' · '.join(out)}</p>" if out else ""


def _md(csv: str) -> str:
    return csv.removesuffix(".csv") + ".md"


def table_block(
    name: str,
    raw: pd.DataFrame | None,
    *,
    csv: str | None = "",
    command: str | None = None,
    row_ids: list[str | None] | None = None,
) -> str:
    """The table `name` from its machine-named frame (a tables.py frame, as its CSV holds it),
    shown as reports.columns.display shows it: split into parts when wide (the first part's
    rows carry the ids), long reasons folded under their rows, then the files line. `csv`:
    the file name its data was written to ("" -> NAME.csv; None: no link); `row_ids`: each
    row's id (default: its evidence anchor, for the tables claims read)."""
    csv = f"{name}.csv" if csv == "" else csv
    under = files_line(csv, command)
    shown = columns.display(name, raw)
    if shown is None or shown.empty:
        return "<p><em>no data</em></p>" + under
    names = shown_names(raw)
    invalid = [
        "invalid" if any(str(v).startswith("INVALID") for v in r) else "" for r in shown.values
    ]
    shown, detail = fold(shown, names)
    ids = row_ids if row_ids is not None else row_anchors(name, raw)
    body = ""
    for i, (caption, cols) in enumerate(parts(name, raw, shown.drop(columns=list(detail)))):
        body += H.table_html(
            shown[cols + [c for c in detail if i == 0]],
            lambda r: invalid[r.name],
            row_ids=ids if i == 0 else None,
            detail=detail if i == 0 else None,
            caption=caption,
        )
    return body + under


def claims_command(root: Path, rehearsal: bool = False) -> str:
    """The command that recomputes claims.csv from a run's results folder `root` (what the
    workflow's claims rule runs)."""
    lay = Layout(root)
    q = shlex.quote
    flag = " --rehearsal" if rehearsal else ""
    return (
        f"python -m benchmarks.claims --profiles {q(str(lay.folder('profile')))} "
        f"--metrics {q(str(lay.folder('metrics')))}{flag} "
        f"--out-csv {q(str(lay.path('claims_csv')))} --out-md {q(str(lay.path('claims_md')))}"
    )


def claims_block(claims: pd.DataFrame | None, frames: dict, command: str | None = None) -> str:
    """The claims table (reports.html.claims_html), each claim's evidence linked to the rows of
    `frames` (the tables on this page), then its files and the command that recomputes it."""
    return H.claims_html(claims, anchors(frames)) + files_line("claims.csv", command)
