"""The report's sample-size section: FID against 1/N with its extrapolation FID∞, from the
`sample_size` entries of the quality results (benchmarks/quality/sample_size.py wrote them).

FID at small N is biased upward, so a run evaluated on 1,000 images reports a larger FID than
its model's fid50k. The plot shows each model's FID at a few N (mean of the draws, bars their
2.5-97.5 percentiles) against 1/N, the least-squares line through them and its intercept FID∞
(Chong & Forsyth 2020); the table gives the run's FID beside FID∞ and the gap between them.
The curves go to CSV first (`sample_size.csv`, `sample_size_fit.csv`); the plot and the tables
are drawn from those frames.
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from benchmarks.quality import registry
from common.io import atomic_output, atomic_write_text
from reports import html as H
from reports import tables
from reports.collect import RunResults
from reports.plots import FULL_WIDTH, axis_label, palette, save, wrap

TITLE = "Quality against sample size: FID's small-N bias and FID∞"
CURVES = "sample_size"  # one row per (dataset, model, result key, n)
FITS = "sample_size_fit"  # one row per (dataset, model, result key) with an extrapolation
PLOT = "fid_vs_inverse_n"


def curve_frame(res: RunResults) -> pd.DataFrame:
    """Every curve point of every quality result: key, n, 1/n, mean, lo, hi, draws."""
    rows = []
    for (dataset, model), q in sorted(res.quality.items()):
        for key, entry in (q.get("sample_size") or {}).items():
            fitted = set((entry.get("fit") or {}).get("fitted_n") or [])
            for r in entry["rows"]:
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "key": key,
                        "metric": entry["metric"],
                        "n": r["n"],
                        "inv_n": 1.0 / r["n"],
                        "mean": r["mean"],
                        "lo": r["lo"],
                        "hi": r["hi"],
                        "draws": len(r["draws"]),
                        "fitted": r["n"] in fitted,
                        "seed": entry["seed"],
                        "num_real": entry["num_real"],
                    }
                )
    return pd.DataFrame(rows)


def fit_frame(res: RunResults) -> pd.DataFrame:
    """One row per extrapolated curve: the run's N and value there, FID∞ with its standard error
    and 95 % interval (t with the fit's degrees of freedom), and the run's gap above FID∞."""
    rows = []
    for (dataset, model), q in sorted(res.quality.items()):
        for key, entry in (q.get("sample_size") or {}).items():
            fit = entry.get("fit") or {}
            if entry.get("inf") is None or "slope" not in fit:
                continue
            at_n = entry["rows"][-1]
            half = float(student_t.ppf(0.975, fit["dof"]) * entry["inf_se"])
            rows.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "key": key,
                    "n_run": at_n["n"],
                    "value_at_n": at_n["mean"],
                    "value_at_inf": entry["inf"],
                    "value_at_inf_se": entry["inf_se"],
                    "value_at_inf_lo": entry["inf"] - half,
                    "value_at_inf_hi": entry["inf"] + half,
                    "gap_at_n": at_n["mean"] - entry["inf"],
                    "slope": fit["slope"],
                    "r2": fit["r2"],
                    "points": fit["points"],
                }
            )
    return pd.DataFrame(rows)


def _sig(v, digits: int = 3) -> str:
    return "" if v is None or pd.isna(v) else f"{float(v):.{digits}g}"


def display(fits: pd.DataFrame) -> pd.DataFrame:
    """The fit table as a reader sees it (human names, 3 significant digits)."""
    return pd.DataFrame(
        {
            "Dataset": fits["dataset"],
            "Model": fits["model"],
            "Metric": [
                registry.key_info(k).label if registry.key_info(k, None) else k for k in fits["key"]
            ],
            "N (run)": [f"{int(n):,}" for n in fits["n_run"]],
            "value at N": [_sig(v) for v in fits["value_at_n"]],
            "extrapolated to N = ∞ (95 % fit interval)": [
                f"{_sig(v)} [{_sig(lo)}, {_sig(hi)}]"
                for v, lo, hi in zip(
                    fits["value_at_inf"],
                    fits["value_at_inf_lo"],
                    fits["value_at_inf_hi"],
                    strict=True,
                )
            ],
            "gap at N": [_sig(v) for v in fits["gap_at_n"]],
            "fit R²": [_sig(v) for v in fits["r2"]],
        }
    )


def protocol_n(keys) -> int | None:
    """The images per set of the published protocol of the curves' metric (fid50k: 50,000)."""
    for key in keys:
        info = registry.key_info(key, None)
        if info is not None and registry.get(info.metric).protocol_images:
            return registry.get(info.metric).protocol_images
    return None


def short_name(keys) -> str:
    """ "FID" on the reference network, "FD" on any other features (a proxy FD is not FID)."""
    infos = [registry.key_info(k, None) for k in keys]
    return "FID" if all(i is not None and i.comparable for i in infos) else "FD"


def caption(curves: pd.DataFrame, fits: pd.DataFrame) -> str:
    """What the points, bars, line and ◆ are, how far the run's N is from the protocol's, and
    that FID at small N is biased upward (so the run's FID overstates the model's fid50k)."""
    fid = curves[curves["metric"] == "fid"]
    n_run = int(fid["n"].max())
    draws = int(fid["draws"].max())
    name = short_name(fid["key"].unique())
    text = (
        "FID (as any Fréchet distance) at small N is biased upward (the bias falls roughly as "
        f"1/N). Each point: the mean {name} of {draws} draws of N generated images (without "
        f"replacement, seed {int(fid['seed'].iloc[0])}) against all "
        f"{int(fid['num_real'].max()):,} real ones; bars: their 2.5-97.5 percentiles "
        "(subsampling spread, none at the run's own N). Dashed: the least-squares line against "
        "1/N through the filled points (N at least the feature dimension; below it, hollow, the "
        f"bias is not linear in 1/N); ◆ at 1/N = 0: its intercept {name}∞ (Chong & Forsyth "
        "2020) with its 95 % fit interval, which leaves out the sampling error of the sets."
    )
    if fits.empty:
        text += (
            f" No {name}∞ here: a line needs 3 sizes of at least the feature dimension, spanning "
            "a factor 2 (N at least twice the feature dimension)."
        )
    proto = protocol_n(fid["key"].unique())
    if proto:
        text += (
            f" This run used N = {n_run:,} generated images per seed, "
            f"{proto / n_run:.0f}× fewer than the protocol's {proto:,} (dotted line)"
        )
        if not fits.empty:
            text += (
                f"; its {name} lies {_sig(fits['gap_at_n'].min())} to "
                f"{_sig(fits['gap_at_n'].max())} above {name}∞"
            )
        text += "."
    return text


def _spaced_labels(grid: list[int], gap: float = 0.06) -> list[str]:
    """Tick labels of the N axis: on 1/N the large sizes crowd near 0, so a size is labelled only
    `gap` (a fraction of the axis) away from the last labelled one, starting at the run's N."""
    labels, last = {}, None
    for n in sorted(grid, reverse=True):  # from the run's N (nearest 0) outwards
        if last is None or (1.0 / n - last) * min(grid) >= gap:
            labels[n], last = f"{n:,}", 1.0 / n
    return [labels.get(n, "") for n in grid]


def _fit_of(fits: pd.DataFrame, key: str, dataset: str, model: str) -> pd.DataFrame:
    """The fit row of one curve; none when the run's N allowed no fit (an empty frame has no
    columns at all, e.g. the default run's N below the feature dimension)."""
    if fits.empty:
        return fits
    return fits[(fits["key"] == key) & (fits["dataset"] == dataset) & (fits["model"] == model)]


def plot(curves: pd.DataFrame, fits: pd.DataFrame, out_dir: Path) -> Path | None:
    """FID against 1/N, one panel per FID result key (resize mode), models in their colours."""
    fid = curves[curves["metric"] == "fid"]
    if fid.empty:
        return None
    keys = list(dict.fromkeys(fid["key"]))
    colors = palette(fid)
    fig, axes = plt.subplots(
        1, len(keys), figsize=(min(6.2 * len(keys), FULL_WIDTH), 4.4), squeeze=False
    )
    proto = protocol_n(keys)
    for ax, key in zip(axes[0], keys, strict=True):
        for (dataset, model), grp in fid[fid["key"] == key].groupby(["dataset", "model"]):
            grp = grp.sort_values("inv_n")
            c = colors[model]
            label = model if fid["dataset"].nunique() == 1 else f"{model} ({dataset})"
            err = np.clip([grp["mean"] - grp["lo"], grp["hi"] - grp["mean"]], 0, None)
            for fitted in (True, False):  # hollow: below the feature dimension, not in the fit
                part = (grp["fitted"] == fitted).to_numpy()
                if part.any():
                    ax.errorbar(
                        grp["inv_n"][part], grp["mean"][part], yerr=err[:, part], fmt="o",
                        color=c, mfc=c if fitted else "none", capsize=3,
                        label=label if fitted or not grp["fitted"].any() else None,
                    )  # fmt: skip
            f = _fit_of(fits, key, dataset, model)
            if not f.empty:
                f = f.iloc[0]
                xs = np.array([0.0, grp.loc[grp["fitted"], "inv_n"].max()])
                ax.plot(xs, f["value_at_inf"] + f["slope"] * xs, "--", color=c, lw=1)
                yerr = [
                    [f["value_at_inf"] - f["value_at_inf_lo"]],
                    [f["value_at_inf_hi"] - f["value_at_inf"]],
                ]
                ax.errorbar(
                    [0.0], [f["value_at_inf"]], yerr=yerr, fmt="D", color=c, ms=7, capsize=4
                )
        if proto:
            ax.axvline(1.0 / proto, color="0.4", ls=":", lw=1)
        grid = sorted(fid.loc[fid["key"] == key, "n"].unique())
        top = ax.secondary_xaxis("top")
        top.set_xticks([1.0 / n for n in grid], labels=_spaced_labels(grid), fontsize=8)
        top.set_xlabel("N (generated images)")
        ax.set_xlim(left=-0.03 / min(grid))
        ax.set_xlabel("1/N (per generated image)")
        ax.set_ylabel(wrap(axis_label(key), 40))
        info = registry.key_info(key, None)
        ax.set_title(f"{info.mode} resize" if info and info.mode else key, fontsize=10)
        name = short_name([key])
        title = f"◆ {name}∞" if not fits.empty else f"no {name}∞ (N too small)"
        ax.legend(fontsize=8, title=title + (", ⋯ protocol N" if proto else ""))
    fig.tight_layout()
    drawn = pd.concat([fid.assign(part="point"), fits.assign(part="fit")], ignore_index=True)
    return save(fig, out_dir, PLOT, drawn)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_output(path) as tmp:
        df.to_csv(tmp, index=False)


def write(res: RunResults, out: Path, prov: str) -> dict | None:
    """The curves and fits as CSV, the fit table as Markdown, the plot as PNG + SVG; what the
    section shows, or None when no quality result has a sample-size curve."""
    curves = curve_frame(res)
    if curves.empty:
        return None
    fits = fit_frame(res)
    _write_csv(curves, out / f"{CURVES}.csv")
    _write_csv(fits, out / f"{FITS}.csv")
    text = caption(curves, fits) if (curves["metric"] == "fid").any() else ""
    shown = display(fits) if not fits.empty else None
    md = tables.to_markdown(shown, FITS) if shown is not None else "_no extrapolation_\n"
    atomic_write_text(out / f"{FITS}.md", f"# {TITLE}\n\n{prov}\n\n{text}\n\n{md}")
    return {"plot": plot(curves, fits, out / "plots"), "table": shown, "caption": text}


def section(written: dict | None) -> tuple[str, str]:
    """(title, html) from what `write` returned."""
    if written is None:
        note = "No sample-size curve in this run's quality results (quality jobs write one)."
        return TITLE, f"<p class='note'><em>{html.escape(note)}</em></p>"
    body = H.figure(written["plot"], written["caption"]) if written["plot"] else ""
    return TITLE, body + H.table_html(written["table"])
