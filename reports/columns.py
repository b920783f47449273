"""How a table reads: human column names with units and direction, and numbers rounded to what
the measurement supports. The CSV files keep the machine names (snake_case, stable); only the
Markdown and HTML renderings go through `display(name, frame)`.

Efficiency columns (efficiency, scaling, latency tables) are shown as their measure declares them
(benchmarks/profiling/measures: label, unit, direction and the precision the measurement
supports, e.g. 4 significant digits for exact MAC counts, 3 for a timed figure); quality columns
as the metric registry names them, each rounded to the 2 significant digits of its seed-to-seed
spread when there is one; the few other columns (identifiers, the paper comparison) are below.
"""

from __future__ import annotations

import math
import re

import pandas as pd

from benchmarks.profiling import registry as measure_registry
from benchmarks.quality import registry

DASH = "—"  # a figure that exists but is not a result (an invalid timing row)
VARIANT = "_of_variant"  # quality table: a measure's column for the trained variant


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
COLUMNS = {  # columns no measure or metric declares: machine name -> (human name, format)
    "model": ("Model", text),
    "dataset": ("Dataset", text),
    "resolution": ("Resolution (px)", integer),
    "status": ("Status", text),
    "variant": ("Trained variant", text),
    "kimg": ("kimg", lambda v: "" if _missing(v) else f"{float(v):g}"),
    "extractor": ("Features", text),
    "n_gen": ("N generated per seed", integer),
    "n_real": ("N real", integer),
    "seeds": ("Sampling seeds (one trained model)", text),
    "params_M_paper": ("Params (M), paper", fixed(2)),
    "params_M_ours": ("Params (M), ours", fixed(2)),
    "GMACs_paper": ("GMACs, paper", fixed(2)),
    "GMACs_ours_true": ("GMACs (true), ours", sig(4)),
    "GMACs_ours_paper_convention": ("GMACs (paper convention), ours", sig(4)),
    "img_per_s_paper": ("Images/s, paper (GPU)", sig(4)),
    # ours is CPU or GPU at the batch it names: never bare beside the paper's GPU figure
    "img_per_s_ours": ("Images/s, ours ⚠ own device and batch, not the paper's protocol", text),
    "ours_protocol": ("Our protocol ⚠", text),
}


def arrow(lower_is_better: bool | None) -> str:
    return "" if lower_is_better is None else " ↓" if lower_is_better else " ↑"


def measure_label(c: measure_registry.Column, prefix: str = "") -> str:
    """A measure's column as its declaration reads: `[prefix]label (unit) ↓`."""
    unit = f" ({c.unit})" if c.unit else ""
    return f"{prefix}{c.label}{unit}{arrow(c.lower_is_better)}"


def measure_format(c: measure_registry.Column):
    """The declared precision: int, text, sig<N> significant digits, fixed<N> decimals; a "%"
    column holds a fraction, shown ×100."""
    if c.fmt in ("int", "text"):
        return integer if c.fmt == "int" else text
    n = int(c.fmt[-1])
    if c.fmt.startswith("fixed"):
        return fixed(n, 100 if c.percent else 1)
    return (lambda v: sig(n)(v if _missing(v) else 100 * v)) if c.percent else sig(n)


def _measure_column(col: str) -> tuple[measure_registry.Column, str] | None:
    """(declared column, prefix) of a measure's column, or of its trained-variant twin."""
    if c := measure_registry.column(col, None):
        return c, ""
    if col.endswith(VARIANT) and (c := measure_registry.column(col.removesuffix(VARIANT), None)):
        return c, "Trained variant: "
    return None


def metric_label(key: str) -> str | None:
    """The registry's label of a result key with its direction, or None for other columns."""
    info = registry.key_info(key, None)
    if info is None:
        return None
    return f"{info.label} {'↓' if info.lower_is_better else '↑'}"


_PAPER_COL = re.compile(r"^paper_(?P<dataset>[a-z]+)_(?P<what>fid|precision|recall)$")
_OURS_COL = re.compile(r"^ours_(?P<dataset>[^_]+)_(?P<key>.+)$")


def protocol_text(info: registry.KeyInfo) -> str:
    """A key's protocol line; on proxy features without the NVIDIA protocol's name (a proxy
    number read "legacy_tensorflow / NVIDIA fid50k_full" looks like a citable FID)."""
    if info.comparable or info.mode is None:
        return info.protocol
    mode = registry.MODES[info.mode]
    return info.protocol.replace(mode.label, f"{mode.name} resize only")


def column_name(col: str) -> str:
    if col in COLUMNS:
        return COLUMNS[col][0]
    if found := _measure_column(col):
        return measure_label(*found)
    if label := metric_label(col):
        return label
    if m := _PAPER_COL.match(col):
        what = {"fid": "FID", "precision": "precision", "recall": "recall"}[m["what"]]
        return f"{m['dataset'].upper() if m['dataset'] == 'ffhq' else m['dataset'].title()} {what}, paper"
    if (m := _OURS_COL.match(col)) and (label := metric_label(m["key"])):
        proxy = not registry.key_info(m["key"]).comparable
        return f"{m['dataset']}: {label}, ours" + (" (PROXY, not comparable)" if proxy else "")
    return col


def column_format(col: str):
    if col in COLUMNS:
        return COLUMNS[col][1]
    if found := _measure_column(col):
        return measure_format(found[0])
    if col.startswith("paper_"):
        return lambda v: "" if _missing(v) else f"{float(v):g}"  # as the paper prints it
    return sig(3) if col.startswith("ours_") else text


# --------------------------------------------------------------------------- per-table views
def validity_view(df: pd.DataFrame) -> pd.DataFrame:
    """A row measure's validity (its `valid`/`invalid_reason` fields) folded into one `status`
    column; an invalid row keeps only what identifies it, its result figures (the columns its
    measure declares with role "result") replaced by a dash: they are not results."""
    if df.empty or measure_registry.VALID not in df:
        return df
    figures = [c for c in df if (d := measure_registry.column(c, None)) and d.role == "result"]
    hidden = [c for c in df if (d := measure_registry.column(c, None)) and d.role == "status"]
    out = df.astype({c: object for c in figures})
    bad = ~df[measure_registry.VALID].astype(bool)
    out.loc[bad, figures] = DASH
    reasons = df.get(measure_registry.REASON, pd.Series([None] * len(df), index=df.index))
    # a noisy row (latency: CI wider than its target) keeps its figures, its CI says how wide
    noisy = df.get("noisy", pd.Series([False] * len(df), index=df.index))
    noisy_why = df.get("noisy_reason", pd.Series([None] * len(df), index=df.index))
    out["status"] = [
        f"INVALID: {why}"
        if not ok
        else (f"noisy: {nwhy}" if not pd.isna(nz) and bool(nz) else "valid")
        for ok, why, nz, nwhy in zip(
            df[measure_registry.VALID], reasons, noisy, noisy_why, strict=True
        )
    ]
    out = out.drop(columns=hidden)
    first = [c for c in ("model", "resolution") if c in out]
    first += [c for c in out if (d := measure_registry.column(c, None)) and d.role == "context"][:1]
    first.append("status")
    return out[first + [c for c in out.columns if c not in first]]


def quality_view(q: pd.DataFrame) -> pd.DataFrame:
    """Each result key and its `<key>_std` partner as one `mean ± std` column, followed by the
    metric's own 95 % interval `[lo, hi]` where it has one (`<key>_ci_lo`/`_ci_hi`)."""
    if q.empty:
        return q
    out = q.copy()
    none = pd.Series([None] * len(q), index=q.index)
    for key in [c for c in q.columns if registry.key_info(c, None) is not None]:
        std = q.get(f"{key}_std", none)
        lo, hi = q.get(f"{key}_ci_lo", none), q.get(f"{key}_ci_hi", none)
        out[key] = [
            plus_minus(m, s) + ("" if _missing(a) else f" [{sig(2)(a)}, {sig(2)(b)}]")
            for m, s, a, b in zip(q[key], std, lo, hi, strict=True)
        ]
        out = out.drop(columns=[f"{key}_{x}" for x in ("std", "ci_lo", "ci_hi")], errors="ignore")
    return out


VIEWS = {"quality": quality_view}


def display(name: str, df: pd.DataFrame | None) -> pd.DataFrame | None:
    """The frame as a reader sees it: strings, human column names, `name`'s own view applied
    (a table with validity fields: `validity_view`)."""
    if df is None or df.empty:
        return df
    df = VIEWS.get(name, validity_view)(df)
    out = pd.DataFrame(index=df.index)
    for col in df.columns:
        fmt = column_format(col)
        out[column_name(col)] = [v if isinstance(v, str) else fmt(v) for v in df[col]]
    return out.reset_index(drop=True)


def legend(df: pd.DataFrame | None) -> list[tuple[list[tuple[str, str]], str]]:
    """([(CSV column, human name), ...], protocol) for every metric column and, grouped, the
    columns of each measure: the Markdown's key to the CSV, where the machine names stay."""
    if df is None or df.empty:
        return []
    rows, by_measure = [], {}
    for col in df.columns:
        if found := _measure_column(col):
            if found[0].role != "status":
                m = measure_registry.measure_of(found[0].name)
                if m.name not in by_measure:
                    by_measure[m.name] = ([], m.protocol)
                    rows.append(by_measure[m.name])
                by_measure[m.name][0].append((col, column_name(col)))
            continue
        key = _OURS_COL.match(col)["key"] if _OURS_COL.match(col) else col
        info = registry.key_info(key, None)
        if info is not None:
            rows.append(([(col, column_name(col))], protocol_text(info)))
    return rows
