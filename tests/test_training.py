"""Training loop, checkpoints, resume exactness and CLI errors (tiny models at 32×32); the
data-parallel tests are in test_training_parallel.py, the kill-and-resume ones in
test_training_kill.py, the fast paths (bf16, channels-last, compile, fp16) in
test_training_fastpath.py.

Runs use one torch thread: on a shared 2-core machine OpenMP spin-waiting with 2 threads can
make a step 10-40× slower, and exact-resume equality needs a fixed thread count anyway.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import training.loss as loss_mod
from common import settings
from common.cli import UsageError, run
from data.prepare import prepare
from models import available
from training.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    load_generator,
    save_checkpoint,
)
from training.ema import ema_decay
from training.errors import TrainingError
from training.hparams import resolve_hparams
from training.loop import train
from training.networks import make_optimizer
from training.sampler import BatchStream
from training.train import NOT_FLAGS, build_parser, main, parse_args

ROOT = Path(__file__).resolve().parents[1]
TINY = {"width": 0.125, "z_dim": 32, "n_mlp": 2}
FAST_REG = {"d_reg_interval": 2, "g_reg_interval": 2}  # regularisers run within a few steps
TINY_CLI = [f"--build={k}={v}" for k, v in TINY.items()]
TINY_CLI += [f"--hparam={k}={v}" for k, v in FAST_REG.items()]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """64 embedded images at 32×32, prepared by the real data pipeline."""
    out = tmp_path_factory.mktemp("data") / "emb32.zip"
    cmd = [
        sys.executable,
        "-m",
        "data.prepare",
        "--source",
        "embedded:default",
        "--resolution",
        "32",
        "--count",
        "64",
        "--out",
        str(out),
        "-q",
    ]
    subprocess.run(cmd, cwd=ROOT, check=True)
    return out


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
    return train(model, data, out, **args)


def tensors_equal(a, b, where="") -> None:
    """Assert two nested checkpoint structures are identical, tensors compared with torch.equal."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            tensors_equal(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            tensors_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


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


# ------------------------------------------------------------------------------ failures + CLI


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(
    dataset, tmp_path, monkeypatch, capsys
):
    calls = {"n": 0}
    real = loss_mod.d_logistic_loss

    def blows_up_on_step_3(real_logits, fake_logits):
        calls["n"] += 1
        loss = real(real_logits, fake_logits)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(loss_mod, "d_logistic_loss", blows_up_on_step_3)
    argv = [
        "--model",
        "stylegan2",
        "--data",
        str(dataset),
        "--out",
        str(tmp_path),
        "--kimg",
        "0.016",
        "--batch",
        "4",
        "--snap-kimg",
        "0.008",
        "--device",
        "cpu",
        "--grid",
        "2",
        *TINY_CLI,
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "non-finite loss at step 3" in err and "ckpt-00000002.pt" in err
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "ckpt-00000000.pt",  # the untrained start
        "ckpt-00000002.pt",
    ]
    assert torch.isfinite(
        load_checkpoint(tmp_path / "checkpoints" / "ckpt-00000002.pt")["G"]["style.1.weight"]
    ).all()


def test_bad_input_exits_2(dataset, tmp_path, capsys):
    base = [
        "--data",
        str(dataset),
        "--out",
        str(tmp_path / "run"),
        "--kimg",
        "0.004",
        "--batch",
        "4",
        "--device",
        "cpu",
        *TINY_CLI,
    ]
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"garbage")
    cases = {
        "unknown model": ["--model", "nosuchgan", *base],
        "does not exist": ["--model", "cips", *base, "--data", str(tmp_path / "missing.zip")],
        "dataset resolution is 32": ["--model", "cips", *base, "--resolution", "64"],
        "not writable": ["--model", "cips", *base, "--out", str(blocker / "sub")],
        "the checkpoint does not exist": [
            "--model",
            "cips",
            *base,
            "--resume",
            str(tmp_path / "nope.pt"),
        ],
        "corrupt": ["--model", "cips", *base, "--resume", str(corrupt)],
        "--build expects KEY=VALUE": ["--model", "cips", *base, "--build", "width"],
        "--batch: 0 is less than the minimum of 1": ["--model", "cips", *base, "--batch", "0"],
        "--kimg: must be a finite number, got inf": ["--model", "cips", *base, "--kimg", "inf"],
    }
    for expected, argv in cases.items():
        assert run(main, argv) == 2, expected
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and expected in err and "\n" not in err, (expected, err)
    # the real entry point turns that into the process exit status
    proc = subprocess.run(
        [sys.executable, "-m", "training.train", *cases["unknown model"]],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "unknown model 'nosuchgan'" in proc.stderr


@pytest.mark.parametrize(
    "flag, item, expected",
    [
        ("--hparam", "lr_typo=1", "--hparam: unknown hyper-parameter(s) lr_typo; known: beta1, "),
        ("--build", "bogus=1", "build override 'bogus' is not accepted by cips; accepted: "),
    ],
)
def test_unknown_keys_exit_2_with_one_line(dataset, tmp_path, capsys, flag, item, expected):
    """Build overrides and hyper-parameters are separate flags; a wrong key in either is bad
    input (one line, exit 2), found before anything is trained or written."""
    argv = [
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
        flag,
        item,
    ]
    assert run(main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and expected in err and "\n" not in err, err
    assert not (tmp_path / "checkpoints").exists()


def test_hparams_defaults_recipe_and_overrides():
    """HParams defaults ⊕ models.recipe(model) ⊕ the user's, unknown keys named in one line."""
    defaults = settings.defaults(settings.HParams)
    sg, pf = resolve_hparams("stylegan2"), resolve_hparams("pixelfolder")
    assert sg == {**defaults, "mixing": 0.9, "pl_weight": 2.0}  # stylegan2's registered recipe
    assert pf == resolve_hparams("cips") == defaults  # no recipe: the defaults only
    assert resolve_hparams("stylegan2", {"mixing": 0})["mixing"] == 0  # the user's value wins
    assert resolve_hparams("cips", {"r1_gamma": 5})["r1_gamma"] == 5
    with pytest.raises(TrainingError, match=r"unknown hyper-parameter\(s\) lr_typo; known: ") as e:
        resolve_hparams("cips", {"lr_typo": 1})
    assert "\n" not in str(e.value) and "ema_rampup" in str(e.value)
    with pytest.raises(TrainingError, match="unknown model 'nosuchgan'"):
        resolve_hparams("nosuchgan")
    g = make_optimizer([torch.zeros(1, requires_grad=True)], pf, pf["g_reg_interval"]).param_groups[
        0
    ]
    d = make_optimizer([torch.zeros(1, requires_grad=True)], pf, pf["d_reg_interval"]).param_groups[
        0
    ]
    assert g["lr"] == pytest.approx(0.0016) and g["betas"] == (0.0, pytest.approx(0.99**0.8))
    assert d["lr"] == pytest.approx(0.002 * 16 / 17) and d["betas"][1] == pytest.approx(
        0.99 ** (16 / 17)
    )
    assert ema_decay(pf["ema_half_life_steps"]) == 0.5 ** (32 / 10000)


def test_cli_defaults_come_from_the_typed_config():
    args, cfg = parse_args(
        [
            "--model",
            "cips",
            "--data",
            "d.zip",
            "--out",
            "o",
            "--build",
            "width=0.125",
            "--build",
            "z_dim=64",
            "--hparam",
            "mixing=0.5",
            "--hparam",
            "xflip=false",
        ]
    )
    assert cfg == settings.Train()  # every default from the section, nothing of the parser's
    flags = {a.dest for a in build_parser()._actions}
    assert set(settings.defaults(settings.Train)) - flags == set(NOT_FLAGS)  # every knob a flag
    assert args.build == ["width=0.125", "z_dim=64"]
    assert args.hparam == ["mixing=0.5", "xflip=false"]
    assert parse_args(["--model", "m", "--data", "d", "--out", "o", "--kimg", "2"])[1].kimg == 2.0


# ------------------------------------------------------------------------------ CPU presets learn


@pytest.fixture(scope="module")
def faces32(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faces") / "faces32.zip"
    prepare("embedded:default", 32, out, count=512, progress=False)
    return out


# Per model: (bound on end/start proxy FD, bound on the end proxy FD); derivation in the docstring.
LEARNS_BOUNDS = {
    "pixelfolder": (0.5, 2.3),
    "stylegan2": (0.28, 2.6),
    "cips": (0.30, 2.4),
    "inr_gan": (0.5, 5.3),
}


@pytest.mark.parametrize(
    "model",
    ["pixelfolder", "cips", "stylegan2", pytest.param("inr_gan", marks=pytest.mark.numerics)],
)
def test_cpu_preset_learns_in_a_cpu_minute(model, faces32, tmp_path):
    """The default run's preset (config/default.yaml: width 1/16, batch 8, `cpu-auto`), 1 kimg
    at 32×32 (125 steps, a quarter of the cost at 64): the proxy FD of G_ema must fall from the
    untrained start (snapshot 0) at least as far as the old preset's bound (end < 0.5 × start),
    and further where the seed spread allows, and end below a bound of its own.

    Measured (2-core VM shared with other jobs, 30-37 s of training each), start → end (ratio)
    for training seeds 0, 1, 2: PixelFolder 5.81 → 1.13 (0.195), 21.6 → 0.76 (0.035), 9.19 →
    0.81 (0.088); StyleGAN2 15.5 → 0.89 (0.057), 46.3 → 1.07 (0.023), 13.4 → 1.00 (0.074); CIPS
    12.9 → 1.17 (0.091), 33.4 → 1.09 (0.033), 15.1 → 0.62 (0.041); INR-GAN 20.2 → 1.72 (0.085),
    11.6 → 1.37 (0.118), 21.4 → 3.54 (0.166). The old preset (official recipe + EMA ramp-up,
    batch 16), seed 0: ratios 0.31, 0.072, 0.12, 0.43 and ends 1.82, 1.12, 1.51, 8.65.

    Error model: chaotic training, so a rerun under other rounding (another instruction set,
    another library build) is a new draw, and the seed-to-seed spread bounds it from above
    (it also moves the start; docs/numerics.md has the instruction-set spread, ≤ 0.008 in the
    ratio). log(ratio) and log(end) are treated as normal around each model's mean, with the
    standard deviation pooled over the four models (3 seeds each, 8 degrees of freedom): 0.61
    for log(ratio), 0.33 for log(end). A bound is the model's geometric mean × exp(t · sd), t =
    2.90 (one-sided 99 %, 8 d.o.f.), rounded up: ×5.9 on the ratio (0.085 → 0.50, 0.046 → 0.28,
    0.050 → 0.30, 0.118 → 0.70, capped at the old 0.5) and ×2.6 on the end FD (0.89 → 2.3,
    0.98 → 2.6, 0.93 → 2.4, 2.03 → 5.3). An untrained or diverged G stays at a ratio ≥ 1. The
    instruction-set reruns (`numerics`) take INR-GAN, the closest to its bounds."""
    from benchmarks.quality import evaluate
    from benchmarks.quality import load_checkpoint as load_for_eval

    cfg = settings.load(ROOT / "config" / "default.yaml")
    preset = cfg.models[model]
    hp = {**cfg.train.hparams, **preset.hparams}
    final = train(
        model,
        faces32,
        tmp_path,
        kimg=1.0,
        batch=cfg.train.batch,
        preset=cfg.train.preset,
        device="cpu",
        build=preset.build,
        hparams=hp,
        progress=False,
    )

    def fd(ckpt):
        G, _, _ = load_for_eval(ckpt, torch.device("cpu"))
        r = evaluate(
            G,
            faces32,
            metrics=["fid"],
            num_gen=256,
            num_real=512,
            extractor="proxy",
            modes=("clean",),
            device="cpu",
            cache_dir=None,
            progress=False,
        )
        return r["metrics"]["fd_proxy"]["clean"]["mean"]

    start, end = fd(tmp_path / "checkpoints" / "ckpt-00000000.pt"), fd(final)
    ratio_bound, end_bound = LEARNS_BOUNDS[model]
    assert end < ratio_bound * start, (start, end, ratio_bound)
    assert end < end_bound, (start, end, end_bound)
