"""Captions that say what a number rests on (N images, seeds), so a reader can judge a ± or a
curve's wobble without opening the config."""

from __future__ import annotations

from reports.collect import RunResults


def quality_caption(res: RunResults) -> str:
    """N and seeds of the quality table: a reader judges a ± only knowing what it spans."""
    q = res.config["quality"]
    seeds = q.get("seeds") or []
    return (
        f"Each metric: mean ± std over {plural(len(seeds), 'seed')} ({seeds}), each seed "
        f"{q.get('num_gen')} generated against {q.get('num_real')} real images."
    )


def training_caption(res: RunResults) -> str:
    """The curve's sample size: fewer samples and one seed, so it is noisier than the table."""
    q = res.config["quality"]
    n = q.get("curve_num_gen") or q.get("num_gen")
    seed = (q.get("seeds") or [0])[0]
    return (
        f"Training losses, and {q.get('curve_metric')} against kimg from the untrained start: "
        f"{n} generated images per snapshot, one seed ({seed}), no ± (a single draw)."
    )


def plural(n: int, noun: str) -> str:
    """'1 dataset', '2 datasets'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
