"""Layers INR-GAN adds to the shared set (docs/architectures.md#inr-gan).

INR-GAN is built on NVIDIA's StyleGAN2-ADA code, not on rosinality's, so its layers follow those
conventions and names: `FullyConnectedLayer` (the same equalized linear layer as `EqualLinear`,
under NVIDIA's argument names), a mapping network with `fc{i}` layers and a tracked `w_avg`, and
1×1 synthesis layers with *factorized multiplicative modulation* (FMM) instead of StyleGAN2's
per-input-channel scaling. Coordinates enter through `CoordFuser`: sin/cos of a fixed
logarithmic Fourier basis and of a random (fixed after construction) basis, plus a learned
constant embedding. Between blocks, features and the RGB skip are upsampled bilinearly.

Every layer here is a 1×1 (pixel-wise) operation, run as one (batched) matmul per layer; they
take and return pixel lists (B, C, H·W), stored pixel-major (channel stride 1: the channels-last
image layout) in all but narrow layers, which only the bilinear upsampling reshapes to images.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .coords import kept
from .layers import (
    LRELU_SLOPE,
    MODCONV_MODES,
    SQRT2,
    EqualLinear,
    PixelNorm,
    choose_modconv_path,
    fused_leaky_relu,
    make_kernel,
)


# --------------------------------------------------------------------------- dense layers
class FullyConnectedLayer(EqualLinear):
    """NVIDIA's FullyConnectedLayer: runtime weight = weight · lr_multiplier/√in, runtime bias =
    bias · lr_multiplier, then `activation` ('linear', or 'lrelu' = leaky-ReLU(0.2) · √2).
    The shared `EqualLinear` under NVIDIA's argument names, except that the gain scales the
    (small) output instead of the weight: INR-GAN's FMM affines are up to 12000 × 512, and
    copying each scaled weight on every call cost more than the matmul."""

    def __init__(
        self,
        in_features,
        out_features,
        bias=True,
        activation="linear",
        lr_multiplier=1.0,
        bias_init=0.0,
    ):
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"activation {activation!r} is unknown; use 'linear' or 'lrelu'")
        act = "fused_lrelu" if activation == "lrelu" else None
        super().__init__(in_features, out_features, bias, bias_init, lr_multiplier, act)

    def forward(self, x):
        bias = None if self.bias is None else self.bias * self.lr_mul
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight) * self.scale, bias)
        if bias is None:
            return F.linear(x, self.weight) * self.scale
        return torch.addmm(bias, x, self.weight.t(), alpha=self.scale)


class NVMappingNetwork(nn.Module):
    """z → normalize 2nd moment → `num_layers` × FullyConnectedLayer(lrelu, lr 0.01) → w.

    Like the official network it tracks the running mean of w in `w_avg` (decay `w_avg_beta`)
    on every training-mode call; the buffer is part of official checkpoints. Broadcasting to
    per-layer latents and truncation are left to `models.base.Generator`."""

    def __init__(self, z_dim=512, w_dim=512, num_layers=2, lr_multiplier=0.01, w_avg_beta=0.995):
        super().__init__()
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        self.norm = PixelNorm()  # holds nothing: no state-dict entry
        for i in range(num_layers):
            layer = FullyConnectedLayer(
                z_dim if i == 0 else w_dim, w_dim, activation="lrelu", lr_multiplier=lr_multiplier
            )
            setattr(self, f"fc{i}", layer)
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.norm(z)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if self.training and self.w_avg_beta is not None:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        return x


# --------------------------------------------------------------------------- FMM layers
def pixel_std(x: torch.Tensor) -> torch.Tensor:
    """Unbiased std over the pixels of (B, C, N) → (B, C), what the official instance norm uses.

    torch's std kernel is slow on eager CPU (~8× a sum), so there it comes from sums. Pixel-major
    input (channel stride 1, what the FMM layers write) takes two passes: the mean, then the
    squared deviations chunk by chunk, so each temporary stays a few MiB (a whole 128-channel
    256-px temporary is 32 MiB, which glibc maps and faults in afresh on every call).
    Channel-major input takes one pass (Σx, ‖x‖²); that loses precision when the mean dominates,
    so if any channel has E[x²] > 16·var (relative error ≲ 1e-5 below that) the two-pass formula
    ‖x − mean‖ is used instead."""
    n = x.shape[2]
    if x.device.type != "cpu" or n < 2 or torch.compiler.is_compiling():
        return x.std(dim=2)  # fast elsewhere (inductor fuses its own reduction); no branch
    if x.stride(1) == 1 and x.shape[1] > 1:
        return _pixel_major_std(x.transpose(1, 2))
    s1 = x.sum(2)
    s2 = torch.linalg.vector_norm(x, dim=2).square()
    var = (s2 - s1 * s1 / n) / (n - 1)
    if bool((s2 > 16 * n * var).any()):
        centred = x - (s1 / n).unsqueeze(2)
        return torch.linalg.vector_norm(centred, dim=2) / math.sqrt(n - 1)
    return var.sqrt()


STD_CHUNK = 2**19  # elements per chunk of the deviations: 2 MiB in fp32, held in the heap


def _pixel_major_std(xt: torch.Tensor) -> torch.Tensor:
    """Two-pass unbiased std of (B, N, C) over N → (B, C). Reductions run over the outer (pixel)
    dimension, which ATen vectorises across channels; a norm over it is not (~20× slower)."""
    n = xt.shape[1]
    mean = (xt.sum(1) / n).unsqueeze(1)
    rows = max(1, STD_CHUNK // (xt.shape[0] * xt.shape[2]))
    total = None
    for chunk in xt.split(rows, dim=1):
        dev = chunk - mean
        part = (dev * dev).sum(1)
        total = part if total is None else total + part
    return (total / (n - 1)).sqrt()


class FMMLayer(nn.Module):
    """A 1×1 synthesis layer with factorized multiplicative modulation (rank r).

    The affine maps w to r·(out + in) numbers, read per sample as L (out × r) and R (r × in);
    the shared weight W becomes W ⊙ (1 + L·R/√r), each output row is divided by its L2 norm
    (+1e-8 on the norm), and the layer is one batched matmul over the pixels, then bias and
    leaky-ReLU(0.2)·√2. With `instance_norm` the input is first divided by its per-channel
    (unbiased) std over the pixels (no mean subtraction); that division is folded into the
    per-sample weight columns, which is the same arithmetic without a pass over the activations.

    `resample_filter` is never used (no resampling in a 1×1 layer); the official layer owns it,
    so official checkpoints carry it.
    """

    def __init__(self, in_ch, out_ch, w_dim, rank=10, instance_norm=False):
        super().__init__()
        self.in_ch, self.out_ch, self.rank, self.instance_norm = in_ch, out_ch, rank, instance_norm
        self.register_buffer("resample_filter", make_kernel((1, 3, 3, 1)))
        self.affine = FullyConnectedLayer(w_dim, (in_ch + out_ch) * rank, bias_init=0.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def extra_repr(self):
        return f"{self.in_ch}, {self.out_ch}, rank={self.rank}, instance_norm={self.instance_norm}"

    def modulated_weight(self, w: torch.Tensor) -> torch.Tensor:
        """Per-sample demodulated weight (B, out, in)."""
        b, r = w.shape[0], self.rank
        styles = self.affine(w)
        left = styles[:, : self.out_ch * r].reshape(b, self.out_ch, r)
        right = styles[:, self.out_ch * r :].reshape(b, r, self.in_ch)
        modulation = torch.bmm(left, right) / math.sqrt(r)
        weight = self.weight.view(1, self.out_ch, self.in_ch) * (modulation + 1.0)
        return weight / (weight.norm(dim=2, keepdim=True) + 1e-8)

    def forward(self, x, w, extra=None):
        """`x`: (B, C, N) pixels (N = H·W) or None; `extra`: optional batch-independent input
        channels (C_e, N) that follow x's channels (the coordinate features), added by a second
        matmul into the same output, so nothing is concatenated. Returns (B, out, N), stored
        pixel-major from PIXEL_MAJOR_MIN_IN input channels (see `pixel_matmul`)."""
        weight = self.modulated_weight(w) * SQRT2  # leaky-ReLU is homogeneous: gain on W and b
        c_x = 0 if x is None else x.shape[1]
        if self.instance_norm:
            if extra is not None:
                raise ValueError("instance norm of batch-independent channels is not supported")
            weight = weight / (pixel_std(x) + 1e-8).unsqueeze(1)
        weight_t = weight.transpose(1, 2)  # (B, in, out)
        bias = self.bias * SQRT2  # added by the first GEMM (β = 1), not by a pass of its own
        out = None if x is None else pixel_matmul(x, weight_t[:, :c_x], bias=bias)
        if extra is not None:
            extra = extra.expand(w.shape[0], -1, -1)
            out = pixel_matmul(
                extra, weight_t[:, c_x:], into=out, bias=bias if out is None else None
            )
        return F.leaky_relu_(out, LRELU_SLOPE)


PIXEL_MAJOR_MIN_IN = 64  # input channels from which a layer's GEMM runs pixels-major


def pixel_matmul(x: torch.Tensor, weight_t: torch.Tensor, into=None, bias=None) -> torch.Tensor:
    """(B, C, N) pixels times per-sample (B, C, out) weights → (B, out, N); with `into` (a
    result of this function), added to it, and with `bias` (out,), plus the bias (both are the
    GEMM's β = 1 input: no extra pass over the output; a layer takes one or the other).

    Each 1×1 layer is a GEMM with a long pixel dimension. From PIXEL_MAJOR_MIN_IN input channels
    it runs pixels-major, (N × C) · (C × out), and the result is stored that way (channel stride
    1): on a 2-core AMD EPYC that ran up to 2× faster than (out × C) · (C × N) (128 → 128
    channels at 256 px: 21 → 41 GMAC/s), and it is the layout the bilinear upsampling takes.
    Narrower layers (the default run's width-1/16 variant, 16–32 channels) run channel-major,
    where MKL's small GEMMs are faster (that variant's training step: 10 % slower pixels-major).
    A batch of one runs as a plain GEMM (`mm`), which MKL serves better than a one-matrix batch.

    The sum into `into` is written as `out=into` and not as `addmm_`: MAC counters (FlopCounterMode,
    fvcore, ptflops) price `addmm`/`baddbmm` under every overload but know no in-place variant,
    so an in-place product would drop from the count. Autograd takes no `out=`, so with grad
    enabled the sum is a fresh tensor (the same arithmetic, one more allocation)."""
    pixel_major = x.shape[1] >= PIXEL_MAJOR_MIN_IN if into is None else into.stride(1) == 1
    if pixel_major:  # out^T = x^T · W^T, computed and returned as a transposed view
        a, b = x.transpose(1, 2), weight_t
        acc = None if into is None else into.transpose(1, 2)
    else:
        a, b, acc = weight_t.transpose(1, 2), x, into
    one = x.shape[0] == 1
    if one:
        a, b, acc = a[0], b[0], None if acc is None else acc[0]
    mm, addmm = (torch.mm, torch.addmm) if one else (torch.bmm, torch.baddbmm)
    if bias is not None:  # broadcast along the pixels: a row (pixel-major) or a column
        out = addmm(bias.view(1, -1) if pixel_major else bias.view(-1, 1), a, b)
    elif acc is None:
        out = mm(a, b)
    elif torch.is_grad_enabled():
        out = addmm(acc, a, b)
    else:
        out = addmm(acc, a, b, out=acc)
    if one:
        out = out.unsqueeze(0)
    return out.transpose(1, 2) if pixel_major else out


class ToRGBLayer(nn.Module):
    """Modulated 1×1 conv to RGB without demodulation, plus bias (official names and shapes:
    `weight` (3, in, 1, 1), `bias` (3,), `affine`). `mode` as in models.layers: "grouped"
    (per-sample weights, one batched matmul; what "auto" picks for a 1×1 layer) or
    "activations" (scale the input by the styles, one conv with the shared weight)."""

    def __init__(self, in_ch, w_dim, out_ch=3, mode="auto"):
        super().__init__()
        if mode not in MODCONV_MODES:
            raise ValueError(f"modulated conv mode {mode!r} is unknown; use one of {MODCONV_MODES}")
        self.in_ch, self.out_ch, self.mode = in_ch, out_ch, mode
        self.affine = FullyConnectedLayer(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.weight_gain = 1 / math.sqrt(in_ch)

    def forward(self, x, w):
        """(B, in, N) pixels → (B, 3, N), in the layout `pixel_matmul` picks."""
        styles = self.affine(w) * self.weight_gain  # (B, in)
        weight = self.weight.view(self.out_ch, self.in_ch)
        if choose_modconv_path(x, self.mode, 1) == "activations":
            out = torch.matmul(weight, x * styles.unsqueeze(2))
        else:
            out = pixel_matmul(x, (weight.unsqueeze(0) * styles.unsqueeze(1)).transpose(1, 2))
        return out.add_(self.bias.view(1, -1, 1))


def upsample_bilinear(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, size²) pixels → (B, C, (2·size)²): ×2 bilinear with align_corners=True (features
    and RGB skip between INR-GAN blocks). Runs on the channels-last image, where the CPU kernel
    is ~2× faster; wide layers write pixel-major, which is that layout, so their output is a view.
    The result is again a pixel-major (B, C, N) view, what the next layer reads."""
    b, c, _ = x.shape
    if b == 1 and x.stride(1) == 1 and x.stride(2) == c:
        # a batch of one may carry any batch stride, and the kernel only takes channels-last
        # inputs with the canonical one (otherwise it converts its output twice)
        x = x.as_strided((1, c, size, size), (c * size * size, 1, size * c, c))
    else:
        x = x.reshape(b, c, size, size).contiguous(memory_format=torch.channels_last)
    x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
    return x.reshape(b, c, 4 * size * size)


# --------------------------------------------------------------------------- coordinates
FOURIER_SCALE = math.sqrt(10)  # std of the random basis


def inr_coord_grid(size: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(2, S, S) coordinates of INR-GAN: channel 0 = x = 2j/S − 1 along the width (left edge −1,
    right edge 1 − 2/S), channel 1 = y = 2(S−1−i)/S − 1 along the height, so y *decreases*
    downwards (top row 1 − 2/S, bottom row −1). Not the linspace grid of CIPS/PixelFolder."""
    row = torch.arange(size, device=device).to(dtype) / size * 2 - 1
    x = row.view(1, size).expand(size, size)
    y = row.flip(0).view(size, 1).expand(size, size)
    return torch.stack([x, y])


def log_fourier_basis(resolution: int, use_diagonal: bool, device=None) -> torch.Tensor:
    """Fixed logarithmic basis (n_dirs · ⌈log2 R⌉, 2): per direction, wave vectors of
    frequency 2^k · 2π/period for k = 0 … ⌈log2 R⌉−1. Directions, in order: the one along
    the second coordinate (period 4), the first coordinate (period 4), then with
    `use_diagonal` the main diagonal (−1, 1)/√2 and the anti-diagonal (1, 1)/√2 (period 4√2)."""
    n = math.ceil(math.log2(resolution))
    directions = [((0.0, 1.0), 4.0), ((1.0, 0.0), 4.0)]
    if use_diagonal:
        d = 1 / math.sqrt(2)
        directions += [((-d, d), 4.0 * math.sqrt(2)), ((d, d), 4.0 * math.sqrt(2))]
    powers = (2 ** torch.arange(n, device=device)).view(n, 1)
    blocks = [
        torch.tensor([vec], device=device).repeat(n, 1) * powers * (2 * math.pi / period)
        for vec, period in directions
    ]
    return torch.cat(blocks).float()


class CoordFuser(nn.Module):
    """Coordinate features for one resolution: [sin(B·c), cos(B·c), const] with B the log basis
    (`log_basis`, fixed) stacked on the random basis (`random_basis`, N(0, 10) drawn at
    construction and then fixed: a buffer), and `const_embs` a learned (1, C, R, R) embedding.

    The features do not depend on z: they are built at batch 1 and the caller broadcasts them
    (the official code builds them per sample and caches them). In eval mode the sin/cos part,
    which comes from buffers only, is computed once and kept (`coords.kept`), and a no-grad
    forward keeps the whole stack too, until `const_embs` changes. At 256 px the sin/cos and the
    concatenation were ~10 % of an INR-GAN forward on CPU; at the 64 px of training, ~1 ms."""

    def __init__(
        self,
        resolution,
        max_log_feats=0,
        random_feats=0,
        const_feats=0,
        use_cosine=True,
        use_diagonal=False,
        fourier_scale=FOURIER_SCALE,
    ):
        super().__init__()
        self.resolution, self.use_cosine = resolution, use_cosine
        self.random_feats, self.const_feats = random_feats, const_feats
        n_log = 0
        if max_log_feats > 0:
            self.register_buffer("log_basis", log_fourier_basis(resolution, use_diagonal))
            n_log = self.log_basis.shape[0]
            if n_log > max_log_feats:
                raise ValueError(f"{n_log} log features at {resolution} exceed {max_log_feats}")
        if random_feats > 0:
            self.register_buffer("random_basis", torch.randn(random_feats, 2) * fourier_scale)
        if const_feats > 0:
            self.const_embs = nn.Parameter(torch.randn(1, const_feats, resolution, resolution))
        self.n_fourier = n_log + random_feats
        self.total_dim = self.n_fourier * (2 if use_cosine else 1) + const_feats

    def bases(self) -> list[torch.Tensor]:
        return [getattr(self, n) for n in ("log_basis", "random_basis") if hasattr(self, n)]

    def fourier(self) -> torch.Tensor:
        """(n_fourier · (2 if cosine else 1), R·R): sin (and cos) of the bases at the grid."""
        r, bases = self.resolution, self.bases()

        def build():
            basis = torch.cat(bases)
            coords = inr_coord_grid(r, device=basis.device, dtype=basis.dtype).view(2, r * r)
            emb = torch.mm(basis, coords)
            return torch.cat([emb.sin(), emb.cos()] if self.use_cosine else [emb.sin()])

        return kept(self, "_fourier", bases, (str(bases[0].device), bases[0].dtype), build)

    def features(self, dtype=torch.float32) -> torch.Tensor:
        """(total_dim, R·R) features of this resolution, stored pixel-major (stride 1 along
        the features) from PIXEL_MAJOR_MIN_IN features on."""
        r = self.resolution

        def build():
            parts = [self.fourier()] if self.n_fourier else []
            if self.const_feats:
                parts.append(self.const_embs.view(self.const_feats, r * r))
            x = torch.cat(parts).to(dtype)
            # stored as the layers that read it run (`pixel_matmul`)
            return x.t().contiguous().t() if len(x) >= PIXEL_MAJOR_MIN_IN else x

        sources = [*self.bases(), *([self.const_embs] if self.const_feats else [])]
        if not sources:
            return build()  # nothing at all: an empty stack is not worth a key
        return kept(self, "_features", sources, (str(sources[0].device), dtype), build)


class CoordInput(nn.Module):
    """The first block's input: coordinate features alone. Nested `input.coord_fuser` so the
    state-dict names are the official ones (GenInput → CoordsInput → CoordFuser)."""

    def __init__(self, fuser: CoordFuser):
        super().__init__()
        self.input = nn.Module()
        self.input.coord_fuser = fuser

    @property
    def total_dim(self) -> int:
        return self.input.coord_fuser.total_dim

    def forward(self, dtype=torch.float32) -> torch.Tensor:
        return self.input.coord_fuser.features(dtype)
