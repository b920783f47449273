"""What every pixbench command line shares: one-line errors with exit status 2 for bad input,
an early writability check (outputs themselves go through data.atomic), and logging to stderr."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

EXIT_USAGE = 2


class UsageError(ValueError):
    """Bad input from the user: reported as one line, exit status 2, no output written."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but its errors are a single line (no usage dump) and exit 2 like ours."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def check_writable(path: str | os.PathLike) -> Path:
    """Fail before any work if `path` cannot be written (probe with a temp file beside it)."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"output {str(path)!r} is a directory")
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {str(path)!r}: directory {str(parent)!r} does not exist")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".probe")
    except OSError as e:
        raise UsageError(f"cannot write {str(path)!r}: {e.strerror or e}") from None
    os.close(fd)
    os.unlink(probe)
    return path


def parse_int_list(text: str, what: str, minimum: int = 1) -> list[int]:
    """ "1,8" → [1, 8]; anything else (empty, non-integer, < minimum) is a UsageError."""
    items = [s.strip() for s in str(text).split(",")]
    if not items or any(not s for s in items):
        raise UsageError(f"{what} must be a comma-separated list of integers, got {text!r}")
    try:
        values = [int(s) for s in items]
    except ValueError:
        raise UsageError(
            f"{what} must be a comma-separated list of integers, got {text!r}"
        ) from None
    bad = [v for v in values if v < minimum]
    if bad:
        raise UsageError(f"{what} must be ≥ {minimum}, got {bad[0]}")
    return values


def run(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Call `main`, turning UsageError into a one-line message and exit status 2."""
    try:
        return main(argv)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
