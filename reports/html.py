"""One self-contained report.html: every image inlined, no scripts, no network; it opens from
disk and fits a 1280 px window and an A4 page: no table is wider than its box (a wide table is
split by purpose, reports/table_view.py; long text folds into a detail row under its row), and
print shows every folded detail."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from common import evidence
from reports.headline import VERDICTS

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.4}
h1{margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em} h3{margin:.9em 0 .3em}
.tablebox{margin:.6em 0} .tablebox+.tablebox{margin-top:1em}
caption{text-align:left;font-weight:600;font-size:.9em;padding:.2em 0;color:#333}
tr.detail td{border-top:0;padding:0 7px 2px;font-size:.92em;color:#444;max-width:60em}
details.row{border:0;padding:0;margin:0} details.row summary{color:#555;font-size:.9em}
.files{font-size:.8em;color:#666;margin:.2em 0 1em} .files code{overflow-wrap:anywhere}
td.links{font-size:.9em} td.links a,td.links span{white-space:nowrap}
table.claims td.long{min-width:9em} table.claims td:first-child{min-width:16em}
table{border-collapse:collapse;font-size:.85em} td,th{border:1px solid #ccc;padding:3px 7px;vertical-align:top}
th{background:#f3f3f3;text-align:left;font-weight:600;min-width:4.5em}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums} td.txt{text-align:left}
td.short{white-space:nowrap} td.long{min-width:16em;max-width:34em;overflow-wrap:anywhere}
tr.invalid td{background:#fdecea;color:#8a1c1c}
.banner{background:#fff3cd;border:1px solid #e0c060;padding:.8em 1em;border-radius:6px;margin:1em 0}
.headline{border:1px solid #cfd8dc;background:#f8fafb;border-radius:8px;padding:.6em 1.2em;margin:1em 0}
.headline .lead{font-size:1.1em;font-weight:600} .headline ul{margin:.2em 0 .6em;padding-left:1.3em}
.headline .why{font-weight:normal;font-size:.85em;color:#555}
.v-held{color:#2e7d32} .v-convention{color:#a66400} .v-failed{color:#c62828} .v-unmeasured{color:#666}
.verdict-held{background:#e6f4ea} .verdict-failed{background:#fde7e9}
.verdict-convention{background:#fff3cd} .verdict-unmeasured{background:#f1f1f1;color:#555}
.v-inconclusive{color:#6a4c93} .verdict-inconclusive{background:#efe8f7}
.prov{color:#555;font-size:.85em;overflow-wrap:anywhere} img{max-width:100%;height:auto;border:1px solid #eee}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.8em;max-height:32em}
details{border:1px solid #ddd;border-radius:5px;padding:.3em .8em;margin:.4em 0}
summary{cursor:pointer} details[open] summary{margin-bottom:.4em}
.grid{display:flex;flex-wrap:wrap;gap:1em} .grid figure{margin:0;max-width:380px}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:1em;align-items:start}
.pair figure{margin:0} figcaption{font-size:.85em;color:#555}
.note{font-size:.9em;color:#444}
ul.toc{display:flex;flex-wrap:wrap;gap:.3em 1.2em;list-style:none;padding:0;font-size:.9em}
@page{margin:1cm}
@media print{body{max-width:none;margin:0;padding:0;font-size:10pt}
 table{font-size:7.5pt} td,th{padding:1px 3px} th{min-width:0} td.long{min-width:10em;max-width:none}
 tr{break-inside:avoid} h2,h3,caption{break-after:avoid}
 details.row>summary{display:inline;list-style:none;font-weight:600}
 details.row>summary::after{content:": "} details.row::details-content{content-visibility:visible;display:inline}
 pre{white-space:pre-wrap;max-height:none;overflow:visible} table.claims td:first-child{min-width:12em}}
dl.cite{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;font-size:.88em;margin:.6em 0;overflow-wrap:anywhere}
dl.cite dt{font-weight:600;color:#444} dl.cite dd{margin:0;min-width:0} ul.deviations{margin:.3em 0 0;padding-left:1.3em}
"""
LONG_TEXT = 40  # characters: a text cell longer than this wraps instead of widening its column
NUMBER_PUNCTUATION = str.maketrans("", "", ",.-−+± ")
SHORT_TEXT = 12  # characters: a text cell this short ("20.84 M", "±0.5 pp") never wraps


def img_tag(path: Path | None, alt: str, id_: str = "") -> str:
    """The PNG inlined; under a plot (reports.plots.save wrote its SVG and CSV beside it) the
    links to both, relative to report.html one folder above the plot's own."""
    if path is None or not Path(path).exists():
        return f"<p><em>{html.escape(alt)}: not available in this run</em></p>"
    path = Path(path)
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    ident = f' id="{id_}"' if id_ else ""
    tag = f'<img{ident} alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
    if not (path.with_suffix(".svg").exists() and path.with_suffix(".csv").exists()):
        return tag  # a sample grid or a panel: an image, not a plot of numbers
    rel = html.escape(f"{path.parent.name}/{path.stem}")
    return (
        f"{tag}<p class='files'>Plot: <a href=\"{rel}.svg\">SVG</a> · "
        f'<a href="{rel}.csv">data</a></p>'
    )


def figure(path: Path | None, caption: str) -> str:
    return (
        f"<figure>{img_tag(path, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def pair(*figures: str) -> str:
    return f"<div class='pair'>{''.join(figures)}</div>"


def details(summary: str, body: str) -> str:
    """Folded away: one summary line, the body on click."""
    return f"<details><summary>{html.escape(summary)}</summary>{body}</details>"


class Html(str):
    """Markup already escaped (links), put into a table cell as it is."""


def _cell(value) -> str:
    if isinstance(value, Html):
        return f"<td class='links'>{value}</td>"
    s = "" if value is None else str(value)
    numeric = s.translate(NUMBER_PUNCTUATION).isdigit()
    css = (
        "num"
        if numeric or s in ("", "—")
        else "long"
        if len(s) > LONG_TEXT
        else "short"
        if len(s) <= SHORT_TEXT
        else "txt"
    )
    return f"<td class='{css}'>{html.escape(s)}</td>"


def _detail_row(row, detail: dict[str, str], span: int, css: str = "") -> str:
    """The row's folded text under it, one `<details>` per non-empty column in `detail`
    (column -> summary), spanning the table, in its row's class (its colour); "" when there is
    none."""
    folded = "".join(
        f"<details class='row'><summary>{html.escape(label)}</summary>"
        f"{html.escape(str(row[col]))}</details>"
        for col, label in detail.items()
        if str(row[col]).strip()
    )
    cls = f"detail {css}".strip()
    return f"<tr class='{cls}'><td colspan='{span}'>{folded}</td></tr>" if folded else ""


def table_html(
    shown: pd.DataFrame | None,
    row_class=None,
    *,
    row_ids: list | None = None,
    detail: dict[str, str] | None = None,
    caption: str = "",
    table_class: str = "",
) -> str:
    """A table already in its reader's form (reports.columns.display). `row_class(row) -> str`
    gives a row its CSS class; rows whose cells say INVALID get `invalid` by default.
    `row_ids`: each row's HTML id (None: none), what evidence links point at. `detail`: columns
    (-> their summary) taken out of the row and folded into a detail row under it: long text
    that would widen the table. It never scrolls sideways: a table too wide for its page is
    split (reports/table_view.py), not boxed. `caption` titles it (a part of a split table);
    `table_class` is the table's CSS class."""
    if shown is None or shown.empty:
        return "<p><em>no data</em></p>"
    detail = {c: label for c, label in (detail or {}).items() if c in shown}
    cols = [c for c in shown.columns if c not in detail]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    rows = []
    for i, (_, r) in enumerate(shown.iterrows()):
        css = (
            row_class(r)
            if row_class
            else ("invalid" if any(str(v).startswith("INVALID") for v in r) else "")
        )
        ident = row_ids[i] if row_ids is not None else None
        attrs = f" id='{html.escape(ident)}'" if ident else ""
        attrs += f" class='{css}'" if css else ""
        rows.append(f"<tr{attrs}>{''.join(_cell(r[c]) for c in cols)}</tr>")
        rows.append(_detail_row(r, detail, len(cols), css))
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    cls = f" class='{table_class}'" if table_class else ""
    return (
        f"<div class='tablebox'><table{cls}>{title}<thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


CLAIM_COLUMNS = {
    "claim": "Claim",
    "source": "Source",
    "paper": "Paper",
    "measured": "Measured",
    "tolerance": "Tolerance",
    "verdict": "Verdict",
    "evidence": "Evidence",
    "explanation": "Why",
}
CLAIM_DETAIL = {"Why": "why"}  # long text: folded under its claim, shown in print


def ref_label(ref: str) -> tuple[str, str]:
    """(table, row) of a row reference as a link reads: `latency:cips:256:b1` -> ("latency",
    "cips@256 b1"), `quality:faces:cips` -> ("quality", "faces/cips")."""
    table, *parts = ref.split(":")
    if table == "quality" and len(parts) == 2:
        return table, f"{parts[0]}/{parts[1]}"
    if len(parts) >= 2:
        return table, f"{parts[0]}@{parts[1]}" + "".join(f" {p}" for p in parts[2:])
    return table, ":".join(parts)


def evidence_links(text, known: set[str] | None = None) -> Html:
    """A claim's `evidence` field as links to the rows it was computed from, grouped by table
    ("efficiency: pixelfolder@256 cips@256"); a row this page does not show (not in `known`,
    the page's row ids) stays plain text, never a dead link."""
    groups: dict[str, list[str]] = {}
    for ref in evidence.refs(text if isinstance(text, str) else ""):
        table, label = ref_label(ref)
        target, label = evidence.anchor(ref), html.escape(label)
        groups.setdefault(table, []).append(
            f"<a href='#{target}' title='{html.escape(ref)}'>{label}</a>"
            if known is None or target in known
            else f"<span title='row not in this report'>{label}</span>"
        )
    return Html("<br>".join(f"{html.escape(t)}: {', '.join(links)}" for t, links in groups.items()))


def claims_html(claims: pd.DataFrame | None, known: set[str] | None = None) -> str:
    """The claims table: claim, source, paper, measured, tolerance and verdict always visible,
    the rows each claim was computed from as links (its `evidence` field, when the claims file
    has one), its explanation folded under it."""
    if claims is None or claims.empty:
        return "<p><em>no claims checked</em></p>"
    cols = [c for c in CLAIM_COLUMNS if c in claims]
    shown = claims[cols].fillna("").astype(str)
    if "evidence" in shown:
        shown["evidence"] = [evidence_links(t, known) for t in shown["evidence"]]
    shown = shown.rename(columns=CLAIM_COLUMNS)

    def verdict_class(row) -> str:
        return "verdict-" + VERDICTS.get(row["Verdict"], ("failed",))[0]

    return table_html(shown, row_class=verdict_class, detail=CLAIM_DETAIL, table_class="claims")


def page(title: str, top: str, sections: list[tuple[str, str]]) -> str:
    """`top` (provenance line, headline, banner) above a table of contents and the sections."""
    toc = "".join(
        f'<li><a href="#s{i}">{html.escape(t)}</a></li>' for i, (t, _) in enumerate(sections)
    )
    body = "".join(
        f'<h2 id="s{i}">{html.escape(t)}</h2>{content}' for i, (t, content) in enumerate(sections)
    )
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{top}<ul class='toc'>{toc}</ul>{body}</body></html>"
    )


def empty_note(what: str, rule: str) -> str:
    """What a section without data says: which results are missing, which workflow rule makes
    them, and how to fill it (results from an older pixbench version lack newer outputs)."""
    return (
        f"<p class='note'>No {html.escape(what)} in this run's results: the workflow's "
        f"<code>{html.escape(rule)}</code> rule makes them (results written by an older pixbench "
        "version may lack them). Run <code>snakemake --cores all</code> again to fill this "
        "section.</p>"
    )
