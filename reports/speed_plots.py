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
from matplotlib.patches import Patch

from benchmarks.profiling import registry as measure_registry
from benchmarks.profiling.device_roof import device_roofs, with_device_roofs
from benchmarks.profiling.measures.blocks import WHOLE, WHOLE_HOOKED
from benchmarks.quality import registry
from reports import html as H
from reports.collect import RunResults
from reports.plots import (
    FULL_WIDTH,
    axis_label,
    bars_phrase,
    front_title,
    headline_quality,
    palette,
    pareto_front,
    plain_log,
    plt,
    save,
    spread,
    whiskers,
    wrap,
)

Plot = tuple[Path | None, str | None]
MARKERS = {64: "o", 256: "s"}
GIGA = 1e9


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
    """(one row per valid timed batch with an operational intensity, the roofline by device):
    the latency table's rows (`table_rows`, given the device roofline of the table and the
    speed claims, device_roof.device_roofs: the best peak and bandwidth over the run's jobs), so
    every point lies under it and each point's utilization is the table's. A profile from before
    per-batch intensity takes the traffic measure's batch-1 intensity."""
    rows = []
    roofs = device_roofs(res.profiles.values())
    for p in with_device_roofs(res.profiles.values()):
        fallback = measure_registry.column("intensity_MACs_per_byte").value(p)
        for r in measure_registry.table_rows("latency", p):
            intensity = r["intensity_at_batch"]
            intensity = intensity if measure_registry.known(intensity) else fallback
            if r["device"] not in roofs or r[measure_registry.VALID] is False:
                continue
            if not (
                measure_registry.known(intensity)
                and measure_registry.known(r["achieved_GMAC_per_s"])
            ):
                continue
            util = r["utilization_vs_attainable"]
            rows.append(
                {
                    "device": r["device"],
                    "model": p["model"],
                    "resolution": int(p["resolution"]),
                    "batch": int(r["batch"]),
                    "intensity": float(intensity),
                    "achieved": float(r["achieved_GMAC_per_s"]) * GIGA,
                    "utilization": util if measure_registry.known(util) else None,
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
    data = df.assign(roof_peak_macs_per_s=roof["peak"], roof_bandwidth_bytes_per_s=roof["bw"])
    return save(fig, out_dir, "roofline", data), None


# --------------------------------------------------------------------------- time by block
def block_frame(res: RunResults) -> tuple[pd.DataFrame, int | None]:
    """The time-by-block table's rows (`table_rows`: each block's share of the time scaled onto
    the latency row's median, as the table shows it) of the profiles at 256 px (else the
    largest resolution with block timing), without the table's whole-forward row."""
    have = {
        k: rows
        for k, p in res.profiles.items()
        if (rows := measure_registry.table_rows("blocks", p))
    }
    if not have:
        return pd.DataFrame(), None
    sizes = {int(r) for _, r in have}
    size = 256 if 256 in sizes else max(sizes)
    rows = [
        {"model": m, **row}
        for (m, r), found in have.items()
        if int(r) == size
        for row in found
        if row["block"] not in (WHOLE, WHOLE_HOOKED)
    ]
    return pd.DataFrame(rows), size


def block_shares(res: RunResults, out_dir: Path) -> Plot:
    """Per model, each block's share of the forward's time (the model's colour, whiskers: the
    block's interquartile time range) beside its share of the MACs (grey), as horizontal bars
    with the block names on the y axis, so long names ("group 1 (512 ch)", "b32 (32 px)") never
    overlap: a time bar longer than its MAC bar is a block slower than its MACs explain."""
    df, r = block_frame(res)
    if df.empty:
        return None, "no profile of this run has time by block (the `blocks` measure)"
    names = sorted(df.model.unique())
    ncols = min(2, len(names))
    nrows = -(-len(names) // ncols)
    tallest = int(df.groupby("model").size().max())
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(FULL_WIDTH, (0.32 * tallest + 1.1) * nrows + 0.4),
        squeeze=False, layout="constrained",
    )  # fmt: skip
    colors, drawn = palette(df), []
    for ax, model in zip(axes.flat, names, strict=False):
        drawn.append(_block_panel(ax, df[df.model == model].reset_index(drop=True), colors[model]))
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"Share of the forward's time against share of its MACs, by block, at {r} px",
        fontsize=10,
    )
    key = [
        Patch(color="0.7", label="share of MACs"),
        Patch(color="0.35", label="share of time, in the model's colour (whiskers: as wide as "
              "the block's interquartile time range over the repeats)"),
    ]  # fmt: skip
    fig.legend(handles=key, loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return save(fig, out_dir, f"time_vs_macs_by_block_{r}", pd.concat(drawn)), None


def _block_panel(ax, grp: pd.DataFrame, color) -> pd.DataFrame:
    """One model's blocks, in forward order from the top; returns the numbers drawn."""
    y = np.arange(len(grp))
    pct = grp.assign(pct_macs=100 * grp.share_macs, pct_time=100 * grp.share_time)
    # whiskers as wide as the block's interquartile range (the table's Time IQR), as a share
    pct["pct_time_iqr"] = pct.pct_time * grp.block_iqr_ms / grp.block_ms
    xerr = (
        np.nan_to_num(pct.pct_time_iqr.to_numpy() / 2) if pct.pct_time_iqr.notna().any() else None
    )
    ax.barh(y - 0.2, pct.pct_macs, height=0.4, color="0.7", label="share of MACs")
    ax.barh(y + 0.2, pct.pct_time, height=0.4, color=color, xerr=xerr, capsize=2,
            label="share of time")  # fmt: skip
    ax.set_yticks(y, labels=[str(b) for b in grp.block], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("share of the forward (%)")
    ax.set_title(f"{grp.model.iloc[0]}, batch {grp.blocks_batch.iloc[0]}", fontsize=10)
    keep = ["model", "block", "blocks_batch", "pct_macs", "pct_time", "pct_time_iqr"]
    return pct[[c for c in keep if c in pct]]


# --------------------------------------------------------------------------- Pareto, latency
def latency_frame(res: RunResults, metric: str) -> pd.DataFrame:
    """Per evaluated (dataset, model): the quality of the trained variant beside the batch-1
    latency measured on that same variant (its profile_variant record, at the resolution it was
    trained at; the latency table's columns of that row), with the latency's interval. Never the
    full-width model's timing: a narrow variant's quality set against another network's latency
    would pair two different networks."""
    rows = []
    for (d, m), q in res.quality.items():
        variant = res.variants.get((d, m)) or {}
        r = int((q.get("generator") or {}).get("resolution") or 0)
        found = [t for t in measure_registry.table_rows("latency", variant) if t["batch"] == 1]
        if int(variant.get("resolution") or -1) != r or not found or metric not in q["summary"]:
            continue
        row = found[0]
        if row[measure_registry.VALID] is False:
            continue
        med, lo, hi = row["median_ms"], row["ci95_lo_ms"], row["ci95_hi_ms"]
        if not (
            measure_registry.known(lo) and measure_registry.known(hi)
        ):  # an older profile: the interquartile range instead
            half = (row["iqr_ms"] if measure_registry.known(row["iqr_ms"]) else 0.0) / 2
            lo, hi = med - half, med + half
        rows.append(
            {
                "dataset": d,
                "model": m,
                "resolution": r,
                "ms": med,
                "lo": lo,
                "hi": hi,
                "device": row["device"],
                metric: q["summary"][metric],
            }
        )
    return pd.DataFrame(rows)


NOT_TIMED = (
    "no trained variant was timed (the workflow's profile_variant rule counts the trained "
    "variants' params and MACs with --no-latency, and the timed profiles are of the full-width "
    "models, a different network); quality against latency needs both measured on one network, "
    "so it is not paired with the full-width timing"
)


def with_quality_spread(df: pd.DataFrame, qual: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The latency frame with the quality table's interval of `metric` (q_lo, q_hi, q_interval:
    the seeds' std or the metric's own CI, reports.plots.spread) for each (dataset, model)."""
    if qual is None or qual.empty or metric not in qual:
        return df.assign(q_lo=np.nan, q_hi=np.nan, q_interval="")
    q = qual[["dataset", "model"]].join(spread(qual, metric).drop(columns="value"))
    q = q.rename(columns={"lo": "q_lo", "hi": "q_hi", "interval": "q_interval"})
    return df.merge(q, on=["dataset", "model"], how="left")


def pareto_latency(res: RunResults, out_dir: Path, qual: pd.DataFrame | None = None) -> Plot:
    """Quality (whiskers: the quality table's interval) against the latency of the same trained
    variant (batch 1, the trained resolution; whiskers: its 95 % CI), Pareto front ringed
    (dashed where it has two or more points)."""
    metric = headline_quality(res)
    if metric is None:
        return None, "no quality results in this run"
    df = latency_frame(res, metric)
    if df.empty:
        return None, NOT_TIMED if res.variants else "no trained variant's profile in this run"
    df = with_quality_spread(df, qual, metric)
    yerr = whiskers(pd.DataFrame({"value": df[metric], "lo": df.q_lo, "hi": df.q_hi}))
    xerr = whiskers(pd.DataFrame({"value": df.ms, "lo": df.lo, "hi": df.hi}))
    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    colors = palette(df)
    for i, r in df.iterrows():
        ax.errorbar(
            r.ms, r[metric], xerr=xerr[:, i : i + 1], yerr=yerr[:, i : i + 1], fmt="o",
            color=colors[r.model], ms=9, capsize=3,
        )  # fmt: skip
        ax.annotate(
            r.model, (r.ms, r[metric]), textcoords="offset points", xytext=(7, 4), fontsize=9
        )
    lower = registry.key_info(metric).lower_is_better
    on = pareto_front(ax, df, "ms", metric, lower)
    ax.set_xscale("log")
    plain_log(ax, "x")
    res_px = ", ".join(f"{r} px" for r in sorted(df.resolution.unique()))
    ax.set_xlabel(
        wrap(
            f"latency of the trained variant itself, batch 1, {res_px} (ms, "
            f"{df.device.iloc[0]}; bars: 95 % CI or IQR)",
            60,
        )
    )
    ax.set_ylabel(wrap(axis_label(metric) + " of the trained variant", 40))
    bars = bars_phrase(pd.DataFrame({"interval": df.q_interval.fillna("")}), qual)
    ax.set_title(
        wrap(f"Quality vs measured latency, same variant ({front_title(df, on)}; vertical "
             f"bars: {bars})", 70), fontsize=10,
    )  # fmt: skip
    return save(fig, out_dir, "pareto_quality_vs_latency", df.assign(on_pareto_front=on)), None
