"""Each shared layer against a plain, obviously-correct reference written here."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models import layers as L

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


def naive_modconv(x, weight, s, scale, demodulate, upsample, padding):
    """One sample at a time, with that sample's modulated (and demodulated) weight."""
    outs = []
    for b in range(x.shape[0]):
        w = scale * weight[0] * s[b].view(1, -1, 1, 1)
        if demodulate:
            w = w / torch.sqrt(w.pow(2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        if upsample:
            outs.append(F.conv_transpose2d(x[b : b + 1], w.transpose(0, 1), stride=2))
        else:
            outs.append(F.conv2d(x[b : b + 1], w, padding=padding))
    return torch.cat(outs)


# ----------------------------------------------------------------------------- elementwise
def test_fused_leaky_relu_matches_formula():
    x, bias = torch.randn(2, 5, 3, 3), torch.randn(5)
    y = x + bias.view(1, 5, 1, 1)
    ref = torch.where(y >= 0, y, 0.2 * y) * math.sqrt(2)
    assert torch.allclose(L.fused_leaky_relu(x, bias), ref)
    assert torch.allclose(
        L.FusedLeakyReLU(5).forward(x), torch.where(x >= 0, x, 0.2 * x) * math.sqrt(2)
    )


def test_pixel_norm_gives_unit_rms_over_channels():
    y = L.PixelNorm()(torch.randn(4, 16) * 7)
    assert torch.allclose(y.pow(2).mean(1), torch.ones(4), atol=1e-5)


def test_equal_linear_scales_weight_and_bias():
    lin = L.EqualLinear(8, 4, bias_init=0.5, lr_mul=0.01)
    x = torch.randn(3, 8)
    ref = x @ (lin.weight * 0.01 / math.sqrt(8)).t() + lin.bias * 0.01
    assert torch.allclose(lin(x), ref, atol=1e-6)
    act = L.EqualLinear(8, 4, activation="fused_lrelu")
    pre = x @ (act.weight / math.sqrt(8)).t()
    assert torch.allclose(act(x), torch.where(pre >= 0, pre, 0.2 * pre) * math.sqrt(2), atol=1e-6)


def test_equal_conv_and_conv_layer():
    conv = L.EqualConv2d(4, 6, 3, padding=1)
    x = torch.randn(2, 4, 8, 8)
    ref = F.conv2d(x, conv.weight / math.sqrt(4 * 9), conv.bias, padding=1)
    assert torch.allclose(conv(x), ref, atol=1e-6)
    layer = L.ConvLayer(4, 6, 1)
    assert sum(p.numel() for p in layer.parameters()) == 4 * 6 + 6


# ----------------------------------------------------------------------------- FIR
@pytest.mark.parametrize(
    "up,down,pad", [(2, 1, (2, 1)), (1, 1, (1, 1)), (1, 2, (2, 2)), (1, 2, (1, 1)), (2, 1, (1, 1))]
)
def test_upfirdn2d_matches_zero_insertion_and_loops(up, down, pad):
    x = torch.randn(2, 3, 7, 7)
    k = L.make_kernel([1, 3, 3, 1]) * 4
    ours = L.upfirdn2d(x, k, up=up, down=down, pad=pad)
    ref = naive_upfirdn(x.numpy(), k.numpy(), up, down, pad)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-5)


def test_fir_modules_preserve_a_constant_image():
    x = torch.ones(1, 2, 8, 8)
    up = L.Upsample()(x)
    assert up.shape == (1, 2, 16, 16)
    assert torch.allclose(up[..., 2:-2, 2:-2], torch.ones(1, 2, 12, 12))
    blur = L.Blur(pad=(1, 2))(x)
    assert torch.allclose(blur[..., 2:-2, 2:-2], torch.ones(1, 2, 4, 4))


def test_downsampling_conv_layer_is_blur_then_strided_conv():
    layer = L.ConvLayer(3, 5, 3, downsample=True)
    x = torch.randn(2, 3, 16, 16)
    conv = layer[1]
    blurred = naive_upfirdn(x.numpy(), layer[0].kernel.numpy(), 1, 1, (2, 2))
    ref = F.conv2d(torch.from_numpy(blurred).float(), conv.weight * conv.scale, stride=2)
    ref = L.fused_leaky_relu(ref, layer[2].bias)
    assert layer(x).shape == (2, 5, 8, 8)
    assert torch.allclose(layer(x), ref, atol=1e-5)


# ----------------------------------------------------------------------------- modulated conv
@pytest.mark.parametrize(
    "k,upsample,demod", [(3, False, True), (1, False, False), (3, True, True), (1, False, True)]
)
def test_modulated_conv_paths_match_per_sample_loop(k, upsample, demod):
    conv = L.ModulatedConv2d(6, 5, k, style_dim=7, demodulate=demod, upsample=upsample)
    x, style = torch.randn(3, 6, 8, 8), torch.randn(3, 7)
    s = conv.modulation(style)
    ref = naive_modconv(x, conv.weight, s, conv.scale, demod, upsample, k // 2)
    if upsample:
        ref = conv.blur(ref)
    grouped = conv.forward_grouped(x, s)
    acts = conv.forward_activations(x, s)
    assert grouped.shape == ref.shape == ((3, 5, 16, 16) if upsample else (3, 5, 8, 8))
    assert torch.allclose(grouped, ref, atol=1e-5)
    assert torch.allclose(acts, ref, atol=1e-5)
    assert torch.allclose(conv(x, style), ref, atol=1e-5)
    x_cl = x.contiguous(memory_format=torch.channels_last)  # the layout CPU convs hand on
    assert torch.allclose(conv.forward_grouped(x_cl, s), ref, atol=1e-5)
    assert torch.allclose(conv.forward_activations(x_cl, s), ref, atol=1e-5)


def test_modconv_path_rule_and_bad_mode():
    x = torch.zeros(1, 1, 2, 2)
    assert L.choose_modconv_path(x, "auto") == "activations"  # CPU: one GEMM for the batch
    assert L.choose_modconv_path(x, "grouped") == "grouped"
    assert L.choose_modconv_path(x, "auto", kernel_size=1) == "grouped"  # 1×1: batched matmul
    assert L.choose_modconv_path(x, "activations", kernel_size=1) == "activations"
    with pytest.raises(ValueError, match="unknown"):
        L.ModulatedConv2d(2, 2, 3, 4, mode="fast")


def test_styled_conv_noise_and_param_formula():
    sc = L.StyledConv(8, 4, 3, style_dim=512)
    assert sum(p.numel() for p in sc.parameters()) == 4 * 8 * 9 + 513 * 8 + 1 + 4
    with torch.no_grad():
        sc.noise.weight.fill_(1.0)
    x, w = torch.randn(2, 8, 4, 4), torch.randn(2, 512)
    noise = torch.randn(1, 1, 4, 4)
    ref = L.fused_leaky_relu(sc.conv(x, w) + noise, sc.activate.bias)
    assert torch.allclose(sc(x, w, noise=noise), ref, atol=1e-6)
    none = L.fused_leaky_relu(sc.conv(x, w), sc.activate.bias)
    assert torch.allclose(sc(x, w, noise="none"), none, atol=1e-6)
    assert not torch.allclose(sc(x, w), sc(x, w))  # fresh noise each call


@pytest.mark.parametrize("mode", ["grouped", "activations"])
@pytest.mark.parametrize("k,upsample", [(3, False), (3, True), (1, False)])
def test_styled_conv_inference_epilogue_matches_autograd_path(mode, k, upsample):
    """Under no_grad StyledConv runs its epilogue in place with the √2 folded into small
    tensors; it must give what the autograd path gives, for every noise kind."""
    sc = L.StyledConv(8, 6, k, style_dim=16, upsample=upsample, mode=mode)
    with torch.no_grad():
        sc.noise.weight.fill_(0.7)
        sc.activate.bias.normal_()
    x, w = torch.randn(3, 8, 5, 5), torch.randn(3, 16)
    size = 10 if upsample else 5
    for noise in (torch.randn(1, 1, size, size), "none"):
        with torch.enable_grad():
            ref = sc(x, w, noise=noise)
        with torch.no_grad():
            fast = sc(x, w, noise=noise)
        assert torch.allclose(fast, ref, atol=1e-5), noise if isinstance(noise, str) else "tensor"


def test_to_rgb_adds_upsampled_skip():
    rgb = L.ToRGB(8, style_dim=16)
    assert sum(p.numel() for p in rgb.parameters()) == 3 * 8 + 17 * 8 + 3
    x, w, skip = torch.randn(2, 8, 8, 8), torch.randn(2, 16), torch.randn(2, 3, 4, 4)
    ref = (
        rgb.conv(x, w)
        + rgb.bias
        + torch.from_numpy(
            naive_upfirdn(skip.numpy(), rgb.upsample.kernel.numpy(), 2, 1, (2, 1))
        ).float()
    )
    assert torch.allclose(rgb(x, w, skip), ref, atol=1e-5)


# ----------------------------------------------------------------------------- inputs
def test_coord_grid_x_along_width():
    g = L.coord_grid(2, 3, 5)
    assert g.shape == (2, 2, 3, 5)
    assert torch.allclose(g[0, 0, 1], torch.linspace(-1, 1, 5))
    assert torch.allclose(g[0, 1, :, 2], torch.linspace(-1, 1, 3))


def test_lff_is_sin_of_a_1x1_conv_with_siren_init():
    lff = L.LFF(16)
    assert sum(p.numel() for p in lff.parameters()) == 3 * 16
    assert lff.ffm.conv.weight.abs().max() <= math.sqrt(9 / 2)
    c = L.coord_grid(1, 4, 4)
    ref = torch.sin(
        torch.einsum("oi,bihw->bohw", lff.ffm.conv.weight[:, :, 0, 0], c)
        + lff.ffm.conv.bias.view(1, -1, 1, 1)
    )
    assert torch.allclose(lff(c), ref, atol=1e-6)


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
