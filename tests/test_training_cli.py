"""`python -m training.train` and its failures (tiny models at 32×32): a non-finite loss stops
the run and keeps the last good checkpoint, bad input and unknown keys exit 2 with one line,
hyper-parameters resolve from defaults, the model's recipe and overrides, and the CLI's
defaults are the typed config's (settings.Train). Runs use one torch thread
(test_training.py says why)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
import torch

import training.loss as loss_mod
from common import settings
from common.cli import run
from tests.helpers import ROOT, TINY_CLI
from training.checkpoint import (
    load_checkpoint,
)
from training.ema import ema_decay
from training.errors import TrainingError
from training.hparams import resolve_hparams
from training.networks import make_optimizer
from training.train import build_parser, main, parse_args

pytestmark = pytest.mark.usefixtures("one_thread_module")  # tests/conftest.py


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
    defaults = settings.HParams()
    sg, pf = resolve_hparams("stylegan2"), resolve_hparams("pixelfolder")
    assert sg == replace(defaults, mixing=0.9, pl_weight=2.0)  # stylegan2's registered recipe
    assert pf == resolve_hparams("cips") == defaults  # no recipe: the defaults only
    assert resolve_hparams("stylegan2", {"mixing": 0}).mixing == 0  # the user's value wins
    assert resolve_hparams("cips", {"r1_gamma": 5}).r1_gamma == 5
    with pytest.raises(TrainingError, match=r"unknown hyper-parameter\(s\) lr_typo; known: ") as e:
        resolve_hparams("cips", {"lr_typo": 1})
    assert "\n" not in str(e.value) and "ema_rampup" in str(e.value)
    with pytest.raises(TrainingError, match="unknown model 'nosuchgan'"):
        resolve_hparams("nosuchgan")
    g = make_optimizer([torch.zeros(1, requires_grad=True)], pf, pf.g_reg_interval).param_groups[0]
    d = make_optimizer([torch.zeros(1, requires_grad=True)], pf, pf.d_reg_interval).param_groups[0]
    assert g["lr"] == pytest.approx(0.0016) and g["betas"] == (0.0, pytest.approx(0.99**0.8))
    assert d["lr"] == pytest.approx(0.002 * 16 / 17) and d["betas"][1] == pytest.approx(
        0.99 ** (16 / 17)
    )
    assert ema_decay(pf.ema_half_life_steps) == 0.5 ** (32 / 10000)


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
    assert set(settings.defaults(settings.Train)) - flags == {
        "gpus",
        "hparams",
    }  # every knob a flag but the workflow-scoped
    assert args.build == ["width=0.125", "z_dim=64"]
    assert args.hparam == ["mixing=0.5", "xflip=false"]
    assert parse_args(["--model", "m", "--data", "d", "--out", "o", "--kimg", "2"])[1].kimg == 2.0
