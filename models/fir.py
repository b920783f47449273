"""Fixed FIR up/down-sampling with the [1,3,3,1] kernel (upfirdn2d), shared by every model.

Same semantics as the upfirdn2d op of the reference code with equal x/y factors and padding.
The filter is a depthwise conv, so it runs anywhere and every FLOP counter sees it. While
training (fused path, see models.epilogue) it runs as `UpFirDn2d`, whose backward is again an
upfirdn2d (flipped kernel, factors swapped), exactly as in the official CUDA op. Autograd's own
backward of the depthwise conv is correct too, but its double backward (R1 through D,
path length through G) also computes the gradient of the fixed kernel, one small convolution
per channel (R1 through the narrow D at 64², batch 16, one CPU thread: 1.9 s → 1.5 s without).
Symmetric padding is left to the conv itself (fused path): no padded copy, no pad backward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import epilogue


def make_kernel(k) -> torch.Tensor:
    """Separable 1-D taps → normalised 2-D FIR kernel (sum 1)."""
    k = torch.tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad=(0, 0)):
    """Upsample by zero insertion, pad, filter with `kernel` (true convolution), downsample.

    `pad` is (pad0, pad1) on both axes; negative values crop."""
    pad = (int(pad[0]), int(pad[1]))
    if _use_function(x, kernel):
        return UpFirDn2d.apply(x, kernel, up, down, pad)
    return _upfirdn2d(x, kernel, up, down, pad)


def _use_function(x, kernel) -> bool:
    """The Function only where autograd records and its one-axis backward applies; not under
    torch.compile (no double backward there, and AOT autograd differentiates the conv itself)."""
    if not (epilogue.fused_enabled() and torch.is_grad_enabled() and x.requires_grad):
        return False
    square = x.shape[2] == x.shape[3] and kernel.shape[0] == kernel.shape[1]
    return square and not torch.compiler.is_compiling()


def _upfirdn2d(x, kernel, up, down, pad):
    b, c, h, w = x.shape
    p0, p1 = pad
    if up > 1:
        x = x.view(b, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.view(b, c, h * up, w * up)
    conv_pad = 0
    if p0 == p1 >= 0 and epilogue.fused_enabled():
        conv_pad = p0
    else:
        x = F.pad(x, (max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)))
    if p0 < 0 or p1 < 0:
        x = x[:, :, max(-p0, 0) : x.shape[2] - max(-p1, 0), max(-p0, 0) : x.shape[3] - max(-p1, 0)]
    kh, kw = kernel.shape
    weight = torch.flip(kernel, [0, 1]).to(x.dtype).view(1, 1, kh, kw).expand(c, 1, kh, kw)
    return F.conv2d(x, weight, stride=down, padding=conv_pad, groups=c)


class UpFirDn2d(torch.autograd.Function):
    """upfirdn2d with the adjoint upfirdn2d as backward (square kernels and inputs only: the
    backward's padding is computed for one axis)."""

    @staticmethod
    def forward(ctx, x, kernel, up, down, pad):
        ctx.kernel, ctx.up, ctx.down, ctx.pad, ctx.in_size = kernel, up, down, pad, x.shape[2]
        return _upfirdn2d(x, kernel, up, down, pad)

    @staticmethod
    def backward(ctx, grad):
        k = ctx.kernel.shape[0]
        p0 = ctx.pad[0]
        g0 = k - p0 - 1
        g1 = ctx.in_size * ctx.up - grad.shape[2] * ctx.down + p0 - ctx.up + 1
        flipped = torch.flip(ctx.kernel, [0, 1])
        return upfirdn2d(grad, flipped, ctx.down, ctx.up, (g0, g1)), None, None, None, None


class FIRFilter(nn.Module):
    """Base of the fixed (non-learned) filters; profilers report their MACs separately."""

    def __init__(self, kernel, gain: float, up: int, down: int, pad):
        super().__init__()
        self.register_buffer("kernel", make_kernel(kernel) * gain)
        self.up, self.down, self.pad = up, down, tuple(pad)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.up, down=self.down, pad=self.pad)


class Upsample(FIRFilter):
    """×2 upsampling of a skip image (ToRGB): zero insertion + [1,3,3,1] FIR, gain 4."""

    def __init__(self, kernel=(1, 3, 3, 1), factor: int = 2):
        p = len(kernel) - factor
        super().__init__(kernel, factor**2, factor, 1, ((p + 1) // 2 + factor - 1, p // 2))


class Blur(FIRFilter):
    """Plain FIR blur with explicit padding; `upsample_factor` scales the gain after a
    stride-2 transposed conv (which leaves one non-zero in four)."""

    def __init__(self, kernel=(1, 3, 3, 1), pad=(1, 1), upsample_factor: int = 1):
        super().__init__(kernel, upsample_factor**2, 1, 1, pad)
