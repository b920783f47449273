"""How a table reads: human column names with units, and numbers rounded to what the measurement
supports. The CSV files keep the machine names (snake_case, stable); only the Markdown and HTML
renderings go through `display(name, frame)`.

Rounding: parameter counts are exact (integers, and millions to the paper's 2 decimals); MAC
counts are exact too but the three counters agree only to ≤ 0.05 % (docs/macs.md), so 4
significant digits; memory is an exact byte count on the meta device, shown to 0.1 MiB; a timed
figure has the 3 significant digits its interquartile range supports at best; a quality metric is
rounded to the 2 significant digits of its seed-to-seed spread when there is one.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from benchmarks.quality import registry

DASH = "—"  # a figure that exists but is not a result (an invalid timing row)


# --------------------------------------------------------------------------- number formats
def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def sig(n: int):
    """`n` significant digits, plain notation (no 1e+03), thousands separators."""

    def fmt(v) -> str:
        if _missing(v):
            return ""
        v = float(v)
        if v == 0:
            return "0"
        decimals = max(0, n - 1 - math.floor(math.log10(abs(v))))
        return f"{round(v, decimals):,.{decimals}f}"

    return fmt


def fixed(decimals: int, scale: float = 1.0):
    return lambda v: "" if _missing(v) else f"{float(v) * scale:,.{decimals}f}"


def integer(v) -> str:
    return "" if _missing(v) else f"{int(v):,}"


def text(v) -> str:
    return "" if _missing(v) else str(v)


def plus_minus(mean, std) -> str:
    """`mean ± std`, both to the 2 significant digits of the spread (4 digits without one)."""
    if _missing(mean):
        return ""
    if _missing(std) or std == 0:
        return sig(4)(mean)
    decimals = max(0, 1 - math.floor(math.log10(abs(std))))
    return f"{mean:,.{decimals}f} ± {std:,.{decimals}f}"


# --------------------------------------------------------------------------- column names
PCT = fixed(1, 100)
COLUMNS = {  # machine name -> (human name with unit, format)
    "model": ("Model", text), "dataset": ("Dataset", text), "resolution": ("Resolution (px)", integer),
    "params": ("Params", integer), "params_M": ("Params (M)", fixed(2)),
    "GMACs": ("GMACs (true)", sig(4)), "GMACs_paper_convention": ("GMACs (paper convention)", sig(4)),
    "GMACs_fir": ("GMACs of FIR filters", sig(3)),
    "train_saved_MiB": ("Train activations saved (MiB)", fixed(1)),
    "inference_peak_MiB": ("Inference peak activations (MiB)", fixed(1)),
    "counter_max_rel_diff": ("Counter spread (%)", fixed(3, 100)),
    "batch": ("Batch", integer), "median_ms": ("Median (ms)", sig(3)), "iqr_ms": ("IQR (ms)", sig(2)),
    "images_per_s": ("Images/s", sig(3)), "achieved_GMAC_per_s": ("Achieved GMAC/s", sig(3)),
    "utilization_vs_matmul": ("Utilization vs matmul (%)", PCT),
    "matmul_GMAC_per_s": ("Matmul roof, median (GMAC/s)", sig(3)),
    "roof_min_GMAC_per_s": ("Roof min (GMAC/s)", sig(3)),
    "roof_max_GMAC_per_s": ("Roof max (GMAC/s)", sig(3)), "roof_spread": ("Roof spread (%)", fixed(0, 100)), "device": ("Device", text),
    "status": ("Status", text), "variant": ("Trained variant", text), "kimg": ("kimg", lambda v: "" if _missing(v) else f"{float(v):g}"),
    "extractor": ("Features", text), "GMACs_of_variant": ("GMACs of variant (true)", sig(4)),
    "params_of_variant": ("Params of variant", integer),
    "params_M_paper": ("Params (M), paper", fixed(2)), "params_M_ours": ("Params (M), ours", fixed(2)),
    "GMACs_paper": ("GMACs, paper", fixed(2)), "GMACs_ours_true": ("GMACs (true), ours", sig(4)),
    "GMACs_ours_paper_convention": ("GMACs (paper convention), ours", sig(4)),
    "img_per_s_paper": ("Images/s, paper (GPU)", sig(4)), "img_per_s_ours": ("Images/s, ours", text),
}  # fmt: skip
HIDDEN = {"valid", "invalid_reason"}  # folded into `status` by the latency view
RESULT_FIGURES = (
    "median_ms",
    "iqr_ms",
    "images_per_s",
    "achieved_GMAC_per_s",
    "utilization_vs_matmul",
)  # fmt: skip  (what an invalid timing row must not show)


def metric_label(key: str) -> str | None:
    """The registry's label of a result key with its direction, or None for other columns."""
    info = registry.key_info(key, None)
    if info is None:
        return None
    return f"{info.label} {'↓' if info.lower_is_better else '↑'}"


_PAPER_COL = re.compile(r"^paper_(?P<dataset>[a-z]+)_(?P<what>fid|precision|recall)$")
_OURS_COL = re.compile(r"^ours_(?P<dataset>[^_]+)_(?P<key>.+)$")


def column_name(col: str) -> str:
    if col in COLUMNS:
        return COLUMNS[col][0]
    if label := metric_label(col):
        return label
    if m := _PAPER_COL.match(col):
        what = {"fid": "FID", "precision": "precision", "recall": "recall"}[m["what"]]
        return f"{m['dataset'].upper() if m['dataset'] == 'ffhq' else m['dataset'].title()} {what}, paper"
    if (m := _OURS_COL.match(col)) and (label := metric_label(m["key"])):
        return f"{m['dataset']}: {label}, ours"
    return col


def column_format(col: str):
    if col in COLUMNS:
        return COLUMNS[col][1]
    if col.startswith("paper_"):
        return lambda v: "" if _missing(v) else f"{float(v):g}"  # as the paper prints it
    return sig(3) if col.startswith("ours_") else text


# --------------------------------------------------------------------------- per-table views
def latency_view(lat: pd.DataFrame) -> pd.DataFrame:
    """Validity folded into one `status` column; an invalid row keeps only what identifies it,
    its figures replaced by a dash (they are not results)."""
    if lat.empty or "valid" not in lat:
        return lat
    out = lat.astype({c: object for c in RESULT_FIGURES if c in lat})
    bad = ~lat["valid"].astype(bool)
    out.loc[bad, [c for c in RESULT_FIGURES if c in out]] = DASH
    out["status"] = ["valid" if ok else f"INVALID: {why}"
                     for ok, why in zip(lat["valid"], lat["invalid_reason"], strict=True)]  # fmt: skip
    out = out.drop(columns=[c for c in HIDDEN if c in out])
    first = [c for c in ("model", "resolution", "batch", "status") if c in out]
    return out[first + [c for c in out.columns if c not in first]]


def quality_view(q: pd.DataFrame) -> pd.DataFrame:
    """Each result key and its `<key>_std` partner as one `mean ± std` column."""
    if q.empty:
        return q
    out = q.copy()
    for key in [c for c in q.columns if registry.key_info(c, None) is not None]:
        std = q[f"{key}_std"] if f"{key}_std" in q else pd.Series([None] * len(q), index=q.index)
        out[key] = [plus_minus(m, s) for m, s in zip(q[key], std, strict=True)]
        out = out.drop(columns=[f"{key}_std"], errors="ignore")
    return out


VIEWS = {"latency": latency_view, "quality": quality_view}


def display(name: str, df: pd.DataFrame | None) -> pd.DataFrame | None:
    """The frame as a reader sees it: strings, human column names, `name`'s own view applied."""
    if df is None or df.empty:
        return df
    df = VIEWS.get(name, lambda d: d)(df)
    out = pd.DataFrame(index=df.index)
    for col in df.columns:
        fmt = column_format(col)
        out[column_name(col)] = [v if isinstance(v, str) else fmt(v) for v in df[col]]
    return out.reset_index(drop=True)


def legend(df: pd.DataFrame | None) -> list[tuple[str, str, str]]:
    """(CSV column, human name, protocol) for every result-key column: the Markdown's key to
    the CSV, where the machine names stay."""
    if df is None or df.empty:
        return []
    rows = []
    for col in df.columns:
        key = _OURS_COL.match(col)["key"] if _OURS_COL.match(col) else col
        info = registry.key_info(key, None)
        if info is not None:
            rows.append((col, column_name(col), info.protocol))
    return rows
