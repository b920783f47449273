"""The training fast paths (training.fastpath), each tested on CPU against the exact fp32 default:
bf16 autocast, channels-last, torch.compile, the fp16 GradScaler logic (CPU autocast, bypassing
the CUDA-only check), and the record of them in run.json and checkpoints. tests/test_cuda.py
has the GPU versions.

Closeness is measured as ‖w − w_fp32‖ / ‖w_fp32 − w_init‖ over a network's weights after
4 steps: the gap between the two runs as a fraction of how far training moved the weights.

Error model (marker `numerics`; docs/numerics.md): chaotic dynamics, bounds measured across
instruction sets with a margin. Adam (β1 = 0) divides each gradient entry by its own RMS, so
rounding differences anywhere grow into a gap of their own size and shape: flipping the last
bit of 1 % of the weights at step 0 of this exact fp32 run (12 draws) ends ≤ 5.5e-5 (G) and
≤ 3.9e-6 (D) away. An fp32 path in other kernels is such a perturbation at every step; bf16 and
fp16 round every activation to 8 / 11 significant bits.
"""

from __future__ import annotations

import json

import pytest
import torch

from common import settings
from common.cli import UsageError, run
from tests.helpers import (
    FAST_REG,
    NARROW,
    fp16_against_fp32,
    relative_difference,
    train_run,
)
from training.checkpoint import load_checkpoint
from training.fastpath import FastPath
from training.train import main, parse_args

pytestmark = pytest.mark.usefixtures("one_thread_module")  # tests/conftest.py

RUN = dict(
    kimg=0.016,
    batch=4,
    grid=2,
    device="cpu",
    build=NARROW,
    hparams=FAST_REG,
    progress=False,
    log_every=1,
)


def run_with(data, out, **kw) -> dict:
    train_run("stylegan2", data, out, **{**RUN, **kw})
    return load_checkpoint(out / "checkpoints" / "final.pt")


@pytest.fixture(scope="module")
def fp32(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("fp32")
    final = run_with(dataset, out)
    return final, load_checkpoint(out / "checkpoints" / "ckpt-00000000.pt")


def gaps(state: dict, fp32) -> dict:
    ref, init = fp32
    return {net: relative_difference(state[net], ref[net], init[net])[0] for net in ("G", "D")}


@pytest.mark.numerics
def test_bf16_autocast_stays_close_to_fp32(dataset, fp32, tmp_path):
    """Tolerance 0.5 (measured 0.17-0.24 for G, 0.10-0.14 for D over the four models; here,
    StyleGAN2, G 0.22-0.25 and D 0.10-0.13 under AVX-512, AVX2 and SSE4.1 dispatch, whose bf16
    kernels differ: native AVX512-BF16 dot products vs fp32 emulation): bf16 keeps 8 mantissa
    bits, and Adam's first steps move each weight by ~lr·sign(g), so gradient entries near
    zero may flip. A run that learned something else would be ≳ 1 (an unrelated update is as
    long as the update itself). The R1/path-length passes stay fp32."""
    state = run_with(dataset, tmp_path, precision="bf16")
    gap = gaps(state, fp32)
    assert all(0 < g < 0.5 for g in gap.values()), gap
    numerics = state["meta"]["numerics"]
    assert numerics["precision"] == "bf16" and numerics["autocast_passes"] == "D, G"
    assert json.loads((tmp_path / "run.json").read_text())["numerics"] == numerics


@pytest.mark.numerics
def test_channels_last_matches_fp32_and_backend_flags_are_recorded(dataset, fp32, tmp_path):
    """Tolerance 1e-3: the same fp32 arithmetic in other kernels (oneDNN's channels-last
    convolutions sum in another order), a last-bit perturbation at every step: ~5e-5 for G by
    the model above; measured ≤ 1.1e-5 (G), 3.5e-6 (D) under every dispatch, 18× inside. TF32
    and cudnn.benchmark are process switches (no effect on CPU): set for the run, recorded,
    restored afterwards."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark
    state = run_with(dataset, tmp_path, channels_last=True, tf32=True, cudnn_benchmark=True)
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark) == before
    gap = gaps(state, fp32)
    assert all(g < 1e-3 for g in gap.values()), gap
    numerics = state["meta"]["numerics"]
    assert numerics["channels_last"] and numerics["tf32_matmul"] and numerics["tf32_cudnn"]
    assert numerics["cudnn_benchmark"] and numerics["precision"] == "fp32"
    assert "float32_matmul_precision" in numerics and "cudnn_deterministic" in numerics
    ref = fp32[0]["meta"]["numerics"]  # the default: exact fp32 everywhere
    assert not (ref["tf32_matmul"] or ref["tf32_cudnn"] or ref["cudnn_benchmark"])
    assert ref["compile"] is None and not ref["channels_last"]


@pytest.mark.numerics
def test_compiled_main_passes_match_eager(dataset, fp32, tmp_path):
    """torch.compile with the aot_eager backend (dynamo capture + AOT autograd, no code
    generation: inductor's C++ build takes minutes on 2 CPU cores; tests/test_cuda.py runs
    inductor). Tolerance 1e-3 as for channels-last: the traced graph runs the plain epilogue
    formulas, not the fused ones, so the last bits differ at every step; measured ≤ 1.0e-5 (G),
    2.7e-6 (D) under every dispatch."""
    state = run_with(dataset, tmp_path, compile="aot_eager")
    gap = gaps(state, fp32)
    assert all(g < 1e-3 for g in gap.values()), gap
    assert state["meta"]["numerics"]["compile"] == "aot_eager"


@pytest.mark.numerics
def test_fp16_grad_scaler_path_on_cpu_autocast():
    """The fp16 logic (autocast + one GradScaler per network, scaled main passes only, scaler
    state through a checkpoint) on CPU float16 autocast; the CLI refuses fp16 on CPU (below).

    The scalers start from a calibrated scale of 2^14, as a resumed run's do: a fresh one starts
    at 2^16 and skips each network's first update while it backs off, which would leave one
    update of three missing against fp32. Tolerance 0.5 as for bf16 (measured 0.10-0.11 under
    AVX-512, AVX2 and SSE4.1 dispatch: fp16 keeps 11 significant bits); no update may be
    skipped (growth tracker 3 = three finite steps)."""
    rel, scalers = fp16_against_fp32("cpu")
    assert 0 < rel < 0.5, rel
    assert set(scalers) == {"G", "D"}
    assert all(s["scale"] == 2.0**14 and s["_growth_tracker"] == 3 for s in scalers.values())
    again = FastPath(settings.Train(precision="fp16"), None, "cpu")
    again.load_state_dict(scalers)
    assert again.state_dict() == scalers


def test_fast_path_flags_and_their_errors(dataset, tmp_path, capsys):
    names = ("micro_batch", "precision", "channels_last", "compile", "tf32", "cudnn_benchmark")
    args = vars(parse_args(["--model", "m", "--data", "d", "--out", "o"])[1])
    assert {n: args[n] for n in names} == {n: settings.defaults(settings.Train)[n] for n in names}
    assert args["precision"] == "fp32" and not args["channels_last"] and args["compile"] is None
    argv = [
        "--model",
        "m",
        "--data",
        "d",
        "--out",
        "o",
        "--micro-batch",
        "2",
        "--precision",
        "bf16",
        "--channels-last",
        "--compile",
        "inductor",
        "--tf32",
        "--cudnn-benchmark",
    ]
    args = vars(parse_args(argv)[1])
    assert [args[n] for n in names] == [2, "bf16", True, "inductor", True, True]
    base = [
        "--model",
        "cips",
        "--data",
        str(dataset),
        "--out",
        str(tmp_path),
        "--device",
        "cpu",
        "--kimg",
        "0.004",
        "--batch",
        "4",
    ]
    cases = {
        "--precision fp16 needs a CUDA device": ["--precision", "fp16"],
        "'nosuch' is not a torch.compile backend": ["--compile", "nosuch"],
    }
    for expected, extra in cases.items():
        assert run(main, base + extra) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and expected in err and "\n" not in err, err
    assert not (tmp_path / "checkpoints").exists()
    with pytest.raises(UsageError, match="--precision: 'fp8' is not one of"):
        parse_args(["--model", "m", "--data", "d", "--out", "o", "--precision", "fp8"])
