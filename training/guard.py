"""What keeps a run folder sound around the loop: one training process per folder, nothing left
behind by a start that failed, and a stop (Ctrl-C, or the SIGTERM a scheduler sends before it
kills) that ends on a fresh snapshot instead of losing the steps since the last one.

Why here and not in the loop: these are about the process and the folder, not about training;
the loop only asks `stop.requested` after each step."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from common.cli import Terminated, check_writable_dir
from common.io import exclusive
from common.layout import TrainDir

LOCK_NAME = ".lock"


def _is_rank0() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


@contextlib.contextmanager
def run_folder(out: Path) -> Iterator[None]:
    """Hold the folder's lock (rank 0; the other ranks write nothing) for the whole run. If the
    run fails before its first snapshot in a folder it created, remove the folder: an empty
    folder or a meta file without checkpoints would look like a run that exists."""
    out = Path(out)
    created = not out.exists()
    if not _is_rank0():
        yield
        return
    try:
        check_writable_dir(out)  # one line if it cannot be made, before anything is created
        with exclusive(out / LOCK_NAME, f"run folder {out}"):
            yield
    except BaseException:
        if created and out.is_dir() and not TrainDir(out).snapshots():
            shutil.rmtree(out, ignore_errors=True)
        raise


class StopRequests:
    """Ctrl-C or SIGTERM during the step loop: finish the step, then stop (the loop snapshots).
    A second Ctrl-C stops at once. Only in a single process on the main thread: with several
    processes each rank would see the signal at a different step, so they keep the default
    (an immediate stop; the last periodic snapshot is where --resume continues)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested: str | None = None
        self._old: dict = {}

    def _on_signal(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt("stopped at once (second Ctrl-C); no snapshot written")
        self.requested = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"

    def __enter__(self) -> StopRequests:
        if self.enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)

    def stop(self, where: str):
        """The exception that ends the run after the snapshot, with how to go on."""
        text = f"stopped by {self.requested} {where}; continue with --resume auto"
        return Terminated(text) if self.requested == "SIGTERM" else KeyboardInterrupt(text)
