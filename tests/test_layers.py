"""Each shared layer against a plain, obviously-correct reference written here.

Tolerances (docs/numerics.md): an fp32 comparison of two evaluations of the same sums allows
tests.golden.reorder_bound(n, Σ|t|) = 2·γ_n·Σ|t|, with Σ|t| computed here by running the
reference on absolute values and n the number of roundings on the way (the reduction length
plus the few scalings and epilogue steps); it holds for any summation order, so for any kernel
and instruction set, and a wrong formula is off by orders of magnitude more. Bit-exact
comparisons are pure data movement (permutations, copies) or exactly representable arithmetic.
The fused training path of the same layers is tested in test_layers_fused.py.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models import coords
from models import layers as L
from tests.golden import assert_within, gamma, reorder_bound

torch.manual_seed(0)


# ----------------------------------------------------------------------------- references
def naive_upfirdn(x: np.ndarray, k: np.ndarray, up: int, down: int, pad) -> np.ndarray:
    """Zero insertion, padding, then a true 2-D convolution written as loops over taps."""
    b, c, h, w = x.shape
    z = np.zeros((b, c, h * up, w * up), x.dtype)
    z[:, :, ::up, ::up] = x
    p0, p1 = pad
    z = np.pad(z, ((0, 0), (0, 0), (p0, p1), (p0, p1)))
    kh, kw = k.shape
    oh, ow = z.shape[2] - kh + 1, z.shape[3] - kw + 1
    out = np.zeros((b, c, oh, ow), np.float64)
    for i in range(kh):
        for j in range(kw):  # convolution = correlation with the flipped kernel
            out += k[kh - 1 - i, kw - 1 - j] * z[:, :, i : i + oh, j : j + ow]
    return out[:, :, ::down, ::down]


def naive_modconv(x, weight, s, scale, demodulate, upsample, padding, absolute=False):
    """One sample at a time, with that sample's modulated (and demodulated) weight. With
    `absolute`, Σ|w·x| over each output's terms instead (the scale of its rounding error)."""
    outs = []
    for b in range(x.shape[0]):
        w = scale * weight[0] * s[b].view(1, -1, 1, 1)
        if demodulate:
            w = w / torch.sqrt(w.pow(2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        if absolute:
            w, x = w.abs(), x.abs()
        if upsample:
            outs.append(F.conv_transpose2d(x[b : b + 1], w.transpose(0, 1), stride=2))
        else:
            outs.append(F.conv2d(x[b : b + 1], w, padding=padding))
    return torch.cat(outs)


# ----------------------------------------------------------------------------- elementwise
@pytest.mark.numerics
def test_fused_leaky_relu_matches_formula():
    """√2·x + √2·b against (x + b)·√2: each side ≤ 3 roundings from the exact value plus the
    slope's, relative to √2·(|x| + |b|) (not to the result: x ≈ −b cancels), so they differ by
    ≤ 2·γ_5·√2·(|x| + |b|) elementwise."""
    x, bias = torch.randn(2, 5, 3, 3), torch.randn(5)
    y = x + bias.view(1, 5, 1, 1)
    ref = torch.where(y >= 0, y, 0.2 * y) * math.sqrt(2)
    scale = math.sqrt(2) * (x.abs() + bias.abs().view(1, 5, 1, 1))
    assert_within(L.fused_leaky_relu(x, bias), ref, 2 * gamma(5) * scale, "fused_leaky_relu")
    assert torch.allclose(
        L.FusedLeakyReLU(5).forward(x), torch.where(x >= 0, x, 0.2 * x) * math.sqrt(2)
    )


@pytest.mark.numerics
def test_pixel_norm_gives_unit_rms_over_channels():
    """mean(y²) over 16 channels is 1 up to ≤ 20 roundings in a row (16-term sum, rsqrt,
    products): |Δ| ≤ γ_20 = 1.2e-6 < 1e-5."""
    y = L.PixelNorm()(torch.randn(4, 16) * 7)
    assert torch.allclose(y.pow(2).mean(1), torch.ones(4), atol=1e-5)


@pytest.mark.numerics
def test_equal_linear_scales_weight_and_bias():
    """8-term dot products plus bias, the scalings rounded in another order: ≤ 2·γ_12·Σ|t|."""
    lin = L.EqualLinear(8, 4, bias_init=0.5, lr_mul=0.01)
    x = torch.randn(3, 8)
    w = lin.weight * 0.01 / math.sqrt(8)
    ref = x @ w.t() + lin.bias * 0.01
    terms = x.abs() @ w.abs().t() + (lin.bias * 0.01).abs()
    assert_within(lin(x), ref, reorder_bound(12, terms), "EqualLinear")
    act = L.EqualLinear(8, 4, activation="fused_lrelu")
    pre = x @ (act.weight / math.sqrt(8)).t()
    terms = math.sqrt(2) * (x.abs() @ (act.weight / math.sqrt(8)).abs().t())
    ref = torch.where(pre >= 0, pre, 0.2 * pre) * math.sqrt(2)
    assert_within(act(x), ref, reorder_bound(13, terms), "EqualLinear + fused_lrelu")


@pytest.mark.numerics
def test_equal_conv_and_conv_layer():
    """36-term convolution sums plus bias and the scaling: ≤ 2·γ_39·Σ|t|."""
    conv = L.EqualConv2d(4, 6, 3, padding=1)
    x = torch.randn(2, 4, 8, 8)
    w = conv.weight / math.sqrt(4 * 9)
    ref = F.conv2d(x, w, conv.bias, padding=1)
    terms = F.conv2d(x.abs(), w.abs(), conv.bias.abs(), padding=1)
    assert_within(conv(x), ref, reorder_bound(39, terms), "EqualConv2d")
    layer = L.ConvLayer(4, 6, 1)
    assert sum(p.numel() for p in layer.parameters()) == 4 * 6 + 6


# ----------------------------------------------------------------------------- FIR
@pytest.mark.parametrize(
    "up,down,pad", [(2, 1, (2, 1)), (1, 1, (1, 1)), (1, 2, (2, 2)), (1, 2, (1, 1)), (2, 1, (1, 1))]
)
@pytest.mark.numerics
def test_upfirdn2d_matches_zero_insertion_and_loops(up, down, pad):
    """fp32 against a float64 reference: 16 taps (a positive kernel) and the gain, one fp32
    evaluation, ≤ γ_18·Σ|t| from the exact value."""
    x = torch.randn(2, 3, 7, 7)
    k = L.make_kernel([1, 3, 3, 1]) * 4
    ours = L.upfirdn2d(x, k, up=up, down=down, pad=pad)
    ref = naive_upfirdn(x.numpy(), k.numpy(), up, down, pad)
    terms = naive_upfirdn(x.abs().numpy(), k.numpy(), up, down, pad)
    assert_within(ours, torch.from_numpy(ref), gamma(18) * torch.from_numpy(terms), "upfirdn2d")


@pytest.mark.numerics
def test_fir_modules_preserve_a_constant_image():
    """Exact in any order: the kernel's entries are multiples of 1/64 and every partial sum of
    ones times them is exactly representable (measured 0 under every dispatch)."""
    x = torch.ones(1, 2, 8, 8)
    up = L.Upsample()(x)
    assert up.shape == (1, 2, 16, 16)
    assert torch.allclose(up[..., 2:-2, 2:-2], torch.ones(1, 2, 12, 12))
    blur = L.Blur(pad=(1, 2))(x)
    assert torch.allclose(blur[..., 2:-2, 2:-2], torch.ones(1, 2, 4, 4))


@pytest.mark.numerics
def test_downsampling_conv_layer_is_blur_then_strided_conv():
    """16-tap blur then 27-term conv sums, gain and bias: ≤ 2·γ_48·Σ|t| (Σ|t| from |x|)."""
    layer = L.ConvLayer(3, 5, 3, downsample=True)
    x = torch.randn(2, 3, 16, 16)
    conv = layer[1]
    blurred = naive_upfirdn(x.numpy(), layer[0].kernel.numpy(), 1, 1, (2, 2))
    ref = F.conv2d(torch.from_numpy(blurred).float(), conv.weight * conv.scale, stride=2)
    ref = L.fused_leaky_relu(ref, layer[2].bias)
    blurred_abs = torch.from_numpy(
        naive_upfirdn(x.abs().numpy(), layer[0].kernel.numpy(), 1, 1, (2, 2))
    )
    terms = F.conv2d(blurred_abs.float(), (conv.weight * conv.scale).abs(), stride=2)
    terms = math.sqrt(2) * (terms + layer[2].bias.abs().view(1, -1, 1, 1))
    assert layer(x).shape == (2, 5, 8, 8)
    assert_within(layer(x), ref, reorder_bound(48, terms), "ConvLayer(downsample)")


# ----------------------------------------------------------------------------- modulated conv
@pytest.mark.parametrize(
    "k,upsample,demod", [(3, False, True), (1, False, False), (3, True, True), (1, False, True)]
)
@pytest.mark.numerics
def test_modulated_conv_paths_match_per_sample_loop(k, upsample, demod):
    """Three paths, each the conv's in·k² sums plus the demodulation's in·k² sum of squares
    (its relative error reaches the output), the modulation and, upsampling, 16 blur taps:
    any two agree to 2·γ_n·Σ|t|, n = 2·in·k² + 24."""
    conv = L.ModulatedConv2d(6, 5, k, style_dim=7, demodulate=demod, upsample=upsample)
    x, style = torch.randn(3, 6, 8, 8), torch.randn(3, 7)
    s = conv.modulation(style)
    ref = naive_modconv(x, conv.weight, s, conv.scale, demod, upsample, k // 2)
    terms = naive_modconv(x, conv.weight, s, conv.scale, demod, upsample, k // 2, absolute=True)
    if upsample:
        ref, terms = conv.blur(ref), conv.blur(terms)
    bound = reorder_bound(2 * 6 * k * k + 24, terms)
    grouped = conv.forward_grouped(x, s)
    acts = conv.forward_activations(x, s)
    assert grouped.shape == ref.shape == ((3, 5, 16, 16) if upsample else (3, 5, 8, 8))
    assert_within(grouped, ref, bound, "grouped")
    assert_within(acts, ref, bound, "activations")
    assert_within(conv(x, style), ref, bound, "forward")
    x_cl = x.contiguous(memory_format=torch.channels_last)  # the layout CPU convs hand on
    assert_within(conv.forward_grouped(x_cl, s), ref, bound, "grouped, channels-last")
    assert_within(conv.forward_activations(x_cl, s), ref, bound, "activations, channels-last")


def naive_transposed_conv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Stride-2 transposed conv in float64, tap by tap: input pixel (i, j) adds x·w[ky, kx] to
    output pixel (2i + ky, 2j + kx)."""
    b, _, h, wd = x.shape
    out = torch.zeros(b, w.shape[1], 2 * h + 1, 2 * wd + 1, dtype=torch.float64)
    for ky in range(3):
        for kx in range(3):
            tap = torch.einsum("bihw,io->bohw", x.double(), w[:, :, ky, kx].double())
            out[:, :, ky : ky + 2 * h : 2, kx : kx + 2 * wd : 2] += tap
    return out


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.numerics
def test_polyphase_transposed_conv_matches_the_taps(layout):
    """models.polyphase: four ordinary convs interleaved give the stride-2 transposed conv of a
    non-square input; each output sums at most in·4 products (tolerance 2·γ_{4·in}·Σ|t|)."""
    from models import polyphase

    x, w = torch.randn(2, 6, 5, 7), torch.randn(6, 4, 3, 3)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    ref, terms = naive_transposed_conv(x, w), naive_transposed_conv(x.abs(), w.abs())
    out = polyphase.conv_transpose_stride2(x, w)
    assert out.shape == ref.shape == (2, 4, 11, 15)
    assert_within(out, ref, reorder_bound(4 * 6, terms), "polyphase")


@pytest.mark.numerics
def test_upsampling_modconv_inference_takes_the_polyphase_path():
    """A no-grad eval forward of an upsampling ModulatedConv2d runs the polyphase convs (their
    kernels kept on the layer, rebuilt when the weight changes) and matches the transposed conv
    that training, autograd and the MAC counters run (tolerance as the paths test above)."""
    conv = L.ModulatedConv2d(6, 5, 3, style_dim=7, upsample=True).eval()
    x, style = torch.randn(2, 6, 8, 8), torch.randn(2, 7)
    s = conv.modulation(style).detach()
    terms = conv.blur(naive_modconv(x, conv.weight, s, conv.scale, True, True, 1, absolute=True))
    bound = reorder_bound(2 * 6 * 9 + 24, terms.detach())
    graph = conv(x, style)  # grad enabled: F.conv_transpose2d
    assert "_phase_weights" not in conv.__dict__
    for _ in range(2):
        with torch.no_grad():
            assert_within(conv(x, style), graph.detach(), bound, "polyphase vs transposed")
            assert "_phase_weights" in conv.__dict__
        with torch.no_grad():
            conv.weight.mul_(1.5)  # the kept kernels follow the weight
        graph = conv(x, style)


@pytest.mark.parametrize("layout", ["nchw", "channels_last", "broadcast", "broadcast_cl"])
@pytest.mark.numerics
def test_1x1_modconv_workspace_and_broadcast_batch_match_bmm(layout):
    """A 1×1 grouped layer writes into a given workspace under no_grad (CIPS reuses two), and a
    batch-broadcast input (CIPS's first layer) runs as one GEMM: same values as per-sample bmm.
    Tolerance 2·γ_20·Σ|t| (6-term sums, the demodulation's 6 squares, the epilogue's steps)."""
    sc = L.StyledConv(6, 5, 1, style_dim=7, mode="grouped")
    x, w, noise = torch.randn(3, 6, 4, 4), torch.randn(3, 7), torch.randn(1, 1, 4, 4)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    if layout.startswith("broadcast"):  # CIPS's input features: one map for the batch
        x = x[:1].expand(3, -1, -1, -1)
    if layout == "broadcast_cl":  # ... channels-last on CPU (CIPSGenerator.input_features)
        x = x[:1].contiguous(memory_format=torch.channels_last).expand(3, -1, -1, -1)
    ref = L.fused_leaky_relu(sc.conv(x.contiguous(), w) + noise * sc.noise.weight, sc.activate.bias)
    with torch.no_grad():
        c = sc.conv
        terms = naive_modconv(x, c.weight, c.modulation(w), c.scale, True, False, 0, absolute=True)
        terms = math.sqrt(2) * (
            terms + (noise * sc.noise.weight).abs() + sc.activate.bias.abs().view(1, -1, 1, 1)
        )
    bound = reorder_bound(20, terms)
    ws = torch.full((3 * 5 * 16 + 7,), float("nan"))
    with torch.no_grad():
        y = sc(x, w, noise=noise, out=ws)
    assert y.data_ptr() == ws.data_ptr()
    if layout == "broadcast_cl":  # the layout is kept for the next layer
        assert y.is_contiguous(memory_format=torch.channels_last)
    assert_within(y, ref, bound, "no_grad, into the workspace")
    assert_within(sc(x, w, noise=noise, out=ws), ref, bound, "autograd")  # workspace ignored


def test_modconv_path_rule_and_bad_mode():
    x = torch.zeros(1, 1, 2, 2)
    assert L.choose_modconv_path(x, "auto") == "activations"  # CPU: one GEMM for the batch
    assert L.choose_modconv_path(x, "grouped") == "grouped"
    assert L.choose_modconv_path(x, "auto", kernel_size=1) == "grouped"  # 1×1: batched matmul
    assert L.choose_modconv_path(x, "activations", kernel_size=1) == "activations"
    with pytest.raises(ValueError, match="unknown"):
        L.ModulatedConv2d(2, 2, 3, 4, mode="fast")


@pytest.mark.numerics
def test_styled_conv_noise_and_param_formula():
    """The epilogue against the formula on the same conv output: the demodulation applied to
    the output or inside the epilogue, then noise, bias, gain: ≤ 2·γ_8 of √2·(|conv| + |noise|
    + |bias|) elementwise (the conv sums themselves are shared)."""
    sc = L.StyledConv(8, 4, 3, style_dim=512)
    assert sum(p.numel() for p in sc.parameters()) == 4 * 8 * 9 + 513 * 8 + 1 + 4
    with torch.no_grad():
        sc.noise.weight.fill_(1.0)
    x, w = torch.randn(2, 8, 4, 4), torch.randn(2, 512)
    noise = torch.randn(1, 1, 4, 4)
    conv = sc.conv(x, w).detach()
    scale = math.sqrt(2) * (conv.abs() + noise.abs() + sc.activate.bias.abs().view(1, -1, 1, 1))
    ref = L.fused_leaky_relu(sc.conv(x, w) + noise, sc.activate.bias)
    assert_within(sc(x, w, noise=noise), ref, 2 * gamma(8) * scale, "noise given")
    none = L.fused_leaky_relu(sc.conv(x, w), sc.activate.bias)
    assert_within(sc(x, w, noise="none"), none, 2 * gamma(8) * scale, "no noise")
    assert not torch.allclose(sc(x, w), sc(x, w))  # fresh noise each call


@pytest.mark.parametrize("mode", ["grouped", "activations"])
@pytest.mark.parametrize("k,upsample", [(3, False), (3, True), (1, False)])
@pytest.mark.numerics
def test_styled_conv_inference_epilogue_matches_autograd_path(mode, k, upsample):
    """Under no_grad StyledConv runs its epilogue in place with the √2 folded into small
    tensors; it must give what the autograd path gives, for every noise kind. The folded gain
    changes the conv's weights, so the sums are rounded anew: 2·γ_n·Σ|t| with n = 2·in·k² + 24
    as for the modulated conv, Σ|t| including the noise and bias."""
    sc = L.StyledConv(8, 6, k, style_dim=16, upsample=upsample, mode=mode)
    with torch.no_grad():
        sc.noise.weight.fill_(0.7)
        sc.activate.bias.normal_()
    x, w = torch.randn(3, 8, 5, 5), torch.randn(3, 16)
    size = 10 if upsample else 5
    with torch.no_grad():
        c = sc.conv
        terms = naive_modconv(x, c.weight, c.modulation(w), c.scale, True, upsample, k // 2, True)
        terms = c.blur(terms) if upsample else terms
    for noise in (torch.randn(1, 1, size, size), "none"):
        with torch.enable_grad():
            ref = sc(x, w, noise=noise)
        with torch.no_grad():
            fast = sc(x, w, noise=noise)
        n_abs = 0.7 * noise.abs() if isinstance(noise, torch.Tensor) else 0.0
        scale = math.sqrt(2) * (terms + n_abs + sc.activate.bias.abs().view(1, -1, 1, 1))
        what = noise if isinstance(noise, str) else "tensor"
        assert_within(fast, ref, reorder_bound(2 * 8 * k * k + 24, scale), what)


@pytest.mark.numerics
def test_to_rgb_adds_upsampled_skip():
    """The same 1×1 conv on both sides; the skip upsampled in fp32 (16 taps) against float64,
    then two adds: ≤ 2·γ_18 of |conv| + |bias| + the taps' Σ|t|."""
    rgb = L.ToRGB(8, style_dim=16)
    assert sum(p.numel() for p in rgb.parameters()) == 3 * 8 + 17 * 8 + 3
    x, w, skip = torch.randn(2, 8, 8, 8), torch.randn(2, 16), torch.randn(2, 3, 4, 4)
    kernel = rgb.upsample.kernel.numpy()
    up = torch.from_numpy(naive_upfirdn(skip.numpy(), kernel, 2, 1, (2, 1))).float()
    up_abs = torch.from_numpy(naive_upfirdn(skip.abs().numpy(), kernel, 2, 1, (2, 1))).float()
    conv = rgb.conv(x, w)
    ref = conv + rgb.bias + up
    terms = conv.abs() + rgb.bias.abs() + up_abs
    assert_within(rgb(x, w, skip), ref, reorder_bound(18, terms), "ToRGB")


# ----------------------------------------------------------------------------- inputs
@pytest.mark.numerics
def test_coord_grid_x_along_width():
    """The same linspace on both sides: exact."""
    g = coords.coord_grid(2, 3, 5)
    assert g.shape == (2, 2, 3, 5)
    assert torch.allclose(g[0, 0, 1], torch.linspace(-1, 1, 5))
    assert torch.allclose(g[0, 1, :, 2], torch.linspace(-1, 1, 3))


@pytest.mark.numerics
def test_lff_is_sin_of_a_1x1_conv_with_siren_init():
    """sin of a 2-term sum plus bias: the argument's 2·γ_3·Σ|t| carries through |sin'| ≤ 1, plus
    each side's sin (≤ 1 ulp for ATen's vectorised and scalar sin: 2·U32)."""
    lff = coords.LFF(16)
    assert sum(p.numel() for p in lff.parameters()) == 3 * 16
    assert lff.ffm.conv.weight.abs().max() <= math.sqrt(9 / 2)
    c = coords.coord_grid(1, 4, 4)
    weight, bias = lff.ffm.conv.weight[:, :, 0, 0], lff.ffm.conv.bias.view(1, -1, 1, 1)
    ref = torch.sin(torch.einsum("oi,bihw->bohw", weight, c) + bias)
    terms = torch.einsum("oi,bihw->bohw", weight.abs(), c.abs()) + bias.abs()
    assert_within(lff(c), ref, reorder_bound(3, terms) + 4 * 2.0**-24, "LFF")


def test_mapping_network_size():
    assert sum(p.numel() for p in L.MappingNetwork().parameters()) == 2_101_248


def test_constant_input_repeats_over_batch():
    ci = L.ConstantInput(3, 4)
    out = ci(5)
    assert out.shape == (5, 3, 4, 4) and torch.equal(out[4], ci.input[0])


# ----------------------------------------------------------------------------- folding
def test_fold_is_pixel_unshuffle_with_pixelfolder_channel_order():
    c = 3
    x = torch.randn(2, c, 8, 6)
    perm = [(k % c) * 4 + k // c for k in range(4 * c)]
    assert torch.equal(L.fold(x), F.pixel_unshuffle(x, 2)[:, perm])
    assert not torch.equal(L.fold(x), F.pixel_unshuffle(x, 2))
    # by hand: channel (ph*2 + pw)*C + c holds pixel (2i+ph, 2j+pw)
    f = L.fold(x)
    assert torch.equal(f[:, (1 * 2 + 0) * c + 2], x[:, 2, 1::2, 0::2])


def test_unfold_inverts_fold_and_matches_pixel_shuffle():
    x = torch.randn(2, 12, 4, 5)
    c = 3
    inv = [(k % 4) * c + k // 4 for k in range(12)]
    assert torch.equal(L.unfold(x), F.pixel_shuffle(x[:, inv], 2))
    y = torch.randn(1, 3, 8, 8)
    assert torch.equal(L.unfold(L.fold(y)), y)
    # channels-last input (what the CPU convs produce) gives the same values
    assert torch.equal(L.unfold(x.contiguous(memory_format=torch.channels_last)), L.unfold(x))
