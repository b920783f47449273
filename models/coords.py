"""Coordinate inputs of the pixel-synthesis generators (CIPS, and PixelFolder's stages): the pixel
grid and its learned Fourier features, and `kept`, which computes an input that does not depend
on z once instead of every forward (CIPS's and INR-GAN's coordinate features). The conv layers
every generator shares are in models/layers.py; these are what only the coordinate-based ones
add."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn


def kept(
    owner: nn.Module,
    slot: str,
    sources: Sequence[torch.Tensor],
    key: tuple,
    build: Callable[[], torch.Tensor],
) -> torch.Tensor:
    """`build()`, computed once and kept on `owner` (attribute `slot`, outside the state dict)
    for as long as it cannot change: a z-independent input (coordinate features) costs a
    forward its sin/cos, grid sampling and concatenation every call otherwise.

    Kept in eval mode only, and only while it is a plain value: rebuilt in training mode (a
    training step and the MAC counters, which count a fresh train-mode forward, see every op
    of it), whenever autograd would record it (grad enabled and a source requires grad: a kept
    graph could not be backpropagated twice) and while torch.compile traces. Keyed by `key` (size, device, dtype, mode: whatever else `build`
    reads) and by each source's storage and in-place version, so an optimizer step,
    load_state_dict or `.to()` rebuilds it; a write through `.data` bypasses the version
    counter and would not, which no code here does."""
    if not can_keep(owner, sources):
        return build()
    full = (*key, *((t.data_ptr(), t._version) for t in sources))
    cached = owner.__dict__.get(slot)
    if cached is None or cached[0] != full:
        cached = (full, build())
        owner.__dict__[slot] = cached
    return cached[1]


def can_keep(owner: nn.Module, sources: Sequence[torch.Tensor]) -> bool:
    """Whether `kept` keeps a result of `owner` built from `sources` now (see there)."""
    return not (
        owner.training
        or torch.compiler.is_compiling()
        or (torch.is_grad_enabled() and any(t.requires_grad for t in sources))
    )


def coord_grid(batch: int, h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(B, 2, H, W): channel 0 = x = linspace(-1, 1, W) along the width, channel 1 = y."""
    x = torch.linspace(-1, 1, w, device=device, dtype=dtype).view(1, 1, 1, w).expand(batch, 1, h, w)
    y = torch.linspace(-1, 1, h, device=device, dtype=dtype).view(1, 1, h, 1).expand(batch, 1, h, w)
    return torch.cat([x, y], dim=1)


class ConLinear(nn.Module):
    """A plain (not equalized) 1×1 conv with SIREN-style first-layer init, as in CIPS."""

    def __init__(self, in_ch, out_ch, is_first=False):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=True)
        bound = math.sqrt((9 if is_first else 3) / in_ch)
        nn.init.uniform_(self.conv.weight, -bound, bound)

    def forward(self, x):
        return self.conv(x)


class LFF(nn.Module):
    """Learned Fourier features: sin(1×1 conv of the coordinate grid)."""

    def __init__(self, channels):
        super().__init__()
        self.ffm = ConLinear(2, channels, is_first=True)

    def forward(self, coords):
        return torch.sin(self.ffm(coords))
