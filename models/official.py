"""Load the official PixelFolder / CIPS / rosinality StyleGAN2 checkpoints into our models.

Our state-dict names are the official ones (tests/golden/README.md lists them), so `g_ema` loads
with strict=True."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from common.cli import UsageError
from common.io import torch_load_failure

from .registry import build


class OfficialCheckpointError(UsageError):
    pass


def read_official_state(path: str | Path, key: str = "g_ema") -> dict:
    """The `key` state dict of an official training checkpoint (dict with g, d, g_ema, args)."""
    path = Path(path)
    if not path.is_file():
        raise OfficialCheckpointError(
            f"{path}: no such checkpoint file; pass the path of an official .pt file"
        )
    try:
        # official checkpoints pickle their argparse.Namespace of training args; allow only that
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - whatever torch.load hits in a file that is not one
        raise OfficialCheckpointError(
            f"{path}: not a readable official checkpoint: {torch_load_failure(e)}; pass the "
            "official .pt file (re-download it if it is damaged)"
        ) from None
    if isinstance(ckpt, dict) and key in ckpt:
        return ckpt[key]
    if isinstance(ckpt, dict) and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return ckpt  # a bare state dict
    keys = ", ".join(sorted(ckpt)[:6]) if isinstance(ckpt, dict) else type(ckpt).__name__
    raise OfficialCheckpointError(
        f"{path}: has no {key!r} entry (found: {keys}); pass an official training checkpoint"
    )


def load_official(
    path: str | Path, name: str, resolution: int = 256, key: str = "g_ema", **overrides
):
    """Build `name` at `resolution` and load the official weights into it (eval mode)."""
    state = read_official_state(path, key)
    G = build(name, resolution=resolution, **overrides)
    ours = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(ours.keys() - theirs.keys())
    unexpected = sorted(theirs.keys() - ours.keys())
    reshaped = sorted(k for k in ours.keys() & theirs.keys() if ours[k] != theirs[k])
    if missing or unexpected or reshaped:
        raise OfficialCheckpointError(
            f"{path}: does not fit {name} at {resolution}px ({len(missing)} missing keys e.g. {missing[:2]}, "
            f"{len(unexpected)} unexpected e.g. {unexpected[:2]}, {len(reshaped)} of another shape e.g. "
            f"{reshaped[:2]}); check --model and --resolution"
        )
    G.load_state_dict(state, strict=True)
    return G.eval()
