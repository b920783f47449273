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


def recipe_line(res: RunResults) -> str:
    """How each model was trained, and every hyper-parameter set away from its official recipe
    (run.json `off_recipe`): a preset made for a CPU run is never mistaken for the paper's."""
    parts = []
    for (_, model), r in res.runs.items():
        t = r.get("train") or {}
        how = f"{_num(t.get('kimg', '?'))} kimg at batch {r.get('batch', t.get('batch', '?'))}"
        if t.get("preset"):
            how += f", preset {t['preset']}"
        off = r.get("off_recipe")
        if off is None:
            changed = "hyper-parameters not recorded"
        elif off:
            changed = ", ".join(
                f"{k} {_num(v['used'])} (official {_num(v['official'])})" for k, v in off.items()
            )
        else:
            changed = "the official recipe"
        parts.append(f"{model}: {how}; {changed}")
    return "off the paper recipe where named; " + "; ".join(parts)


def _num(v) -> str:
    """4 significant digits; None (a setting the recipe leaves off) as "off"."""
    return "off" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def plural(n: int, noun: str) -> str:
    """'1 dataset', '2 datasets'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
