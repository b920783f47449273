"""The rules every pixbench command line follows: bad input is one line on stderr and exit 2;
an output that cannot be written is one line and exit 1 (so is any other fault, see `run`);
outputs are written atomically (common.io) so a failure leaves nothing half-written; progress
and logs go to stderr."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from pathlib import Path


def _interrupt_hook(exc_type, exc, tb, _default=sys.excepthook):
    """Ctrl-C that reaches the top level outside `run` (while an entry point's modules still
    import, which takes seconds with torch) is one line like any other interrupt, not a
    traceback; the interpreter then still ends by SIGINT, so a shell sees exit 130."""
    if issubclass(exc_type, KeyboardInterrupt):
        print("error: interrupted; no output written", file=sys.stderr)
    else:
        _default(exc_type, exc, tb)


# the packages whose modules are commands (`python -m data.prepare`, …); each imports this first
COMMAND_PACKAGES = ("benchmarks", "data", "reports", "training", "workflow")
_SIGINT_SEEN = threading.Event()


def _defer_interrupt(signum, frame):
    """Ctrl-C while a command's modules still import: noted, and raised by `run` once they have.
    Raised inside `import torch` it can abort the process from C++ ("terminate called after
    throwing an instance of 'python_error'") or be cleared there with numpy half-imported, which
    then fails with an unrelated error. A second Ctrl-C raises at once."""
    if _SIGINT_SEEN.is_set():
        signal.default_int_handler(signum, frame)
    _SIGINT_SEEN.set()


def _runs_a_command() -> bool:
    """Whether this process is `python -m <a command>` (not pytest, snakemake or a user's script,
    whose Ctrl-C is theirs). `sys.orig_argv`: `__main__` is not yet the command's module while
    its package imports."""
    argv = getattr(sys, "orig_argv", [])
    if "-m" not in argv[1:-1]:
        return False
    return argv[argv.index("-m", 1) + 1].split(".")[0] in COMMAND_PACKAGES


if sys.excepthook is sys.__excepthook__:  # common.cli is the first import of each package
    sys.excepthook = _interrupt_hook
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        and _runs_a_command()
    ):
        signal.signal(signal.SIGINT, _defer_interrupt)


EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a process SIGTERM ended


class Terminated(KeyboardInterrupt):
    """SIGTERM (what Slurm, Kubernetes and `kill` send before a kill) taken like Ctrl-C: the
    same clean-up runs (temp files removed, a training run snapshots), then one line."""


def _raise_terminated(signum, frame):
    raise Terminated()


class UsageError(ValueError):
    """Bad input from the user: reported as one line, exit status 2, no output written.
    Domain errors (DatasetError, QualityError, TrainingError, ...) subclass it."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but its errors are a single line (no usage dump) and exit 2 like ours."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def redirect_output(path: str | os.PathLike) -> None:
    """Send this process's stdout and stderr to `path` from now on (truncated first): the file
    descriptors themselves, so worker processes, tqdm and C code follow. A job calls it once it
    owns its output, so a concurrent job that loses cannot empty the winner's log."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    finally:
        os.close(fd)


def first_line(exc: BaseException) -> str:
    """An exception as one line: its first message line, or its type when it has no message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_writable(path: str | os.PathLike) -> Path:
    """Fail before any work if file `path` cannot be written (its folder is created if missing)."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"output {str(path)!r} is a directory; give a file path")
    check_writable_dir(path.parent, what=f"cannot write {str(path)!r}")
    return path


def check_writable_dir(folder: str | os.PathLike, what: str | None = None) -> Path:
    """Create `folder` if needed and prove a file can be made in it (probe with a temp file)."""
    folder = Path(folder)
    what = what or f"output folder {str(folder)!r} is not writable"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
    except OSError as e:
        blocker = next(
            (p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None
        )
        why = f"{str(blocker)!r} is a file, not a folder" if blocker else e.strerror or e
        raise UsageError(f"{what}: {why}; choose another output path") from None
    os.close(fd)
    os.unlink(probe)
    return folder


def parse_int_list(text, what: str, minimum: int = 1) -> list[int]:
    """ "1,8" → [1, 8]; anything else (empty, non-integer, < minimum) is a UsageError."""
    if isinstance(text, list | tuple):
        items = [str(v) for v in text]
    else:
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


def parse_overrides(items, flag: str) -> dict:
    """['width=0.125', 'mixing=0.9'] → {'width': 0.125, 'mixing': 0.9}; values are read as YAML
    scalars (numbers, booleans, null), so every entry point casts them the same way."""
    import yaml

    out = {}
    for item in items or []:
        key, sep, raw = str(item).partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise UsageError(f"{flag} {item!r}: the value is not a valid scalar") from None
    return out


def format_overrides(flag: str, mapping: dict) -> list[str]:
    """The inverse of parse_overrides, for commands that call other entry points."""
    import yaml

    out = []
    for key, value in sorted(mapping.items()):  # key order is not a change (rule params)
        text = yaml.safe_dump(value, default_flow_style=True).strip()
        out += [flag, f"{key}={text.removesuffix('...').strip()}"]
    return out


def run(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Call `main` with the exit-code rule: bad input (UsageError) → one line, exit 2; an OS
    error (disk full, permissions) → one line, exit 1; Ctrl-C → one line, exit 130. Anything else
    is a bug in our own code (or a case no check foresaw, which is one too): it keeps its full
    traceback and exits 1, so it is reported, never mistaken for bad input. stdout is flushed
    inside the rule, so a full disk or a closed pipe there is one line too."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
        if signal.getsignal(signal.SIGINT) is _defer_interrupt:  # the imports are done
            signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if _SIGINT_SEEN.is_set():  # Ctrl-C while they imported (_defer_interrupt)
            raise KeyboardInterrupt
        code = main(argv)
        sys.stdout.flush()
        return code
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        _drop_unwritable_stdout()
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"error: {where}{e.strerror or first_line(e)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt as e:
        how = "terminated (SIGTERM)" if isinstance(e, Terminated) else "interrupted"
        detail = first_line(e) if str(e).strip() else "no output written"
        print(f"error: {how}; {detail}", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(e, Terminated) else EXIT_INTERRUPTED
    except Exception:
        traceback.print_exc()
        print("error: the traceback above is a bug in pixbench; please report it", file=sys.stderr)
        return EXIT_FAILURE


def _drop_unwritable_stdout() -> None:
    """If stdout itself cannot be written, point it at /dev/null so the interpreter's final
    flush does not add its own multi-line complaint after our one line."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
