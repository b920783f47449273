"""One self-contained report.html: every image inlined, no scripts, no network; it opens from
disk and fits a 1280 px window (wide tables scroll inside their own box, long text wraps)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from reports.headline import VERDICTS

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.4}
h1{margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em} h3{margin:.9em 0 .3em}
.tablebox{max-width:100%;overflow-x:auto;margin:.6em 0}
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
"""
LONG_TEXT = 40  # characters: a text cell longer than this wraps instead of widening its column
NUMBER_PUNCTUATION = str.maketrans("", "", ",.-−+± ")
SHORT_TEXT = 12  # characters: a text cell this short ("20.84 M", "±0.5 pp") never wraps


def img_tag(path: Path | None, alt: str, id_: str = "") -> str:
    if path is None or not Path(path).exists():
        return f"<p><em>{html.escape(alt)}: not available in this run</em></p>"
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    ident = f' id="{id_}"' if id_ else ""
    return f'<img{ident} alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def figure(path: Path | None, caption: str) -> str:
    return (
        f"<figure>{img_tag(path, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def pair(*figures: str) -> str:
    return f"<div class='pair'>{''.join(figures)}</div>"


def details(summary: str, body: str) -> str:
    """Folded away: one summary line, the body on click."""
    return f"<details><summary>{html.escape(summary)}</summary>{body}</details>"


def _cell(value) -> str:
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


def table_html(shown: pd.DataFrame | None, row_class=None) -> str:
    """A table already in its reader's form (reports.columns.display), in its own scroll box.
    `row_class(row) -> str` gives a row its CSS class; rows whose cells say INVALID get
    `invalid` by default."""
    if shown is None or shown.empty:
        return "<p><em>no data</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for _, r in shown.iterrows():
        css = (
            row_class(r)
            if row_class
            else ("invalid" if any(str(v).startswith("INVALID") for v in r) else "")
        )
        cells = "".join(_cell(v) for v in r)
        rows.append(f"<tr class='{css}'>{cells}</tr>" if css else f"<tr>{cells}</tr>")
    return (
        f"<div class='tablebox'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


CLAIM_COLUMNS = {
    "claim": "Claim",
    "source": "Source",
    "paper": "Paper",
    "measured": "Measured",
    "tolerance": "Tolerance",
    "verdict": "Verdict",
    "explanation": "Why",
}


def claims_html(claims: pd.DataFrame | None) -> str:
    if claims is None or claims.empty:
        return "<p><em>no claims checked</em></p>"
    cols = [c for c in CLAIM_COLUMNS if c in claims]
    shown = claims[cols].fillna("").astype(str).rename(columns=CLAIM_COLUMNS)

    def verdict_class(row) -> str:
        return "verdict-" + VERDICTS.get(row["Verdict"], ("failed",))[0]

    return table_html(shown, row_class=verdict_class)


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
