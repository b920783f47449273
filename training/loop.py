"""The one GAN training loop for every registered generator (StyleGAN2 recipe, docs/training.md).

Read top to bottom like NVIDIA's stylegan3 `training_loop`: set-up (checks, data, resume,
networks), the step loop with its log rows and snapshots, the finish (the final checkpoint). One step is
training.step, what it minimises training.loss, what a checkpoint holds training.checkpoint,
the random draws training.sampler, the outputs beside the checkpoints training.runlog.

`batch` is the global batch and `micro_batch` the images per forward (default: batch /
processes); a step averages the gradients of all batch/micro_batch micro-batches, which the
processes split between them (training.step). Every random draw of micro-batch k in step s comes
from generators seeded by (seed, k, s) and the data order is a pure function of (seed, images
seen): so with a fixed micro-batch a run means the same thing on any number of processes (to
the order of the final gradient additions), and an interrupted run resumed from a checkpoint ends bit-identical to an
uninterrupted one (on CPU; on any number of processes if it resumes on the same number).
The optional fast paths (precision, channels_last, compile, tf32) live in training.fastpath.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from common import settings
from common.cli import check_writable_dir
from common.device import DEFAULT_DEVICE, resolve_device
from common.layout import TrainDir
from data.dataset import open_dataset

from . import distributed as dist_utils
from . import speed_variant
from .checkpoint import (
    checkpoint_micro_batch,
    open_resume,
    prune_snapshots,
    publish_alias,
    remove_stale_temps,
    restore_training_state,
    rng_states,
    save_checkpoint,
    training_state,
)
from .errors import NonFiniteLossError, TrainingError
from .fastpath import FastPath, backend_flags, check_fast, numerics, to_channels_last
from .guard import StopRequests, run_folder
from .hparams import off_recipe, resolve_hparams
from .memory_check import memory_problem
from .networks import Networks, make_networks
from .runlog import Tick, append_log, begin_run_dir, make_progress_bar, run_metadata, save_grid
from .sampler import MicroDraws, micro_batches, real_batches, to_float_images
from .step import training_step

__all__ = ["train", "training_step"]

log = logging.getLogger("pixbench.train")


@dataclass
class Run:
    """A run's fixed set-up and its moving position (step, images seen, path-length mean)."""

    out: Path
    cfg: settings.Train  # the run options, whole (seed here may be a resumed run's)
    hp: settings.HParams
    nets: Networks
    d: dist_utils.Dist
    device: torch.device
    resumed_from: Path | None
    pl_mean: torch.Tensor
    micro_batch: int
    micros: range  # this rank's micro-batches (indices in the global batch)
    fast: FastPath
    meta: dict | None = None
    step: int = 0
    nimg: int = 0
    snapped: bool = False  # a snapshot was written by this call (known on every rank)
    last_snapshot: Path | None = None  # the newest snapshot this call wrote (rank 0)
    snapped_now: bool = False  # the step just taken ended on a snapshot


def train(
    model: str,
    data,
    out: str | os.PathLike,
    cfg: settings.Train | None = None,
    build: dict | None = None,
    hparams: dict | None = None,
    *,
    device: str = DEFAULT_DEVICE,
    resume: str | os.PathLike | None = None,
    resolution: int | None = None,
    speed_grid: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Train `model` on `data` until `cfg.kimg` thousand reals have been shown; return the final
    checkpoint (TrainDir(out).final, a link to the newest snapshot; common.layout names the
    files of a run folder).

    `cfg` is the config's `train:` section (common.settings.Train), taken whole: a new knob is
    one field there, recorded in the run's meta file, and read here as `cfg.<name>` (a Python
    caller builds it like the config does: `settings.validate({"kimg": 2}, settings.Train)`).
    `build` goes to models.build (width, z_dim, n_mlp, ...); `hparams`
    overrides the model's recipe (common.settings.HParams keys). Snapshots are written at
    kimg 0, every `snap_kimg` (None: none in between) and at the end; `keep` limits how many
    stay on disk; training.fastpath has the speed options. `speed_grid` is the model's profile
    JSON whose speed-variant grid picks them under `cfg.speed_variant` auto
    (training.speed_variant).
    """
    cfg = cfg or settings.Train()
    with run_folder(Path(out)), contextlib.ExitStack() as scope:
        run, ds = set_up(
            model,
            data,
            Path(out),
            cfg,
            build=dict(build or {}),
            hparams=hparams,
            device=device,
            resume=resume,
            resolution=resolution,
            speed_grid=speed_grid,
            scope=scope,
        )
        batches = real_batches(
            ds, cfg.batch, run.cfg.seed, run.nimg, run.d, cfg.workers, run.device
        )
        total = int(round(cfg.kimg * 1000))
        snap_every = None if cfg.snap_kimg is None else max(1, int(round(cfg.snap_kimg * 1000)))
        if run.resumed_from is None:  # the untrained start: curves begin at kimg 0
            snapshot(run)
        train_until(run, batches, total, snap_every, progress)
        return finish(run)


def set_up(
    model,
    data,
    out: Path,
    cfg: settings.Train,
    *,
    build,
    hparams,
    device,
    resume,
    resolution,
    speed_grid=None,
    scope: contextlib.ExitStack,
) -> tuple[Run, object]:
    """Check everything a user can get wrong before any work starts (one-line UsageErrors),
    then join the process group and build, or resume, the networks. The backend flags of the
    section the run trains with (its fast path, maybe picked by the grid) are entered on
    `scope`, so they hold until the run ends."""
    dev = resolve_device(device)
    ds = open_dataset(data)
    if resolution is not None and int(resolution) != int(ds.resolution):
        raise TrainingError(
            f"dataset resolution is {ds.resolution}, but --resolution {resolution} was requested"
        )
    resolution = int(ds.resolution)
    if cfg.batch > len(ds):  # a step would repeat images, and memory grows with the batch
        raise TrainingError(
            f"--batch {cfg.batch} is larger than the dataset ({len(ds)} images in {data}); "
            f"use --batch {len(ds)} or less, or prepare more images"
        )
    hp = resolve_hparams(model, hparams, preset=cfg.preset, resolution=resolution, batch=cfg.batch)
    check_writable_dir(out)
    start = open_resume(resume, out, model, resolution, build, cfg.seed)
    # the fast path as trained: the section's, or the grid's (or a resumed run's) choice
    cfg, speed = speed_variant.resolve(cfg, speed_grid, model, dev, start.state)
    check_fast(cfg, dev)
    cfg = dataclasses.replace(cfg, seed=start.seed)
    scope.enter_context(backend_flags(cfg))
    d = dist_utils.init(dev.type)
    if d.enabled and dev.type == "cuda":
        dev = torch.device("cuda", d.local_rank)
    micro_batch = resolve_micro_batch(cfg.batch, cfg.micro_batch, d, start.state)
    if too_big := memory_problem(model, resolution, start.build, micro_batch, dev):
        raise TrainingError(f"--batch {cfg.batch}: {too_big}")

    torch.manual_seed(start.seed)
    nets, frozen = make_networks(model, resolution, start.build, hp, dev)
    if cfg.channels_last:
        to_channels_last(nets.G, nets.D, nets.G_ema)
    run = Run(
        out,
        cfg,
        hp,
        nets,
        d,
        dev,
        start.path,
        pl_mean=torch.zeros((), device=dev),
        micro_batch=micro_batch,
        micros=micro_batches(cfg.batch, micro_batch, d),
        fast=FastPath(cfg, nets, dev),
    )
    if start.state is not None:
        run.step, run.nimg, pl_mean = restore_training_state(nets, start.state, hp, d)
        run.pl_mean.fill_(pl_mean)
        run.fast.load_state_dict(start.state.get("scalers"))
    for net in (nets.G, nets.D, nets.G_ema):
        dist_utils.broadcast_module(net, d)
    meta_args = (model, resolution, start.build, nets.G, ds, hp)
    run.meta = run_metadata(
        *meta_args, seed=start.seed, batch=cfg.batch, d=d, device=dev, frozen=frozen
    )
    run.meta.update(micro_batch=micro_batch, train=settings.as_dict(cfg))
    run.meta["numerics"] = {**numerics(cfg), "speed_variant": speed}
    run.meta["off_recipe"] = off_recipe(model, hp)  # what a preset or the user changed
    if d.is_main:
        begin(run, start, frozen)
    return run, ds


def begin(run: Run, start, frozen: list[str]) -> None:
    """Rank 0: clear a killed run's temp files, write the meta file, say what is about to happen."""
    remove_stale_temps(run.out)
    begin_run_dir(run.out, run.meta, run.step if start.state is not None else None)
    how = f"resuming {start.path} at kimg {run.nimg / 1000:g}" if start.state else "fresh start"
    m = run.meta
    log.info(
        f"{m['model']}@{m['resolution']}, {m['variant']}, {how}; batch {run.cfg.batch} "
        f"(micro-batches of {run.micro_batch}) over {run.d.world_size} process(es) on "
        f"{m['device']}, {run.fast.options.precision}"
    )
    if frozen:
        log.info("frozen (no loss reaches them): %s", ", ".join(frozen))
    if line := speed_variant.summary(m["numerics"]["speed_variant"]):
        log.info(line)


def resolve_micro_batch(batch: int, micro_batch: int | None, d, state: dict | None) -> int:
    """Images per forward: the one given, else a resumed checkpoint's (so the run keeps its
    maths on another number of processes), else batch / processes; it must divide each
    process's share of the global batch."""
    if batch % d.world_size:
        raise TrainingError(f"--batch {batch} (global) must divide over {d.world_size} processes")
    per_rank = batch // d.world_size
    saved = checkpoint_micro_batch(state["meta"]) if state else None
    if micro_batch is None:
        micro_batch = saved or per_rank
        if per_rank % micro_batch:  # resumed on a number of processes it cannot keep
            raise TrainingError(
                f"the checkpoint's micro-batch {micro_batch} does not divide --batch {batch} over "
                f"{d.world_size} processes ({per_rank} each); pass --micro-batch"
            )
    elif per_rank % micro_batch:
        raise TrainingError(
            f"--micro-batch {micro_batch} must divide --batch {batch} over "
            f"{d.world_size} processes ({per_rank} each)"
        )
    if saved is not None and micro_batch != saved and d.is_main:
        log.warning(
            "--micro-batch %d differs from the checkpoint's %d: the step's maths changes",
            micro_batch,
            saved,
        )
    return micro_batch


def train_until(run: Run, batches, total: int, snap_every: int | None, progress: bool) -> None:
    """The step loop: a log row every `log_every` steps, a snapshot at every `snap_every`
    images and at `total` (every rank steps and snapshots; rank 0 writes)."""
    d = run.d
    bar = make_progress_bar(total, run.nimg) if d.is_main and progress else None
    tick = Tick(run.nimg, run.device)
    n_micro = run.cfg.batch // run.micro_batch
    try:
        with StopRequests(enabled=d.world_size == 1) as stop:
            while run.nimg < total:
                tick = _one_step(run, batches, total, snap_every, tick, bar, n_micro)
                if stop.requested and run.nimg < total:
                    path = run.last_snapshot if run.snapped_now else snapshot(run)
                    raise stop.stop(f"at kimg {run.nimg / 1000:g}; snapshot {path}")
    finally:  # the bar ends its line before any error line is printed
        if bar is not None:
            bar.close()


def _one_step(run: Run, batches, total, snap_every, tick, bar, n_micro) -> Tick:
    """One training step with its log row and, when due, its snapshot; returns the tick."""
    d, dev, log_every = run.d, run.device, run.cfg.log_every
    draws = MicroDraws(run.cfg.seed, run.step, run.micros, n_micro)
    real = to_float_images(next(batches), dev)
    stats, r1_ran, run.pl_mean = training_step(
        run.nets,
        real,
        step=run.step,
        gen=draws,
        hp=run.hp,
        pl_mean=run.pl_mean,
        d=d,
        fast=run.fast,
    )
    run.step, run.nimg = run.step + 1, run.nimg + run.cfg.batch
    check_finite(stats, run)
    tick.add(stats, r1_ran)
    snap = run.nimg >= total or (
        snap_every is not None and run.nimg // snap_every > (run.nimg - run.cfg.batch) // snap_every
    )
    if bar is not None:
        bar.update(min(run.nimg, total) / 1000 - bar.n)
    if d.is_main and (snap or run.step % log_every == 0):
        row = tick.row(run.step, run.nimg, float(run.pl_mean), dev, run.meta["variant"])
        append_log(TrainDir(run.out).log, row)
        if bar is not None:
            bar.set_postfix(D=row["loss_D"], G=row["loss_G"], sec_kimg=row["sec_per_kimg"])
    run.snapped_now = snap
    if snap:
        snapshot(run)
    if snap or run.step % log_every == 0:
        tick = Tick(run.nimg, dev, tick.r1)
    return tick


def check_finite(stats: torch.Tensor, run: Run) -> None:
    """Stop on a NaN/inf loss (every rank sees the same averaged stats, so all stop together)."""
    if bool(torch.isfinite(stats).all()):
        return
    loss_d, loss_g, r1, pl = stats.tolist()
    last_good = run.last_snapshot or run.resumed_from or "none (nothing written yet)"
    raise NonFiniteLossError(
        f"non-finite loss at step {run.step} (kimg {run.nimg / 1000:.3f}): D {loss_d:.4g}, "
        f"G {loss_g:.4g}, R1 {r1:.4g}, path {pl:.4g}; last good checkpoint: {last_good}"
    )


def snapshot(run: Run) -> Path | None:
    """Checkpoint + sample grid of G_ema at the current step, then prune to `keep`. Called on
    every rank: each hands in its RNG states, rank 0 writes (and returns the path)."""
    rngs = dist_utils.gather_objects(rng_states(), run.d)
    run.snapped = True
    if not run.d.is_main:
        return None
    state = training_state(
        run.meta, run.nets, run.step, run.nimg, run.pl_mean, rngs, run.fast.state_dict()
    )
    folder = TrainDir(run.out)
    path = save_checkpoint(folder.snapshot(run.step), state)
    grid_path = folder.grid(run.step)
    per_rank = max(run.cfg.batch // run.d.world_size, 16)
    save_grid(run.nets.G_ema, grid_path, run.cfg.grid, run.cfg.seed, per_rank)
    prune_snapshots(run.out, run.cfg.keep)
    log.info("snapshot %s (kimg %.3f)", path, run.nimg / 1000)
    run.last_snapshot = path
    return path


def finish(run: Run) -> Path:
    """Point the final checkpoint at the newest snapshot and leave the process group."""
    final = TrainDir(run.out).final
    if not run.snapped:  # nothing left to train (resumed at or past kimg)
        snapshot(run)
    dist_utils.barrier(run.d)
    if run.d.is_main:
        publish_alias(run.last_snapshot, final)
    dist_utils.barrier(run.d)
    dist_utils.shutdown(run.d)
    return final
