"""`--device auto|cpu|cuda[:N]` → torch.device, the same rule for every entry point."""

from __future__ import annotations

from common.cli import UsageError

DEFAULT_DEVICE = "auto"  # every entry point's --device default and the config's `device`
DEVICES = ("auto", "cpu", "cuda")  # what a config names; a CLI also takes cuda:N


def resolve_device(name=DEFAULT_DEVICE):
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


def add_device_flag(parser) -> None:
    """The `--device` flag every entry point shares: one default, one help line."""
    parser.add_argument(
        "--device",
        default=DEFAULT_DEVICE,
        help=f"auto (CUDA when present) | cpu | cuda[:N] (default: {DEFAULT_DEVICE})",
    )
