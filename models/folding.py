"""PixelFolder's space-to-depth (`fold`) and depth-to-space (`unfold`) by a factor of 2, in the
official channel order (docs/architectures.md, "Fold / Unfold"); re-exported by models.layers."""

from __future__ import annotations

import torch
from torch import nn


def fold(x: torch.Tensor) -> torch.Tensor:
    """Space-to-depth ×2 with PixelFolder's channel order: out channel = (ph·2 + pw)·C + c.

    Not `pixel_unshuffle` (which orders c·4 + p); the order matters for official weights.
    """
    b, c, h, w = x.shape
    x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(b, 4 * c, h // 2, w // 2)


def unfold(x: torch.Tensor) -> torch.Tensor:
    """Depth-to-space ×2, the exact inverse of `fold`. The result has channels-last strides
    (the layout the CPU convs want next); its values do not depend on the layout."""
    b, c4, h, w = x.shape
    c = c4 // 4
    x = x.view(b, 2, 2, c, h, w).permute(0, 4, 1, 5, 2, 3)  # (b, h, ph, w, pw, c)
    return x.reshape(b, 2 * h, 2 * w, c).permute(0, 3, 1, 2)


class Unfold(nn.Module):
    def forward(self, x):
        return unfold(x)
