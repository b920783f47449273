"""One self-contained report.html: every image inlined, no scripts, no network."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0} td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
.banner{background:#fff3cd;border:1px solid #e0c060;padding:.8em 1em;border-radius:6px;margin:1em 0}
.prov{color:#555;font-size:.85em} img{max-width:100%;border:1px solid #eee}
.verdict-reproduced{background:#e6f4ea} .verdict-not{background:#fde7e9} .verdict-convention{background:#fff3cd}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.8em}
.grid{display:flex;flex-wrap:wrap;gap:1em} .grid figure{margin:0;max-width:380px}
"""


def img_tag(path: Path | None, alt: str) -> str:
    if path is None or not Path(path).exists():
        return f"<p><em>{html.escape(alt)}: not available in this run</em></p>"
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def table_html(df: pd.DataFrame | None, floatfmt: str = "{:.4g}") -> str:
    if df is None or df.empty:
        return "<p><em>no data</em></p>"
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].map(lambda v: "" if pd.isna(v) else floatfmt.format(v))
    return out.to_html(index=False, escape=True, border=0)


def claims_html(claims: pd.DataFrame | None) -> str:
    if claims is None or claims.empty:
        return "<p><em>no claims checked</em></p>"
    rows = []
    cols = ["claim", "paper", "measured", "verdict", "explanation"]
    for _, r in claims.iterrows():
        v = str(r.get("verdict", ""))
        cls = (
            "verdict-convention"
            if "convention" in v
            else "verdict-reproduced"
            if v == "reproduced"
            else "verdict-not"
        )
        cells = "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols)
        rows.append(f'<tr class="{cls}">{cells}</tr>')
    head = "".join(f"<th>{c}</th>" for c in cols)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def page(title: str, sections: list[tuple[str, str]], banner: str, provenance: str) -> str:
    toc = "".join(
        f'<li><a href="#s{i}">{html.escape(t)}</a></li>' for i, (t, _) in enumerate(sections)
    )
    body = "".join(
        f'<h2 id="s{i}">{html.escape(t)}</h2>{content}' for i, (t, content) in enumerate(sections)
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p class='prov'>{provenance}</p>{banner}<ul>{toc}</ul>{body}</body></html>"
    )
