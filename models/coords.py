"""Coordinate inputs of the pixel-synthesis generators (CIPS, and PixelFolder's stages): the pixel
grid and its learned Fourier features. The conv layers every generator shares are in
models/layers.py; these are what only the coordinate-based ones add."""

from __future__ import annotations

import math

import torch
from torch import nn


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
