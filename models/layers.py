"""Shared layers for every generator and the discriminator.

One module so that a speed-up here speeds up every model. Semantics follow the StyleGAN2 layer
family used by the official PixelFolder, CIPS and StyleGAN2 code
(docs/architectures.md#shared-layers): equalized learning rate (weights stored N(0,1), scaled at
run time), fused bias + leaky-ReLU with a √2 gain, FIR up/down-sampling with the [1,3,3,1]
kernel, and weight-(de)modulated convolutions. Names of parameters and buffers match the
official state dicts so official checkpoints load as they are.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)
LRELU_SLOPE = 0.2


# --------------------------------------------------------------------------- elementwise
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


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


# --------------------------------------------------------------------------- FIR filtering
def make_kernel(k) -> torch.Tensor:
    """Separable 1-D taps → normalised 2-D FIR kernel (sum 1)."""
    k = torch.tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad=(0, 0)):
    """Upsample by zero insertion, pad, filter with `kernel` (true convolution), downsample.

    Same semantics as the upfirdn2d op of the reference code with equal x/y factors and
    padding (pad0, pad1) on both axes. Implemented as a depthwise conv so it runs anywhere and
    every FLOP counter sees it.
    """
    b, c, h, w = x.shape
    p0, p1 = pad
    if up > 1:
        x = x.view(b, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.view(b, c, h * up, w * up)
    x = F.pad(x, (max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)))
    if p0 < 0 or p1 < 0:
        x = x[:, :, max(-p0, 0) : x.shape[2] - max(-p1, 0), max(-p0, 0) : x.shape[3] - max(-p1, 0)]
    kh, kw = kernel.shape
    weight = torch.flip(kernel, [0, 1]).to(x.dtype).view(1, 1, kh, kw).expand(c, 1, kh, kw)
    return F.conv2d(x, weight, stride=down, groups=c)


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

    def forward(self, x):
        return F.conv2d(
            x, self.weight * self.scale, bias=self.bias, stride=self.stride, padding=self.padding
        )


class ConvLayer(nn.Sequential):
    """[Blur →] EqualConv2d [→ FusedLeakyReLU]; a Sequential so state-dict keys are `N.weight`."""

    def __init__(
        self, in_ch, out_ch, kernel_size, downsample=False, blur_kernel=(1, 3, 3, 1), bias=True,
        activate=True,
    ):  # fmt: skip
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
        self, in_ch, out_ch, kernel_size, style_dim, demodulate=True, upsample=False,
        blur_kernel=(1, 3, 3, 1), mode="auto",
    ):  # fmt: skip
        super().__init__()
        if mode not in MODCONV_MODES:
            raise ValueError(f"modulated conv mode {mode!r} is unknown; use one of {MODCONV_MODES}")
        self.in_ch, self.out_ch, self.kernel_size = in_ch, out_ch, kernel_size
        self.upsample, self.demodulate, self.mode = upsample, demodulate, mode
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(
                blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=2
            )
        self.scale = 1 / math.sqrt(in_ch * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1.0)

    def extra_repr(self):
        return f"{self.in_ch}, {self.out_ch}, k={self.kernel_size}, upsample={self.upsample}, demodulate={self.demodulate}"

    def forward(self, x, style):
        out, demod = self.forward_parts(x, style)
        return out if demod is None else out * demod

    def forward_parts(self, x, style, gain: float = 1.0):
        """(output before demodulation, demodulation factors (B, out, 1, 1) or None), the
        product scaled by `gain`, which costs nothing here: it lands on the per-sample weights
        or on the demodulation factors, never on a full activation tensor.

        Leaving the last multiply to the caller lets StyledConv fuse it with the noise add."""
        s = self.modulation(style)  # (B, in)
        if choose_modconv_path(x, self.mode, self.kernel_size) == "grouped":
            return self.forward_grouped(x, s, gain), None
        out, demod = self._shared_weight_conv(x, s)
        if gain != 1.0:
            demod = torch.full_like(out[:, :, :1, :1], gain) if demod is None else demod * gain
        return out, demod

    def demod_factors(self, s: torch.Tensor) -> torch.Tensor:
        """rsqrt(Σ (scale·w·s)² + 1e-8) per (sample, out channel), without per-sample weights."""
        w2 = (self.weight[0] * self.scale).pow(2).sum(dim=(2, 3))  # (out, in)
        return torch.rsqrt(s.pow(2) @ w2.t() + 1e-8)  # (B, out)

    def forward_activations(self, x, s):
        out, demod = self._shared_weight_conv(x, s)
        return out if demod is None else out * demod

    def _shared_weight_conv(self, x, s):
        b = x.shape[0]
        if not x.is_cuda:  # oneDNN's CPU convs run 10-40 % faster on channels-last inputs
            x = x.contiguous(memory_format=torch.channels_last)
        x = x * s.view(b, -1, 1, 1)
        w = self.weight[0] * self.scale
        if self.upsample:  # the blur is per-channel linear, so it commutes with demodulation
            out = self.blur(F.conv_transpose2d(x, w.transpose(0, 1), stride=2, padding=0))
        else:
            out = F.conv2d(x, w, padding=self.padding)
        demod = self.demod_factors(s).view(b, -1, 1, 1) if self.demodulate else None
        return out, demod

    def forward_grouped(self, x, s, gain: float = 1.0):
        b, _, h, w_ = x.shape
        weight = self.scale * self.weight * s.view(b, 1, -1, 1, 1)  # (B, out, in, k, k)
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8) * gain
            weight = weight * demod.view(b, self.out_ch, 1, 1, 1)
        elif gain != 1.0:
            weight = weight * gain
        k = self.kernel_size
        if k == 1 and not self.upsample:  # grouped 1×1 conv == batched matmul, which is faster
            wmat = weight.view(b, self.out_ch, self.in_ch)
            if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
                out = torch.bmm(wmat, x.reshape(b, self.in_ch, h * w_))
                return out.view(b, self.out_ch, h, w_)
            # channels-last input: (B, HW, in) @ (B, in, out) keeps the layout and copies nothing
            x = x.permute(0, 2, 3, 1).reshape(b, h * w_, self.in_ch)
            out = torch.bmm(x, wmat.transpose(1, 2))
            return out.view(b, h, w_, self.out_ch).permute(0, 3, 1, 2)
        x = x.reshape(1, b * self.in_ch, h, w_)
        if self.upsample:
            weight = weight.transpose(1, 2).reshape(b * self.in_ch, self.out_ch, k, k)
            out = F.conv_transpose2d(x, weight, padding=0, stride=2, groups=b)
            return self.blur(out.view(b, self.out_ch, out.shape[2], out.shape[3]))
        weight = weight.view(b * self.out_ch, self.in_ch, k, k)
        out = F.conv2d(x, weight, padding=self.padding, groups=b)
        return out.view(b, self.out_ch, out.shape[2], out.shape[3])


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


class StyledConv(nn.Module):
    def __init__(
        self, in_ch, out_ch, kernel_size, style_dim, upsample=False, blur_kernel=(1, 3, 3, 1),
        demodulate=True, mode="auto",
    ):  # fmt: skip
        super().__init__()
        self.conv = ModulatedConv2d(
            in_ch, out_ch, kernel_size, style_dim, demodulate, upsample, blur_kernel, mode
        )
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)

    def forward(self, x, style, noise=None):
        """`noise`: a tensor, or None for fresh noise, or the string "none" to skip it."""
        if not torch.is_grad_enabled():
            return self._forward_inplace(x, style, noise)
        out, demod = self.conv.forward_parts(x, style)
        if isinstance(noise, str) and noise == "none":
            out = out if demod is None else out * demod
        else:
            noise = self.noise.weight * self.noise.sample(out, noise)
            # one pass: out·demod + weight·noise (same result as demodulate, then add noise)
            out = out + noise if demod is None else torch.addcmul(noise, out, demod)
        return self.activate(out)

    def _forward_inplace(self, x, style, noise):
        """Inference epilogue: the same arithmetic, but every full-size step runs in place on the
        conv's fresh output (no autograd to keep inputs for). On CPU a pass that allocates a
        large tensor costs ~5× an in-place one (page faults on fresh memory). The √2 gain of the
        activation is folded into the (tiny) demodulation factors / per-sample weights, the
        noise map and the bias."""
        out, demod = self.conv.forward_parts(x, style, gain=SQRT2)
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


# --------------------------------------------------------------------------- coordinates
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


# --------------------------------------------------------------------------- pixel (un)folding
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
