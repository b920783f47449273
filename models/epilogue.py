"""The activation epilogue of every layer: bias + leaky-ReLU(0.2) with a √2 gain, and for the
styled convs also the demodulation multiply and the per-pixel noise before it.

Two paths, chosen by one module-level switch (`set_fused` / `fused`), so a benchmark can time
both in one run:

* plain: what autograd records for the formulas as written (every step a fresh full-size
  tensor, each kept for backward);
* fused (the default): `StyledEpilogue`, a hand-written autograd Function whose forward runs in
  place on one fresh tensor and saves only the conv output and its own output (which the next
  layer keeps anyway), and whose backward allocates the gradient it returns and one temporary
  (for the demodulation gradient). The same switch selects the fused paths of models.layers
  (a ConvLayer's / EqualLinear's bias and gain folded into the conv / linear, channels-last
  CPU convs) and of models.fir (FIR filters with their own backward, symmetric padding inside
  the conv). Under torch.compile the plain formulas are traced: inductor fuses them itself.

The backward is written in differentiable torch ops, so double backward (path-length
regularisation through G) works; under create_graph it switches from in-place to out-of-place
ops. The leaky-ReLU mask is taken from the detached output: its derivative is zero almost
everywhere, and a saved output that stays in the graph would send a zero-gradient backward pass
through every layer. Everything is device-agnostic and runs on meta tensors.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)
LRELU_SLOPE = 0.2

_FUSED = True


def fused_enabled() -> bool:
    """The switch, off under autocast: the plain formulas promote a reduced-precision conv output
    to fp32 at the bias add, the fused ones would keep it in fp16/bf16 (measured on CPU fp16
    autocast after 3 steps: gap to fp32 0.11 plain, 0.51 fused). The AMP paths stay as
    calibrated; the fused path is the fp32 (CPU default) path."""
    return _FUSED and not (torch.is_autocast_enabled("cpu") or torch.is_autocast_enabled("cuda"))


def set_fused(enabled: bool) -> bool:
    """Select the fused (True) or plain (False) training path; returns the previous setting."""
    global _FUSED
    previous, _FUSED = _FUSED, bool(enabled)
    return previous


@contextlib.contextmanager
def fused(enabled: bool = True):
    """`with fused(False): ...` runs the plain path inside the block."""
    previous = set_fused(enabled)
    try:
        yield
    finally:
        set_fused(previous)


# --------------------------------------------------------------------------- plain formulas
def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """leaky_relu(x + bias, 0.2) · √2: the √2 keeps activations at unit variance.

    Two memory passes instead of three: leaky-ReLU is positively homogeneous, so the gain is
    applied together with the bias (√2·x + √2·b) and the activation runs in place on that
    fresh tensor (autograd-safe: the add does not keep its output).
    """
    if bias is None:
        y = x * SQRT2
    else:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        y = torch.add(bias.view(shape) * SQRT2, x, alpha=SQRT2)
    return F.leaky_relu_(y, LRELU_SLOPE)


class FusedLeakyReLU(nn.Module):
    """Owns the bias of the preceding conv (its state-dict key is `<name>.bias`)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return fused_leaky_relu(x, self.bias)


class NoiseInjection(nn.Module):
    """Adds weight · N(0,1) per pixel (one noise map shared by all channels)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise=None):
        return x + self.weight * self.sample(x, noise)

    @staticmethod
    def sample(x, noise=None):
        if noise is None:
            b, _, h, w = x.shape
            noise = x.new_empty(b, 1, h, w).normal_()
        return noise


# --------------------------------------------------------------------------- styled epilogue
def styled_epilogue(out, demod, noise, noise_weight, bias):
    """leaky_relu(out · demod + noise_weight · noise + bias, 0.2) · √2, the autograd epilogue
    of a StyledConv. `out` (B, C, H, W) is the conv output, `demod` (B, C, 1, 1) or None
    (already applied), `noise` (B or 1, 1, H, W) or None (no noise), `bias` (C,)."""
    if (
        fused_enabled() and not torch.compiler.is_compiling()
    ):  # inductor fuses the plain formulas itself
        return StyledEpilogue.apply(out, demod, noise, noise_weight, bias)
    if noise is not None:
        noise = noise_weight * noise
        out = out + noise if demod is None else torch.addcmul(noise, out, demod)
    elif demod is not None:
        out = out * demod
    return fused_leaky_relu(out, bias)


class StyledEpilogue(torch.autograd.Function):
    """The fused path of `styled_epilogue`. The √2 gain is folded into the small tensors
    (demodulation factors, noise map, bias), so the forward is three in-place passes over one
    fresh tensor: multiply-add, bias, activation."""

    @staticmethod
    def forward(ctx, out, demod, noise, noise_weight, bias):
        b2 = bias.view(1, -1, 1, 1) * SQRT2
        if noise is not None:
            nz = noise * (noise_weight * SQRT2)
            if demod is None:
                y = torch.add(nz, out, alpha=SQRT2)
            else:
                y = torch.addcmul(nz, out, demod * SQRT2)
            y.add_(b2)
        elif demod is None:
            y = torch.add(b2, out, alpha=SQRT2)
        else:
            y = torch.addcmul(b2, out, demod * SQRT2)
        F.leaky_relu_(y, LRELU_SLOPE)
        need_out, need_demod, need_noise, need_nw = ctx.needs_input_grad[:4]
        ctx.save_for_backward(
            out if need_demod else None,
            demod if need_out else None,
            noise if need_nw else None,
            noise_weight if need_noise else None,
            y,
        )
        ctx.noise_shape = None if noise is None else noise.shape
        return y

    @staticmethod
    def backward(ctx, grad):
        out, demod, noise, noise_weight, y = ctx.saved_tensors
        need_out, need_demod, need_noise, need_nw, need_bias = ctx.needs_input_grad
        create = torch.is_grad_enabled()  # create_graph: differentiable, out-of-place ops only
        # d y / d(√2·pre): the mask comes from the output (same sign as the pre-activation)
        gp = torch.ops.aten.leaky_relu_backward(grad, y.detach(), LRELU_SLOPE, True)
        g_bias = gp.sum((0, 2, 3)) * SQRT2 if need_bias else None
        g_noise = g_nw = None
        if ctx.noise_shape is not None and (need_noise or need_nw):
            g_map = gp.sum(1, keepdim=True)  # (B, 1, H, W)
            if need_nw:
                g_nw = (g_map * noise).sum().view(1) * SQRT2
            if need_noise:
                g_noise = (g_map * (noise_weight * SQRT2)).sum_to_size(ctx.noise_shape)
        g_demod = (gp * out).sum((2, 3), keepdim=True) * SQRT2 if need_demod else None
        g_out = None
        if need_out:
            scale = SQRT2 if demod is None else demod * SQRT2
            g_out = gp * scale if create else gp.mul_(scale)
        return g_out, g_demod, g_noise, g_nw, g_bias
