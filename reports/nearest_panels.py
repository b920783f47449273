"""The report's learned-not-copied section: each model's samples beside their nearest real
images (benchmarks.quality.nearest wrote the panels), with the distances a reader needs to
tell a new image from a copy."""

from __future__ import annotations

import html
import shutil
from pathlib import Path

from common.io import atomic_output
from reports import html as H
from reports.collect import RunResults

TITLE = "Learned, not copied: samples beside their nearest real images"
NOTE = (
    "The standard check that a GAN learned its data rather than copying it. PROXY features (not "
    "Inception): nearest as this run's metrics see it."
)


def caption(key, info: dict) -> str:
    """What a row shows, and its distances against the real-to-real scale: a copy would sit far
    closer to a real image than real images sit to each other."""
    rows = info.get("samples") or []
    if not rows:
        return f"{key[1]} on {key[0]}"
    first = ", ".join(f"{r['distances'][0]:.2f}" for r in rows)
    return (
        f"{key[1]} on {key[0]}: each row a sample (left), then its {len(rows[0]['nearest'])} "
        f"nearest real images in PROXY feature space; nearest distance {first} against "
        f"{info['real_to_real_median']:.2f}, the median distance of a real image to its nearest "
        "other real image"
    )


def copy_panels(res: RunResults, out: Path) -> dict:
    """Copy each panel to OUT/nearest/ and note the copy as res.nearest[key]["copy"] (what the
    section shows); → (dataset, model) -> the copy (runs without a panel are left out)."""
    found = {}
    for key, info in res.nearest.items():
        src = Path(info["png"])
        if not src.exists():
            continue
        dst = out / "nearest" / f"{key[0]}_{key[1]}.png"
        dst.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(dst) as tmp:
            shutil.copyfile(src, tmp)
        found[key] = info["copy"] = dst
    return found


def section(res: RunResults) -> tuple[str, str]:
    """(title, html) of the section, from the copies `copy_panels` made."""
    shown = {k: n["copy"] for k, n in res.nearest.items() if n.get("copy")}
    if not shown:
        return TITLE, H.empty_note("nearest-real-image panels", "nearest")
    figures = "".join(H.figure(p, caption(k, res.nearest[k])) for k, p in shown.items())
    return TITLE, f"<p class='note'>{html.escape(NOTE)}</p><div class='grid'>{figures}</div>"
