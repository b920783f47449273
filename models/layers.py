"""Shared layers for every generator and the discriminator.

One module so that a speed-up here speeds up every model. Semantics follow the StyleGAN2 layer
family used by the official PixelFolder, CIPS and StyleGAN2 code
(docs/architectures.md#shared-layers): equalized learning rate (weights stored N(0,1), scaled at
run time), fused bias + leaky-ReLU with a √2 gain, FIR up/down-sampling with the [1,3,3,1]
kernel (models.fir), and weight-(de)modulated convolutions; the activation epilogue and its
fused training path are in models.epilogue. Names of parameters and buffers match the
official state dicts so official checkpoints load as they are.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import epilogue, polyphase
from .coords import can_keep, kept
from .epilogue import (  # noqa: F401 (re-exported: models.layers is the home of every layer)
    LRELU_SLOPE,
    SQRT2,
    FusedLeakyReLU,
    NoiseInjection,
    fused_leaky_relu,
    styled_epilogue,
)
from .fir import Blur, FIRFilter, Upsample, make_kernel, upfirdn2d  # noqa: F401 (re-exported)
from .folding import Unfold, fold, unfold  # noqa: F401 (re-exported)


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


# --------------------------------------------------------------------------- equalized layers
class EqualLinear(nn.Module):
    def __init__(self, in_dim, out_dim, bias=True, bias_init=0.0, lr_mul=1.0, activation=None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.zeros(out_dim).fill_(bias_init)) if bias else None
        self.activation = activation
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x):
        if self.activation and epilogue.fused_enabled():
            # leaky-ReLU is positively homogeneous: the √2 gain lands on the (small) weight and
            # bias, the bias add inside the matmul, and the activation runs in place
            bias = None if self.bias is None else self.bias * (self.lr_mul * SQRT2)
            out = F.linear(x, self.weight * (self.scale * SQRT2), bias)
            return F.leaky_relu_(out, LRELU_SLOPE)
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias=bias)


class EqualConv2d(nn.Module):
    def __init__(self, in_ch, out_ch, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_ch * kernel_size**2)
        self.stride, self.padding = stride, padding
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None

    def forward(self, x, act_bias=None):
        """`act_bias`: the bias of a FusedLeakyReLU that follows (ConvLayer's fused path). It
        and the √2 gain are then folded into the conv (its bias add is free), and the activation
        runs in place on the conv's output."""
        if not epilogue.fused_enabled():
            w = self.weight * self.scale
            return F.conv2d(x, w, self.bias, stride=self.stride, padding=self.padding)
        if not x.is_cuda:
            x = x.contiguous(memory_format=cpu_conv_layout(x, self.out_size(x.shape[-1])))
        if act_bias is None:
            w = self.weight * self.scale
            return F.conv2d(x, w, self.bias, stride=self.stride, padding=self.padding)
        w = self.weight * (self.scale * SQRT2)
        out = F.conv2d(x, w, act_bias * SQRT2, stride=self.stride, padding=self.padding)
        return F.leaky_relu_(out, LRELU_SLOPE)

    def out_size(self, size: int) -> int:
        return (size + 2 * self.padding - self.weight.shape[-1]) // self.stride + 1


def cpu_conv_layout(x: torch.Tensor, out_size: int) -> torch.memory_format:
    """Channels-last for the CPU convs of D and PixelFolder's ConvLayers (oneDNN runs them ~1.5×
    faster: measured 680 → 450 ms for a D forward+backward at 64², batch 16, one thread).
    Outputs of at most 4×4 stay NCHW: nothing to gain there, and D flattens its last 4×4 map
    with `.view`, which needs NCHW strides."""
    if x.ndim != 4 or out_size <= 4:
        return torch.contiguous_format
    return torch.channels_last


class ConvLayer(nn.Sequential):
    """[Blur →] EqualConv2d [→ FusedLeakyReLU]; a Sequential so state-dict keys are `N.weight`."""

    def __init__(
        self,
        in_ch,
        out_ch,
        kernel_size,
        downsample=False,
        blur_kernel=(1, 3, 3, 1),
        bias=True,
        activate=True,
    ):
        layers = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(
            EqualConv2d(in_ch, out_ch, kernel_size, stride, padding, bias=bias and not activate)
        )
        if activate:
            layers.append(FusedLeakyReLU(out_ch))
        super().__init__(*layers)

    def forward(self, x):
        act = self[-1]
        if not (isinstance(act, FusedLeakyReLU) and epilogue.fused_enabled()):
            return super().forward(x)
        *pre, conv, _ = self
        for layer in pre:
            x = layer(x)
        return conv(x, act_bias=act.bias)


# --------------------------------------------------------------------------- modulated conv
MODCONV_MODES = ("auto", "grouped", "activations")


def choose_modconv_path(x: torch.Tensor, mode: str, kernel_size: int = 3) -> str:
    """Which of the two equivalent modulated-conv paths to run.

    1×1 kernels (CIPS's per-pixel ModFCs, every ToRGB) always take `grouped`: a per-sample
    weight is then only out×in numbers, and one batched matmul with it skips the two extra
    passes over the activations that `activations` needs (measured on CPU for a 512→512 ModFC at
    256²: 240 ms vs 340 ms; a 1×1 conv is also slower than the same matmul there).
    For larger kernels, `activations` (scale the input by the style, one convolution with the
    shared weight for the whole batch, scale the output by the demodulation factors) turns the
    batch into one large GEMM and never materialises per-sample weights; it is the faster path
    on CPU at every batch size and on CUDA while training. `grouped` (per-sample weights, grouped conv) is what the
    official code does and is kept for CUDA inference without autograd, where cuDNN's grouped
    kernels are competitive and the per-sample weights are cheap (NVIDIA's `fused_modconv`
    rule). Both give the same result to float rounding (tested).
    """
    if mode != "auto":
        return mode
    if kernel_size == 1:
        return "grouped"
    if x.is_cuda and not torch.is_grad_enabled():
        return "grouped"
    return "activations"


class ModulatedConv2d(nn.Module):
    def __init__(
        self,
        in_ch,
        out_ch,
        kernel_size,
        style_dim,
        demodulate=True,
        upsample=False,
        blur_kernel=(1, 3, 3, 1),
        mode="auto",
    ):
        super().__init__()
        if mode not in MODCONV_MODES:
            raise ValueError(f"modulated conv mode {mode!r} is unknown; use one of {MODCONV_MODES}")
        self.in_ch, self.out_ch, self.kernel_size = in_ch, out_ch, kernel_size
        self.upsample, self.demodulate, self.mode = upsample, demodulate, mode
        if upsample:  # blur after the stride-2 transposed conv (factor 2)
            p = (len(blur_kernel) - 2) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
        self.scale = 1 / math.sqrt(in_ch * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1.0)

    def extra_repr(self):
        return f"{self.in_ch}, {self.out_ch}, k={self.kernel_size}, upsample={self.upsample}, demodulate={self.demodulate}"

    def forward(self, x, style):
        out, demod = self.forward_parts(x, style)
        return out if demod is None else out * demod

    def forward_parts(self, x, style, gain: float = 1.0, out=None):
        """(output before demodulation, demodulation factors (B, out, 1, 1) or None), the
        product scaled by `gain`, which costs nothing here: it lands on the per-sample weights
        or on the demodulation factors, never on a full activation tensor. `out`: see
        `forward_grouped`.

        Leaving the last multiply to the caller lets StyledConv fuse it with the noise add."""
        s = self.modulation(style)  # (B, in)
        if choose_modconv_path(x, self.mode, self.kernel_size) == "grouped":
            return self.forward_grouped(x, s, gain, out), None
        out, demod = self._shared_weight_conv(x, s)
        if gain != 1.0:
            demod = torch.full_like(out[:, :, :1, :1], gain) if demod is None else demod * gain
        return out, demod

    def demod_factors(self, s: torch.Tensor) -> torch.Tensor:
        """rsqrt(Σ (scale·w·s)² + 1e-8) per (sample, out channel), without per-sample weights."""
        return torch.rsqrt(s.pow(2) @ self.squared_weight().t() + 1e-8)  # (B, out)

    def squared_weight(self) -> torch.Tensor:
        """Σ over the kernel of (scale · weight)², (out, in), kept like `shared_weight`."""
        w = self.weight

        def build():
            return (w[0] * self.scale).pow(2).sum(dim=(2, 3))

        return kept(self, "_squared_weight", [w], (str(w.device), w.dtype), build)

    def shared_weight(self) -> torch.Tensor:
        """scale · weight as the `activations` conv takes it ((in, out, k, k) for `upsample`'s
        transposed conv). z-independent: a no-grad eval forward keeps it and its squares
        (`coords.kept`); at batch 1 those passes over a 512² × 3 × 3 weight cost as much as a
        4–16-px conv. Kept channels-last on CPU, which oneDNN would copy it to every call."""
        w = self.weight

        def scaled():
            shared = w[0] * self.scale
            return shared.transpose(0, 1) if self.upsample else shared

        if not can_keep(self, [w]):
            return scaled()

        def build():
            shared = scaled()
            return (
                shared if shared.is_cuda else shared.contiguous(memory_format=torch.channels_last)
            )

        return kept(self, "_shared_weight", [w], (str(w.device), w.dtype), build)

    def forward_activations(self, x, s):
        out, demod = self._shared_weight_conv(x, s)
        return out if demod is None else out * demod

    def _shared_weight_conv(self, x, s):
        b = x.shape[0]
        if not x.is_cuda:  # oneDNN's CPU convs run 10-40 % faster on channels-last inputs
            x = x.contiguous(memory_format=torch.channels_last)
        x = x * s.view(b, -1, 1, 1)
        w = self.shared_weight()
        if self.upsample:  # the blur is per-channel linear, so it commutes with demodulation
            out = self.blur(polyphase.transposed_conv(self, x, w))
        else:
            out = F.conv2d(x, w, padding=self.padding)
        demod = self.demod_factors(s).view(b, -1, 1, 1) if self.demodulate else None
        return out, demod

    def forward_grouped(self, x, s, gain: float = 1.0, out=None):
        """Per-sample weights. `out`: a 1-D workspace of at least B·out·H·W elements that a 1×1
        layer writes its result into (no-grad inference); other layers ignore it."""
        b, _, h, w_ = x.shape
        weight = self.scale * self.weight * s.view(b, 1, -1, 1, 1)  # (B, out, in, k, k)
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8) * gain
            weight = weight * demod.view(b, self.out_ch, 1, 1, 1)
        elif gain != 1.0:
            weight = weight * gain
        k = self.kernel_size
        if k == 1 and not self.upsample:  # grouped 1×1 conv == batched matmul, which is faster
            return self._matmul_1x1(x, weight.view(b, self.out_ch, self.in_ch), out)
        x = x.reshape(1, b * self.in_ch, h, w_)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(b * self.in_ch, self.out_ch, k, k)
            out = F.conv_transpose2d(x, weight, padding=0, stride=2, groups=b)
            return self.blur(out.view(b, self.out_ch, out.shape[2], out.shape[3]))
        weight = weight.view(b * self.out_ch, self.in_ch, k, k)
        out = F.conv2d(x, weight, padding=self.padding, groups=b)
        return out.view(b, self.out_ch, out.shape[2], out.shape[3])

    def _matmul_1x1(self, x, wmat, out=None):
        """(B, out, in) per-sample weights times the pixels of x, in x's layout. Under no_grad a
        workspace `out` spares the fresh full-size result (on CPU its page faults cost ~40 % of
        a CIPS ModFC matmul at 256²)."""
        b, _, h, w_ = x.shape
        hw, n = h * w_, b * self.out_ch * h * w_
        use = out is not None and not torch.is_grad_enabled() and out.numel() >= n
        use = use and not torch.jit.is_tracing()  # fvcore's traced matmuls take no out=

        def into(*shape):  # the workspace viewed as the result, or nothing
            return {"out": out.view(-1)[:n].view(*shape)} if use else {}

        if b > 1 and x.stride(0) == 0 and x[0].is_contiguous():
            # one input for the whole batch (CIPS's first layer): one GEMM over B·out rows
            flat = wmat.reshape(b * self.out_ch, self.in_ch)
            res = torch.mm(flat, x[0].view(self.in_ch, hw), **into(b * self.out_ch, hw))
            return res.view(b, self.out_ch, h, w_)
        if b > 1 and x.stride(0) == 0 and x[:1].is_contiguous(memory_format=torch.channels_last):
            # the same in channels-last: each sample's (HW, in) @ (in, out) reads the one input
            pixels = x[0].permute(1, 2, 0).reshape(1, hw, self.in_ch).expand(b, hw, self.in_ch)
            res = torch.bmm(pixels, wmat.transpose(1, 2), **into(b, hw, self.out_ch))
            return res.view(b, h, w_, self.out_ch).permute(0, 3, 1, 2)
        if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
            res = torch.bmm(wmat, x.reshape(b, self.in_ch, hw), **into(b, self.out_ch, hw))
            return res.view(b, self.out_ch, h, w_)
        # channels-last input: (B, HW, in) @ (B, in, out) keeps the layout and copies nothing
        x = x.permute(0, 2, 3, 1).reshape(b, hw, self.in_ch)
        res = torch.bmm(x, wmat.transpose(1, 2), **into(b, hw, self.out_ch))
        return res.view(b, h, w_, self.out_ch).permute(0, 3, 1, 2)


class StyledConv(nn.Module):
    def __init__(
        self,
        in_ch,
        out_ch,
        kernel_size,
        style_dim,
        upsample=False,
        blur_kernel=(1, 3, 3, 1),
        demodulate=True,
        mode="auto",
    ):
        super().__init__()
        self.conv = ModulatedConv2d(
            in_ch, out_ch, kernel_size, style_dim, demodulate, upsample, blur_kernel, mode
        )
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)

    def forward(self, x, style, noise=None, out=None):
        """`noise`: a tensor, or None for fresh noise, or the string "none" to skip it. `out`:
        an optional 1-D workspace for the result of a 1×1 layer under no_grad (see
        ModulatedConv2d.forward_grouped)."""
        if not torch.is_grad_enabled():
            return self._forward_inplace(x, style, noise, out)
        out, demod = self.conv.forward_parts(x, style)
        noise = (
            None if isinstance(noise, str) and noise == "none" else self.noise.sample(out, noise)
        )
        return styled_epilogue(out, demod, noise, self.noise.weight, self.activate.bias)

    def _forward_inplace(self, x, style, noise, out=None):
        """Inference epilogue: the same arithmetic, but every full-size step runs in place on the
        conv's fresh output (no autograd to keep inputs for). On CPU a pass that allocates a
        large tensor costs ~5× an in-place one (page faults on fresh memory). The √2 gain of the
        activation is folded into the (tiny) demodulation factors / per-sample weights, the
        noise map and the bias."""
        out, demod = self.conv.forward_parts(x, style, gain=SQRT2, out=out)
        if demod is not None:
            out.mul_(demod)
        if not (isinstance(noise, str) and noise == "none"):
            out.add_(self.noise.weight * SQRT2 * self.noise.sample(out, noise))
        out.add_(self.activate.bias.view(1, -1, 1, 1) * SQRT2)
        return F.leaky_relu_(out, LRELU_SLOPE)


class ToRGB(nn.Module):
    def __init__(self, in_ch, style_dim, upsample=True, blur_kernel=(1, 3, 3, 1), mode="auto"):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.has_upsample = upsample
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False, mode=mode)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + (self.upsample(skip) if self.has_upsample else skip)
        return out


class ConstantInput(nn.Module):
    def __init__(self, channels, size=4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int):
        return self.input.repeat(batch, 1, 1, 1)


# --------------------------------------------------------------------------- mapping network
class MappingNetwork(nn.Sequential):
    """PixelNorm + n_mlp EqualLinear(lr_mul 0.01, fused lrelu); keys `style.1 … style.n`."""

    def __init__(self, z_dim=512, w_dim=512, n_mlp=8, lr_mlp=0.01):
        layers = [PixelNorm()]
        for i in range(n_mlp):
            layers.append(
                EqualLinear(
                    z_dim if i == 0 else w_dim, w_dim, lr_mul=lr_mlp, activation="fused_lrelu"
                )
            )
        super().__init__(*layers)
