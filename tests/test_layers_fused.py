"""The fused training path (models.epilogue) against the plain one (`epilogue.fused(False)`):
values, first and second derivatives (R1 and path length differentiate gradients) of the styled
epilogue, the FIR Function, ConvLayer/EqualLinear with bias and gain folded in, the
discriminator's R1 and the generators' path length; the fused FIR backward skips the fixed
kernel's gradient; and the fused path runs on the meta device with the same FLOPs.

Tolerances (docs/numerics.md): float64, where tests.golden's reorder bound 2·γ_n·Σ|t| is ~1e-11
of the values, so a wrong gradient formula (off by ≥ 1e-3) cannot hide in it; gradcheck's own
tolerance is ~1e5× its round-off."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

import models
from models import epilogue
from models import layers as L
from tests.golden import U64, assert_within, gamma

torch.manual_seed(0)


# ----------------------------------------------------------------------------- fused training path
def _both_paths(fn):
    """fn() under the plain and the fused path, each from the same RNG state."""
    out = []
    for flag in (False, True):
        with epilogue.fused(flag):
            torch.manual_seed(1)
            out.append(fn())
    return out


def _assert_grads_close(ref, ours, rtol):
    """Each gradient within rtol of the largest entry of its tensor (absolute) plus rtol
    relative: an entry may be a sum that cancels (a scalar noise weight's gradient sums
    B·C·H·W terms), so its error scales with its tensor's terms, not with itself."""
    for a, b in zip(ref, ours, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert_within(b, a, rtol * (a.abs() + a.abs().max()), "gradient")


# float64 gradients of sums of at most 4·32·32·32 = 131072 terms (a scalar noise weight), each
# path within γ_n·Σ|t| ≤ 1.5e-11·Σ|t| of the exact value: 1e-8 leaves room for Σ|t| up to 300×
# the largest gradient entry; a wrong gradient formula is off by ≥ 1e-3.
F64_RTOL = 1e-8

assert 2 * gamma(4 * 32 * 32 * 32, U64) * 300 < F64_RTOL


def test_fused_switch_is_scoped():
    assert epilogue.fused_enabled()
    with pytest.raises(RuntimeError), epilogue.fused(False):
        assert not epilogue.fused_enabled()
        raise RuntimeError
    assert epilogue.fused_enabled()


@pytest.mark.numerics
@pytest.mark.parametrize("noise", [None, "per-sample", "shared"])
@pytest.mark.parametrize("demod", [True, False])
def test_styled_epilogue_gradcheck_and_plain_values(demod, noise):
    """float64 gradcheck and gradgradcheck (path length needs the double backward) of the
    Function w.r.t. every input, and its values against the plain formula. gradcheck's own
    tolerance (atol 1e-5, rtol 1e-3 on finite differences with eps 1e-6) is ~1e5× the float64
    round-off (U64/eps ≈ 1e-10); the values, a few elementwise roundings apart, to rtol 1e-5."""
    opts = dict(dtype=torch.float64, requires_grad=True)
    out = torch.randn(2, 3, 4, 4, **opts)
    d = torch.rand(2, 3, 1, 1, dtype=torch.float64).add_(0.5).requires_grad_() if demod else None
    n = None if noise is None else torch.randn(2 if noise == "per-sample" else 1, 1, 4, 4, **opts)
    args = (out, d, n, torch.tensor([0.7], **opts), torch.randn(3, **opts))
    assert torch.autograd.gradcheck(epilogue.StyledEpilogue.apply, args)
    assert torch.autograd.gradgradcheck(epilogue.StyledEpilogue.apply, args)
    plain, fused = _both_paths(lambda: epilogue.styled_epilogue(*args))
    assert torch.allclose(plain, fused)


@pytest.mark.numerics
@pytest.mark.parametrize("noise", ["tensor", "shared", "random", "none"])
@pytest.mark.parametrize("mode", ["grouped", "activations"])
@pytest.mark.parametrize("k,upsample", [(3, False), (3, True), (1, False)])
def test_styled_conv_fused_matches_plain(k, upsample, mode, noise):
    """At a realistic size: values and gradients w.r.t. input, style, bias, noise weight, conv
    weight and (given) noise map, for every kernel / upsample / path / noise kind.

    In float64 (F64_RTOL): in fp32 a gradient that sums 131072 terms with cancellation (the
    noise weight's) sits anywhere within ~1e-4 of its tensor's scale depending on the draw and
    the kernel, too close to what a subtle bug would do to tell them apart on every CPU."""
    sc = L.StyledConv(32, 32, k, style_dim=64, upsample=upsample, mode=mode).double()
    with torch.no_grad():
        sc.noise.weight.fill_(0.3)
        sc.activate.bias.normal_()
    opts = dict(dtype=torch.float64, requires_grad=True)
    x, w = torch.randn(4, 32, 16, 16, **opts), torch.randn(4, 64, **opts)
    size = 32 if upsample else 16
    given = {"tensor": (4, 1, size, size), "shared": (1, 1, size, size)}
    nz = torch.randn(*given[noise], **opts) if noise in given else noise
    nz = None if nz == "random" else nz
    params = [x, w, sc.activate.bias, sc.conv.weight]
    params += [nz, sc.noise.weight] if isinstance(nz, torch.Tensor) else []
    params += [sc.noise.weight] if nz is None else []

    def run():
        y = sc(x, w, noise=nz)
        probe = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view(y.shape)
        return y, torch.autograd.grad((y * probe).sum(), params)

    (y0, g0), (y1, g1) = _both_paths(run)
    assert y1.grad_fn.name() == "StyledEpilogueBackward" != y0.grad_fn.name()
    _assert_grads_close([y0], [y1], F64_RTOL)
    _assert_grads_close(g0, g1, F64_RTOL)
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
    """The FIR Function's backward is the adjoint upfirdn2d; first and second derivatives.
    float64 throughout: gradcheck's tolerance is ~1e5× its round-off on any CPU, so this is
    not among the `numerics` tests rerun per instruction set (it would take most of their time:
    14 cases × 1-4 s of finite differences)."""
    k = (L.make_kernel([1, 3, 3, 1]) * 4).double()
    x = torch.randn(2, 3, size, size, dtype=torch.float64, requires_grad=True)
    fir = lambda t: L.upfirdn2d(t, k, up=up, down=down, pad=pad)  # noqa: E731
    assert fir(x).grad_fn.name() == "UpFirDn2dBackward"
    assert torch.autograd.gradcheck(fir, (x,)) and torch.autograd.gradgradcheck(fir, (x,))
    plain, fused = _both_paths(lambda: fir(x))
    assert plain.grad_fn.name() != "UpFirDn2dBackward" and torch.allclose(plain, fused)


@pytest.mark.numerics
def test_conv_layer_and_equal_linear_fused_match_plain():
    """Bias and gain folded into the conv / linear (float64 values, first and second
    derivatives); channels-last on CPU except for maps of at most 4×4. Values to rtol 1e-5 in
    float64: sums of ≤ 27 terms are within γ_27 = 3e-15 relative of each other's Σ|t|."""
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


@pytest.mark.numerics
def test_discriminator_r1_fused_matches_plain_and_skips_kernel_gradients():
    """R1 needs create_graph gradients through D: same penalty and parameter gradients on both
    paths; the fused FIR backward avoids autograd's per-channel gradient of the fixed kernel.
    float64, to F64_RTOL (the largest sums: a 3×3 conv's weight gradient over 4·32·32 pixels)."""
    D = models.build_discriminator(resolution=32, width=0.125).double()
    real = torch.randn(4, 3, 32, 32, dtype=torch.float64)

    def r1():
        x = real.clone().requires_grad_(True)
        logits = D(x)
        (g,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
        penalty = g.pow(2).sum()
        with _ConvRecorder() as rec:
            grads = torch.autograd.grad(penalty + logits.sum(), list(D.parameters()))
        return logits.detach(), penalty.detach(), grads, rec.convs

    plain, fused = _both_paths(r1)
    _assert_grads_close(plain[:2], fused[:2], F64_RTOL)  # logits and penalty
    _assert_grads_close(plain[2], fused[2], F64_RTOL)
    assert fused[3] < plain[3] / 4  # plain: one small conv per channel and FIR filter


@pytest.mark.numerics
@pytest.mark.parametrize("name", ["stylegan2", "pixelfolder", "cips"])
def test_generator_path_length_double_backward_fused_matches_plain(name):
    """Path-length regularisation differentiates G's gradient: both paths agree. float64, to
    F64_RTOL: in fp32 the second derivatives through a whole generator spread to ~3e-4 of
    their tensors' scale (measured), a third of the 1e-3 this test used to allow."""
    torch.manual_seed(0)
    G = models.build(name, resolution=32, width=0.0625, z_dim=32, n_mlp=2).double()
    z = torch.randn(2, 32, dtype=torch.float64)
    ws = G.mapping(z).unsqueeze(1).repeat(1, G.num_ws, 1).detach()

    def pl():
        w = ws.clone().requires_grad_(True)
        img = G.synthesis(w, noise_mode="const")
        probe = torch.linspace(-1, 1, img.numel(), dtype=img.dtype).view_as(img)
        (g,) = torch.autograd.grad((img * probe).sum(), w, create_graph=True)
        params = [p for n, p in G.named_parameters() if not n.startswith("style.")]
        return img.detach(), torch.autograd.grad(g.pow(2).sum(), params, allow_unused=True)

    plain, fused = _both_paths(pl)
    _assert_grads_close([plain[0]], [fused[0]], F64_RTOL)
    _assert_grads_close(plain[1], fused[1], F64_RTOL)


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
