"""The one way pixbench writes a file: to a temp file in the same folder, fsync, normal
permissions, then os.replace. A reader sees the old file, the whole new one, or nothing; a
crash or an error leaves no half-written output and no temp file behind."""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp path beside `path` (ending in `suffix`, for writers that infer the format
    from it); on success it becomes `path`, on any exception it is deleted."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{short(path.name)}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600; keep the usual (or existing) mode
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.filename is None:  # a full disk mid-write names no file: name the output
            exc.filename = str(path)
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def short(name: str, keep: int = 120) -> str:
    """A file name cut to `keep` characters for the temp and lock files beside it: those add a
    prefix and a suffix, and must fit the file system's 255 bytes whenever the output's own
    name does. The cut keeps a hash of the whole name, so two long names do not collide."""
    if len(name.encode()) <= keep:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return name.encode()[: keep - 13].decode(errors="ignore") + "~" + digest


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, keep: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield an empty temp folder beside folder `path`; on success it replaces `path` whole, so a
    reader sees the old folder or the new one, never new files beside old ones. Entries of the
    old folder matching a `keep` glob (what other commands write there) move into the new one
    first. On any exception, or a stop during the swap, the temp folder is deleted and `path`
    is as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    moved: list[str] = []
    old = stage.with_suffix(".old")
    try:
        yield stage
        os.chmod(stage, path.stat().st_mode & 0o777 if path.is_dir() else 0o777 & ~_umask())
        if path.is_dir():
            for entry in sorted({e for pattern in keep for e in path.glob(pattern)}):
                if not (stage / entry.name).exists():
                    os.replace(entry, stage / entry.name)
                    moved.append(entry.name)
            os.replace(path, old)
        os.replace(stage, path)
    except BaseException:
        if old.exists() and not path.exists():  # stopped between the two renames
            os.replace(old, path)
        for name in moved:  # back where they were
            if (stage / name).exists():
                os.replace(stage / name, path / name)
        shutil.rmtree(stage, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy file `src` to `dst` (its folder made if missing) through a temp file, so a reader
    never sees half a copy."""
    import shutil

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dst) as tmp:
        shutil.copyfile(src, tmp)
    return dst


def write_json(path: str | os.PathLike, obj) -> None:
    """Indented UTF-8 JSON, atomically; values JSON cannot hold (paths, numpy scalars) as str."""
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text(encoding="utf-8"))


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, memoised per (path, size, mtime) within the process."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def _file_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def exclusive(lock_path: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` for the block, or fail at once with one line: two
    processes writing one output (a run folder, a prepared file) would interleave or replace
    each other's work and both exit 0. flock is released by the kernel when a process dies, so
    a killed run never leaves a lock that blocks the next one; the file is removed on release."""
    import fcntl

    from common.cli import UsageError

    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise UsageError(
            f"{what} is in use by process {holder} (lock {lock_path}); wait for it to finish "
            "or choose another output"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        lock_path.unlink(missing_ok=True)
        os.close(fd)


def why_not_a_file(path: str | os.PathLike) -> str:
    """Why `path` cannot be read as a file, in words a user can act on: "does not exist" is
    wrong for a folder, a symlink loop or a path under a file, and each has another fix."""
    path = Path(path)
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symlink loop"
        if exc.errno == errno.ENOTDIR:
            parent = next((p for p in path.parents if p.is_file()), path.parent)
            return f"cannot exist: {str(parent)!r} is a file, not a folder"
        if exc.errno == errno.ENOENT and path.is_symlink():
            return f"is a broken symlink (to {os.readlink(path)!r})"
        return "does not exist" if exc.errno == errno.ENOENT else (exc.strerror or str(exc))
    return "is a directory, not a file" if path.is_dir() else "is not a regular file"


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete the temp files an atomic_output for `path` left when its process was killed
    (SIGKILL cannot be caught). Call it only while holding `exclusive` for `path`."""
    path = Path(path)
    pattern = f".{glob.escape(short(path.name))}.*"
    stale = sorted(path.parent.glob(pattern)) if path.parent.is_dir() else []
    for tmp in stale:
        if tmp.suffix != ".lock":
            tmp.unlink(missing_ok=True)
    return [t for t in stale if t.suffix != ".lock"]


def torch_load_failure(exc: BaseException) -> str:
    """The real reason torch.load refused a file, in one line. Its weights-only message opens
    with advice to pass weights_only=False (never right for a file one did not write) and puts
    the reason last (`Trying to load unsupported GLOBAL posix.system ...`, or an unpickler
    error such as `Unsupported operand 232` for random bytes); other failures (a text or
    truncated file) raise whatever the unpickler hit first."""
    text = str(exc)
    if text.startswith("Weights only load failed"):
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()][1:]
        reasons = [
            ln for ln in lines if not ln.startswith(("Check the documentation", "Please file"))
        ]
        reason = reasons[0] if reasons else "an object that is not plain data"
        if "GLOBAL" in reason:
            return f"it would run code to load ({reason.rstrip('.')}); pixbench never does that"
        return f"not a PyTorch checkpoint file ({reason.rstrip('.')})"
    if isinstance(exc, IndexError | KeyError | EOFError) or not text.strip():
        return f"not a PyTorch checkpoint file ({type(exc).__name__})"
    if "PytorchStreamReader" in text or "zip archive" in text:
        return "the file is truncated or corrupt (its zip archive is incomplete); write it again"
    return text.strip().splitlines()[0][:160]
