"""The figures and image galleries a report shows: which plot each section gets, the real-data
grid beside the sample grids, and their captions. Apart from reports/render.py so the page
assembly stays small; the plots themselves live in plots, efficiency_plots and speed_plots."""

from __future__ import annotations

from pathlib import Path

import torch

from common.io import atomic_output as atomic_path
from reports import efficiency_plots, plots, speed_plots, variant_plots
from reports import html as H
from reports.collect import RunResults


def make_figures(res: RunResults, frames: dict, fig_dir: Path) -> dict:
    """Every plot of the report by key, drawn from the tables' own frames where a table exists
    (so a plot's CSV and its table agree); each writes PNG, SVG and CSV (reports.plots.save)."""
    return {
        "claims": plots.claims_chart(res.claims, fig_dir),
        "pareto": plots.pareto(res, frames["quality"], fig_dir),
        "metrics": plots.quality_metrics(frames["quality"], fig_dir),
        "scaling": efficiency_plots.scaling(frames["scaling"], fig_dir),
        "training": plots.training_curves(res, fig_dir),
        "breakdown": efficiency_plots.mac_breakdown(res, fig_dir),
        # (path, why not drawn) pairs, shown by `figure`
        "latency": efficiency_plots.throughput(frames["latency"], fig_dir),  # the row measure's
        "blocks": speed_plots.block_shares(res, fig_dir),
        "roofline": speed_plots.roofline(res, fig_dir),
        "pareto_latency": speed_plots.pareto_latency(res, fig_dir, frames["quality"]),
        **variant_plots.figures(res, fig_dir),  # keyed by the row measure; none without a grid
    }


# figures a row measure's section shows after its own (the roofline explains the latency table)
EXTRA_FIGURES = {
    "latency": (("roofline", "roofline of the timing device, models at 64 and 256 px"),)
}


def figure(fig, alt: str) -> str:
    """A figure path, or a (path, why not drawn) pair from reports.speed_plots."""
    return speed_plots.shown(fig, alt) if isinstance(fig, tuple) else H.img_tag(fig, alt)


REAL = "real images"  # the model slot of a dataset's real grid in the samples gallery


def real_grids(res: RunResults, out: Path) -> dict:
    """(dataset, REAL) -> a grid of the dataset's first GRID×GRID prepared images, the same
    size as the sample grids, so real and generated sit side by side."""
    from torchvision.utils import save_image

    from data.dataset import open_dataset

    grid, found = int(res.config["train"]["grid"]), {}
    for name, path in res.data_files.items():
        ds = open_dataset(path)
        imgs = torch.stack([ds[i] for i in range(min(grid * grid, len(ds)))]).float() / 255
        dst = out / f"{name}_real.png"
        with atomic_path(dst, suffix=".png") as tmp:
            save_image(imgs, tmp, nrow=grid)
        found[(name, REAL)] = dst
    return found


def sample_caption(key) -> str:
    return f"{key[0]}: the data" if key[1] == REAL else f"{key[1]} on {key[0]}"


def gallery(items: dict, caption, what: str = "images", rule: str = "all") -> str:
    """A grid of figures, or, when there are none, the note saying why and how to fill it."""
    if not items:
        return H.empty_note(what, rule)
    return f"<div class='grid'>{''.join(H.figure(p, caption(k)) for k, p in items.items())}</div>"


def stage_caption(key, info: dict) -> str:
    text = f"{key[1]} on {key[0]}: {info['kind']}; columns at {info['stage_sizes']} px (upsampled)"
    if len(info["stage_sizes"]) == 1:
        text += "; only one stage at this resolution (train at 64 px or more to see several)"
    return text
