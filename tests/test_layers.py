"""Each shared layer against a plain, obviously-correct reference written here."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

import models
from models import coords, epilogue
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


@pytest.mark.parametrize("layout", ["nchw", "channels_last", "broadcast"])
def test_1x1_modconv_workspace_and_broadcast_batch_match_bmm(layout):
    """A 1×1 grouped layer writes into a given workspace under no_grad (CIPS reuses two), and a
    batch-broadcast input (CIPS's first layer) runs as one GEMM: same values as per-sample bmm."""
    sc = L.StyledConv(6, 5, 1, style_dim=7, mode="grouped")
    x, w, noise = torch.randn(3, 6, 4, 4), torch.randn(3, 7), torch.randn(1, 1, 4, 4)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    if layout == "broadcast":
        x = x[:1].expand(3, -1, -1, -1)
    ref = L.fused_leaky_relu(sc.conv(x.contiguous(), w) + noise * sc.noise.weight, sc.activate.bias)
    ws = torch.full((3 * 5 * 16 + 7,), float("nan"))
    with torch.no_grad():
        y = sc(x, w, noise=noise, out=ws)
    assert y.data_ptr() == ws.data_ptr() and torch.allclose(y, ref, atol=1e-6)
    assert torch.allclose(sc(x, w, noise=noise, out=ws), ref, atol=1e-6)  # autograd: ignored


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
    g = coords.coord_grid(2, 3, 5)
    assert g.shape == (2, 2, 3, 5)
    assert torch.allclose(g[0, 0, 1], torch.linspace(-1, 1, 5))
    assert torch.allclose(g[0, 1, :, 2], torch.linspace(-1, 1, 3))


def test_lff_is_sin_of_a_1x1_conv_with_siren_init():
    lff = coords.LFF(16)
    assert sum(p.numel() for p in lff.parameters()) == 3 * 16
    assert lff.ffm.conv.weight.abs().max() <= math.sqrt(9 / 2)
    c = coords.coord_grid(1, 4, 4)
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


# ----------------------------------------------------------------------------- fused training path
def _both_paths(fn):
    """fn() under the plain and the fused path, each from the same RNG state."""
    out = []
    for flag in (False, True):
        with epilogue.fused(flag):
            torch.manual_seed(1)
            out.append(fn())
    return out


def _assert_grads_close(ref, ours, rtol=1e-4):
    for a, b in zip(ref, ours, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, rtol=rtol, atol=rtol * a.abs().max().item())


def test_fused_switch_is_scoped():
    assert epilogue.fused_enabled()
    with pytest.raises(RuntimeError), epilogue.fused(False):
        assert not epilogue.fused_enabled()
        raise RuntimeError
    assert epilogue.fused_enabled()


@pytest.mark.parametrize("noise", [None, "per-sample", "shared"])
@pytest.mark.parametrize("demod", [True, False])
def test_styled_epilogue_gradcheck_and_plain_values(demod, noise):
    """float64 gradcheck and gradgradcheck (path length needs the double backward) of the
    Function w.r.t. every input, and its values against the plain formula."""
    opts = dict(dtype=torch.float64, requires_grad=True)
    out = torch.randn(2, 3, 4, 4, **opts)
    d = torch.rand(2, 3, 1, 1, dtype=torch.float64).add_(0.5).requires_grad_() if demod else None
    n = None if noise is None else torch.randn(2 if noise == "per-sample" else 1, 1, 4, 4, **opts)
    args = (out, d, n, torch.tensor([0.7], **opts), torch.randn(3, **opts))
    assert torch.autograd.gradcheck(epilogue.StyledEpilogue.apply, args)
    assert torch.autograd.gradgradcheck(epilogue.StyledEpilogue.apply, args)
    plain, fused = _both_paths(lambda: epilogue.styled_epilogue(*args))
    assert torch.allclose(plain, fused)


@pytest.mark.parametrize("noise", ["tensor", "shared", "random", "none"])
@pytest.mark.parametrize("mode", ["grouped", "activations"])
@pytest.mark.parametrize("k,upsample", [(3, False), (3, True), (1, False)])
def test_styled_conv_fused_matches_plain(k, upsample, mode, noise):
    """float32 at a realistic size: values and gradients w.r.t. input, style, bias, noise weight,
    conv weight and (given) noise map, for every kernel / upsample / path / noise kind."""
    sc = L.StyledConv(32, 32, k, style_dim=64, upsample=upsample, mode=mode)
    with torch.no_grad():
        sc.noise.weight.fill_(0.3)
        sc.activate.bias.normal_()
    x, w = torch.randn(4, 32, 16, 16, requires_grad=True), torch.randn(4, 64, requires_grad=True)
    size = 32 if upsample else 16
    given = {"tensor": (4, 1, size, size), "shared": (1, 1, size, size)}
    nz = torch.randn(*given[noise], requires_grad=True) if noise in given else noise
    nz = None if nz == "random" else nz
    params = [x, w, sc.activate.bias, sc.conv.weight]
    params += [nz, sc.noise.weight] if isinstance(nz, torch.Tensor) else []
    params += [sc.noise.weight] if nz is None else []

    def run():
        y = sc(x, w, noise=nz)
        probe = torch.linspace(-1, 1, y.numel()).view(y.shape)
        return y, torch.autograd.grad((y * probe).sum(), params)

    (y0, g0), (y1, g1) = _both_paths(run)
    assert y1.grad_fn.name() == "StyledEpilogueBackward" != y0.grad_fn.name()
    assert torch.allclose(y0, y1, atol=1e-5)
    _assert_grads_close(g0, g1)
    if mode == "activations":  # the epilogue keeps the conv's channels-last layout (CPU)
        assert y1.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize(
    "up,down,pad",
    [
        (2, 1, (2, 1)),
        (1, 1, (1, 1)),
        (1, 2, (2, 2)),
        (1, 2, (1, 1)),
        (1, 1, (2, 2)),
        (1, 1, (-1, 2)),
        (1, 2, (1, 2)),
    ],
)
@pytest.mark.parametrize("size", [7, 8])
def test_upfirdn2d_function_gradcheck(up, down, pad, size):
    """The FIR Function's backward is the adjoint upfirdn2d; first and second derivatives."""
    k = (L.make_kernel([1, 3, 3, 1]) * 4).double()
    x = torch.randn(2, 3, size, size, dtype=torch.float64, requires_grad=True)
    fir = lambda t: L.upfirdn2d(t, k, up=up, down=down, pad=pad)  # noqa: E731
    assert fir(x).grad_fn.name() == "UpFirDn2dBackward"
    assert torch.autograd.gradcheck(fir, (x,)) and torch.autograd.gradgradcheck(fir, (x,))
    plain, fused = _both_paths(lambda: fir(x))
    assert plain.grad_fn.name() != "UpFirDn2dBackward" and torch.allclose(plain, fused)


def test_conv_layer_and_equal_linear_fused_match_plain():
    """Bias and gain folded into the conv / linear (float64 values, first and second
    derivatives); channels-last on CPU except for maps of at most 4×4."""
    for layer, shape in [
        (L.ConvLayer(3, 4, 3), (2, 3, 5, 5)),
        (L.ConvLayer(3, 4, 3, downsample=True), (2, 3, 6, 6)),
        (L.ConvLayer(3, 4, 1, downsample=True, activate=False, bias=False), (2, 3, 6, 6)),
        (L.EqualLinear(6, 5, bias_init=0.5, lr_mul=0.01, activation="fused_lrelu"), (3, 6)),
    ]:
        layer = layer.double()
        with torch.no_grad():
            for p in layer.parameters():
                p.normal_()
        x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
        plain, fused = _both_paths(lambda: layer(x))  # noqa: B023
        assert torch.allclose(plain, fused)
        assert torch.autograd.gradgradcheck(layer, (x,))
    layer = L.ConvLayer(4, 4, 3)
    assert layer(torch.randn(1, 4, 8, 8)).is_contiguous(memory_format=torch.channels_last)
    assert layer(torch.randn(1, 4, 4, 4)).is_contiguous()


class _ConvRecorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.convs = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.convs += func is torch.ops.aten.convolution.default
        return func(*args, **(kwargs or {}))


def test_discriminator_r1_fused_matches_plain_and_skips_kernel_gradients():
    """R1 needs create_graph gradients through D: same penalty and parameter gradients on both
    paths; the fused FIR backward avoids autograd's per-channel gradient of the fixed kernel."""
    D = models.build_discriminator(resolution=32, width=0.125)
    real = torch.randn(4, 3, 32, 32)

    def r1():
        x = real.clone().requires_grad_(True)
        logits = D(x)
        (g,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
        penalty = g.pow(2).sum()
        with _ConvRecorder() as rec:
            grads = torch.autograd.grad(penalty + logits.sum(), list(D.parameters()))
        return logits.detach(), penalty.detach(), grads, rec.convs

    plain, fused = _both_paths(r1)
    assert torch.allclose(plain[0], fused[0], atol=1e-5)
    assert torch.allclose(plain[1], fused[1], rtol=1e-4)
    _assert_grads_close(plain[2], fused[2])
    assert fused[3] < plain[3] / 4  # plain: one small conv per channel and FIR filter


@pytest.mark.parametrize("name", ["stylegan2", "pixelfolder", "cips"])
def test_generator_path_length_double_backward_fused_matches_plain(name):
    """Path-length regularisation differentiates G's gradient: both paths agree."""
    torch.manual_seed(0)
    G = models.build(name, resolution=32, width=0.0625, z_dim=32, n_mlp=2)
    ws = G.mapping(torch.randn(2, 32)).unsqueeze(1).repeat(1, G.num_ws, 1).detach()

    def pl():
        w = ws.clone().requires_grad_(True)
        img = G.synthesis(w, noise_mode="const")
        (g,) = torch.autograd.grad(
            (img * torch.linspace(-1, 1, img.numel()).view_as(img)).sum(), w, create_graph=True
        )
        params = [p for n, p in G.named_parameters() if not n.startswith("style.")]
        return img.detach(), torch.autograd.grad(g.pow(2).sum(), params, allow_unused=True)

    plain, fused = _both_paths(pl)
    assert torch.allclose(plain[0], fused[0], atol=1e-5)
    _assert_grads_close(plain[1], fused[1], rtol=1e-3)


def test_fused_path_runs_on_meta_and_flop_counter_sees_every_conv():
    """Training-mode forward + backward on meta (activation-memory accounting) and the same
    conv/linear FLOPs in the forward on both paths."""
    flops = []
    for flag in (False, True):
        with epilogue.fused(flag), torch.device("meta"):
            sc = L.StyledConv(16, 24, 3, style_dim=32, upsample=True)
            D = models.build_discriminator(resolution=32, width=0.125)
            x = torch.randn(2, 16, 8, 8, requires_grad=True)
            with FlopCounterMode(display=False) as fc:
                y = sc(x, torch.randn(2, 32))
                logits = D(torch.randn(2, 3, 32, 32, requires_grad=True))
            (y.sum() + logits.sum()).backward()
            flops.append(fc.get_total_flops())
            assert x.grad.shape == x.shape and x.grad.device.type == "meta"
    assert flops[0] == flops[1] > 0
