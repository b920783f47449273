"""Training loop, checkpoints and resume exactness (tiny models at 32×32); the CLI's errors and
defaults are in test_training_cli.py, the CPU presets' learning in test_training_presets.py, the
data-parallel tests are in test_training_parallel.py, the kill-and-resume ones in
test_training_kill.py, the fast paths (bf16, channels-last, compile, fp16) in
test_training_fastpath.py.

Runs use one torch thread: on a shared 2-core machine OpenMP spin-waiting with 2 threads can
make a step 10-40× slower, and exact-resume equality needs a fixed thread count anyway.
"""

from __future__ import annotations

import csv

import pytest
import torch

from common.cli import UsageError
from models import available
from tests.helpers import FAST_REG, TINY, tensors_equal, train_run
from training.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    load_generator,
    save_checkpoint,
)
from training.errors import TrainingError
from training.sampler import BatchStream

pytestmark = pytest.mark.usefixtures("one_thread_module")  # tests/conftest.py


def tiny_run(model, data, out, **kw):
    args = dict(
        kimg=0.016,
        batch=4,
        snap_kimg=0.008,
        device="cpu",
        build=TINY,
        hparams=FAST_REG,
        grid=4,
        progress=False,
        log_every=1,
    )
    args.update(kw)
    return train_run(model, data, out, **args)


# ------------------------------------------------------------------------------ the loop


@pytest.mark.parametrize("model", available())
def test_every_model_trains_and_writes_outputs(model, dataset, tmp_path):
    final = tiny_run(model, dataset, tmp_path)
    assert final == tmp_path / "checkpoints" / "final.pt" and final.exists()
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("ckpt-*.pt")) == [
        "ckpt-00000000.pt",
        "ckpt-00000002.pt",
        "ckpt-00000004.pt",
    ]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "grid-00000000.png",
        "grid-00000002.png",
        "grid-00000004.png",
    ]
    with open(tmp_path / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    for r in rows:
        for key in ("loss_D", "loss_G", "r1", "sec_per_kimg", "img_per_s", "peak_mem_mb"):
            assert float(r[key]) == float(r[key]), key  # present and not NaN
        assert r["variant"].startswith("narrow variant")

    state = load_checkpoint(final)
    meta = state["meta"]
    assert meta["model"] == model and meta["step"] == 4 and meta["kimg"] == 0.016
    assert meta["narrow"] and meta["overrides"] == TINY
    assert meta["dataset"]["sha256"] and meta["dataset"]["path"] == str(dataset.resolve())
    assert set(state) >= {"G", "D", "G_ema", "opt_G", "opt_D", "rng", "loop", "scalers"}
    assert len(state["rng"]) == 1 and state["scalers"] == {}  # one process's RNG states; fp32
    assert meta["micro_batch"] == 4 and meta["world_size"] == 1
    assert meta["numerics"]["precision"] == "fp32" and not meta["numerics"]["tf32_cudnn"]
    assert torch.isfinite(torch.tensor(state["loop"]["pl_mean"]))
    if model == "stylegan2":  # its registered recipe: path-length regularisation + mixing
        assert meta["hparams"]["pl_weight"] == 2.0 and state["loop"]["pl_mean"] > 0
        assert meta["hparams"]["mixing"] == 0.9
    else:
        assert meta["hparams"]["pl_weight"] == 0 and meta["hparams"]["mixing"] == 0
    # PixelFolder's dead merge layer is found generically and frozen (and still saved)
    frozen = [n for n in meta["frozen_params"] if "posfolders.0.conv_merge" in n]
    assert bool(frozen) == (model == "pixelfolder")
    assert all(n.removeprefix("G.") in state["G"] for n in frozen)


def test_load_generator_round_trip(dataset, tmp_path):
    final = tiny_run("cips", dataset, tmp_path, kimg=0.012, snap_kimg=None)
    # no snapshot interval: the untrained start and the end only
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("ckpt-*.pt")) == [
        "ckpt-00000000.pt",
        "ckpt-00000003.pt",
    ]
    G, meta = load_generator(final)
    state = load_checkpoint(final)
    assert not G.training and meta["model"] == "cips" and meta["resolution"] == 32
    assert {"overrides", "kimg", "step", "dataset"} <= meta.keys() and meta["dataset"]["sha256"]
    tensors_equal(G.state_dict(), state["G_ema"])
    G_raw, _ = load_generator(final, which="G")
    tensors_equal(G_raw.state_dict(), state["G"])
    z = torch.randn(2, G.z_dim)
    img = G(z, noise_mode="const")
    assert img.shape == (2, 3, 32, 32) and torch.equal(img, G(z, noise_mode="const"))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_generator(tmp_path / "nope.pt")
    assert issubclass(CheckpointError, UsageError) and issubclass(TrainingError, UsageError)


@pytest.mark.numerics
def test_resume_is_bit_exact(dataset, tmp_path):
    """Run to 6 steps in one go vs 3 steps + resume (with DataLoader workers) → identical state.
    Bit for bit on any CPU: the resumed process restores the exact state (weights, optimizer
    moments, RNG, loop counters) and then runs the same kernels on the same shapes with the
    same thread count, so every sum is taken in the same order as in the uninterrupted run."""
    a, b = tmp_path / "a", tmp_path / "b"
    tiny_run("pixelfolder", dataset, a, kimg=0.024)
    tiny_run("pixelfolder", dataset, b, kimg=0.012)
    assert load_checkpoint(latest_checkpoint(b))["meta"]["step"] == 3
    tiny_run("pixelfolder", dataset, b, kimg=0.024, resume="auto", workers=1)
    sa, sb = (
        load_checkpoint(a / "checkpoints" / "final.pt"),
        load_checkpoint(b / "checkpoints" / "final.pt"),
    )
    for key in ("G", "D", "G_ema", "opt_G", "opt_D", "loop"):
        tensors_equal(sa[key], sb[key], key)
    assert sa["meta"]["step"] == sb["meta"]["step"] == 6
    with open(b / "log.csv", newline="") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [1, 2, 3, 4, 5, 6]


@pytest.mark.numerics
def test_resume_is_bit_exact_with_mixing_and_path_length(dataset, tmp_path):
    """As test_resume_is_bit_exact, with style mixing and the path-length target (pl_mean)."""
    a, b = tmp_path / "a", tmp_path / "b"
    tiny_run("stylegan2", dataset, a, kimg=0.016)
    tiny_run("stylegan2", dataset, b, kimg=0.008)
    tiny_run("stylegan2", dataset, b, kimg=0.016, resume=latest_checkpoint(b))
    sa, sb = (
        load_checkpoint(a / "checkpoints" / "final.pt"),
        load_checkpoint(b / "checkpoints" / "final.pt"),
    )
    for key in ("G", "D", "G_ema", "opt_G", "opt_D", "loop"):
        tensors_equal(sa[key], sb[key], key)


def test_batch_stream_is_a_function_of_position():
    full = BatchStream(10, 4, seed=3, start=0)
    it = iter(full)
    seq = [i for _ in range(6) for i in next(it)]  # crosses two epoch boundaries
    assert sorted(seq[:10]) == list(range(10)) and sorted(seq[10:20]) == list(range(10))
    assert next(iter(BatchStream(10, 4, seed=3, start=8))) == seq[8:12]
    ranks = [next(iter(BatchStream(10, 4, seed=3, start=8, rank=r, world=2))) for r in (0, 1)]
    assert ranks[0] + ranks[1] == seq[8:12]


# ------------------------------------------------------------------------------ checkpoints


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "ckpt-00000001.pt"
    save_checkpoint(path, {"w": torch.arange(4.0)})
    real_save = torch.save

    def crash_midway(obj, f, *a, **kw):
        f.write(b"PK\x03\x04 partial bytes")
        raise KeyboardInterrupt("killed during save")

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"w": torch.zeros(4)})
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.equal(load_checkpoint(path)["w"], torch.arange(4.0))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind
    save_checkpoint(tmp_path / "ckpt-00000010.pt", {})
    save_checkpoint(tmp_path / "checkpoints" / "ckpt-00000002.pt", {})
    assert latest_checkpoint(tmp_path).name == "ckpt-00000010.pt"
    assert latest_checkpoint(tmp_path / "empty") is None


def test_bad_checkpoints_raise_one_line_errors(tmp_path):
    good = save_checkpoint(tmp_path / "good.pt", {"x": torch.ones(3)})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:40])
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": torch.ones(1)}, foreign)
    for path, msg in (
        (tmp_path / "missing.pt", "does not exist"),
        (truncated, "corrupt"),
        (foreign, "not a pixbench checkpoint"),
    ):
        with pytest.raises(CheckpointError, match=msg) as info:
            load_checkpoint(path)
        assert "\n" not in str(info.value)
