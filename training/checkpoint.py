"""Training checkpoints: one self-describing file per snapshot, written atomically.

A checkpoint is a plain dict of tensors and plain Python values, so it loads with
`torch.load(weights_only=True)` (no pickled classes, no code execution on load). The `meta`
entry says how to rebuild the generator (`models.build(meta["model"], **meta["build_kwargs"])`),
which is all `load_generator` needs; everything else is there to resume training exactly.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import torch

from data.atomic import atomic_output

FORMAT_NAME = "pixbench-checkpoint"
FORMAT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
FINAL_NAME = "final.pt"
_SNAPSHOT_RE = re.compile(r"^ckpt-(\d+)\.pt$")


class CheckpointError(ValueError):
    """A missing, unreadable or non-pixbench checkpoint; the message is one line."""


def snapshot_name(step: int) -> str:
    return f"ckpt-{step:08d}.pt"


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write `state` (plus the format marker) to `path` via a same-directory temp file and
    os.replace, so a crash mid-write leaves the previous file untouched and no temp file behind."""
    path = Path(path)
    _check_plain(state, "state")
    payload = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **state}
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        torch.save(payload, f)
    return path


_PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def _check_plain(obj, where: str) -> None:
    """Refuse to write what weights_only=True could not read back (e.g. a str subclass such as
    torch.__version__, a Path or a numpy array): fail at save time, not at the next load."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            _check_plain(key, f"{where} key")
            _check_plain(value, f"{where}[{key!r}]")
    elif type(obj) in (list, tuple):
        for i, value in enumerate(obj):
            _check_plain(value, f"{where}[{i}]")
    elif type(obj) not in _PLAIN and not isinstance(obj, torch.Tensor):
        raise TypeError(
            f"{where} is a {type(obj).__name__}; checkpoints hold only tensors and plain Python values"
        )


def publish_alias(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Make `dst` (e.g. checkpoints/final.pt) an atomic hard link to `src`, copying if links fail."""
    src, dst = Path(src), Path(dst)
    tmp = dst.with_name(f".{dst.name}.link.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a pixbench checkpoint (weights_only=True); CheckpointError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, pickle error, foreign object types, ...
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()] or [type(exc).__name__]
        reason = next((ln for ln in lines if "Unpickler error" in ln), lines[0])
        raise CheckpointError(
            f"checkpoint {str(path)!r} is unreadable or corrupt ({reason[:200]})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_NAME:
        raise CheckpointError(
            f"{str(path)!r} is not a pixbench checkpoint (no {FORMAT_NAME!r} marker)"
        )
    if state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {state.get('format_version')!r}; "
            f"this code reads version {FORMAT_VERSION}"
        )
    return state


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """Newest snapshot (highest step) in a run directory or its `checkpoints/` folder, else None."""
    directory = Path(directory)
    candidates = []
    for folder in (directory / CHECKPOINT_DIR, directory):
        if folder.is_dir():
            for entry in folder.iterdir():
                match = _SNAPSHOT_RE.match(entry.name)
                if match and entry.is_file():
                    candidates.append((int(match.group(1)), entry))
    return max(candidates)[1] if candidates else None


def load_generator(path, which: str = "G_ema", device="cpu"):
    """Rebuild the generator stored in checkpoint `path` → (G in eval mode, meta dict).

    `which` is "G_ema" (the one to evaluate) or "G" (the raw training weights). `meta` holds
    model, resolution, overrides, build_kwargs, kimg, step, dataset {path, sha256, ...}, variant.
    """
    from models import build  # late import: reading a checkpoint's meta should not need models

    if which not in ("G_ema", "G"):
        raise CheckpointError(f"which={which!r} is not stored in checkpoints; use 'G_ema' or 'G'")
    state = load_checkpoint(path)
    meta = state.get("meta")
    if not isinstance(meta, dict) or "model" not in meta or which not in state:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks meta or {which!r}")
    try:
        G = build(meta["model"], **meta["build_kwargs"])
        G.load_state_dict(state[which])
    except (RuntimeError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"cannot rebuild {meta['model']!r} from {str(path)!r}: {first[:200]}"
        ) from None
    G = G.to(device).eval().requires_grad_(False)
    return G, dict(meta)
