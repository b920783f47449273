"""Captions that say what a number rests on (N images, seeds), so a reader can judge a ± or a
curve's wobble without opening the config."""

from __future__ import annotations

from benchmarks.claims.speed import INTERVAL_METHOD, UNIT
from reports.collect import RunResults


def quality_caption(res: RunResults) -> str:
    """N and seeds of the quality table: a reader judges a ± only knowing what it spans."""
    q = res.config["quality"]
    seeds = q.get("seeds") or []
    return (
        f"Each metric: mean ± std over {plural(len(seeds), 'sampling seed')} ({seeds}) of one "
        "trained generator per model: a seed draws a new set of latents z (the same checkpoint, "
        f"the same training run), {q.get('num_gen')} generated images per seed against the same "
        f"{q.get('num_real')} real images. The ± is sampling noise only; it says nothing of how a "
        "second training run would land."
    ) + why_n(res)


INCEPTION_GMAC = 5.7  # MACs of one TF-Inception forward at 299x299, in G (docs/metrics.md)


def why_n(res: RunResults) -> str:
    """Why N is this small, from what the run measured: the quality jobs' wall time per image
    they embedded, and what the protocol's 50,000 per model would cost at that rate."""
    cards = [q.get("card") or {} for q in res.quality.values()]
    if res.proxy or not cards:
        return ""
    wall = sum(c.get("wall_time_s") or 0.0 for c in cards)
    images = sum((c.get("num_gen") or 0) * len(c.get("seeds") or []) for c in cards)
    images += max((c.get("num_real") or 0) for c in cards)  # real features: once, then cached
    if not wall or not images:
        return ""
    per = wall / images
    return (
        f" Why this N: Inception costs ~{INCEPTION_GMAC} GMAC per 299×299 image; the quality "
        f"jobs took {wall:.0f} s for ~{images:,} images ({per:.2f} s each, sampling included), "
        f"so the protocol's 50,000 generated images would take ~{per * 50_000 / 3600:.1f} h per "
        "model and seed on this machine."
    )


def claims_caption(claims) -> str:
    """How a speed claim's interval is made, above the claims table that shows it, so a reader
    can recompute it from the latency table (empty when the run judged no speed claim)."""
    if claims is None or claims.empty or "unit" not in claims or not (claims.unit == UNIT).any():
        return ""
    return INTERVAL_METHOD


def training_caption(res: RunResults) -> str:
    """The curve's sample size and features beside the quality table's: a reader who finds the
    last point of a curve differ from the table's number learns why here."""
    q = res.config["quality"]
    n = q.get("curve_num_gen") or q.get("num_gen")
    seed = (q.get("seeds") or [0])[0]
    text = (
        f"Training losses, and {q.get('curve_metric')} against kimg from the untrained start: "
        f"{n} generated images per snapshot, one seed ({seed}), no ± (a single draw)."
    )
    curve_net = q.get("curve_extractor") or q.get("extractor")
    if curve_net != q.get("extractor"):
        text += (
            f" The curve uses {curve_net} features, the quality table {q.get('extractor')}: "
            "their numbers are on different scales and are not compared."
        )
    elif n != q.get("num_gen"):
        text += (
            f" The last point is not the quality table's number: the table uses {q.get('num_gen')} "
            f"images per seed; a Fréchet distance from fewer images is biased upward (the "
            "sample-size section shows by how much)."
        )
    return text


def plural(n: int, noun: str) -> str:
    """'1 dataset', '2 datasets'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
