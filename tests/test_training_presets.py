"""The CPU presets learn: a CPU minute of each preset on 32×32 faces moves its losses and
samples within bounds (LEARNS_BOUNDS), so a preset that cannot learn in its budget fails here
rather than in a user's first run. One torch thread (test_training.py says why)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from common import settings
from data.prepare import prepare
from tests.helpers import ROOT, train_run

pytestmark = pytest.mark.usefixtures("one_thread_module")  # tests/conftest.py


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
# The bounds were measured at batch 8 (125 steps per kimg), so the test keeps that batch; the
# default run now trains at batch 4 for 5 kimg (the same 1,250 steps, docs/training.md).
BOUNDS_BATCH = 8


@pytest.mark.parametrize(
    "model",
    ["pixelfolder", "cips", "stylegan2", pytest.param("inr_gan", marks=pytest.mark.numerics)],
)
def test_cpu_preset_learns_in_a_cpu_minute(model, faces32, tmp_path):
    """The default run's preset (config/default.yaml: width 1/16, `cpu-auto`) at the batch its
    bounds were measured at (8), 1 kimg at 32×32 (125 steps, a quarter of the cost at 64): the
    proxy FD of G_ema must fall from the untrained start (snapshot 0) at least as far as the old
    preset's bound (end < 0.5 × start), and further where the seed spread allows, and end below
    a bound of its own.

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
    final = train_run(
        model,
        faces32,
        tmp_path,
        kimg=1.0,
        batch=BOUNDS_BATCH,
        preset=cfg.train.preset,
        device="cpu",
        build=preset.build,
        hparams=hp,
        progress=False,
    )

    def fd(ckpt):
        G, _, _ = load_for_eval(ckpt, torch.device("cpu"))
        q = settings.Quality(
            metrics=["fid"], num_gen=256, num_real=512, extractor="proxy", modes=["clean"]
        )
        r = evaluate(G, faces32, q, device="cpu", cache_dir=None, progress=False)
        return r["metrics"]["fd_proxy"]["clean"]["mean"]

    start, end = fd(tmp_path / "checkpoints" / "ckpt-00000000.pt"), fd(final)
    ratio_bound, end_bound = LEARNS_BOUNDS[model]
    assert end < ratio_bound * start, (start, end, ratio_bound)
    assert end < end_bound, (start, end, end_bound)
