"""The CUDA paths: same numbers as on CPU, and every stage runs on the device.

Skipped on machines without a GPU (this project's CI); run them on a GPU box with plain
`pytest tests/test_cuda.py`. TF32 is switched off so CPU and CUDA are compared at fp32.
"""

from __future__ import annotations

import pytest
import torch

import models
from models.layers import ModulatedConv2d

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
TINY = {"width": 0.125, "z_dim": 32, "n_mlp": 2}


@pytest.fixture(autouse=True)
def fp32_only():
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


@pytest.mark.parametrize("name", models.available())
@pytest.mark.parametrize("res", [64, 256])
def test_generator_on_cuda_matches_cpu(name, res):
    G = models.build(name, resolution=res).eval()
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = G(z, noise_mode="const")
        out = G.cuda()(z.cuda(), noise_mode="const").cpu()  # CUDA no-grad: the grouped path
    assert torch.allclose(out, ref, rtol=1e-3, atol=1e-3), (out - ref).abs().max()


@pytest.mark.parametrize("upsample", [False, True])
def test_modconv_paths_agree_on_cuda(upsample):
    conv = ModulatedConv2d(32, 48, 3, 64, upsample=upsample).cuda()
    x, style = torch.randn(4, 32, 16, 16, device="cuda"), torch.randn(4, 64, device="cuda")
    s = conv.modulation(style)
    assert torch.allclose(conv.forward_grouped(x, s), conv.forward_activations(x, s), atol=1e-4)


def test_compiled_generator_on_cuda_matches_eager():
    G = models.build("stylegan2", resolution=64, **TINY).cuda().eval()
    C = models.build("stylegan2", resolution=64, compile=True, **TINY).cuda().eval()
    C.load_state_dict(G.state_dict())
    z = torch.randn(4, 32, device="cuda")
    with torch.no_grad():
        assert torch.allclose(G(z, noise_mode="const"), C(z, noise_mode="const"), atol=1e-4)


@pytest.mark.parametrize("name", models.available())
def test_training_step_on_cuda(name):
    from training.distributed import Dist
    from training.hparams import resolve_hparams
    from training.loop import training_step
    from training.networks import make_networks
    from training.sampler import seed_step

    hp = resolve_hparams(name, {"d_reg_interval": 1, "g_reg_interval": 1})
    nets, _ = make_networks(name, 32, TINY, hp, torch.device("cuda"))
    real = torch.rand(4, 3, 32, 32, device="cuda") * 2 - 1
    before = [p.detach().clone() for p in nets.g_params]
    stats, r1_ran, _ = training_step(
        nets, real, step=0, gen=seed_step(0, 0, 0), hp=hp, pl_mean=torch.zeros((), device="cuda"),
        d=Dist(),
    )  # fmt: skip
    assert r1_ran and torch.isfinite(stats).all()
    assert any(not torch.equal(a, b) for a, b in zip(before, nets.g_params, strict=True))


def test_latency_profile_on_cuda_records_memory():
    from benchmarks.profiling.profile import profile_model

    prof = profile_model("pixelfolder", 64, device="cuda", batch_sizes=(1, 2), repeats=3,
                         counters=("flop_counter_mode",))  # fmt: skip
    lat = prof["latency"]
    assert lat["device_info"]["device"].startswith("cuda")
    for b in ("1", "2"):
        assert lat["by_batch"][b]["cuda_max_memory_allocated"] > 0
        assert lat["by_batch"][b]["images_per_s"] > 0
