"""The speed-variant grid as one figure: per model, each variant's speed-up over eager fp32
against how far it moved the output (benchmarks/profiling/measures/variants.py), log axes, the
speed-up's 95 % interval as error bars and the variant's error bound as a tick on its row.

Why this plot: a variant is worth having when it sits up (faster) and left of its bound
(faithful); one right of its tick changes the output more than its format explains, one whose
bar reaches down to 1 has shown no gain. A bit-exact variant (error 0) cannot sit on a log axis,
so it is drawn at the axis's left edge, labelled "exact".
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks.profiling import registry as measure_registry
from benchmarks.profiling.device_roof import with_device_roofs
from reports.collect import RunResults
from reports.plots import FULL_WIDTH, palette, plain_log, plt, save, wrap

Plot = tuple[Path | None, str | None]
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
EXACT_SPAN = 10.0  # an exact variant sits this factor left of the smallest error or bound


def variant_frame(res: RunResults) -> pd.DataFrame:
    """One row per timed variant other than the baseline, from the measure's own records."""
    m = measure_registry.get("variants")
    rows = [
        {"model": p["model"], "resolution": p["resolution"], **r}
        for p in with_device_roofs(res.profiles.values())
        for r in m.rows(p)
        if r.get("speedup_ci95") and r.get("variant") != "eager"
    ]
    return pd.DataFrame(rows)


def figures(res: RunResults, out_dir: Path) -> dict:
    """{"variants": the plot} when a profile of the run has a variant grid, else nothing: a run
    that did not ask for the grid (profile.variants empty) gets no "not drawn" line for it."""
    if not any(p.get("variants") for p in res.profiles.values()):
        return {}
    return {"variants": speedup_vs_error(res, out_dir)}


def speedup_vs_error(res: RunResults, out_dir: Path) -> Plot:
    df = variant_frame(res)
    if df.empty:
        return None, (
            "no profile of this run has a timed speed variant (profile.variants empty, "
            "profile.variants_at not a timed resolution, or every variant skipped here)"
        )
    finite = df.max_rel_err.dropna()
    scale = pd.concat([finite[finite > 0], df.error_bound.dropna()])
    exact = float(scale.min()) / EXACT_SPAN
    names = sorted(df.model.unique())
    variants = sorted(df.variant.unique())
    marker = dict(zip(variants, MARKERS, strict=False))
    colors = palette(df)
    ncols = min(2, len(names))  # two panels a row: shown at the page's width, text unshrunk
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(FULL_WIDTH, 3.6 * nrows + 0.5), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    for ax, model in zip(axes.flat, names, strict=False):
        grp = df[df.model == model]
        for _, r in grp.iterrows():
            x = exact if r.max_rel_err == 0 else r.max_rel_err
            if pd.isna(x):  # not finite output: drawn at the right edge of the bounds
                x = float(scale.max()) * EXACT_SPAN
            lo, hi = r.speedup_ci95
            ax.errorbar(
                x,
                r.speedup,
                yerr=[[r.speedup - lo], [hi - r.speedup]],
                fmt=marker.get(r.variant, "o"),
                color=colors[model],
                capsize=3,
                label=r.variant,
            )
            ax.plot(r.error_bound, r.speedup, "|", color="k", ms=12)
        ax.axhline(1.0, color="k", ls="--", lw=0.8, alpha=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(exact / 2, float(scale.max()) * EXACT_SPAN * 2)
        plain_log(ax, "y")
        ax.axvline(exact, color="0.7", lw=0.6)
        ax.annotate("exact", (exact, ax.get_ylim()[0]), xytext=(2, 2), textcoords="offset points",
                    fontsize=7, color="0.4")  # fmt: skip
        ax.set_title(f"{model} at {grp.resolution.iloc[0]} px, batch {grp.batch.iloc[0]}")
        ax.set_xlabel("output error: max |Δ| ÷ max |y| (relative, no unit)")
        ax.legend(fontsize=7, loc="best")
    for ax in axes[:, 0]:
        ax.set_ylabel("speed-up over eager fp32 (×)")
    fig.suptitle(
        wrap("Speed variants: speed-up (95 % interval) against output error; | = the variant's "
             "bound, dashed = no gain", 110), fontsize=10,
    )  # fmt: skip
    lo_hi = pd.DataFrame(df.speedup_ci95.tolist(), columns=["speedup_lo", "speedup_hi"])
    data = pd.concat([df.drop(columns=["speedup_ci95"]), lo_hi], axis=1)
    return save(fig, out_dir, "speed_variants", data), None
