"""Figures of a run, each saved as PNG (for the HTML), SVG (for papers and slides) and CSV (the
exact numbers drawn, interval bounds included), so every plotted point can be traced to a table.

Figures are sized for the report's 1200-px body at the saved dpi (FULL_WIDTH inches), so a
browser shows them at their own size instead of shrinking their text."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from benchmarks.profiling import registry as measure_registry  # noqa: E402
from benchmarks.quality import registry  # noqa: E402
from common.io import atomic_output as atomic_path  # noqa: E402
from reports.collect import RunResults  # noqa: E402
from reports.columns import VARIANT  # noqa: E402

sns.set_theme(style="whitegrid", context="notebook")
plt.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable, editable in papers

DPI = 110
FULL_WIDTH = 10.3  # inches: 1,133 px at DPI (plus a tight margin), inside the 1,168-px body
PREFIX_WORDS = {"k": "thousands", "M": "millions", "G": "billions"}


def palette(*frames: pd.DataFrame) -> dict:
    """One colour per model, the same in every panel and plot (sorted names → fixed order)."""
    names = sorted(set().union(*(set(f["model"]) for f in frames)))
    return dict(zip(names, sns.color_palette(n_colors=len(names)), strict=True))


def plain_log(ax, axis: str = "y") -> None:
    """Log-scale tick labels as plain numbers (20, 0.01), not 2×10¹."""
    fmt = mticker.FuncFormatter(lambda v, _: f"{v:g}")
    target = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    narrow = lo > 0 and hi / lo < 10  # less than a decade: a few evenly spaced plain ticks
    target.set_major_locator(
        mticker.MaxNLocator(5) if narrow else mticker.LogLocator(base=10, subs=(1, 2, 5))
    )
    target.set_major_formatter(fmt)
    target.set_minor_formatter(mticker.NullFormatter())


def wrap(label: str, width: int = 34) -> str:
    return "\n".join(textwrap.wrap(label, width)) or label


def unit_text(label: str, unit: str) -> str:
    """A measure's unit as an axis reads it: a bare SI prefix names what it counts ("GMACs",
    "millions"), so no axis shows only "(G)"."""
    if unit in PREFIX_WORDS:
        return f"{unit}MACs" if "MACs" in label else f"{PREFIX_WORDS[unit]}, {unit}"
    return unit


def save(fig, out_dir: Path, name: str, data: pd.DataFrame) -> Path:
    """PNG + SVG of the figure and `data` (the numbers it draws) as CSV beside them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for ext in ("png", "svg"):
        with atomic_path(out_dir / f"{name}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    with atomic_path(out_dir / f"{name}.csv") as tmp:
        data.to_csv(tmp, index=False)
    return out_dir / f"{name}.png"


def headline_quality(res: RunResults, columns=None) -> str | None:
    """The result key the quality-vs-cost plots use: the run's curve metric (FID by default) in
    its first configured mode, found through the metric registry."""
    q = res.config["quality"]
    available = (
        set(columns)
        if columns is not None
        else set().union(*(set(r["summary"]) for r in res.quality.values()))
    )
    keys = [
        k
        for k in available
        if (info := registry.key_info(k, None)) is not None and info.metric == q["curve_metric"]
    ]
    order = {m: i for i, m in enumerate(q["modes"])}
    keys.sort(key=lambda k: (order.get(registry.key_info(k).mode, len(order)), k))
    return keys[0] if keys else None


def axis_label(key: str) -> str:
    info = registry.key_info(key, None)
    if info is None:
        return key
    arrow = "lower is better" if info.lower_is_better else "higher is better"
    return f"{info.label} ({arrow})"


# --------------------------------------------------------------------------- seed spread
STD = "± std over sampling seeds"
OWN_CI = "95 % CI (the metric's own)"


def seed_count(qual: pd.DataFrame) -> pd.Series:
    """Sampling seeds per quality-table row (its `seeds` column reads "0, 1, 2")."""
    seeds = qual.get("seeds", pd.Series("", index=qual.index)).fillna("").astype(str)
    return seeds.map(lambda s: len([x for x in s.split(",") if x.strip()]))


def spread(qual: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per quality-table row: value, lo, hi and which interval they are: the metric's own 95 %
    CI (`<key>_ci_lo/_ci_hi`, KID) where it has one, else mean ± the std over sampling seeds
    (`<key>_std`), else none (one seed: NaN bounds, no whisker)."""
    v = pd.to_numeric(qual[key], errors="coerce")
    out = pd.DataFrame({"value": v, "lo": np.nan, "hi": np.nan, "interval": ""}, index=qual.index)
    if f"{key}_std" in qual:
        std = pd.to_numeric(qual[f"{key}_std"], errors="coerce")
        ok = std.notna()
        out.loc[ok, "lo"], out.loc[ok, "hi"] = (v - std)[ok], (v + std)[ok]
        out.loc[ok, "interval"] = STD
    if f"{key}_ci_lo" in qual and f"{key}_ci_hi" in qual:
        lo = pd.to_numeric(qual[f"{key}_ci_lo"], errors="coerce")
        hi = pd.to_numeric(qual[f"{key}_ci_hi"], errors="coerce")
        ok = lo.notna() & hi.notna()
        out.loc[ok, "lo"], out.loc[ok, "hi"] = lo[ok], hi[ok]
        out.loc[ok, "interval"] = OWN_CI
    return out


def whiskers(df: pd.DataFrame) -> np.ndarray:
    """(2, n) distances below / above each value for errorbar; 0 where there is no interval."""
    below = (df["value"] - df["lo"]).to_numpy(float)
    above = (df["hi"] - df["value"]).to_numpy(float)
    return np.nan_to_num(np.clip(np.vstack([below, above]), 0, None))


def seeds_phrase(qual: pd.DataFrame) -> str:
    counts = sorted(set(seed_count(qual)))
    n = " or ".join(str(c) for c in counts) or "?"
    return (
        f"one trained generator per model, mean over {n} sampling seeds (the seeds vary the "
        "generated samples, z draws, not the training run)"
    )


def bars_phrase(df: pd.DataFrame, qual: pd.DataFrame) -> str:
    """What the whiskers of a spread frame are, in words, or that there are none."""
    kinds = set(df.interval) - {""}
    if not kinds:
        return "none, one sampling seed"
    if kinds == {OWN_CI}:
        return "the metric's own 95 % CI"
    n = " or ".join(str(c) for c in sorted(set(seed_count(qual))))
    return f"± std over {n} sampling seeds" + (
        " or the metric's 95 % CI" if OWN_CI in kinds else ""
    )


def quality_long(qual: pd.DataFrame) -> pd.DataFrame:
    """Every registered metric of the quality table, one row per (dataset, model, key), with its
    interval: what the quality bars draw."""
    keys = [c for c in qual.columns if registry.key_info(c, None) is not None]
    frames = [
        qual[["dataset", "model"]].assign(key=k, seeds=seed_count(qual)).join(spread(qual, k))
        for k in keys
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def quality_metrics(qual: pd.DataFrame, out_dir: Path) -> Path | None:
    """Every registered metric the run wrote, one panel per result key, one bar per model, with
    whiskers from the quality table's own spread (its seeds' std, or the metric's 95 % CI)."""
    df = quality_long(qual) if not qual.empty else pd.DataFrame()
    if df.empty:
        return None
    keys = list(dict.fromkeys(df.key))
    ncols = min(3, len(keys))
    nrows = -(-len(keys) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(FULL_WIDTH, 3.1 * nrows + 0.9), squeeze=False, layout="constrained"
    )
    colors, several = palette(df), df.dataset.nunique() > 1
    for ax, key in zip(axes.flat, keys, strict=False):
        _bars(ax, df[df.key == key].reset_index(drop=True), colors, several)
    for ax in axes.flat[len(keys) :]:
        ax.set_visible(False)
    text = f"Each bar: {seeds_phrase(qual)}. Whiskers: {STD}"
    if (df.interval == OWN_CI).any():
        text += ", or the metric's own 95 % CI where it has one (KID)"
    fig.suptitle(wrap(text + ".", 150), fontsize=9)
    return save(fig, out_dir, "quality_metrics", df)


def _bars(ax, grp: pd.DataFrame, colors: dict, several: bool) -> None:
    x = np.arange(len(grp))
    ax.bar(x, grp["value"], color=[colors[m] for m in grp.model], width=0.7)
    has = grp["interval"] != ""
    if has.any():
        ax.errorbar(
            x[has], grp["value"][has], yerr=whiskers(grp[has]), fmt="none", ecolor="k", capsize=4
        )
    names = [f"{m}\n({d})" if several else m for m, d in zip(grp.model, grp.dataset, strict=True)]
    ax.set_xticks(x, labels=[f"{n}\n{v:.3g}" for n, v in zip(names, grp["value"], strict=True)])
    ax.tick_params(axis="x", labelsize=8)
    kinds = set(grp.interval[has])
    how = (
        "no whisker: one seed"
        if not kinds
        else ("the metric's 95 % CI" if kinds == {OWN_CI} else "± std")
    )
    if kinds == {STD}:
        how += f" over {int(grp.seeds.max())} sampling seeds"
    ax.set_title(wrap(axis_label(grp.key.iloc[0]), 34) + f"\nwhiskers: {how}", fontsize=9)


# --------------------------------------------------------------------------- quality vs cost
COST = "GMACs"  # the measure column the quality-vs-cost plot puts on its x axis


def pareto_front(ax, df, cost: str, col: str, lower: bool) -> pd.Series:
    """Which points nothing beats on both `cost` (lower is better) and `col` (lower is better
    when `lower`), per dataset: ringed, and joined by a dashed line where a dataset's front has
    two or more points. Returns the on-front mask (the plot's CSV carries it)."""
    on = pd.Series(False, index=df.index)
    for _, grp in df.groupby("dataset"):
        front = grp.sort_values(cost)
        best = front[col].cummin() if lower else front[col].cummax()
        front = front[front[col] == best]
        on[front.index] = True
        if len(front) > 1:
            ax.plot(front[cost], front[col], "k--", lw=1, alpha=0.6)
    ax.scatter(df[cost][on], df[col][on], s=260, facecolors="none", edgecolors="k", lw=1)
    return on


def front_title(df: pd.DataFrame, on: pd.Series) -> str:
    """What the plot's Pareto marks are, promising a dashed line only where one is drawn."""
    dashed = any(on[g.index].sum() > 1 for _, g in df.groupby("dataset"))
    return "ringed: on the Pareto front" + ("; dashed: the front" if dashed else "")


def pareto(res: RunResults, qual: pd.DataFrame, out_dir: Path) -> Path | None:
    """The quality table's headline metric against the MACs of the same trained variant (the
    `GMACs_of_variant` column: profile_variant counted the network that was evaluated)."""
    cost = measure_registry.column(COST)
    x = cost.name + VARIANT
    metric = headline_quality(res, qual.columns) if not qual.empty else None
    if metric is None or x not in qual:
        return None
    df = qual[["dataset", "model", x]].join(spread(qual, metric)).dropna(subset=[x, "value"])
    if df.empty:
        return None
    df = df.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    colors, err = palette(df), whiskers(df)
    for i, r in df.iterrows():
        ax.errorbar(
            r[x], r.value, yerr=err[:, i : i + 1], fmt="o", color=colors[r.model], ms=9, capsize=3
        )
        ax.annotate(r.model, (r[x], r.value), textcoords="offset points", xytext=(7, 4))
    on = pareto_front(ax, df, x, "value", registry.key_info(metric).lower_is_better)
    ax.set_xscale("log")
    plain_log(ax, "x")
    ax.set_xlabel(f"true MACs of the trained variant itself ({unit_text('MACs', cost.unit)} "
                  "per image, batch 1)")  # fmt: skip
    ax.set_ylabel(wrap(axis_label(metric), 40))
    ax.set_title(
        wrap(f"Quality vs cost, both of the trained variant ({front_title(df, on)}; "
             f"bars: {bars_phrase(df, qual)})", 70), fontsize=10,
    )  # fmt: skip
    data = df.rename(columns={"value": metric}).assign(on_pareto_front=on)
    return save(fig, out_dir, "pareto_quality_vs_macs", data)


# --------------------------------------------------------------------------- training
def training_curves(res: RunResults, out_dir: Path) -> Path | None:
    frames = [log.assign(dataset=d, model=m) for (d, m), log in res.logs.items() if not log.empty]
    if not frames:
        return None
    logs = pd.concat(frames)
    curves = [c.assign(dataset=d, model=m) for (d, m), c in res.curves.items() if not c.empty]
    ncols = 3 if curves else 2
    fig, axes = plt.subplots(1, ncols, figsize=(FULL_WIDTH, 3.9), layout="constrained")
    colors = palette(logs, *curves)
    drawn = [logs[["dataset", "model", "kimg", "loss_D", "loss_G"]].assign(panel="losses")]
    for ax, col, what in zip(
        axes, ("loss_D", "loss_G"), ("Discriminator", "Generator"), strict=False
    ):
        sns.lineplot(
            data=logs, x="kimg", y=col, hue="model", style="dataset", ax=ax, palette=colors,
            legend="auto" if ax is axes[0] else False,
        )  # fmt: skip
        ax.set(title=f"{what} loss", xlabel="images seen (kimg)", ylabel=f"{col} (nats)")
    if curves:
        cdf = pd.concat(curves)
        cmetric = headline_quality(res, cdf.columns)
        sns.lineplot(
            data=cdf, x="kimg", y=cmetric, hue="model", style="dataset", marker="o",
            ax=axes[2], palette=colors, legend=False,
        )  # fmt: skip
        if (cdf[cmetric] > 0).all() and cdf[cmetric].max() / cdf[cmetric].min() > 10:
            axes[2].set_yscale("log")  # from the untrained start down by orders of magnitude
            plain_log(axes[2])
        axes[2].set(
            title="at each snapshot", xlabel="images seen (kimg)",
            ylabel=wrap(axis_label(cmetric), 40),
        )  # fmt: skip
        drawn.append(cdf[["dataset", "model", "kimg", cmetric]].assign(panel=cmetric))
    axes[0].legend(fontsize=8)
    return save(fig, out_dir, "training_curves", pd.concat(drawn, ignore_index=True))


# --------------------------------------------------------------------------- claims
def claims_chart(claims: pd.DataFrame | None, out_dir: Path) -> Path | None:
    """Every claim: the paper's value (open diamond) against the measured one (dot coloured by
    verdict) with its 95 % interval as a whisker where claims.csv has one (`measured_lo`,
    `measured_hi`: the speed claims), one panel per unit, so each axis is in the claim's unit."""
    from reports.headline import VERDICTS, claim_numbers

    if claims is None or claims.empty:
        return None
    df = claim_numbers(claims)
    for col in ("measured_lo", "measured_hi"):
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df else np.nan
    units = list(dict.fromkeys(df["unit"]))
    sizes = [int((df["unit"] == u).sum()) for u in units]
    fig, axes = plt.subplots(
        len(units),
        1,
        figsize=(FULL_WIDTH, 0.8 + 0.32 * sum(sizes) + 0.55 * len(units)),
        gridspec_kw={"height_ratios": [s + 1.2 for s in sizes]},
        squeeze=False,
    )
    for ax, unit in zip(axes[:, 0], units, strict=True):
        _claims_panel(ax, df[df["unit"] == unit].reset_index(drop=True), unit, VERDICTS)
    handles = [plt.Line2D([], [], marker="D", ls="", mfc="none", mec="k", label="paper")]
    handles += [
        plt.Line2D([], [], marker="o", ls="", color=c, label=v) for v, (_, c, _) in VERDICTS.items()
    ]
    if df[["measured_lo", "measured_hi"]].notna().all(axis=1).any():
        handles.append(plt.Line2D([], [], marker="|", ms=10, color="k", label="95 % interval"))
    fig.legend(
        handles=handles, loc="upper center", ncol=len(handles), frameon=False, bbox_to_anchor=(0.5, 1.0),
        fontsize=8,
    )  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    cols = ["claim", "unit", "paper_value", "measured_value", "measured_lo", "measured_hi"]
    return save(fig, out_dir, "claims_paper_vs_measured", df[[*cols, "verdict"]])


def _claims_panel(ax, df: pd.DataFrame, unit: str, verdicts: dict) -> None:
    y = range(len(df))
    values = pd.concat(
        [df["paper_value"], df["measured_value"], df["measured_lo"], df["measured_hi"]]
    ).dropna()
    log = len(values) > 0 and (values > 0).all() and values.max() / values.min() > 20
    lo, hi = (values.min(), values.max()) if len(values) else (0, 1)
    mid = (lo * hi) ** 0.5 if log else (lo + hi) / 2
    for i, r in df.iterrows():
        color = verdicts.get(r["verdict"], ("", "#555", ""))[1]
        if pd.notna(r["measured_value"]):
            ax.plot([r["paper_value"], r["measured_value"]], [i, i], color=color, lw=1.5, alpha=0.6)
            ax.plot(r["measured_value"], i, "o", color=color, ms=7, zorder=3)
            if pd.notna(r["measured_lo"]) and pd.notna(r["measured_hi"]):
                ax.errorbar(
                    r["measured_value"], i, fmt="none", ecolor=color, capsize=5, lw=1.5, zorder=3,
                    xerr=[[max(r["measured_value"] - r["measured_lo"], 0)],
                          [max(r["measured_hi"] - r["measured_value"], 0)]],
                )  # fmt: skip
        else:
            right = r["paper_value"] > mid
            ax.annotate(
                "not measured",
                (r["paper_value"], i),
                xytext=(-8 if right else 8, -3),
                textcoords="offset points",
                fontsize=8,
                color=color,
                ha="right" if right else "left",
            )
        ax.plot(r["paper_value"], i, "D", mfc="none", mec="k", ms=7, zorder=4)
    ax.set_yticks(list(y), labels=[_short(c) for c in df["claim"]], fontsize=8)
    ax.set_ylim(len(df) - 0.4, -0.6)
    if log:
        ax.set_xscale("log")
        plain_log(ax, "x")
    ax.set_xlabel(unit or "value", fontsize=9)
    ax.grid(axis="y", alpha=0.3)


def _short(claim: str, width: int = 70) -> str:
    return claim if len(claim) <= width else claim[: width - 1] + "…"
