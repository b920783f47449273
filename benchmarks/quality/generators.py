"""The generator under test: from one of our training checkpoints or an official release file,
with its provenance (for the result's `generator` section) and a cache id for its features.

Only what a bad file or a bad name raises becomes a one-line QualityError (exit 2): the loaders'
own UsageErrors (CheckpointError, OfficialCheckpointError) and the names checked here first. Any
other exception is a bug in the model or loader code and keeps its traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from common.cli import UsageError, first_line
from common.io import sha256_file, why_not_a_file

from .errors import QualityError


def load_checkpoint(path: str | os.PathLike, device: torch.device, which: str = "G_ema"):
    """(G, info, cache id) from one of our training checkpoints."""
    path = Path(path)
    if not path.is_file():
        raise QualityError(f"checkpoint {path} {why_not_a_file(path)}")
    from training.checkpoint import load_generator

    try:
        G, meta = load_generator(str(path), which=which, device=device)
    except UsageError as exc:  # unreadable, foreign, or not rebuildable: training says which
        raise QualityError(f"cannot load {which} from {path}: {first_line(exc)}") from None
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
        raise QualityError(f"official checkpoint {path} {why_not_a_file(path)}")
    import models

    known = models.available()
    if name not in known:
        raise QualityError(f"--model {name!r} is not registered; available: {', '.join(known)}")
    sizes = models.resolutions(name)
    if resolution is not None and int(resolution) not in sizes:
        raise QualityError(
            f"{name} is not defined at {resolution} px; pass --resolution, one "
            f"of {', '.join(map(str, sizes))}"
        )
    try:
        kwargs = {} if resolution is None else {"resolution": int(resolution)}
        G = models.load_official(str(path), name, **kwargs)
    except UsageError as exc:  # unreadable, or its weights do not fit the model: a bad input
        raise QualityError(f"cannot load official {name} from {path}: {first_line(exc)}") from None
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
