"""The model zoo: exact sizes, forward parity with the official code, the common interface.

The numerical tests (marker `numerics`, rerun per instruction set by tests/test_isa_variants.py)
state their error model; docs/numerics.md has the values measured under each dispatch.
"""

import argparse
import copy

import pytest
import torch

import models
from models.official import OfficialCheckpointError
from models.pixelfolder import stage_resolutions
from tests.golden import (
    assert_close_to_golden,
    fill_golden,
    golden_input,
    load_golden,
    load_layout,
    output_stats,
)

GOLDEN = load_golden()
LAYOUT = load_layout()
TINY = dict(width=0.0625, z_dim=32, n_mlp=2)  # narrow enough to run any model in milliseconds
SLOW = pytest.mark.slow


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# ----------------------------------------------------------------------------- exact sizes
@pytest.mark.parametrize(
    "name,count", [("pixelfolder", 20_843_614), ("cips", 44_317_092), ("stylegan2", 30_034_338)]
)
def test_param_counts_256(name, count):
    assert n_params(models.build(name, resolution=256)) == count


def test_discriminator_param_count_256():
    assert n_params(models.build_discriminator(256)) == 28_864_129


@pytest.mark.parametrize(
    "name,res,count",
    [
        ("pixelfolder", 512, 17_478_430),
        ("cips", 512, 145_124_329),
        ("stylegan2", 512, 30_276_583),
        ("pixelfolder", 1024, 21_141_096),
        ("cips", 1024, 547_846_414),
        ("stylegan2", 1024, 30_370_060),
    ],
)
def test_param_counts_high_res_on_meta(name, res, count):
    with torch.device("meta"):
        assert n_params(models.build(name, resolution=res)) == count


def test_pixelfolder_stage_layout():
    assert stage_resolutions(256) == [16, 64, 256]
    assert stage_resolutions(512) == [32, 128, 512]
    assert stage_resolutions(1024) == [16, 64, 256, 1024]
    assert models.build("pixelfolder", 256).num_ws == 13


# ----------------------------------------------------------------------------- official parity
def _network(name, res):
    return (
        models.build_discriminator(res)
        if name == "discriminator"
        else models.build(name, resolution=res)
    )


@pytest.mark.parametrize("name", ["pixelfolder", "cips", "stylegan2", "discriminator"])
def test_state_dict_names_and_shapes_match_official(name):
    with torch.device("meta"):
        net = _network(name, 256)
    ref = {k: v for k, v in LAYOUT[name]["parameters"]} | {k: v for k, v in LAYOUT[name]["buffers"]}
    ours = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert ours == ref


@pytest.mark.numerics
@pytest.mark.parametrize(
    "name,res",
    [
        (name, res) if (name, res) != ("cips", 256) else pytest.param(name, res, marks=SLOW)
        for res in (64, 256)
        for name in ("pixelfolder", "cips", "stylegan2")
    ],
)
def test_generator_forward_matches_official(name, res):
    """Error model: tests.golden.assert_close_to_golden (a float64 run's distance). CIPS at
    256 px takes 45-120 s, so the instruction-set reruns (`numerics and not slow`) leave it
    out: same layers, same reduction lengths as at 64 px, only more pixels."""
    G = models.build(name, resolution=res)
    fill_golden(G)
    z = golden_input((2, 512), 12345)
    for mode in ("eval", "train"):
        G.train(mode == "train")
        with torch.no_grad():
            y = G(z, noise_mode="random")  # noise weights are zero in the golden fill
        assert_close_to_golden(output_stats(y), GOLDEN[name][str(res)][mode])


@pytest.mark.numerics
@pytest.mark.parametrize("res", [64, 256])
def test_discriminator_forward_matches_official(res):
    """The two logits to 1e-3: both fp32, ours within 5.9e-6 and the reference within 3.8e-6 of
    a float64 run of the same net (measured at 64 and 256 px under each dispatch; logits of
    magnitude ≤ 2): ≥ 100× inside."""
    D = models.build_discriminator(res).eval()
    fill_golden(D)
    with torch.no_grad():
        logits = D(golden_input((2, 3, res, res), 777))
    ref = GOLDEN["discriminator"][str(res)]["eval"]
    assert list(logits.shape) == ref["shape"]
    assert logits.flatten().tolist() == pytest.approx(ref["values"], abs=1e-3)


# ----------------------------------------------------------------------------- interface
@pytest.mark.parametrize("name", models.available())
@pytest.mark.parametrize("res", [32, 64])
def test_every_generator_runs_small(name, res):
    G = models.build(name, resolution=res, **TINY)
    assert G.z_dim == 32 and G.resolution == res
    y = G(torch.randn(2, 32))
    assert y.shape == (2, 3, res, res) and torch.isfinite(y).all()
    assert y.is_contiguous()  # plain NCHW even when the CPU convs ran channels-last


@pytest.mark.parametrize(
    "name,res", [(n, r) for n in models.available() for r in models.resolutions(n) if r >= 128]
)
def test_every_generator_shapes_on_meta(name, res):
    with torch.device("meta"):
        G = models.build(name, resolution=res, **TINY)
        img, stages = G(torch.randn(1, 32), noise_mode="none", return_stages=True)
    assert img.shape == (1, 3, res, res)
    assert stages[-1].shape == img.shape


def test_stage_outputs():
    pf = models.build("pixelfolder", resolution=256, **TINY)
    _, stages = pf(torch.randn(1, 32), return_stages=True)
    assert [s.shape[-1] for s in stages] == [16, 64, 256]
    sg = models.build("stylegan2", resolution=64, **TINY)
    _, stages = sg(torch.randn(1, 32), return_stages=True)
    assert [s.shape[-1] for s in stages] == [4, 8, 16, 32, 64]
    cips = models.build("cips", resolution=32, **TINY)
    _, stages = cips(torch.randn(1, 32), return_stages=True)
    assert len(stages) == 4 and all(s.shape[-1] == 32 for s in stages)


@pytest.mark.numerics
@pytest.mark.parametrize("name", models.available())
def test_noise_modes_and_truncation(name):
    """Bit-exact repeats: the same call twice runs the same kernels on the same shapes, values
    and thread count, so it sums in the same order on any CPU. ψ = 0 gives every sample the
    same w; a GEMM may block the batch's rows differently (its edge rows in another kernel), so
    the rows may differ by the generator's fp32 error, ~γ_K·Σ|t| per layer: 1e-5 (measured 0
    under every dispatch)."""
    G = models.build(name, resolution=32, **TINY).eval()
    with torch.no_grad():
        for p in G.parameters():
            if p.dim() == 1 and p.numel() == 1:
                p.fill_(0.5)  # noise strengths: make noise visible
        z = torch.randn(3, 32)
        assert torch.equal(G(z, noise_mode="const"), G(z, noise_mode="const"))
        if G.has_noise:  # INR-GAN's released config has no noise inputs
            assert not torch.equal(G(z, noise_mode="random"), G(z, noise_mode="random"))
        else:
            assert torch.equal(G(z, noise_mode="random"), G(z, noise_mode="const"))
        assert torch.equal(G(z, noise_mode="none"), G(z, noise_mode="none"))
        y = G(z, truncation_psi=0.0, noise_mode="none")  # psi 0: every sample is the mean image
        assert torch.allclose(y[0], y[1], atol=1e-5) and torch.allclose(y[0], y[2], atol=1e-5)
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, noise_mode="loud")


@pytest.mark.numerics
@pytest.mark.parametrize("name", models.available())
def test_style_mixing_where_supported(name):
    """Mixing z with itself is bit-exact: the mapping runs twice on the same z (same kernels,
    same order), so ws, and everything after, are the same bits on any CPU."""
    G = models.build(name, resolution=32, **TINY)
    z1, z2 = torch.randn(2, 32), torch.randn(2, 32)
    if not G.supports_mixing:
        with pytest.raises(ValueError, match="mixing"):
            G(z1, z_mix=z2)
        return
    a = G(z1, noise_mode="none")
    mixed = G(z1, z_mix=z2, mix_index=1, noise_mode="none")
    same = G(z1, z_mix=z1, mix_index=1, noise_mode="none")
    assert torch.equal(a, same) and not torch.allclose(a, mixed)


def test_width_override_scales_every_layer():
    full = n_params(models.build("stylegan2", resolution=64))
    half = n_params(models.build("stylegan2", resolution=64, width=0.5))
    assert half < 0.5 * full
    D = models.build_discriminator(32, width=0.125)
    assert D(torch.randn(3, 3, 32, 32)).shape == (3, 1)  # odd batch: stddev group falls back


def test_registry_errors_are_one_line():
    with pytest.raises(
        ValueError, match="unknown model 'pixlefolder'; available: " + ", ".join(models.available())
    ):
        models.build("pixlefolder")
    with pytest.raises(ValueError, match="resolution 100 is not supported") as e:
        models.build("cips", resolution=100)
    assert "\n" not in str(e.value)
    assert set(models.available()) >= {"pixelfolder", "cips", "stylegan2", "inr_gan"}
    with pytest.raises(ValueError, match="inr_gan: resolution 512 is not supported") as e:
        models.build("inr_gan", resolution=512)
    assert "\n" not in str(e.value)


def test_every_model_states_its_resolutions():
    for name in models.available():
        assert models.resolutions(name) and all(r & (r - 1) == 0 for r in models.resolutions(name))
    assert max(models.resolutions("inr_gan")) == 256


def test_resolutions_and_noise_modes_come_from_the_one_list():
    from common import settings
    from models import base

    assert base.NOISE_MODES is settings.NOISE_MODES
    for name in models.available():
        assert set(models.resolutions(name)) <= set(settings.RESOLUTIONS)
    assert models.resolutions("inr_gan") == (32, 64, 128, 256)
    assert models.resolutions("stylegan2") == (32, 64, 128, 256, 512, 1024)


def test_registrations_declare_display_names_and_arch_keys():
    assert [models.display_name(n) for n in ("pixelfolder", "cips", "stylegan2", "inr_gan")] == [
        "PixelFolder",
        "CIPS",
        "StyleGAN2",
        "INR-GAN",
    ]
    assert models.arch_keys("cips") == (
        "width",
        "z_dim",
        "n_mlp",
        "hidden_size",
        "channel_multiplier",
    )
    assert models.arch_keys("inr_gan") == ("width", "z_dim", "n_mlp", "rank")
    assert models.recipe("stylegan2") == {"mixing": 0.9, "pl_weight": 2.0}
    with pytest.raises(ValueError, match="unknown model 'nogan'"):
        models.display_name("nogan")


def test_a_bare_registration_gets_the_defaults(monkeypatch):
    from models import registry

    monkeypatch.setattr(registry, "_GENERATORS", dict(registry._GENERATORS))
    monkeypatch.setattr(registry, "_INFO", dict(registry._INFO))

    @registry.register("zz_bare")
    class Bare(models.base.Generator):
        pass

    assert models.info("zz_bare") == registry.ModelInfo(
        "zz_bare", "zz_bare", models.COMMON_ARCH_KEYS
    )
    assert models.resolutions("zz_bare") == (32, 64, 128, 256, 512, 1024)
    with pytest.raises(ValueError, match="zz_bare: resolution 16 is not supported"):
        Bare(resolution=16)


def test_variant_label_names_the_keys_a_registration_declares():
    from training.networks import variant_label

    assert (
        variant_label({"hidden_size": 64, "lr_mlp": 0.1}, "cips")
        == "narrow variant (hidden_size=64)"
    )
    assert (
        variant_label({"rank": 4, "width": 0.5}, "inr_gan") == "narrow variant (rank=4, width=0.5)"
    )
    assert variant_label({"modconv_mode": "grouped"}, "stylegan2") == "official architecture"


@pytest.mark.numerics
def test_compiled_synthesis_matches_eager():
    """Error model: distance to a float64 run. Inductor's kernels sum in their own order (and
    fuse the epilogues), so compiled and eager fp32 outputs differ by their rounding errors;
    two fp32 evaluations in different orders have errors of the same RMS. So the compiled
    output's RMS distance to the float64 eager output is at most 2× eager's (measured 1.005-1.02
    under AVX-512, AVX2 and baseline dispatch; max |Δ| 1.8e-6-2.6e-6), and a miscompiled op
    is off by its whole value."""
    G = models.build("pixelfolder", resolution=32, **TINY).eval()
    C = models.build("pixelfolder", resolution=32, compile=True, **TINY).eval()
    C.load_state_dict(G.state_dict())
    G64 = copy.deepcopy(G).double()
    z = torch.randn(2, 32)
    with torch.no_grad():
        exact = G64(z.double(), noise_mode="const")
        eager = G(z, noise_mode="const").double() - exact
        compiled = C(z, noise_mode="const").double() - exact
    assert compiled.norm() <= 2 * eager.norm(), (compiled.norm(), eager.norm())


# ----------------------------------------------------------------------------- official checkpoints
def test_load_official_round_trip(tmp_path):
    src = models.build("pixelfolder", resolution=64)
    path = tmp_path / "official.pt"
    torch.save({"g_ema": src.state_dict(), "args": argparse.Namespace(size=64)}, path)
    G = models.load_official(path, "pixelfolder", resolution=64)
    assert not G.training
    for k, v in src.state_dict().items():
        assert torch.equal(G.state_dict()[k], v)


def test_load_official_errors(tmp_path):
    with pytest.raises(OfficialCheckpointError, match="no such checkpoint file"):
        models.load_official(tmp_path / "missing.pt", "cips")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(
        OfficialCheckpointError,
        match="not a readable official checkpoint: not a PyTorch checkpoint file",
    ):
        models.load_official(bad, "cips")
    other = tmp_path / "sg2.pt"
    torch.save({"g_ema": models.build("stylegan2", resolution=32, **TINY).state_dict()}, other)
    with pytest.raises(OfficialCheckpointError, match="does not fit pixelfolder"):
        models.load_official(other, "pixelfolder", resolution=32, **TINY)
    torch.save({"g": {}}, other)
    with pytest.raises(OfficialCheckpointError, match="has no 'g_ema' entry"):
        models.load_official(other, "pixelfolder")


def test_cips_keeps_its_input_features_in_eval_and_recomputes_when_they_change():
    """The z-independent Fourier features and embedding are built once per eval no-grad forward
    series: bit-identical outputs to a fresh computation, a new cache after an in-place update
    of a source tensor (an optimizer step, load_state_dict), never in train mode or under
    autograd (the gradients need the graph)."""
    G = models.build("cips", resolution=32, width=0.125).eval()
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))

    def fresh():
        G.__dict__.pop("_input_cache", None)
        return G(z, noise_mode="const")

    with torch.no_grad():
        first = fresh()
        kept = G.__dict__["_input_cache"][1]
        assert torch.equal(G(z, noise_mode="const"), first)
        assert G.__dict__["_input_cache"][1] is kept  # reused, not rebuilt
        G.lff.ffm.conv.weight.mul_(1.5)  # in place, as Adam and load_state_dict write
        moved = G(z, noise_mode="const")
        assert not torch.equal(moved, first)
        assert torch.equal(moved, fresh())
    G.__dict__.pop("_input_cache")
    y = G(z, noise_mode="const")  # autograd on: recomputed, gradients reach the sources
    y.sum().backward()
    assert G.lff.ffm.conv.weight.grad is not None and "_input_cache" not in G.__dict__
    with torch.no_grad():
        G.train()
        G(z, noise_mode="const")
    assert "_input_cache" not in G.__dict__
