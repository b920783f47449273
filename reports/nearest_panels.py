"""The report's learned-not-copied section: each model's samples beside their nearest real
images (benchmarks.quality.nearest wrote the panels), with the distances a reader needs to
tell a new image from a copy."""

from __future__ import annotations

import html
from pathlib import Path

from common.io import atomic_copy
from reports import html as H
from reports.collect import RunResults

TITLE = "Copy check: samples beside their nearest real images"
NOTE = (
    "The standard check that a GAN did not copy its training images: a sample much closer to a "
    "real image than real images are to each other would be a copy. Distances in the PROXY "
    "feature space (not Inception). Far from every real image is not a copy, but neither is it "
    "evidence of learning: it can also mean samples unlike the data."
)


def reading(first: list[float], scale: float) -> str:
    """What the nearest distances say against the real-to-real median `scale`, and only that."""
    if min(first) < 0.5 * scale:
        return "at least one sample is under half the real-to-real distance from a real image: check it for a copy"
    if min(first) > scale:
        return "every sample is farther from the data than real images are from each other: no copy, and unlike the data"
    return "no sample is under half the real-to-real distance from a real image: no copy seen"


def caption(key, info: dict) -> str:
    """What a row shows, and its distances against the real-to-real scale: a copy would sit far
    closer to a real image than real images sit to each other."""
    rows = info.get("samples") or []
    if not rows:
        return f"{key[1]} on {key[0]}"
    dists = [float(r["distances"][0]) for r in rows]
    first = ", ".join(f"{d:.2f}" for d in dists)
    scale = float(info["real_to_real_median"])
    return (
        f"{key[1]} on {key[0]}: each row a sample (left), then its {len(rows[0]['nearest'])} "
        f"nearest real images in PROXY feature space; nearest distance {first} against "
        f"{scale:.2f}, the median distance of a real image to its nearest other real image; "
        f"{reading(dists, scale)}"
    )


def copy_panels(res: RunResults, out: Path) -> dict:
    """Copy each panel to OUT/nearest/ and note the copy as res.nearest[key]["copy"] (what the
    section shows); → (dataset, model) -> the copy (runs without a panel are left out)."""
    found = {}
    for key, info in res.nearest.items():
        src = Path(info["png"])
        if not src.exists():
            continue
        dst = atomic_copy(src, out / "nearest" / f"{key[0]}_{key[1]}.png")
        found[key] = info["copy"] = dst
    return found


def section(res: RunResults) -> tuple[str, str]:
    """(title, html) of the section, from the copies `copy_panels` made."""
    shown = {k: n["copy"] for k, n in res.nearest.items() if n.get("copy")}
    if not shown:
        return TITLE, H.empty_note("nearest-real-image panels", "nearest")
    figures = "".join(H.figure(p, caption(k, res.nearest[k])) for k, p in shown.items())
    return TITLE, f"<p class='note'>{html.escape(NOTE)}</p><div class='grid'>{figures}</div>"
