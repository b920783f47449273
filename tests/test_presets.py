"""The named hyper-parameter presets (training.presets): what `cpu-auto` sets, where it sits
between a model's recipe and the user's values, and that run.json's `off_recipe` names every
change; the paper config names no preset."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from common import settings
from training.errors import TrainingError
from training.hparams import off_recipe, resolve_hparams
from training.presets import ada_auto, preset_hparams

ROOT = Path(__file__).resolve().parents[1]


def test_ada_auto_follows_the_released_formulas():
    """StyleGAN2-ADA `--cfg=auto`: γ = 0.0002·res²/batch, lr 0.0025 below 1024 px, a half-life
    of batch·10/32 kimg (312.5 steps at any batch), ramp-up 0.05."""
    at64 = ada_auto(64, 32)
    assert at64["r1_gamma"] == pytest.approx(0.0256) and at64["lr"] == 0.0025
    assert ada_auto(64, 16)["r1_gamma"] == pytest.approx(0.0512)
    assert ada_auto(1024, 32)["lr"] == 0.002
    for batch in (8, 32, 64):  # ema_kimg = batch·10/32 → batch·312.5 images = 312.5 steps
        assert ada_auto(256, batch)["ema_half_life_steps"] == pytest.approx(
            batch * 10 / 32 * 1000 / batch
        )
    assert at64["ema_rampup"] == 0.05


def test_preset_sits_between_the_recipe_and_the_user():
    hp = resolve_hparams("stylegan2", preset="cpu-auto", resolution=64, batch=8)
    assert hp.r1_gamma == pytest.approx(0.1024) and hp.mixing == 0.0  # over the recipe's 0.9
    assert hp == replace(hp, **preset_hparams("cpu-auto", 64, 8))
    mine = resolve_hparams("stylegan2", {"lr": 0.003}, preset="cpu-auto", resolution=64, batch=8)
    assert mine.lr == 0.003  # the user's value wins
    official = replace(settings.HParams(), mixing=0.9, pl_weight=2.0)
    assert resolve_hparams("stylegan2") == official  # no preset: the official recipe, unchanged
    with pytest.raises(TrainingError, match="unknown preset 'gpu-auto'; available: cpu-auto"):
        preset_hparams("gpu-auto", 64, 8)


def test_off_recipe_names_every_change_and_nothing_else():
    hp = resolve_hparams("pixelfolder", {"xflip": False}, preset="cpu-auto", resolution=64, batch=8)
    off = off_recipe("pixelfolder", hp)
    assert off["r1_gamma"] == {"official": 10.0, "used": pytest.approx(0.1024)}
    assert off["xflip"] == {"official": True, "used": False}
    assert "mixing" not in off and "pl_weight" not in off  # PixelFolder's recipe has neither
    assert off_recipe("pixelfolder", resolve_hparams("pixelfolder")) == {}


def test_default_config_uses_the_preset_and_the_paper_config_does_not():
    default = settings.load(ROOT / "config" / "default.yaml")
    paper = settings.load(ROOT / "config" / "paper.yaml")
    assert default.train.preset == "cpu-auto"
    assert paper.train.preset is None and paper.train.hparams == {}
    assert all(not m.hparams for m in paper.models.values())


def test_an_unknown_preset_in_a_config_is_one_line_naming_the_registered_ones():
    """Preset names are checked like model and metric names: against the presets defined in
    training.presets, the one place that lists them."""
    from common.cli import UsageError
    from workflow import config

    cfg = settings.load(ROOT / "config" / "default.yaml")
    bad = replace(cfg, train=replace(cfg.train, preset="gpu-auto"))
    with pytest.raises(UsageError) as e:
        config.check_registered(bad, "my.yaml")
    assert (
        str(e.value) == "my.yaml: train.preset: 'gpu-auto' is not registered; available: cpu-auto"
    )
    config.check_registered(cfg)  # the shipped one passes
