"""Figures of a run's efficiency measures (benchmarks/profiling/registry.py): the scaling plot
(one panel per measure that declares plotted columns), throughput against batch size and the MAC
breakdown per module, each labelled from the measures' declarations (label, unit, direction)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.ticker as mticker
import pandas as pd
import seaborn as sns

from benchmarks.profiling import registry as measures
from reports.collect import RunResults
from reports.plots import palette, plain_log, plt, save, wrap


def _direction(lower_is_better: bool | None) -> str:
    return (
        ""
        if lower_is_better is None
        else ("lower is better" if lower_is_better else "higher is better")
    )


def scaling_panels(scale: pd.DataFrame) -> list[tuple[measures.Measure, list[measures.Column]]]:
    """One panel per measure with columns declared `plot=True` (and present in the table)."""
    panels = [
        (m, [c for c in m.columns if c.plot and c.name in scale]) for m in measures.measures()
    ]
    return [(m, cols) for m, cols in panels if cols]


def scaling(scale: pd.DataFrame, out_dir: Path) -> Path | None:
    """Each plotted measure against resolution, one panel per measure (its columns as line
    styles), labelled with its declared label, unit and direction; log axes where positive."""
    panels = scaling_panels(scale) if not scale.empty else []
    if not panels:
        return None
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5 * len(panels), 4.2), squeeze=False, layout="constrained"
    )
    colors, ticks = palette(scale), sorted(scale.resolution.unique())
    for ax, (m, cols) in zip(axes[0], panels, strict=True):
        long = scale.melt(
            id_vars=["model", "resolution"],
            value_vars=[c.name for c in cols],
            var_name="column",
            value_name="value",
        ).dropna(subset=["value"])
        long["column"] = long.column.map({c.name: c.label for c in cols})
        if long.empty:  # profiles made without this measure (older, or it did not apply)
            ax.set_axis_off()
            ax.set_title(wrap(f"{m.label}: not in these profiles", 40), fontsize=10)
            continue
        sns.lineplot(
            data=long,
            x="resolution",
            y="value",
            hue="model",
            marker="o",
            ax=ax,
            style="column" if len(cols) > 1 else None,
            palette=colors,
        )
        units = {c.unit for c in cols}
        unit = f" ({units.pop()})" if len(units) == 1 and "" not in units else ""
        how = _direction(cols[0].lower_is_better)
        ax.set(
            ylabel=wrap(f"{m.label}{unit}" + (f", {how}" if how else ""), 40),
            title=f"{m.label} vs resolution",
        )
        ax.set_xscale("log", base=2)
        if len(long) and (long["value"] > 0).all():
            ax.set_yscale("log")
            plain_log(ax)
        ax.xaxis.set_minor_locator(mticker.NullLocator())
        ax.set_xticks(ticks, labels=[str(r) for r in ticks])
    return save(fig, out_dir, "scaling")


def throughput(lat: pd.DataFrame, out_dir: Path) -> Path | None:
    """images/s against batch size, valid rows only: an invalid row (its thread count changed
    during the job) is not a result and is not drawn (the latency table says why); noisy rows
    are drawn (their CI is in the table)."""
    if lat.empty:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ok = lat[lat[measures.VALID].astype(bool)] if measures.VALID in lat else lat
    dropped = len(lat) - len(ok)
    title = f"Throughput on {lat.device.iloc[0]}"
    if ok.empty:
        ax.text(
            0.5,
            0.5,
            f"no valid latency measurement in this run\n({dropped} invalid rows: "
            "see the latency table)",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set(xticks=[], yticks=[], title=title)
        return save(fig, out_dir, "throughput_vs_batch")
    ok = ok.assign(resolution=ok.resolution.astype(str) + " px")
    y = measures.column("images_per_s")
    sns.lineplot(
        data=ok,
        x="batch",
        y=y.name,
        hue="model",
        style="resolution",
        marker="o",
        ax=ax,
        palette=palette(ok),
    )
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(ok.batch.unique()), labels=[str(b) for b in sorted(ok.batch.unique())])
    ax.xaxis.set_minor_locator(mticker.NullLocator())
    ax.set_yscale("log")
    plain_log(ax)
    if dropped:
        title += f"\n({dropped} invalid rows not drawn)"
    ax.set(
        xlabel="batch size",
        ylabel=f"{y.label} ({y.unit}, {_direction(y.lower_is_better)})",
        title=title,
    )
    return save(fig, out_dir, "throughput_vs_batch")


def mac_breakdown(res: RunResults, out_dir: Path, resolution: int = 256) -> Path | None:
    """The MACs measure's declared per-module breakdowns (one panel each) at `resolution`."""
    m = measures.get("macs")
    scale = m.columns[0].scale  # module counts in the unit of the measure's headline column
    rows = [
        {"model": p["model"], "breakdown": caption, "module": module, "value": v * scale}
        for p in res.profiles
        if p["resolution"] == resolution
        for caption, key in m.breakdowns
        for module, v in p.get(key, {}).items()
    ]
    if not rows:
        return None
    df = pd.DataFrame(rows)
    fig, axes = plt.subplots(1, len(m.breakdowns), figsize=(13, 4), sharey=True, squeeze=False)
    for ax, (caption, grp) in zip(axes[0], df.groupby("breakdown", sort=False), strict=False):
        table = grp.pivot_table(
            index="model", columns="module", values="value", aggfunc="sum"
        ).fillna(0)
        table.plot.barh(stacked=True, ax=ax, colormap="tab20", width=0.7, legend=False)
        ax.set(
            xlabel=f"{m.label} per image ({m.unit}, batch 1)",
            ylabel="",
            title=f"{caption} at {resolution}×{resolution}",
        )
    axes[0, -1].legend(
        fontsize=8, title="top-level module", bbox_to_anchor=(1.02, 1), loc="upper left"
    )
    return save(fig, out_dir, f"mac_breakdown_{resolution}")
