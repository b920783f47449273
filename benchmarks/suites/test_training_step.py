"""One full training step per model, and the data loader beside it (pytest-benchmark).

    .venv/bin/python -m pytest benchmarks/suites/test_training_step.py --benchmark-enable

A "full step" is what training.loop does per batch: D step, G step, EMA update, with lazy R1
and path-length regularisation at their intervals. One round runs d_reg_interval (16) steps, so
every regulariser runs at its real frequency, and the per-step time is the round's ÷ 16.
64×64, global batch 16, on the current device. On CUDA the official full-width networks are
trained; on CPU the narrow variants (`models.<name>.build`) of config/default.yaml (full width costs about a second per
image even at 32×32 here), with that run's torch threads (`train.threads`: two training jobs
share the two cores; with more threads than free cores a step mostly times thread barriers).
`extra_info` records img/s and which variant ran.

Each model runs twice: `plain` and `fused` (models.epilogue.fused: the hand-written autograd
epilogue and FIR backward, bias/gain folded into D's convs, channels-last CPU convs), plain
first, so the fused case also records `fused_over_plain`, the img/s ratio within one run
(the quick mode, --benchmark-disable, runs the fused path only).

The fused case also runs one more round under a MAC counter (counting.macs_of, untimed) and sweeps the
in-process roofline with the step's threads, so `extra_info` has the step's MACs, its achieved
rate and its utilization (achieved ÷ roof), the training counterpart of the latency table's.
A step's MACs are fixed by the architecture, so the roof also bounds what any implementation
can gain: the time of the MACs at the roof is the shortest a step can take.

The loader case times the DataLoader alone (prepared zip → uint8 batches, the loop's settings),
so its img/s can be set against the step's: it must be far higher to not be the bottleneck.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import models
from benchmarks.profiling.counting import macs_of
from benchmarks.profiling.roofline import Roofline
from common import settings
from common.device import DEFAULT_DEVICE, resolve_device
from common.provenance import device_info
from data.dataset import open_dataset
from data.prepare import prepare
from models import epilogue
from training.distributed import Dist
from training.hparams import resolve_hparams
from training.loop import training_step
from training.networks import make_networks
from training.sampler import BatchStream, seed_step, to_float_images

ROOT = Path(__file__).resolve().parents[2]
DEVICE = resolve_device(DEFAULT_DEVICE)
RES, BATCH = 64, 16
DEFAULT_RUN = settings.load(ROOT / "config" / "default.yaml")
CPU_PRESETS = DEFAULT_RUN.models
THREADS = DEFAULT_RUN.train.threads if DEVICE.type == "cpu" else None
PATHS = ("plain", "fused")
_IMG_PER_S: dict[str, dict[str, float]] = {}  # model → path → img/s, for the ratio


def variant(name: str) -> dict:
    """Full width on a GPU; on CPU the default run's preset (tiny fallback for a new model)."""
    if DEVICE.type == "cuda":
        return {}
    preset = CPU_PRESETS.get(name)
    return dict(preset.build) if preset else {"width": 0.125, "z_dim": 64, "n_mlp": 2}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench_data") / f"emb{RES}.zip"
    prepare("embedded:default", RES, out, count=256, progress=False)
    return out


@pytest.fixture
def run_threads():
    """The default run's torch threads for the case, restored afterwards (CPU only)."""
    before = torch.get_num_threads()
    if THREADS:
        torch.set_num_threads(THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def batches(data: Path, workers: int):
    ds = open_dataset(data)
    sampler = BatchStream(len(ds), BATCH, seed=0, start=0)
    loader = torch.utils.data.DataLoader(
        ds, batch_sampler=sampler, num_workers=workers, pin_memory=DEVICE.type == "cuda"
    )
    return iter(loader)


@pytest.mark.parametrize(
    "name,path",
    [
        pytest.param(n, p, id=f"{n}-{p}", marks=[pytest.mark.heavy] if p == "plain" else [])
        for n in models.available()
        for p in PATHS
    ],
)  # the quick mode runs the default (fused) path only
def test_training_step(benchmark, data, run_threads, name, path):
    hp = resolve_hparams(name)
    interval = hp.d_reg_interval
    build = variant(name)
    torch.manual_seed(0)
    nets, _ = make_networks(name, RES, build, hp, DEVICE)
    stream = batches(data, workers=2 if DEVICE.type == "cuda" else 0)
    state = {"step": 0, "pl_mean": torch.zeros((), device=DEVICE)}

    def round_of_steps():
        for _ in range(interval):
            step = state["step"]
            real = to_float_images(next(stream), DEVICE)
            stats, _, state["pl_mean"] = training_step(
                nets,
                real,
                step=step,
                gen=seed_step(0, 0, step),
                hp=hp,
                pl_mean=state["pl_mean"],
                d=Dist(),
            )
            state["step"] = step + 1
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
        assert torch.isfinite(stats).all()

    with epilogue.fused(path == "fused"):
        benchmark.pedantic(round_of_steps, rounds=3, iterations=1, warmup_rounds=1)
    if benchmark.disabled:  # quick mode (--benchmark-disable): the round ran once, untimed
        return
    step_s = benchmark.stats.stats.median / interval
    rates = _IMG_PER_S.setdefault(name, {})
    rates[path] = BATCH / step_s
    benchmark.extra_info.update(
        {
            "resolution": RES,
            "batch": BATCH,
            "steps_per_round": interval,
            "sec_per_step": step_s,
            "img_per_s": BATCH / step_s,
            "min_per_kimg": 1000 / BATCH * step_s / 60,
            "variant": build or "official architecture",
            "path": path,
            **device_info(DEVICE),
        }
    )
    if path == "fused" and "plain" in rates:
        benchmark.extra_info["fused_over_plain"] = rates["fused"] / rates["plain"]
    if path == "fused":
        with epilogue.fused(True):
            macs = macs_of(round_of_steps)
        benchmark.extra_info.update(step_utilization(macs, step_s * interval, interval))


def step_utilization(macs: float, seconds: float, steps: int) -> dict:
    """A round's MACs (FlopCounterMode: convs, matmuls and their backward) over its median time,
    against the device's roof swept now, with the step's threads."""
    roof = Roofline(DEVICE)
    roof.sweep()
    rate = macs / seconds
    return {
        "gmac_per_step": macs / steps / 1e9,
        "achieved_gmac_per_s": rate / 1e9,
        "roof_gmac_per_s": roof.peak / 1e9,
        "utilization": rate / roof.peak,
        "shortest_step_s_at_roof": macs / steps / roof.peak,
    }


def test_data_loader(benchmark, data):
    stream = batches(data, workers=0)

    def fetch():
        for _ in range(16):
            to_float_images(next(stream), DEVICE)

    benchmark.pedantic(fetch, rounds=3, iterations=1, warmup_rounds=1)
    if benchmark.disabled:
        return
    benchmark.extra_info["img_per_s"] = 16 * BATCH / benchmark.stats.stats.median
