"""Names for the table rows a number was computed from, shared by the writer of a claim
(benchmarks.claims, which records the rows it read) and the report (which gives each table row
that name as its HTML id and links a claim to it). One format in one place, so the link from a
claim to its evidence cannot drift from the row it points at.

A reference reads `table:part:part…`, e.g. `latency:pixelfolder:256:b1` or
`efficiency:cips:256`; a claim lists its references separated by spaces."""

from __future__ import annotations

import re


def row_ref(table: str, *parts) -> str:
    """`row_ref("latency", "cips", 256, "b1")` -> "latency:cips:256:b1" (missing parts dropped)."""
    return ":".join(str(p) for p in (table, *parts) if p is not None and str(p) != "")


def latency_ref(model: str, resolution: int, batch: int) -> str:
    return row_ref("latency", model, int(resolution), f"b{int(batch)}")


def efficiency_ref(model: str, resolution: int) -> str:
    return row_ref("efficiency", model, int(resolution))


def quality_ref(dataset: str, model: str) -> str:
    return row_ref("quality", dataset, model)


def anchor(ref: str) -> str:
    """The HTML id of the row a reference names: `row-latency-cips-256-b1`."""
    return "row-" + re.sub(r"[^A-Za-z0-9_-]+", "-", ref).strip("-")


def refs(text: str | None) -> list[str]:
    """The references in a claim's `evidence` field (empty or NaN: none)."""
    return [r for r in str(text or "").split() if ":" in r]
