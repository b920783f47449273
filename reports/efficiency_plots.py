"""Figures of a run's efficiency measures (benchmarks/profiling/registry.py): the scaling plot
(one panel per measure that declares plotted columns), throughput against batch size and the MAC
breakdown per module, each labelled from the measures' declarations (label, unit, direction)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.ticker as mticker
import pandas as pd

from benchmarks.profiling import registry as measure_registry
from reports.collect import RunResults
from reports.plots import FULL_WIDTH, palette, plain_log, plt, save, unit_text, wrap

Plot = tuple[Path | None, str | None]


def _direction(lower_is_better: bool | None) -> str:
    return (
        ""
        if lower_is_better is None
        else ("lower is better" if lower_is_better else "higher is better")
    )


def scaling_panels(
    scale: pd.DataFrame,
) -> list[tuple[measure_registry.Measure, list[measure_registry.Column]]]:
    """One panel per measure with columns declared `plot=True` (and present in the table)."""
    panels = [
        (m, [c for c in m.columns if c.plot and c.name in scale])
        for m in measure_registry.measures()
    ]
    return [(m, cols) for m, cols in panels if cols]


def scaling_frame(scale: pd.DataFrame, m: measure_registry.Measure, cols: list) -> pd.DataFrame:
    """One panel's numbers, long: model, resolution, the column's label, unit and value."""
    long = scale.melt(
        id_vars=["model", "resolution"],
        value_vars=[c.name for c in cols],
        var_name="column",
        value_name="value",
    ).dropna(subset=["value"])
    units = {c.name: c.unit for c in cols}
    long["unit"] = long.column.map(units)
    long["series"] = long.column.map({c.name: c.label for c in cols})
    return long.assign(measure=m.label)


def scaling(scale: pd.DataFrame, out_dir: Path) -> Path | None:
    """Each plotted measure against resolution, one panel per measure (its columns as line
    styles, named in the panel's own legend; the models' colours in one legend for the figure),
    labelled with its declared label, unit and direction; log axes where positive. Two panels
    a row, so the figure is shown at the page's width without shrinking its text."""
    panels = scaling_panels(scale) if not scale.empty else []
    if not panels:
        return None
    ncols = min(2, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(FULL_WIDTH, 3.6 * nrows + 0.5), squeeze=False, layout="constrained"
    )
    colors, ticks = palette(scale), sorted(scale.resolution.unique())
    drawn = []
    for ax, (m, cols) in zip(axes.flat, panels, strict=False):
        long = scaling_frame(scale, m, cols)
        if long.empty:  # profiles made without this measure (older, or it did not apply)
            ax.set_axis_off()
            ax.set_title(wrap(f"{m.label}: not in these profiles", 40), fontsize=10)
            continue
        _scaling_panel(ax, long, cols, colors, ticks)
        drawn.append(long)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=c, marker="o", label=n) for n, c in colors.items()]
    fig.legend(handles=handles, loc="outside upper center", ncol=len(handles), frameon=False)
    return save(fig, out_dir, "scaling", pd.concat(drawn, ignore_index=True))


def _scaling_panel(ax, long: pd.DataFrame, cols: list, colors: dict, ticks: list) -> None:
    styles = dict(zip([c.label for c in cols], ("-", "--", ":", "-."), strict=False))
    for (model, series), grp in long.groupby(["model", "series"], sort=False):
        grp = grp.sort_values("resolution")
        ax.plot(grp.resolution, grp.value, marker="o", ms=4, color=colors[model],
                ls=styles.get(series, "-"))  # fmt: skip
    if len(cols) > 1:  # which line style is which column (no seaborn "column" heading)
        ax.legend(
            handles=[plt.Line2D([], [], color="0.3", ls=s, label=n) for n, s in styles.items()],
            fontsize=8,
        )
    label = cols[0].label if len(cols) == 1 else long.measure.iloc[0]
    units = {c.unit for c in cols}
    unit = f" ({unit_text(label, units.pop())})" if len(units) == 1 and "" not in units else ""
    how = _direction(cols[0].lower_is_better)
    ax.set(
        ylabel=wrap(f"{long.measure.iloc[0]}{unit}" + (f", {how}" if how else ""), 40),
        title=f"{long.measure.iloc[0]} vs resolution",
        xlabel="resolution (px)",
    )
    ax.set_xscale("log", base=2)
    if (long["value"] > 0).all():
        ax.set_yscale("log")
        plain_log(ax)
    ax.xaxis.set_minor_locator(mticker.NullLocator())
    ax.set_xticks(ticks, labels=[str(r) for r in ticks])


MIN_BATCHES = 4  # batch sizes a model needs at one resolution for a throughput-vs-batch line


def throughput_frame(lat: pd.DataFrame) -> pd.DataFrame:
    """Valid latency rows as images/s with the 95 % interval the table gives the median latency
    (`ci95_lo_ms`/`ci95_hi_ms`; images/s = batch ÷ seconds, so the slow bound gives the low
    rate); NaN bounds where the table has none."""
    ok = lat[lat[measure_registry.VALID].astype(bool)] if measure_registry.VALID in lat else lat
    y = measure_registry.column("images_per_s").name
    out = ok[["model", "resolution", "batch", "median_ms", y]].copy()
    for bound, ms in (("lo", "ci95_hi_ms"), ("hi", "ci95_lo_ms")):
        out[f"{y}_{bound}"] = ok["batch"] * 1e3 / ok[ms] if ms in ok else float("nan")
    return out.reset_index(drop=True)


def timed_batches(df: pd.DataFrame) -> str:
    """'1, 16 at 64 px; 1 at 256 px': the batch sizes timed at each resolution."""
    parts = []
    for r, grp in df.groupby("resolution"):
        sizes = ", ".join(str(int(b)) for b in sorted(grp.batch.unique()))
        parts.append(f"{sizes} at {int(r)} px")
    return "; ".join(parts)


def throughput(lat: pd.DataFrame, out_dir: Path) -> Plot:
    """images/s against batch size, with the 95 % interval as whiskers, for each model timed at
    MIN_BATCHES or more batch sizes at a resolution; a line through fewer points says nothing
    about how throughput grows with batch, so such a run gets (None, why) instead. Valid rows
    only: an invalid row (its thread count changed during the job) is not a result (the
    latency table says why); noisy rows are drawn (their CI is wide)."""
    if lat.empty:
        return None, "nothing was timed in this run (profile.latency is empty)"
    df = throughput_frame(lat)
    if df.empty:
        return None, f"no valid latency row in this run ({len(lat)} invalid: see the table)"
    counts = df.groupby(["model", "resolution"]).batch.transform("nunique")
    drawn = df[counts >= MIN_BATCHES]
    if drawn.empty:
        return None, (
            f"throughput against batch needs ≥ {MIN_BATCHES} batch sizes per model at a "
            f"resolution; this run timed {timed_batches(lat)} (profile.latency lists them)"
        )
    return _throughput_plot(drawn, lat, len(df) - len(drawn), out_dir), None


def _throughput_plot(df: pd.DataFrame, lat: pd.DataFrame, left: int, out_dir: Path) -> Path:
    y = measure_registry.column("images_per_s")
    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    colors = palette(df)
    styles = dict(zip(sorted(df.resolution.unique()), ("-", "--", ":", "-."), strict=False))
    for (model, r), grp in df.groupby(["model", "resolution"]):
        grp = grp.sort_values("batch")
        err = [grp[y.name] - grp[f"{y.name}_lo"], grp[f"{y.name}_hi"] - grp[y.name]]
        ax.errorbar(grp.batch, grp[y.name], yerr=err, marker="o", capsize=3, ls=styles[r],
                    color=colors[model], label=f"{model}, {r} px")  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(df.batch.unique()), labels=[str(b) for b in sorted(df.batch.unique())])
    ax.xaxis.set_minor_locator(mticker.NullLocator())
    ax.set_yscale("log")
    plain_log(ax)
    title = f"Throughput on {lat.device.iloc[0]}; whiskers: 95 % CI of the median latency"
    if left:
        title += f" ({left} rows at resolutions with < {MIN_BATCHES} batch sizes not drawn)"
    ax.set(xlabel="batch size (images per forward)",
           ylabel=f"{y.label} ({y.unit}, {_direction(y.lower_is_better)})")  # fmt: skip
    ax.set_title(wrap(title, 70), fontsize=10)
    ax.legend(fontsize=8)
    return save(fig, out_dir, "throughput_vs_batch", df)


def mac_breakdown(res: RunResults, out_dir: Path, resolution: int = 256) -> Path | None:
    """The MACs measure's declared per-module breakdowns (one panel each) at `resolution`."""
    m = measure_registry.get("macs")
    scale = m.columns[0].scale  # module counts in the unit of the measure's headline column
    rows = [
        {"model": p["model"], "breakdown": caption, "module": module, "value": v * scale}
        for p in res.profiles.values()
        if p["resolution"] == resolution
        for caption, key in m.breakdowns
        for module, v in p.get(key, {}).items()
    ]
    if not rows:
        return None
    df = pd.DataFrame(rows)
    fig, axes = plt.subplots(
        1, len(m.breakdowns), figsize=(FULL_WIDTH, 4.2), sharey=True, squeeze=False,
        layout="constrained",
    )  # fmt: skip
    for ax, (caption, grp) in zip(axes[0], df.groupby("breakdown", sort=False), strict=False):
        table = grp.pivot_table(
            index="model", columns="module", values="value", aggfunc="sum"
        ).fillna(0)
        table.plot.barh(stacked=True, ax=ax, colormap="tab20", width=0.7, legend=False)
        ax.set(
            xlabel=f"{m.label} per image ({unit_text(m.label, m.unit)}, batch 1)",
            ylabel="",
            title=f"{caption} at {resolution}×{resolution} px",
        )
    handles, labels = axes[0, -1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=6, fontsize=8,
               title="top-level module", frameon=False)  # fmt: skip
    return save(fig, out_dir, f"mac_breakdown_{resolution}", df)
