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
        nets,
        real,
        step=0,
        gen=seed_step(0, 0, 0),
        hp=hp,
        pl_mean=torch.zeros((), device="cuda"),
        d=Dist(),
    )
    assert r1_ran and torch.isfinite(stats).all()
    assert any(not torch.equal(a, b) for a, b in zip(before, nets.g_params, strict=True))


def test_latency_profile_on_cuda_records_memory():
    from benchmarks.profiling.profile import profile
    from common import settings

    cfg = settings.Profile(latency=[settings.Latency(64, [1, 2])], latency_repeats=3)
    prof = profile("pixelfolder", 64, cfg, device="cuda", counters=("flop_counter_mode",))
    lat = prof["latency"]
    assert lat["device_info"]["device"].startswith("cuda")
    for b in ("1", "2"):
        assert lat["by_batch"][b]["cuda_max_memory_allocated"] > 0
        assert lat["by_batch"][b]["images_per_s"] > 0


# ------------------------------------------------------------------------------ training fast paths


@pytest.fixture(scope="module")
def data32(tmp_path_factory):
    from data.prepare import prepare

    out = tmp_path_factory.mktemp("cuda_data") / "emb32.zip"
    prepare("embedded:default", 32, out, count=64, progress=False)
    return out


def _train_cuda(data, out, **kw):
    from tests.helpers import FAST_REG, NARROW, train_run
    from training.checkpoint import load_checkpoint

    train_run(
        "stylegan2",
        data,
        out,
        kimg=0.016,
        batch=4,
        grid=2,
        device="cuda",
        build=NARROW,
        hparams=FAST_REG,
        progress=False,
        log_every=1,
        **kw,
    )
    return load_checkpoint(out / "checkpoints" / "final.pt"), load_checkpoint(
        out / "checkpoints" / "ckpt-00000000.pt"
    )


# option → largest ‖w − w_fp32‖ / ‖w_fp32 − w_init‖ after 4 steps (the CPU tests' tolerances;
# TF32 rounds matmul/conv inputs to 10 mantissa bits, like fp16)
CUDA_FAST = {
    "bf16": ({"precision": "bf16"}, 0.5),
    "channels_last": ({"channels_last": True}, 1e-3),
    "compile": ({"compile": "inductor"}, 1e-3),
    "tf32": ({"tf32": True, "cudnn_benchmark": True}, 0.5),
}


@pytest.mark.parametrize("option", sorted(CUDA_FAST))
def test_training_fast_path_on_cuda_stays_close_to_fp32(option, data32, tmp_path):
    from tests.helpers import relative_difference

    kw, tol = CUDA_FAST[option]
    ref, init = _train_cuda(data32, tmp_path / "fp32")
    state, _ = _train_cuda(data32, tmp_path / option, **kw)
    for net in ("G", "D"):
        gap, _ = relative_difference(state[net], ref[net], init[net])
        assert gap < tol, (option, net, gap)
    numerics = state["meta"]["numerics"]
    assert numerics["precision"] == kw.get("precision", "fp32")
    assert numerics["tf32_cudnn"] == numerics["tf32_matmul"] == bool(kw.get("tf32"))
    assert numerics["cudnn_benchmark"] == bool(kw.get("cudnn_benchmark"))
    assert not ref["meta"]["numerics"]["tf32_cudnn"]  # exact fp32 by default, even for cuDNN


def test_fp16_grad_scaler_on_cuda(data32, tmp_path):
    """fp16 autocast + GradScaler: close to fp32 from a calibrated scale (as on CPU autocast),
    and a whole run writes its scalers into the checkpoint and records the precision."""
    from tests.helpers import fp16_against_fp32

    rel, scalers = fp16_against_fp32("cuda")
    assert 0 < rel < 0.5, rel
    assert all(s["_growth_tracker"] == 3 for s in scalers.values())
    state, _ = _train_cuda(data32, tmp_path, precision="fp16")
    assert set(state["scalers"]) == {"G", "D"} and state["meta"]["numerics"]["precision"] == "fp16"
    assert all(0 < s["scale"] <= 2.0**16 for s in state["scalers"].values())
    assert all(torch.isfinite(v).all() for v in state["G"].values() if v.is_floating_point())
