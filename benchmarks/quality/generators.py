"""The generator under test: from one of our training checkpoints or an official release file,
with its provenance (for the result's `generator` section) and a cache id for its features."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from common.cli import first_line
from common.io import sha256_file

from .errors import QualityError


def load_checkpoint(path: str | os.PathLike, device: torch.device, which: str = "G_ema"):
    """(G, info, cache id) from one of our training checkpoints."""
    path = Path(path)
    if not path.is_file():
        raise QualityError(f"checkpoint not found: {path}")
    from training.checkpoint import load_generator

    try:
        G, meta = load_generator(str(path), which=which, device=device)
    except Exception as exc:  # noqa: BLE001 - unreadable checkpoint is a bad input
        raise QualityError(
            f"cannot load {which} from {path}: {type(exc).__name__}: {first_line(exc)}"
        ) from None
    sha = sha256_file(path)
    meta = dict(meta or {})
    info = {
        "source": "checkpoint",
        "path": str(path),
        "sha256": sha,
        "weights": which,
        **{key: meta.get(key) for key in ("model", "resolution", "overrides", "kimg")},
    }
    return G, info, f"ckpt:{sha}:{which}"


def load_official_generator(path, name: str, resolution: int | None, device: torch.device):
    """(G, info, cache id) from an official release checkpoint via models.load_official."""
    path = Path(path)
    if not path.is_file():
        raise QualityError(f"official checkpoint not found: {path}")
    from models import load_official

    try:
        kwargs = {} if resolution is None else {"resolution": int(resolution)}
        G = load_official(str(path), name, **kwargs)
    except Exception as exc:  # noqa: BLE001 - unreadable or mismatched file is a bad input
        raise QualityError(
            f"cannot load official {name} from {path}: {type(exc).__name__}: {first_line(exc)}"
        ) from None
    sha = sha256_file(path)
    info = {
        "source": "official",
        "path": str(path),
        "sha256": sha,
        "weights": "official release",
        "model": name,
        "resolution": resolution or getattr(G, "resolution", None),
    }
    return G.to(device), info, f"official:{sha}:{name}:{info['resolution']}"
