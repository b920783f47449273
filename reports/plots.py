"""Figures of a run, each saved as PNG (for the HTML) and SVG (for papers and slides)."""

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

from benchmarks.profiling import registry as measures  # noqa: E402
from benchmarks.quality import registry  # noqa: E402
from common.io import atomic_output as atomic_path  # noqa: E402
from reports.collect import RunResults  # noqa: E402

sns.set_theme(style="whitegrid", context="notebook")
plt.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable, editable in papers


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


def save(fig, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    for ext in ("png", "svg"):
        with atomic_path(out_dir / f"{name}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=110, bbox_inches="tight")
    plt.close(fig)
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


COST = "GMACs"  # the measure column the quality-vs-cost plot puts on its x axis


def pareto_front(ax, df, cost: str, metric: str) -> None:
    """A dashed line per dataset through the points that nothing beats on both `cost` (lower is
    better) and `metric` (its own direction): the Pareto front of a quality-vs-cost plot."""
    lower = registry.key_info(metric).lower_is_better
    for _, grp in df.groupby("dataset"):
        front = grp.sort_values(cost)
        best = front[metric].cummin() if lower else front[metric].cummax()
        front = front[front[metric] <= best] if lower else front[front[metric] >= best]
        ax.plot(front[cost], front[metric], "k--", lw=1, alpha=0.6)


def pareto(res: RunResults, out_dir: Path) -> Path | None:
    metric, cost = headline_quality(res), measures.column(COST)
    rows = [
        {
            "dataset": d,
            "model": m,
            "GMACs": cost.value(res.variants[(d, m)]),
            metric: q["summary"][metric],
        }
        for (d, m), q in res.quality.items()
        if (d, m) in res.variants and metric in q["summary"]
    ]
    if not rows:
        return None
    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    sns.scatterplot(
        data=df,
        x="GMACs",
        y=metric,
        hue="model",
        style="dataset",
        s=120,
        ax=ax,
        palette=palette(df),
    )
    for _, r in df.iterrows():
        ax.annotate(
            r.model, (r.GMACs, r[metric]), textcoords="offset points", xytext=(6, 4), fontsize=9
        )
    pareto_front(ax, df, "GMACs", metric)
    ax.set_xscale("log")
    plain_log(ax, "x")
    ax.set_xlabel(f"{cost.label} of the evaluated variant ({cost.unit}, per image, batch 1)")
    ax.set_ylabel(wrap(axis_label(metric), 40))
    ax.set_title("Quality vs cost (dashed = Pareto front)")
    return save(fig, out_dir, "pareto_quality_vs_macs")


def quality_metrics(res: RunResults, out_dir: Path) -> Path | None:
    """Every registered metric the run wrote, one panel per result key, one bar per model."""
    rows = [
        {"dataset": d, "model": m, "key": k, "value": v}
        for (d, m), q in res.quality.items()
        for k, v in q["summary"].items()
        if registry.key_info(k, None) is not None
    ]
    if not rows:
        return None
    df = pd.DataFrame(rows)
    keys = list(dict.fromkeys(df.key))
    ncols = min(4, len(keys))
    nrows = -(-len(keys) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.2 * nrows), squeeze=False)
    colors = palette(df)
    for ax, key in zip(axes.flat, keys, strict=False):
        sns.barplot(
            data=df[df.key == key],
            x="model",
            y="value",
            hue="model",
            ax=ax,
            palette=colors,
            legend=False,
        )
        ax.set(xlabel="", ylabel="")
        ax.set_title(wrap(axis_label(key), 30), fontsize=10)
        ax.tick_params(axis="x", labelrotation=30)
    for ax in axes.flat[len(keys) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return save(fig, out_dir, "quality_metrics")


def training_curves(res: RunResults, out_dir: Path) -> Path | None:
    frames = [log.assign(dataset=d, model=m) for (d, m), log in res.logs.items() if not log.empty]
    if not frames:
        return None
    logs = pd.concat(frames)
    curves = [c.assign(dataset=d, model=m) for (d, m), c in res.curves.items() if not c.empty]
    ncols = 3 if curves else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 4), layout="constrained")
    colors = palette(logs, *curves)
    sns.lineplot(
        data=logs, x="kimg", y="loss_D", hue="model", style="dataset", ax=axes[0], palette=colors
    )
    axes[0].set_title("Discriminator loss")
    sns.lineplot(
        data=logs, x="kimg", y="loss_G", hue="model", style="dataset", ax=axes[1], palette=colors
    )
    axes[1].set_title("Generator loss")
    if curves:
        cdf = pd.concat(curves)
        cmetric = headline_quality(res, cdf.columns)
        sns.lineplot(
            data=cdf,
            x="kimg",
            y=cmetric,
            hue="model",
            style="dataset",
            marker="o",
            ax=axes[2],
            palette=colors,
        )
        if (cdf[cmetric] > 0).all() and cdf[cmetric].max() / cdf[cmetric].min() > 10:
            axes[2].set_yscale("log")  # from the untrained start down by orders of magnitude
            plain_log(axes[2])
        axes[2].set(title="at each snapshot", ylabel=wrap(axis_label(cmetric), 40))
    return save(fig, out_dir, "training_curves")


def claims_chart(claims: pd.DataFrame | None, out_dir: Path) -> Path | None:
    """Every claim: the paper's value (open diamond) against the measured one (dot coloured by
    verdict), one panel per unit, so each axis is in the claim's own unit."""
    from reports.headline import VERDICTS, claim_numbers

    if claims is None or claims.empty:
        return None
    df = claim_numbers(claims)
    units = list(dict.fromkeys(df["unit"]))
    sizes = [int((df["unit"] == u).sum()) for u in units]
    fig, axes = plt.subplots(
        len(units),
        1,
        figsize=(11, 0.8 + 0.32 * sum(sizes) + 0.55 * len(units)),
        gridspec_kw={"height_ratios": [s + 1.2 for s in sizes]},
        squeeze=False,
    )
    for ax, unit in zip(axes[:, 0], units, strict=True):
        _claims_panel(ax, df[df["unit"] == unit].reset_index(drop=True), unit, VERDICTS)
    handles = [plt.Line2D([], [], marker="D", ls="", mfc="none", mec="k", label="paper")]
    handles += [
        plt.Line2D([], [], marker="o", ls="", color=c, label=v) for v, (_, c, _) in VERDICTS.items()
    ]
    fig.legend(
        handles=handles,
        loc="upper center",
        ncol=len(handles),
        frameon=False,
        bbox_to_anchor=(0.5, 1.0),
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save(fig, out_dir, "claims_paper_vs_measured")


def _claims_panel(ax, df: pd.DataFrame, unit: str, verdicts: dict) -> None:
    y = range(len(df))
    values = pd.concat([df["paper_value"], df["measured_value"]]).dropna()
    log = len(values) > 0 and (values > 0).all() and values.max() / values.min() > 20
    lo, hi = (values.min(), values.max()) if len(values) else (0, 1)
    mid = (lo * hi) ** 0.5 if log else (lo + hi) / 2
    for i, r in df.iterrows():
        color = verdicts.get(r["verdict"], ("", "#555", ""))[1]
        if pd.notna(r["measured_value"]):
            ax.plot([r["paper_value"], r["measured_value"]], [i, i], color=color, lw=1.5, alpha=0.6)
            ax.plot(r["measured_value"], i, "o", color=color, ms=7, zorder=3)
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


def _training_seconds(log: pd.DataFrame) -> pd.DataFrame:
    """(kimg, seconds) at each log row: seconds of training (snapshots excluded, as the log's
    sec_per_kimg is measured) summed from the start, with (0, 0) first."""
    kimg = pd.to_numeric(log["kimg"])
    seconds = (kimg.diff().fillna(kimg) * pd.to_numeric(log["sec_per_kimg"])).cumsum()
    return pd.concat(
        [
            pd.DataFrame({"kimg": [0.0], "seconds": [0.0]}),
            pd.DataFrame({"kimg": kimg, "seconds": seconds}),
        ],
        ignore_index=True,
    )


def quality_vs_training(res: RunResults, out_dir: Path) -> Path | None:
    """The curve metric at each evaluated snapshot against images seen (kimg) and against
    training wall-clock seconds, per model: quality against training cost."""
    frames = []
    for key, curve in res.curves.items():
        if curve.empty or key not in res.logs or "sec_per_kimg" not in res.logs[key]:
            continue
        clock = _training_seconds(res.logs[key])
        seconds = [float(np.interp(k, clock["kimg"], clock["seconds"])) for k in curve["kimg"]]
        frames.append(curve.assign(dataset=key[0], model=key[1], seconds=seconds))
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True)
    metric = headline_quality(res, df.columns)
    if metric is None:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 4.6), sharey=True, layout="constrained")
    common = dict(y=metric, hue="model", style="dataset", marker="o", palette=palette(df))
    sns.lineplot(data=df, x="kimg", ax=axes[0], legend=False, **common)
    sns.lineplot(data=df, x="seconds", ax=axes[1], **common)
    axes[1].legend(fontsize=8)
    axes[0].set(xlabel="images seen (kimg)", ylabel=wrap(axis_label(metric), 40))
    axes[1].set(xlabel="training seconds\n(wall clock, snapshots excluded)")
    if (df[metric] > 0).all() and df[metric].max() / df[metric].min() > 10:
        axes[0].set_yscale("log")
        plain_log(axes[0])
    fig.suptitle("Quality against training cost (each evaluated snapshot)")
    return save(fig, out_dir, "quality_vs_training_cost")
