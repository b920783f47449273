"""Where a workflow invocation writes, checked while the Snakefile is read (dry runs included),
so a bad place is one line and exit 2 instead of a traceback from deep inside a handler or from
Snakemake itself: the working directory must be writable (Snakemake keeps `.snakemake/` there),
and no file may stand where the run's folders go (`results/<run>` a file made
`pathlib.mkdir` fail in the pre-flight handler)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from common.cli import UsageError, first_line


def export_pythonpath(basedir: str) -> None:
    """Put the project on PYTHONPATH for every `python -m` a job or handler starts, so the
    Snakefile works from another working directory (`snakemake -s CLONE/Snakefile --directory
    DIR`): the rules run the project's modules, not files relative to the working directory."""
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if basedir not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([basedir, *paths])


def check_writable_workdir(basedir: str) -> None:
    """Refuse a working directory that cannot be written (a read-only clone), pointing at
    `--directory`, which keeps the code where it is and writes everywhere else."""
    here = Path.cwd()
    try:
        with tempfile.TemporaryFile(dir=here):
            pass
    except OSError as exc:
        raise UsageError(
            f"the working directory {str(here)!r} is not writable ({first_line(exc)}); Snakemake "
            "and the results need it: run from a writable folder with "
            f"`snakemake -s {os.path.join(basedir, 'Snakefile')} --directory DIR ...`"
        ) from None


def check_folders(*folders: str) -> None:
    """Refuse any of `folders` (or a folder above it) that exists as something other than a
    folder, naming it and what to do."""
    for folder in folders:
        path = Path(folder)
        for part in (*reversed(path.parents[:-1]), path):
            if part.exists() and not part.is_dir():
                raise UsageError(
                    f"{str(part)!r} is a file where the run needs a folder (for {str(path)!r}): "
                    "move or delete that file, or set another `run:` name"
                )
