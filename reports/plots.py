"""Figures of a run, each saved as PNG (for the HTML) and SVG (for papers and slides)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from benchmarks.quality import registry  # noqa: E402
from common.io import atomic_output as atomic_path  # noqa: E402
from reports.collect import RunResults  # noqa: E402

sns.set_theme(style="whitegrid", context="notebook")
plt.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable, editable in papers


def palette(*frames: pd.DataFrame) -> dict:
    """One colour per model, the same in every panel and plot (sorted names → fixed order)."""
    names = sorted(set().union(*(set(f["model"]) for f in frames)))
    return dict(zip(names, sns.color_palette(n_colors=len(names)), strict=True))


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
    keys = [k for k in available if (info := registry.key_info(k, None)) is not None
            and info.metric == q["curve_metric"]]  # fmt: skip
    order = {m: i for i, m in enumerate(q["modes"])}
    keys.sort(key=lambda k: (order.get(registry.key_info(k).mode, len(order)), k))
    return keys[0] if keys else None


def axis_label(key: str) -> str:
    info = registry.key_info(key, None)
    if info is None:
        return key
    arrow = "lower is better" if info.lower_is_better else "higher is better"
    return f"{info.label} ({arrow})"


def pareto(res: RunResults, out_dir: Path) -> Path | None:
    metric = headline_quality(res)
    rows = [
        {"dataset": d, "model": m, "GMACs": res.variants[(d, m)]["macs"] / 1e9,
         metric: q["summary"][metric]}
        for (d, m), q in res.quality.items()
        if (d, m) in res.variants and metric in q["summary"]
    ]  # fmt: skip
    if not rows:
        return None
    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    sns.scatterplot(data=df, x="GMACs", y=metric, hue="model", style="dataset", s=120, ax=ax,
                    palette=palette(df))  # fmt: skip
    for _, r in df.iterrows():
        ax.annotate(
            r.model, (r.GMACs, r[metric]), textcoords="offset points", xytext=(6, 4), fontsize=9
        )
    lower = registry.key_info(metric).lower_is_better
    for _, grp in df.groupby("dataset"):  # Pareto front: nothing both cheaper and better
        front = grp.sort_values("GMACs")
        best = front[metric].cummin() if lower else front[metric].cummax()
        front = front[front[metric] <= best] if lower else front[front[metric] >= best]
        ax.plot(front.GMACs, front[metric], "k--", lw=1, alpha=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("GMACs per image of the evaluated variant (batch 1)")
    ax.set_ylabel(axis_label(metric))
    ax.set_title("Quality vs cost (dashed = Pareto front)")
    return save(fig, out_dir, "pareto_quality_vs_macs")


def quality_metrics(res: RunResults, out_dir: Path) -> Path | None:
    """Every registered metric the run wrote, one panel per result key, one bar per model."""
    rows = [{"dataset": d, "model": m, "key": k, "value": v}
            for (d, m), q in res.quality.items() for k, v in q["summary"].items()
            if registry.key_info(k, None) is not None]  # fmt: skip
    if not rows:
        return None
    df = pd.DataFrame(rows)
    keys = list(dict.fromkeys(df.key))
    ncols = min(4, len(keys))
    nrows = -(-len(keys) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.2 * nrows), squeeze=False)
    colors = palette(df)
    for ax, key in zip(axes.flat, keys, strict=False):
        sns.barplot(data=df[df.key == key], x="model", y="value", hue="model", ax=ax,
                    palette=colors, legend=False)  # fmt: skip
        ax.set(title=axis_label(key), xlabel="", ylabel="")
        ax.tick_params(axis="x", labelrotation=30)
    for ax in axes.flat[len(keys) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return save(fig, out_dir, "quality_metrics")


def scaling(scale: pd.DataFrame, out_dir: Path) -> Path | None:
    if scale.empty:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    long = scale.melt(id_vars=["model", "resolution"], value_vars=["GMACs", "GMACs_paper_convention"],
                      var_name="convention", value_name="GMACs_value")  # fmt: skip
    long["convention"] = long.convention.map(
        {"GMACs": "true MACs", "GMACs_paper_convention": "paper convention"}
    )
    common = dict(x="resolution", hue="model", marker="o", palette=palette(scale))
    sns.lineplot(data=long, y="GMACs_value", style="convention", ax=axes[0], **common)
    axes[0].set(ylabel="GMACs per image (batch 1)", title="MACs vs resolution")
    sns.lineplot(data=scale, y="params", ax=axes[1], **common)
    axes[1].set(ylabel="parameters", title="Parameters vs resolution")
    sns.lineplot(data=scale, y="train_saved_MiB", ax=axes[2], **common)
    axes[2].set(ylabel="MiB saved for backward (batch 1)", title="Training activation memory")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(
            sorted(scale.resolution.unique()),
            labels=[str(r) for r in sorted(scale.resolution.unique())],
        )
    return save(fig, out_dir, "scaling")


def throughput(lat: pd.DataFrame, out_dir: Path) -> Path | None:
    if lat.empty:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.2))
    lat = lat.assign(resolution=lat.resolution.astype(str) + " px")
    sns.lineplot(
        data=lat,
        x="batch",
        y="images_per_s",
        hue="model",
        style="resolution",
        marker="o",
        ax=ax,
        palette=palette(lat),
    )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set(xlabel="batch size", ylabel="images / s", title=f"Throughput on {lat.device.iloc[0]}")
    return save(fig, out_dir, "throughput_vs_batch")


def training_curves(res: RunResults, out_dir: Path) -> Path | None:
    frames = [log.assign(dataset=d, model=m) for (d, m), log in res.logs.items() if not log.empty]
    if not frames:
        return None
    logs = pd.concat(frames)
    curves = [c.assign(dataset=d, model=m) for (d, m), c in res.curves.items() if not c.empty]
    ncols = 3 if curves else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 4))
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
        axes[2].set_yscale("log")  # from the untrained start (kimg 0) down by orders of magnitude
        axes[2].set(title="at each snapshot", ylabel=axis_label(cmetric))
    return save(fig, out_dir, "training_curves")


def mac_breakdown(res: RunResults, out_dir: Path, resolution: int = 256) -> Path | None:
    rows = []
    for p in res.profiles:
        if p["resolution"] != resolution:
            continue
        for conv, key in (
            ("true MACs", "macs_by_module"),
            ("paper convention", "macs_by_module_paper_convention"),
        ):
            for module, macs in p[key].items():
                rows.append(
                    {"model": p["model"], "convention": conv, "module": module, "GMACs": macs / 1e9}
                )
    if not rows:
        return None
    df = pd.DataFrame(rows)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), sharey=True)
    for ax, (conv, grp) in zip(axes, df.groupby("convention", sort=False), strict=False):
        table = grp.pivot_table(
            index="model", columns="module", values="GMACs", aggfunc="sum"
        ).fillna(0)
        table.plot.barh(stacked=True, ax=ax, colormap="tab20", width=0.7, legend=False)
        ax.set(
            xlabel="GMACs per image (batch 1)",
            ylabel="",
            title=f"{conv} at {resolution}×{resolution}",
        )
    axes[-1].legend(
        fontsize=8, title="top-level module", bbox_to_anchor=(1.02, 1), loc="upper left"
    )
    return save(fig, out_dir, f"mac_breakdown_{resolution}")
