"""INR-GAN (models/inr_gan.py): exact sizes, names, forward parity and MACs of the released
`inr-gan-bil` generator, and the common interface. The numerical tests (marker `numerics`) state
their error model; docs/numerics.md has the values measured under each instruction set."""

import math

import pytest
import torch
import torch.nn.functional as F

import models
from models.inr_gan import INRGANGenerator
from models.inr_layers import FMMLayer, inr_coord_grid, log_fourier_basis, pixel_std
from tests.golden import (
    assert_close_to_golden,
    assert_within,
    fill_golden,
    golden_input,
    load_reference,
    output_stats,
    reorder_bound,
)

REF = load_reference("inr_gan_outputs.json")
LAYOUT = load_reference("inr_gan_state_dict_layout_256.json")
TINY = dict(width=0.0625, z_dim=32, n_mlp=2)
COUNTS = {64: 51_195_775, 128: 62_672_538, 256: 72_436_573}
MACS = {64: 4_298_989_568, 256: 14_950_418_432}


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def meta_build(res, **overrides):
    with torch.device("meta"):
        return models.build("inr_gan", resolution=res, **overrides)


# ----------------------------------------------------------------------------- exact sizes
@pytest.mark.parametrize("res", [64, 128, 256])
def test_param_counts(res):
    assert COUNTS[res] == REF["params"][str(res)]
    assert n_params(meta_build(res)) == COUNTS[res]


def test_state_dict_names_and_shapes_match_official():
    ours = {k: list(v.shape) for k, v in meta_build(256).state_dict().items()}
    assert ours == LAYOUT


@pytest.mark.parametrize("res", [16, 100, 512, 1024])
def test_other_resolutions_fail_in_one_line(res):
    with pytest.raises(ValueError, match=f"resolution {res} is not supported") as e:
        models.build("inr_gan", resolution=res)
    assert "\n" not in str(e.value) and "up to 256" in str(e.value)


def test_block_layout():
    G = meta_build(256)
    blocks = G.synthesis_network.blocks()
    assert [b.size for b in blocks] == [32, 32, 32, 32, 64, 128, 256]
    assert [b.num_conv for b in blocks] == [1, 2, 2, 2, 2, 3, 3]
    assert G.num_ws == 16 and models.recipe("inr_gan") == {}  # defaults: R1 10, no PL, no mixing


# ----------------------------------------------------------------------------- official parity
@pytest.mark.numerics
@pytest.mark.parametrize("res", [64, 256])
def test_forward_matches_official(res):
    """Error model: tests.golden.assert_close_to_golden (a float64 run's distance)."""
    G = models.build("inr_gan", resolution=res)
    fill_golden(G)
    z = golden_input((2, 512), 12345)
    for mode in ("eval", "train"):
        G.train(mode == "train")
        with torch.no_grad():
            y = G(z)
        assert_close_to_golden(output_stats(y), REF["models"]["inr_gan"][str(res)][mode])


def test_fill_rule_fills_random_basis_only():
    G = models.build("inr_gan", resolution=256, **TINY)
    before = {k: v.clone() for k, v in G.named_buffers()}
    fill_golden(G)
    for k, v in G.named_buffers():
        assert torch.equal(v, before[k]) != k.endswith("random_basis"), k
    sg = models.build("stylegan2", resolution=32, **TINY)  # other models: buffers untouched
    before = {k: v.clone() for k, v in sg.named_buffers()}
    fill_golden(sg)
    assert all(torch.equal(v, before[k]) for k, v in sg.named_buffers())


@pytest.mark.numerics
def test_coordinates_and_log_basis():
    """Exact grid values; the basis as fp32 multiples of π, each ≤ 2 roundings (2·U32 = 1.2e-7
    relative) from math's float64 value, within pytest.approx's 1e-6."""
    c = inr_coord_grid(4)
    assert c[0, 0].tolist() == [-1.0, -0.5, 0.0, 0.5]  # x along the width, half-open grid
    assert c[1, :, 0].tolist() == [0.5, 0.0, -0.5, -1.0]  # y decreasing downwards
    b = log_fourier_basis(32, use_diagonal=True)
    assert b.shape == (20, 2) and log_fourier_basis(128, use_diagonal=False).shape == (14, 2)
    assert b[0].tolist() == pytest.approx([0.0, math.pi / 2])
    assert b[9].tolist() == pytest.approx([16 * math.pi / 2, 0.0])
    d = 2 * math.pi / (4 * math.sqrt(2)) / math.sqrt(2)
    assert b[10].tolist() == pytest.approx([-d, d]) and b[15].tolist() == pytest.approx([d, d])


@pytest.mark.numerics
def test_fmm_layer_matches_its_definition():
    """fp32, another order of the same steps: 6-term products, the rank-3 modulation, the
    row norm (6 squares) and the std over 7 pixels (their relative errors reach the output),
    bias and gain: 2·γ_30·Σ|t| with Σ|t| = √2·(|W|·|x̂| + |bias|)."""
    torch.manual_seed(0)
    layer = FMMLayer(6, 5, 8, rank=3, instance_norm=True)
    x, w = torch.randn(2, 6, 7), torch.randn(2, 8)
    s = layer.affine(w)
    left, right = s[:, :15].view(2, 5, 3), s[:, 15:].view(2, 3, 6)
    W = layer.weight[:, :, 0, 0] * (1 + left @ right / math.sqrt(3))
    W = W / (W.norm(dim=2, keepdim=True) + 1e-8)
    xn = x / (x.std(dim=2, keepdim=True) + 1e-8)
    ref = F.leaky_relu(W @ xn + layer.bias.view(1, -1, 1), 0.2) * math.sqrt(2)
    terms = math.sqrt(2) * (W.abs() @ xn.abs() + layer.bias.abs().view(1, -1, 1))
    assert_within(layer(x, w), ref, reorder_bound(30, terms.detach()), "FMMLayer")


# ----------------------------------------------------------------------------- MACs
def _counting():
    try:
        from benchmarks.profiling import counting
    except ImportError:  # before the move
        from benchmarks import counting
    return counting


@pytest.mark.parametrize("res", [64, 256])
def test_true_macs_flop_counter_mode(res):
    counting = _counting()
    G = counting.build_for_counting("inr_gan", res)
    mc = counting.count_macs(G, counting.example_input(G))
    assert mc.total == mc.macs == MACS[res] == REF["macs_true_batch1"][str(res)]
    assert mc.by_module["mapping"] == 2 * 512 * 512
    assert counting.count_macs(G, counting.example_input(G), "paper").macs == MACS[res]


def _bilinear_outputs(G, batch=1):
    """Elements written by the ×2 bilinear upsamplings (features and RGB skip)."""
    n = 0
    for blk in G.synthesis_network.blocks():
        if blk.up:
            n += (blk.conv0.in_ch - blk.coord_fuser.total_dim + 3) * blk.size**2
    return batch * n


def _affine_outputs(G):
    return sum(m.affine.bias.numel() for m in G.modules() if hasattr(m, "affine") and m is not G)


def _beta_one_outputs(G):
    """Outputs of the GEMMs with β = 1 (models.inr_layers.pixel_matmul): every FMM layer's
    first GEMM adds its bias, and at each upsampling block the coordinate features' product is
    summed into the first layer's output by a second one."""
    blocks = G.synthesis_network.blocks()
    biases = sum(conv.out_ch * b.size**2 for b in blocks for conv in b.convs())
    return biases + sum(b.conv0.out_ch * b.size**2 for b in blocks if b.up)


def test_counters_agree_at_256():
    """fvcore (told that bilinear resampling is not MAC work; by default it counts 4 FLOPs per
    bilinear output) gives FlopCounterMode's number exactly; ptflops adds one per output element
    of every addmm: the affine biases, the layer biases and the summed products."""
    counting = _counting()
    G = counting.build_generator("inr_gan", 256, "cpu", modconv_mode="grouped").train()
    z = torch.zeros(1, 512)
    assert counting.count_macs_fvcore(G, z).total == MACS[256]
    assert _bilinear_outputs(G) > 0  # the resampling that fvcore would otherwise count
    pt = counting.count_macs_ptflops(counting.build_for_counting("inr_gan", 256), z.to("meta"))
    assert pt.total - _affine_outputs(G) - _beta_one_outputs(G) == MACS[256]


# ----------------------------------------------------------------------------- interface
def test_stages_and_shapes():
    G = meta_build(256, **TINY)
    img, stages = G(torch.randn(2, 32, device="meta"), return_stages=True)
    assert img.shape == (2, 3, 256, 256)
    assert [s.shape[-1] for s in stages] == [32, 32, 32, 32, 64, 128, 256]
    G = models.build("inr_gan", resolution=64, **TINY)
    img, stages = G(torch.randn(2, 32), return_stages=True)
    assert torch.equal(img, stages[-1]) and img.is_contiguous()


@pytest.mark.numerics
def test_truncation_noise_modes_and_mixing():
    """Bit-exact repeats and self-mixing: the same kernels on the same shapes and values (the
    mapping run twice on the same z), so the same order on any CPU. ψ = 0: as in
    tests/test_models.py::test_noise_modes_and_truncation (1e-5; measured 0)."""
    G = models.build("inr_gan", resolution=32, **TINY).eval()
    z = torch.randn(3, 32)
    with torch.no_grad():
        ys = [G(z, noise_mode=m) for m in ("random", "random", "const", "none")]
        assert all(torch.equal(ys[0], y) for y in ys)  # no noise inputs in the released model
        y = G(z, truncation_psi=0.0)
        assert torch.allclose(y[0], y[1], atol=1e-5) and torch.allclose(y[0], y[2], atol=1e-5)
        z2 = torch.randn(3, 32)
        assert torch.equal(G(z, z_mix=z, mix_index=3), ys[0])
        assert not torch.allclose(G(z, z_mix=z2, mix_index=3), ys[0])
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, noise_mode="loud")


@pytest.mark.numerics
def test_modconv_modes_agree_and_are_checked():
    """Two fp32 forward passes in different kernels (grouped vs shared-weight convs), each
    within its fp32 error of the float64 output: ≤ 1.5e-5 for the full-width generator (see
    tests.golden.assert_close_to_golden); 1e-4 (measured 1.9e-6 under every dispatch)."""
    G = models.build("inr_gan", resolution=64, **TINY)
    A = models.build("inr_gan", resolution=64, modconv_mode="activations", **TINY)
    A.load_state_dict(G.state_dict())
    z = torch.randn(2, 32)
    assert torch.allclose(G(z), A(z), atol=1e-4)
    with pytest.raises(ValueError, match="modulated conv mode 'fast' is unknown"):
        models.build("inr_gan", resolution=64, modconv_mode="fast")


def test_w_avg_is_tracked_in_training_mode_only():
    G = models.build("inr_gan", resolution=32, **TINY)
    G.eval()(torch.randn(4, 32))
    assert not G.style.w_avg.any()
    G.train()(torch.randn(4, 32))
    assert G.style.w_avg.abs().sum() > 0 and "mapping.w_avg" in G.state_dict()


def test_load_official_state_dict_strict(tmp_path):
    src = models.build("inr_gan", resolution=64)
    state = src.state_dict()
    assert isinstance(src, INRGANGenerator) and "mapping.fc0.weight" in state
    torch.save({"G_ema": state}, tmp_path / "snapshot.pt")  # NVIDIA's key
    torch.save(state, tmp_path / "bare.pt")
    for path, key in ((tmp_path / "snapshot.pt", "G_ema"), (tmp_path / "bare.pt", "g_ema")):
        G = models.load_official(path, "inr_gan", resolution=64, key=key)
        assert not G.training
        for k, v in state.items():
            assert torch.equal(G.state_dict()[k], v), k


def test_narrow_variant_trains():
    """A few plain G/D steps (non-saturating loss, R1 on real images) of the narrow variant."""
    torch.manual_seed(0)
    G = models.build("inr_gan", resolution=32, **TINY).train()
    D = models.build_discriminator(32, width=0.0625)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.0, 0.99))
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    before = [p.detach().clone() for p in G.parameters()]
    for _ in range(3):
        real.requires_grad_(True)
        real_logits = D(real)
        (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
        loss_d = F.softplus(D(G(torch.randn(4, 32)).detach())).mean()
        loss_d = loss_d + F.softplus(-real_logits).mean() + 5.0 * grad.pow(2).sum([1, 2, 3]).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        real = real.detach()
        loss_g = F.softplus(-D(G(torch.randn(4, 32)))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        assert all(p.grad is not None for p in G.parameters())  # every parameter is reachable
        opt_g.step()
        assert torch.isfinite(loss_d) and torch.isfinite(loss_g)
    assert all(not torch.equal(p, q) for p, q in zip(G.parameters(), before, strict=True))


@pytest.mark.numerics
@pytest.mark.parametrize("mean", [0.0, 300.0])  # one-pass sums, and the two-pass fallback
def test_pixel_std_matches_torch(mean):
    """Against float64, rtol 1e-5. One pass, var = (‖x‖² − (Σx)²/n)/(n − 1), multiplies the
    sums' relative error by E[x²]/var, which the fallback keeps ≤ 16: with ATen's blocked
    4096-pixel sums at ≲ 12·U32 = 7e-7 that is ≤ 1.1e-5 on var, 6e-6 on the std (measured
    ≤ 1.6e-7 under every dispatch). At mean 300 the unguarded formula would be off by
    ~(300)²·U32 ≈ 5e-3: the fallback is what passes there."""
    x = torch.randn(2, 8, 4096, generator=torch.Generator().manual_seed(0)) + mean
    ref = x.double().std(dim=2)
    assert torch.allclose(pixel_std(x).double(), ref, rtol=1e-5)
    assert pixel_std(x.to("meta")).shape == ref.shape  # no data-dependent branch on meta


@pytest.mark.numerics
@pytest.mark.parametrize("mean", [0.0, 300.0])
def test_pixel_std_of_pixel_major_input(mean, monkeypatch):
    """The layers' own layout (channel stride 1) takes two passes in chunks (a small chunk here,
    so several are summed): against float64, rtol 1e-5. Two passes keep the error at the sums'
    own (≲ 12·U32 relative on the squared deviations, ATen's blocked sums) whatever the mean."""
    from models import inr_layers

    monkeypatch.setattr(inr_layers, "STD_CHUNK", 2 * 8 * 1000)  # 1,000 pixels: 5 chunks
    x = torch.randn(2, 4096, 8, generator=torch.Generator().manual_seed(0)) + mean
    x = x.transpose(1, 2)  # (B, C, N) with channel stride 1
    ref = x.double().std(dim=2)
    assert torch.allclose(pixel_std(x).double(), ref, rtol=1e-5)


@pytest.mark.parametrize("batch", [1, 3])  # batch 1 takes the as_strided upsampling input
def test_backward_through_upsampling(batch):
    G = models.build("inr_gan", resolution=64, **TINY)
    G(torch.randn(batch, 32)).square().mean().backward()
    grads = [p.grad for p in G.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.numerics
@pytest.mark.parametrize("batch", [1, 2])  # one sample runs as a plain GEMM, more as a batched one
def test_fmm_layer_gradients(batch):
    """float64 gradcheck: its tolerance (atol 1e-5, rtol 1e-3) is ~1e5× the float64 round-off
    of finite differences (U64/eps ≈ 1e-10) on any CPU."""
    torch.manual_seed(0)
    norm = FMMLayer(4, 3, 5, rank=2, instance_norm=True).double()
    fused = FMMLayer(6, 3, 5, rank=2).double()  # 4 pixel channels + 2 batch-independent ones
    x = torch.randn(batch, 4, 7, dtype=torch.float64, requires_grad=True)
    extra = torch.randn(2, 7, dtype=torch.float64, requires_grad=True)
    w = torch.randn(batch, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: norm(x, w), (x, w))
    assert torch.autograd.gradcheck(lambda x, e, w: fused(x, w, extra=e), (x, extra, w))


def test_narrow_variant_trains_with_the_one_training_loop(tmp_path):
    """The project's own loop (StyleGAN2 recipe with INR-GAN's registered changes: none) trains
    the narrow variant a few steps and writes a checkpoint that loads back as an INR-GAN."""
    from data.prepare import prepare
    from tests.helpers import train_run
    from training.checkpoint import load_generator

    data = tmp_path / "faces.zip"
    prepare("embedded:default", 32, data, count=32, progress=False)
    final = train_run("inr_gan", data, tmp_path / "run", build=TINY, kimg=0.032, batch=8,
                      device="cpu", progress=False)  # fmt: skip
    G, meta = load_generator(final, device="cpu")
    assert isinstance(G, INRGANGenerator) and meta["model"] == "inr_gan"
    assert meta["hparams"]["pl_weight"] == 0 and meta["hparams"]["mixing"] == 0


def test_coordinate_features_are_kept_and_rebuilt_when_their_sources_change():
    """In eval mode the sin/cos features (from buffers) are built once and kept, and a no-grad
    forward keeps the whole stack until the learned embedding changes. Kept or fresh, the
    output is bit-identical; under autograd the stack is rebuilt and the embedding gets its
    gradient; training mode keeps nothing (its forward, as counted, does every op)."""
    G = models.build("inr_gan", resolution=64, **TINY).eval()
    fuser = G.synthesis_network.b64.coord_fuser
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))

    def fresh():
        for m in G.modules():
            for slot in ("_fourier", "_features"):
                m.__dict__.pop(slot, None)
        return G(z)

    with torch.no_grad():
        first = fresh()
        stack, waves = fuser.__dict__["_features"][1], fuser.__dict__["_fourier"][1]
        assert torch.equal(G(z), first) and fuser.__dict__["_features"][1] is stack
        fuser.const_embs.mul_(1.5)  # in place, as Adam and load_state_dict write
        moved = G(z)
        assert fuser.__dict__["_features"][1] is not stack
        assert fuser.__dict__["_fourier"][1] is waves  # the buffers did not change
        assert not torch.equal(moved, first) and torch.equal(moved, fresh())
        waves = fuser.__dict__["_fourier"][1]
    G(z).sum().backward()  # autograd on: the stack is rebuilt with the graph
    assert fuser.const_embs.grad is not None and fuser.__dict__["_fourier"][1] is waves
    for m in G.modules():
        m.__dict__.pop("_fourier", None)
    with torch.no_grad():
        G.train()(z)
    assert all("_fourier" not in m.__dict__ for m in G.modules())
