"""Figures that explain measured speed: the device's roofline with the models on it, share of
time against share of MACs per block, and quality against measured latency.

Each returns `(png path, None)` or `(None, why)`: a profile from before the roofline or the
block timing lacks the keys, and the report then says why the figure is missing instead of
drawing an empty one (`shown`).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.profiling.device_roof import device_roofs, row_utilization
from common.provenance import device_label
from reports import html as H
from reports.collect import RunResults
from reports.plots import (
    axis_label,
    headline_quality,
    palette,
    pareto_front,
    plain_log,
    plt,
    save,
    wrap,
)

Plot = tuple[Path | None, str | None]
MARKERS = {64: "o", 256: "s"}


def shown(plot: Plot, caption: str) -> str:
    """The figure with its caption, or one line saying why it is not drawn."""
    path, why = plot
    if path is not None:
        return H.figure(path, caption)
    return (
        f"<p class='note'><em>{html.escape(caption)}: not drawn, {html.escape(why or '')}</em></p>"
    )


# --------------------------------------------------------------------------- roofline
def roofline_points(res: RunResults) -> tuple[pd.DataFrame, dict]:
    """(one row per timed batch with an operational intensity, the roofline by device): the
    device roofline of the latency table and the speed claims (device_roof.device_roofs, the
    best peak and bandwidth over the run's jobs), so every point lies under it and each point's
    utilization is the table's."""
    rows = []
    roofs = device_roofs(res.profiles)
    for p in res.profiles:
        lat = p.get("latency") or {}
        dev = device_label(lat["device_info"]) if lat else None
        if dev not in roofs:
            continue
        intensity_default = (p.get("traffic") or {}).get("intensity_macs_per_byte")
        for b, r in (lat.get("by_batch") or {}).items():
            intensity = r.get("intensity_macs_per_byte", intensity_default)
            if intensity and r.get("achieved_macs_per_s") and r.get("valid", True):
                found = row_utilization({**r, "intensity_macs_per_byte": intensity}, roofs[dev])
                rows.append(
                    {
                        "device": dev,
                        "model": p["model"],
                        "resolution": int(p["resolution"]),
                        "batch": int(b),
                        "intensity": float(intensity),
                        "achieved": float(r["achieved_macs_per_s"]),
                        "utilization": found[1] if found else None,
                    }
                )
    return pd.DataFrame(rows), roofs


def roofline(res: RunResults, out_dir: Path) -> Plot:
    """Log-log: operational intensity (MAC/B) against achieved MAC/s, with the peak and the
    bandwidth roof of the device (the first device with a roofline, when there are several)."""
    df, roofs = roofline_points(res)
    if df.empty:
        return None, (
            "no profile of this run has a measured roofline (latency.roof peak and bandwidth) "
            "and an operational intensity: profiles from before the roofline measure, or nothing "
            "was timed"
        )
    dev = df.device.iloc[0]
    df, best = df[df.device == dev], roofs[dev]
    roof = {
        "peak": best["peak_macs_per_s"],
        "bw": best["bandwidth_bytes_per_s"],
        "peak_kernel": best.get("peak_kernel", ""),
        "bw_kernel": best.get("bandwidth_kernel", ""),
    }
    fig, ax = plt.subplots(figsize=(7, 4.8))
    lo = min(df.intensity.min(), roof["peak"] / roof["bw"]) / 4
    hi = max(df.intensity.max(), roof["peak"] / roof["bw"]) * 4
    x = np.geomspace(lo, hi, 200)
    ax.plot(x, np.minimum(roof["peak"], roof["bw"] * x) / 1e9, "k-", lw=2)
    ax.annotate(
        f"peak {roof['peak'] / 1e9:.3g} GMAC/s ({roof['peak_kernel']}; best of the run's jobs)",
        (hi, roof["peak"] / 1e9),
        xytext=(-4, 4),
        textcoords="offset points",
        ha="right",
        fontsize=8,
    )
    ax.annotate(
        f"bandwidth {roof['bw'] / 1e9:.3g} GB/s ({roof['bw_kernel']})",
        (lo * 1.2, roof["bw"] * lo * 1.2 / 1e9),
        xytext=(4, 6),
        textcoords="offset points",
        fontsize=8,
        rotation=20,
    )
    colors = palette(df)
    for (model, r), grp in df.groupby(["model", "resolution"]):
        ax.scatter(
            grp.intensity,
            grp.achieved / 1e9,
            color=colors[model],
            marker=MARKERS.get(r, "^"),
            s=60,
            label=f"{model} {r} px",
            zorder=3,
        )
        for _, row in grp.iterrows():
            ax.annotate(
                f"b{row.batch}",
                (row.intensity, row.achieved / 1e9),
                xytext=(4, -8),
                textcoords="offset points",
                fontsize=7,
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log(ax, "x")
    plain_log(ax, "y")
    ax.set(
        xlabel="operational intensity (MACs per byte moved, per image)",
        ylabel="achieved rate (GMAC/s, higher is better)",
        title=wrap(f"Roofline on {dev}", 60),
    )
    ax.legend(fontsize=8, loc="lower right")
    return save(fig, out_dir, "roofline"), None


# --------------------------------------------------------------------------- time by block
def block_frame(res: RunResults) -> tuple[pd.DataFrame, int | None]:
    """Block rows of the profiles at 256 px (else the largest resolution with block timing)."""
    have = [p for p in res.profiles if (p.get("blocks") or {}).get("rows")]
    if not have:
        return pd.DataFrame(), None
    sizes = {int(p["resolution"]) for p in have}
    r = 256 if 256 in sizes else max(sizes)
    rows = [
        {"model": p["model"], **row, "batch": p["blocks"]["batch"]}
        for p in have
        if int(p["resolution"]) == r
        for row in p["blocks"]["rows"]
    ]
    return pd.DataFrame(rows), r


def block_shares(res: RunResults, out_dir: Path) -> Plot:
    """Per model, each block's share of the forward's time against its share of the MACs: above
    the diagonal, a block takes more time than its MACs explain."""
    df, r = block_frame(res)
    if df.empty:
        return None, "no profile of this run has time by block (the `blocks` measure)"
    names = sorted(df.model.unique())
    fig, axes = plt.subplots(
        1, len(names), figsize=(3.6 * len(names), 3.9), squeeze=False, layout="constrained"
    )
    colors = palette(df)
    for ax, model in zip(axes[0], names, strict=True):
        grp = df[df.model == model]
        ax.scatter(100 * grp.share_macs, 100 * grp.share_time, color=colors[model], s=40, zorder=3)
        for _, row in grp.iterrows():
            if row.share_time > 0.03 or row.share_macs > 0.03:
                ax.annotate(
                    str(row.block).split(" (")[0],
                    (100 * row.share_macs, 100 * row.share_time),
                    xytext=(3, 3),
                    textcoords="offset points",
                    fontsize=7,
                )
        top = 100 * max(grp.share_macs.max(), grp.share_time.max()) * 1.1
        ax.plot([0, top], [0, top], "k--", lw=0.8, alpha=0.6)
        ax.set(xlim=(-2, top), ylim=(-2, top), title=f"{model}, batch {grp.batch.iloc[0]}")
        ax.set_xlabel("share of MACs (%)")
    axes[0, 0].set_ylabel("share of time (%)")
    fig.suptitle(f"Time by block against MACs by block at {r} px (dashed: time ∝ MACs)")
    return save(fig, out_dir, f"time_vs_macs_by_block_{r}"), None


# --------------------------------------------------------------------------- Pareto, latency
def latency_frame(res: RunResults, metric: str) -> pd.DataFrame:
    """Per evaluated (dataset, model): the quality of the trained variant and the measured
    batch-1 latency of the model at the resolution it was trained at, with its interval."""
    prof = {(p["model"], int(p["resolution"])): p for p in res.profiles}
    rows = []
    for (d, m), q in res.quality.items():
        r = int((q.get("generator") or {}).get("resolution") or 0)
        lat = (prof.get((m, r)) or {}).get("latency") or {}
        row = (lat.get("by_batch") or {}).get("1")
        if not row or metric not in q["summary"] or row.get("valid") is False:
            continue
        ci = row.get("ci95_ms")
        if not ci:  # an older profile: the interquartile range instead
            half = row.get("iqr_ms", 0.0) / 2
            ci = [row["median_ms"] - half, row["median_ms"] + half]
        rows.append(
            {
                "dataset": d,
                "model": m,
                "resolution": r,
                "ms": row["median_ms"],
                "lo": ci[0],
                "hi": ci[1],
                "device": device_label(lat["device_info"]),
                metric: q["summary"][metric],
            }
        )
    return pd.DataFrame(rows)


def pareto_latency(res: RunResults, out_dir: Path) -> Plot:
    """Quality against measured latency (batch 1, the trained resolution), Pareto front dashed."""
    metric = headline_quality(res)
    if metric is None:
        return None, "no quality results in this run"
    df = latency_frame(res, metric)
    if df.empty:
        return None, (
            "no valid batch-1 latency at the resolution the models were trained at "
            "(profile.latency must time that resolution at batch 1)"
        )
    fig, ax = plt.subplots(figsize=(6, 4.2))
    colors = palette(df)
    for _, r in df.iterrows():
        ax.errorbar(
            r.ms,
            r[metric],
            xerr=[[r.ms - r.lo], [r.hi - r.ms]],
            fmt="o",
            color=colors[r.model],
            ms=9,
            capsize=3,
        )
        ax.annotate(
            r.model, (r.ms, r[metric]), textcoords="offset points", xytext=(6, 4), fontsize=9
        )

    pareto_front(ax, df, "ms", metric)
    ax.set_xscale("log")
    plain_log(ax, "x")
    res_px = ", ".join(f"{r} px" for r in sorted(df.resolution.unique()))
    ax.set_xlabel(
        wrap(
            f"measured latency, full-width model, batch 1, {res_px} (ms, {df.device.iloc[0]}; "
            "bars: 95 % CI or IQR)",
            60,
        )
    )
    ax.set_ylabel(wrap(axis_label(metric) + " of the trained variant", 40))
    ax.set_title("Quality vs measured latency (dashed = Pareto front)")
    return save(fig, out_dir, "pareto_quality_vs_latency"), None
