"""The record of how a run was started (results/<run>/invocation.json): the command the user
typed, the config files it read, the working directory, the clock and the code version; and
the config it resolved from them (results/<run>/config.yaml). Written
when the workflow starts executing (a dry run writes nothing), so the report can print the exact
command and commit that made it instead of asking the reader to guess.

Not an input of any job: a new invocation must not re-run finished jobs, and a report rendered
by a later invocation names that later command, which is the one that made it."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
from pathlib import Path

import yaml

from common.io import atomic_write_text
from common.provenance import code_version


def command_line(argv: list[str]) -> str:
    """The command as the user would retype it: the program by its name, not the venv path."""
    if not argv:
        return ""
    program = os.path.basename(argv[0])
    if program == "__main__.py":  # started as `python -m PACKAGE`
        program = f"python -m {os.path.basename(os.path.dirname(argv[0]))}"
        return f"{program} {shlex.join(argv[1:])}".strip()
    return shlex.join([program, *argv[1:]])


def record(path: str | Path, argv: list[str], config_files, workdir: str | Path) -> dict:
    doc = {
        "command": command_line(list(argv)),
        "config_files": [_relative(f, workdir) for f in config_files],
        "workdir": str(workdir),
        "started_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "code": code_version(),
    }
    atomic_write_text(Path(path), json.dumps(doc, indent=1) + "\n")
    return doc


def write_config(path: str | Path, config: dict) -> Path:
    """The run's config as the workflow resolved it (its config files merged, `--config`
    overrides applied, defaults filled in), written when it starts executing. The pre-flight
    check and the report read this file, so what they judge is what the jobs ran with, and a
    reader can render the report again from it alone."""
    head = "# The config this run resolved from its config files and overrides (pixbench).\n"
    atomic_write_text(Path(path), head + yaml.safe_dump(config, sort_keys=False))
    return Path(path)


def read(path: str | Path) -> dict | None:
    """The record, or None when the run has none (results made before it, or by hand)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def code_text(code: dict | None) -> str:
    """`pixbench 0.1.0, commit 38f176e04b59 (uncommitted changes)`."""
    if not code:
        return "unknown"
    commit = str(code.get("commit") or "unknown")
    text = f"pixbench {code.get('version') or '(version unknown)'}, commit {commit[:12]}"
    if code.get("dirty"):
        text += " (with uncommitted changes to tracked files)"
    elif code.get("dirty") is False:
        text += " (clean tree)"
    return text


def _relative(path, workdir) -> str:
    """A config file as the user would type it from `workdir`: relative when inside it."""
    path, workdir = Path(path).absolute(), Path(workdir).absolute()
    return str(path.relative_to(workdir)) if path.is_relative_to(workdir) else str(path)
