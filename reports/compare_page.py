"""How a run comparison (reports.compare) is shown: compare.html and compare.md open with each
pair's summary (regressions, missing, not comparable, identical, each item linked to its row),
then provenance, differing settings and the verdict tables; the console prints the same summary
as one line per item that needs a reader. Kept apart from the rows so each stays small."""

from __future__ import annotations

import html
import logging
from pathlib import Path

import pandas as pd

from common.io import atomic_write_text
from reports import compare_rules as V
from reports.collect import RunResults
from reports.columns import sig
from reports.html import details, page, table_html
from reports.runs import code_version, config_sha256, device_line, run_device

log = logging.getLogger("pixbench.compare")
COLUMNS = ["what", "item", "baseline", "current", "Δ", "verdict", "why"]
FMT = sig(4)
SECTIONS = (
    ("exact", "Params and MACs (exact counts: any difference is a change)"),
    ("quality", "Quality (mean ± per-seed std over seeds)"),
    ("latency", "Latency (median ms, same machine only; else normalised)"),
)
RULES = (
    "Verdicts are current against baseline. Params/MACs: identical or changed. Quality: within "
    f"noise when |Δ| ≤ {V.NOISE_K:g}·√(std_a² + std_b²) of the per-seed values, else better or "
    "worse by the metric's registered direction; one seed: not judged; a differing protocol "
    "setting (num_gen, num_real, extractor, truncation, noise mode, dataset): not comparable. "
    f"Latency: within noise when |Δ| ≤ max(s_a, s_b, {V.LATENCY_FLOOR:.0%} of the baseline "
    "median), s the half-width of a median's 95 % CI (its IQR in older profiles); a row timed "
    f"while other processes took over {V.LOAD_CEILING:.0%} of its CPUs, or noisy (CI wider "
    "than its target): not comparable; different "
    "devices, or one device label whose fingerprints' kernel peaks differ by more than "
    f"max(spread, {V.PEAK_FLOOR:.0%}) (different machines): only ratios to a model timed in "
    "both runs. A profile, metric or timed row the baseline has and the current run lacks: "
    "missing in new run, which fails the gate unless --allow-missing. The rules are "
    "explained in reports/compare_rules.py of the pixbench repository (README: Compare runs)."
)
# summary groups in the order a reader needs them: what fails, what is absent, what was not judged
GROUPS = ("regressions", "missing", "not comparable", "identical", "within noise", "better")


def _rows(result: dict) -> list[dict]:
    return [r for key, _ in SECTIONS for r in result[key]]


def regressions(result: dict, allow_missing: bool = False) -> list[dict]:
    """The rows that fail the gate: worse beyond noise, an exact count changed, or (unless
    allowed) something the baseline has that the current run lacks."""
    return [r for r in _rows(result) if V.fails_gate(r["verdict"], allow_missing)]


def tally(result: dict) -> dict[str, list[dict]]:
    """Every row of one pair in its summary group (GROUPS; the rest under `other`)."""
    out: dict[str, list[dict]] = {g: [] for g in (*GROUPS, "other")}
    for r in _rows(result):
        v = r["verdict"]
        group = (
            "regressions"
            if V.fails_gate(v, allow_missing=True)
            else "missing"
            if v == V.MISSING
            else "not comparable"
            if v.startswith(V.NOT_COMPARABLE)
            else {V.IDENTICAL: "identical", V.NOISE: "within noise", V.BETTER: "better"}.get(
                v, "other"
            )
        )
        out[group].append(r)
    return out


def _value(v, signed: bool = False) -> str:
    """A cell: counts (ints) exactly with separators, measured numbers to 4 digits."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:+,}" if signed else f"{v:,}"
    text = FMT(v)
    return f"+{text}" if signed and v > 0 else text


def frame(rows: list[dict]) -> pd.DataFrame:
    """The rows as text, formatted before pandas sees them (a column of counts with one gap
    would become floats)."""
    shown = [{**r, **{c: _value(r[c], signed=c == "Δ") for c in ("baseline", "current", "Δ")}}
             for r in rows]  # fmt: skip
    df = pd.DataFrame(shown, columns=COLUMNS)
    return df.rename(columns={"what": "Number", "item": "Of", "verdict": "Verdict", "why": "Rule"})


def item_line(r: dict) -> str:
    """One row as the console and the summary name it, with both values where it has them."""
    values = ""
    if r["baseline"] is not None and r["current"] is not None:
        values = f" ({_value(r['baseline'])} → {_value(r['current'])})"
    return f"{r['what']} of {r['item']}: {r['verdict']}{values}"


def provenance_frame(a: RunResults, b: RunResults) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"": "folder", "baseline": str(a.root), "current": str(b.root)},
            _fact("device", run_device, a, b),
            _fact("machine", lambda r: device_line(r.profiles.values()), a, b),
            _fact("config sha256", config_sha256, a, b),
            _fact("code version", code_version, a, b),
        ]
    )


def _fact(name: str, of, a: RunResults, b: RunResults) -> dict:
    return {"": name, "baseline": of(a), "current": of(b)}


def settings_frame(diffs) -> pd.DataFrame:
    return pd.DataFrame(
        [{"setting": k, "baseline": str(x), "current": str(y)} for k, x, y in diffs],
        columns=["setting", "baseline", "current"],
    )


def counts_text(result: dict) -> str:
    a, b = result["runs"]
    groups = tally(result)
    parts = [f"{len(groups[g])} {g}" for g in GROUPS if groups[g] or g in GROUPS[:3]]
    return f"{b.name} vs {a.name}: " + ", ".join(parts)


def summary_line(result: dict, allow_missing: bool = False) -> str:
    """The console's summary: the counts, then one line per regression, missing item (marked
    allowed under --allow-missing) and row not compared."""
    groups = tally(result)
    lines = [counts_text(result)]
    lines += [f"  {item_line(r)}" for r in groups["regressions"]]
    mark = " (allowed)" if allow_missing else ""
    lines += [f"  {item_line(r)}{mark}" for r in groups["missing"]]
    lines += [f"  {item_line(r)}" for r in groups["not comparable"]]
    return "\n".join(lines)


def _number_rows(results: list[dict]) -> None:
    """Give every row an anchor id (pair, section, index) the summaries link to."""
    for k, result in enumerate(results):
        for key, _ in SECTIONS:
            for i, r in enumerate(result[key]):
                r["id"] = f"p{k}-{key}-{i}"


def _with_ids(table: str, rows: list[dict]) -> str:
    """reports.html.table_html's table with each body row given its row's anchor id (the
    function writes one `<tr` per row, in order, after `<tbody>`)."""
    if not rows:
        return table
    head, body = table.split("<tbody>", 1)
    parts = body.split("<tr")
    assert len(parts) == len(rows) + 1, (len(parts), len(rows))
    tagged = "".join(f"<tr id='{r['id']}'" + p for r, p in zip(rows, parts[1:], strict=True))
    return f"{head}<tbody>{parts[0]}{tagged}"


def _links(rows: list[dict]) -> str:
    items = "".join(f"<li><a href='#{r['id']}'>{html.escape(item_line(r))}</a></li>" for r in rows)
    return f"<ul>{items}</ul>"


def summary_html(result: dict) -> str:
    """A pair's summary box: the counts, then regressions and missing items listed (each a link
    to its row), the rows not compared folded, and the first identical row linked."""
    groups = tally(result)
    body = f"<p class='lead'>{html.escape(counts_text(result))}</p>"
    for group, shown in (("regressions", True), ("missing", True), ("not comparable", False)):
        rows = groups[group]
        if rows and shown:
            body += f"<p>{len(rows)} {group}:</p>{_links(rows)}"
        elif rows:
            body += details(f"{len(rows)} not comparable (neither pass nor fail)", _links(rows))
    if groups["identical"]:
        first = groups["identical"][0]["id"]
        body += f"<p><a href='#{first}'>{len(groups['identical'])} identical</a></p>"
    return f"<div class='headline'>{body}</div>"


def summary_markdown(result: dict) -> str:
    groups = tally(result)
    md = f"**{counts_text(result)}**\n"
    for group in ("regressions", "missing", "not comparable"):
        md += "".join(f"\n- {item_line(r)}" for r in groups[group])
    return md + "\n"


def _verdict_class(row) -> str:
    v = str(row["Verdict"])
    return "verdict-failed" if V.fails_gate(v) else "verdict-held" if v == V.BETTER else ""


def pair_html(result: dict) -> list[tuple[str, str]]:
    a, b = result["runs"]
    diffs = result["settings"]
    head = table_html(provenance_frame(a, b))
    head += (
        f"<p class='note'>{len(diffs)} recorded setting{'s' if len(diffs) != 1 else ''} differ.</p>"
    )
    if diffs:
        head += details("settings that differ", table_html(settings_frame(diffs)))
    parts = [(f"{b.name} against {a.name}: provenance and settings", head)]
    for key, title in SECTIONS:
        table = table_html(frame(result[key]), _verdict_class)
        parts.append((f"{b.name} vs {a.name}: {title}", _with_ids(table, result[key])))
    return parts


def pair_markdown(result: dict) -> str:
    a, b = result["runs"]
    md = f"## {b.name} against {a.name}\n\n" + provenance_frame(a, b).to_markdown(index=False)
    md += "\n\n### Settings that differ\n\n"
    diffs = settings_frame(result["settings"])
    md += diffs.to_markdown(index=False) if len(diffs) else "_none_"
    for key, title in SECTIONS:
        table = frame(result[key])
        md += f"\n\n### {title}\n\n" + (table.to_markdown(index=False) if len(table) else "_none_")
    return md + "\n"


def write(results: list[dict], out: Path) -> None:
    """compare.html and compare.md in `out`, both written atomically, each opening with the
    summary of every pair."""
    _number_rows(results)
    names = " vs ".join(r["runs"][1].name for r in results)
    title = f"pixbench comparison: {names} against {results[0]['runs'][0].name}"
    top = "".join(summary_html(r) for r in results)
    top += f"<div class='banner'>{html.escape(RULES)}</div>"
    body = [s for r in results for s in pair_html(r)]
    atomic_write_text(out / "compare.html", page(title, top, body))
    md = f"# {title}\n\n" + "\n".join(summary_markdown(r) for r in results)
    md += f"\n{RULES}\n\n" + "\n".join(pair_markdown(r) for r in results)
    atomic_write_text(out / "compare.md", md)
    log.info("wrote %s", out / "compare.html")
