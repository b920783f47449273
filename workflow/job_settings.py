"""Settings stamps: each job of the workflow has a small JSON file holding the settings it is
planned with (results/<run>/settings/<rule>/<job>.json, common.layout), and that file is one of
the job's inputs. Planning rewrites a stamp only when its settings differ from what it holds,
so a changed setting makes the stamp newer than the job's output and the job re-runs; an
unchanged one leaves the file, its time and the output alone.

Why not Snakemake's own params trigger: it keeps what a job ran with in `.snakemake/metadata`,
beside the working directory, not in the results. A results folder copied into a new clone or
under a new run name has no such record, and Snakemake then re-runs nothing ("Nothing to be
done", issue 27): a changed `quality.num_gen` was silently ignored. The stamps travel with the
results, so the check needs nothing else. A stamp holds settings only, never paths or the
interpreter, so the same settings in another clone or under another run name are the same
stamp. Missing stamps (results from before them) are written fresh, and their jobs re-run once:
the safe side, since nothing says what those outputs were made with. A dry run plans the same
jobs but writes no stamp into the results (stamp())."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from common.io import atomic_write_text


def digest(settings: dict) -> str:
    """sha256 of the settings as canonical JSON (key order and formatting are not changes)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def recorded(path: Path) -> str | None:
    """The digest a stamp holds, None when there is none (absent or unreadable)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None


def stamp(path: str | Path, settings: dict, dry_run: bool = False) -> str:
    """Write `settings` to stamp `path` unless it already holds them; the path, for an input.

    A dry run writes nothing in the results: a changed stamp goes to a scratch copy in the
    temp folder instead (fresh, so the job is still planned), and the stamp in the results
    keeps what the outputs were made with. Otherwise trying a setting with `-n` and going back
    would leave a rewritten stamp behind and re-run jobs whose settings never changed."""
    path = Path(path)
    sha = digest(settings)
    if recorded(path) == sha:
        return str(path)
    doc = {"sha256": sha, "settings": settings}
    text = json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n"
    target = Path(tempfile.gettempdir()) / "pixbench-planned" / f"{sha}.json" if dry_run else path
    atomic_write_text(target, text)
    return str(target)
