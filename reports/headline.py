"""The report's first lines, generated from claims.csv: which of the paper's claims held, which
held only under the paper's MAC convention, which the run could not decide (inconclusive, with
why), which did not (each one sentence with its numbers), and how many were not measured; then
the quality ordering of the models, pairwise, by the one rule of benchmarks/claims/ordering.py
(a model ranks above another only when their per-seed intervals separate).

claims.csv has numeric `paper_value`, `measured_value` and `unit` columns (benchmarks.claims);
one without them was written by an older pixbench and is refused in one line (re-run the claims
step), rather than guessed from its text columns.
"""

from __future__ import annotations

import html

import pandas as pd

import models
from benchmarks.claims import ordering
from benchmarks.claims.verdicts import (
    INCONCLUSIVE,
    NOT_MEASURED,
    NOT_REPRODUCED,
    PAPER_ONLY,
    REPRODUCED,
)
from benchmarks.quality import registry
from common.cli import UsageError

# verdict -> (css class, colour in the claims chart, heading word)
VERDICTS = {
    REPRODUCED: ("held", "#2e7d32", "Held"),
    PAPER_ONLY: ("convention", "#e08e00", "Held only under the paper's MAC convention"),
    INCONCLUSIVE: ("inconclusive", "#6a4c93", "Inconclusive: the measurement cannot decide"),
    NOT_REPRODUCED: ("failed", "#c62828", "Did not hold"),
    NOT_MEASURED: ("unmeasured", "#9e9e9e", "Not measured"),
}
CONVENTION_WHY = (
    "the paper counts each stride-2 transposed conv as a dense conv over its 2H×2W "
    "output; the true count does not (docs/macs.md)"
)
DOCS = {  # the repository's own docs a reader may follow (relative to the repository root)
    "docs/paper.md": "the paper's numbers and where each comes from",
    "docs/macs.md": "what a MAC is here, true count vs the paper's convention",
    "docs/metrics.md": "FID/KID protocols, precision/recall, the proxy extractor",
    "docs/architectures.md": "the architectures and their exact counts",
}
NUMBER_COLUMNS = ("paper_value", "measured_value", "unit")  # what the claims chart plots
LISTED = (REPRODUCED, PAPER_ONLY, INCONCLUSIVE, NOT_REPRODUCED)  # one sentence per claim
EXPLAINED = (INCONCLUSIVE, NOT_REPRODUCED)  # sentences that carry their claim's why


class ClaimsFormatError(UsageError):
    """A claims.csv without the numeric columns (an older pixbench wrote it): one line, exit 2."""


def claim_numbers(claims: pd.DataFrame) -> pd.DataFrame:
    """claims with float `paper_value` / `measured_value` (NaN where not measured) and a str
    `unit`, for the claims chart."""
    missing = [c for c in NUMBER_COLUMNS if c not in claims]
    if missing:
        raise ClaimsFormatError(
            f"claims.csv has no {', '.join(missing)} column(s): an older pixbench wrote it; "
            "re-run `python -m benchmarks.claims` (the workflow's claims rule) to write it again"
        )
    out = claims.copy()
    for col in ("paper_value", "measured_value"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
    out["unit"] = out["unit"].fillna("").astype(str)
    out.loc[out["verdict"] == NOT_MEASURED, "measured_value"] = float("nan")
    return out


def sentence(row) -> str:
    """One claim as one sentence with its numbers (and its source)."""
    s = f"{row['claim']}: paper {row['paper']}, measured {row['measured']}"
    if row["verdict"] in EXPLAINED and str(row.get("explanation", "")):
        s += f" ({row['explanation']})"
    return s + (f" [{row['source']}]." if str(row.get("source", "")) else ".")


def counts(claims: pd.DataFrame) -> dict[str, int]:
    return {v: int((claims["verdict"] == v).sum()) for v in VERDICTS}


def summary_line(claims: pd.DataFrame) -> str:
    n = counts(claims)
    return (
        f"Of {len(claims)} paper claims checked, {n[REPRODUCED]} held, {n[PAPER_ONLY]} held "
        f"only under the paper's MAC convention, {n[INCONCLUSIVE]} were inconclusive, "
        f"{n[NOT_REPRODUCED]} did not hold and {n[NOT_MEASURED]} were not measured in this run."
    )


def headline_markdown(claims: pd.DataFrame | None, orders: dict | None = None) -> str:
    """The headline as Markdown; `orders` (quality_orders) adds the quality ordering."""
    return _claims_markdown(claims) + ordering_markdown(orders)


def _claims_markdown(claims: pd.DataFrame | None) -> str:
    if claims is None or claims.empty:
        return "_no paper claims were checked in this run_\n"
    parts = [summary_line(claims), ""]
    for verdict in LISTED:
        rows = claims[claims["verdict"] == verdict]
        if rows.empty:
            continue
        why = f" ({CONVENTION_WHY})" if verdict == PAPER_ONLY else ""
        parts.append(f"**{VERDICTS[verdict][2]}**{why}:\n")
        parts += [f"- {sentence(r)}" for _, r in rows.iterrows()] + [""]
    return "\n".join(parts) + "\n"


def headline_html(claims: pd.DataFrame | None, chart: str = "", orders: dict | None = None) -> str:
    """The box at the top of report.html; `chart` (an <img> tag) goes beside the sentences,
    `orders` (quality_orders) adds the quality ordering under them."""
    if claims is None or claims.empty:
        return (
            "<div class='headline'><p><b>No paper claims were checked in this run.</b></p>"
            f"{ordering_html(orders)}</div>"
        )
    blocks = [f"<p class='lead'>{html.escape(summary_line(claims))}</p>"]
    for verdict in LISTED:
        rows = claims[claims["verdict"] == verdict]
        if rows.empty:
            continue
        css, _, word = VERDICTS[verdict]
        why = (
            f" <span class='why'>({html.escape(CONVENTION_WHY)})</span>"
            if verdict == PAPER_ONLY
            else ""
        )
        items = "".join(f"<li>{html.escape(sentence(r))}</li>" for _, r in rows.iterrows())
        blocks.append(
            f"<h3 class='v-{css}'>{html.escape(word)} ({len(rows)}){why}</h3><ul>{items}</ul>"
        )
    n_missing = counts(claims)[NOT_MEASURED]
    if n_missing:
        blocks.append(
            f"<p class='v-unmeasured'>{n_missing} claims were not measured in this run; "
            "the claims table says why for each.</p>"
        )
    blocks.append(ordering_html(orders))
    return f"<div class='headline' id='headline'>{''.join(blocks)}{chart}</div>"


# --------------------------------------------------------------------------- quality ordering
def quality_orders(quality: dict, key: str | None) -> dict[str, list[ordering.Order]]:
    """{dataset: every pairwise order of its models on summary key `key`} from the run's
    quality results ({(dataset, model): result}), models by their display names."""
    if key is None:
        return {}
    by_dataset: dict[str, dict[str, dict]] = {}
    for (dataset, model), result in sorted(quality.items()):
        by_dataset.setdefault(dataset, {})[models.display_name(model)] = result
    found = {d: ordering.pairwise(results, key) for d, results in by_dataset.items()}
    return {d: orders for d, orders in found.items() if orders}


def _ordering_title(orders: dict) -> str:
    key = next(o.key for found in orders.values() for o in found)
    info = registry.key_info(key)
    better = "lower" if info.lower_is_better else "higher"
    return (
        f"Quality ordering on {key} ({info.label}, {better} is better): a model ranks above "
        "another only when their 95 % t intervals over seeds separate"
    )


def ordering_markdown(orders: dict | None) -> str:
    if not orders:
        return ""
    parts = [f"\n**{_ordering_title(orders)}**:\n"]
    for dataset, found in orders.items():
        parts += [f"- {dataset}: {o.text}" for o in found]
    return "\n".join(parts) + "\n"


def ordering_html(orders: dict | None) -> str:
    if not orders:
        return ""
    items = "".join(
        f"<li>{html.escape(dataset)}: {html.escape(o.text)}</li>"
        for dataset, found in orders.items()
        for o in found
    )
    return f"<h3>{html.escape(_ordering_title(orders))}</h3><ul>{items}</ul>"


def sources_html() -> str:
    """Where the report's numbers and rules come from: the paper's tables (as docs/paper.md
    transcribes them) and the repository's own docs. Named, not linked: a relative link breaks
    as soon as the report is opened anywhere but reports/<run>/ of a clone."""
    items = "".join(
        f"<li><code>{p}</code> in the pixbench repository: {html.escape(what)}</li>"
        for p, what in DOCS.items()
    )
    return (
        "<p>Paper numbers come from the paper's abstract, Table 1, Table 2 and supplementary "
        f"Table B, each cited in the claims' Source column.</p><ul>{items}</ul>"
    )
