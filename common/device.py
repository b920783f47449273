"""`--device auto|cpu|cuda[:N]` → torch.device, the same rule for every entry point."""

from __future__ import annotations

from common.cli import UsageError


def resolve_device(name="auto"):
    """'auto' is CUDA when present, else CPU; a bad or unavailable device is a one-line UsageError."""
    import torch

    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not str(name).startswith("cuda:"):
        raise UsageError(f"unknown device {name!r}: use auto, cpu or cuda[:N]")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(
            f"device {name!r} was asked for but no CUDA device is visible; use --device cpu or auto"
        )
    return torch.device(name)
