"""Named hyper-parameter presets: recipes made for a setting the official ones were not tuned for.

The official recipes (common.settings.HParams and each model's registered recipe) are tuned for
256-1024 px on GPUs: R1 γ = 10 at batch 32-64, and an EMA whose half-life (312.5 steps) is longer
than a whole CPU run. On the default run's 64 px faces, 1/16-wide networks and a few hundred
steps, that recipe leaves every model at colour noise. A preset sits between a model's recipe
and the config's own `hparams` (those still win), and every value it changes is recorded in
run.json (`off_recipe`, training.hparams) and shown in the report's run box.

`cpu-auto` starts from StyleGAN2-ADA's `--cfg=auto` (its released `train.py`, which scales the
settings to resolution and batch; docs/training.md says how) and adds what was measured to help
at CPU scale (docs/training.md, "A preset made to learn on a CPU").
"""

from __future__ import annotations

from .errors import TrainingError


def ada_auto(resolution: int, batch: int) -> dict:
    """StyleGAN2-ADA's `auto` settings that are training hyper-parameters, for this resolution
    and global batch (its network-shape settings, mapping depth and width, are build options)."""
    return {
        # ADA: gamma = 0.0002 * res^2 / minibatch, its "heuristic formula"
        "r1_gamma": 0.0002 * resolution**2 / batch,
        # ADA: lr 0.0025 below 1024 px, 0.002 at 1024
        "lr": 0.002 if resolution >= 1024 else 0.0025,
        # ADA: EMA half-life batch * 10/32 kimg = 312.5 steps whatever the batch (the official
        # value already), ramped up as 0.05 x images seen so far
        "ema_half_life_steps": 312.5,
        "ema_rampup": 0.05,
    }


# What the CPU scale changes on top of ada_auto, each measured on the default run's faces
# (docs/training.md, "A preset made to learn on a CPU"). lr: a run of a few hundred steps moves
# each (equalised-lr, unit-variance) weight by about lr per step at most, so at 0.0025 a 5-kimg
# run left every model beside its random start; 0.01 reached face layouts in a third of the
# images. Style mixing (StyleGAN2's 0.9; the others train without): with it, StyleGAN2's
# samples were per-pixel speckle at 2 kimg, without it smooth layouts at 1 kimg (not compared at
# 10 kimg). Path length: its pass costs a G double backward every 4 steps, time a run this
# short spends better on steps.
CPU_CHANGES = {"lr": 0.01, "mixing": 0.0, "pl_weight": 0.0}


def cpu_auto(resolution: int, batch: int) -> dict:
    return {**ada_auto(resolution, batch), **CPU_CHANGES}


PRESETS = {"cpu-auto": cpu_auto}


def preset_hparams(name: str | None, resolution: int, batch: int) -> dict:
    """The hyper-parameters preset `name` sets at this resolution and global batch ({}: none)."""
    if name is None:
        return {}
    if name not in PRESETS:
        raise TrainingError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return PRESETS[name](int(resolution), int(batch))
