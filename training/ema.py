"""Exponential moving average of the generator weights (the network that gets evaluated)."""

from __future__ import annotations

import torch
from torch import nn


def ema_decay(
    half_life_steps: float, step: int | None = None, rampup: float | None = None
) -> float:
    """Per-step decay for a half-life in steps; 312.5 gives the official 0.5^(32/10000) (docs/training.md).

    `rampup` (off in the official recipe) caps the half-life at rampup × steps so far, as
    StyleGAN2-ADA does; short CPU runs need it, or G_ema is still half its random init after
    ~300 steps.
    """
    if rampup and step is not None:
        half_life_steps = min(half_life_steps, rampup * max(step, 1))
    return 0.5 ** (1.0 / half_life_steps)


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·model for parameters; buffers are copied as they are."""
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.lerp_(p, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)
