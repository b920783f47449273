"""The one GAN training loop for every registered generator (StyleGAN2 recipe, SPEC §8.5).

Read top to bottom like NVIDIA's stylegan3 `training_loop`: set-up (checks, data, resume,
networks), the step loop with its log rows and snapshots, the finish (final.pt). What a step
minimises lives in training.loss, what a checkpoint holds in training.checkpoint, the random
draws in training.sampler, the outputs beside the checkpoints in training.runlog.

`batch` is the global batch (split evenly over processes), so a run means the same thing on
any number of GPUs. Every random draw of step s on rank r comes from generators seeded by
(seed, r, s) and the data order is a pure function of (seed, images seen): an interrupted CPU
run resumed from a checkpoint ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from common import settings
from common.cli import check_writable_dir
from common.device import resolve_device
from data.dataset import open_dataset

from . import distributed as dist_utils
from .checkpoint import (
    CHECKPOINT_DIR,
    FINAL_NAME,
    open_resume,
    prune_snapshots,
    publish_alias,
    restore_training_state,
    save_checkpoint,
    snapshot_name,
    training_state,
)
from .ema import ema_decay, update_ema
from .errors import NonFiniteLossError, TrainingError
from .hparams import resolve_hparams
from .loss import StyleGAN2Loss
from .networks import Networks, make_networks
from .runlog import Tick, append_log, begin_run_dir, make_progress_bar, run_metadata, save_grid
from .sampler import real_batches, seed_step, to_float_images

log = logging.getLogger("pixbench.train")
_T = settings.defaults(settings.Train)  # the one home of the run defaults


@dataclass
class Run:
    """A run's fixed set-up and its moving position (step, images seen, path-length mean)."""

    out: Path
    hp: dict
    nets: Networks
    d: dist_utils.Dist
    device: torch.device
    seed: int
    batch: int
    grid: int
    keep: int | None
    resumed_from: Path | None
    pl_mean: torch.Tensor
    meta: dict | None = None
    step: int = 0
    nimg: int = 0
    last_snapshot: Path | None = None  # the newest snapshot this call wrote


def train(
    model: str,
    data,
    out: str | os.PathLike,
    *,
    build: dict | None = None,
    hparams: dict | None = None,
    kimg: float = _T["kimg"],
    batch: int = _T["batch"],
    snap_kimg: float | None = _T["snap_kimg"],
    seed: int = _T["seed"],
    device: str = "auto",
    resume: str | os.PathLike | None = None,
    resolution: int | None = None,
    workers: int | None = _T["workers"],
    log_every: int = _T["log_every"],
    grid: int = _T["grid"],
    keep: int | None = _T["keep"],
    progress: bool = True,
) -> Path:
    """Train `model` on `data` until `kimg` thousand reals have been shown; return the final
    checkpoint (OUT/checkpoints/final.pt, a link to the newest snapshot).

    `build` goes to models.build (width, z_dim, n_mlp, ...); `hparams` overrides the model's
    recipe (common.settings.HParams keys). Snapshots are written at kimg 0, every `snap_kimg`
    (None: none in between) and at the end; `keep` limits how many stay on disk.
    """
    positive = {"batch": batch, "kimg": kimg, "log_every": log_every, "grid": grid}
    if snap_kimg is not None:
        positive["snap_kimg"] = snap_kimg
    bad = [k for k, v in positive.items() if not v > 0]
    if bad:
        raise TrainingError(f"{', '.join('--' + k.replace('_', '-') for k in bad)} must be > 0")
    run, ds = set_up(model, data, Path(out), build=dict(build or {}), hparams=hparams,
                     batch=batch, device=device, resume=resume, seed=seed,
                     resolution=resolution, grid=grid, keep=keep)  # fmt: skip

    batches = real_batches(ds, batch, run.seed, run.nimg, run.d, workers, run.device)
    total = int(round(kimg * 1000))
    snap_every = None if snap_kimg is None else max(1, int(round(snap_kimg * 1000)))
    if run.d.is_main and run.resumed_from is None:  # the untrained start: curves begin at kimg 0
        snapshot(run)
    train_until(run, batches, total, snap_every, log_every, progress)
    return finish(run)


def set_up(model, data, out: Path, *, build, hparams, batch, device, resume, seed, resolution,
           grid, keep) -> tuple[Run, object]:  # fmt: skip
    """Check everything a user can get wrong before any work starts (one-line UsageErrors),
    then join the process group and build, or resume, the networks."""
    hp, dev = resolve_hparams(model, hparams), resolve_device(device)
    ds = open_dataset(data)
    if resolution is not None and int(resolution) != int(ds.resolution):
        raise TrainingError(
            f"dataset resolution is {ds.resolution}, but --resolution {resolution} was requested"
        )
    resolution = int(ds.resolution)
    check_writable_dir(out)
    start = open_resume(resume, out, model, resolution, build, seed)
    d = dist_utils.init(dev.type)
    if d.enabled and dev.type == "cuda":
        dev = torch.device("cuda", d.local_rank)
    if batch % d.world_size:
        raise TrainingError(f"--batch {batch} (global) must divide over {d.world_size} processes")

    torch.manual_seed(start.seed)
    nets, frozen = make_networks(model, resolution, start.build, hp, dev)
    run = Run(out, hp, nets, d, dev, start.seed, batch, grid, keep, start.path,
              pl_mean=torch.zeros((), device=dev))  # fmt: skip
    if start.state is not None:
        run.step, run.nimg, pl_mean = restore_training_state(nets, start.state, hp, d.world_size)
        run.pl_mean.fill_(pl_mean)
    for net in (nets.G, nets.D, nets.G_ema):
        dist_utils.broadcast_module(net, d)
    run.meta = run_metadata(model, resolution, start.build, nets.G, ds, hp, seed=start.seed,
                            batch=batch, d=d, device=dev, frozen=frozen)  # fmt: skip
    if d.is_main:
        begin_run_dir(out, run.meta, run.step if start.state is not None else None)
        how = f"resuming {start.path} at kimg {run.nimg / 1000:g}" if start.state else "fresh start"
        log.info("%s@%d, %s, %s; batch %d over %d process(es) on %s", model, resolution,
                 run.meta["variant"], how, batch, d.world_size, run.meta["device"])  # fmt: skip
        if frozen:
            log.info("frozen (no loss reaches them): %s", ", ".join(frozen))
    return run, ds


def train_until(run: Run, batches, total: int, snap_every: int | None, log_every: int,
                progress: bool) -> None:  # fmt: skip
    """The step loop: a log row every `log_every` steps, a snapshot at every `snap_every`
    images and at `total` (rank 0 writes; every rank steps)."""
    d, dev = run.d, run.device
    bar = make_progress_bar(total, run.nimg) if d.is_main and progress else None
    tick = Tick(run.nimg, dev)
    while run.nimg < total:
        gen = seed_step(run.seed, d.rank, run.step)
        real = to_float_images(next(batches), dev)
        stats, r1_ran, run.pl_mean = training_step(run.nets, real, step=run.step, gen=gen,
                                                   hp=run.hp, pl_mean=run.pl_mean, d=d)  # fmt: skip
        run.step, run.nimg = run.step + 1, run.nimg + run.batch
        check_finite(stats, run)
        tick.add(stats, r1_ran)
        snap = run.nimg >= total or (
            snap_every is not None and run.nimg // snap_every > (run.nimg - run.batch) // snap_every
        )
        if bar is not None:
            bar.update(min(run.nimg, total) / 1000 - bar.n)
        if d.is_main and (snap or run.step % log_every == 0):
            row = tick.row(run.step, run.nimg, float(run.pl_mean), dev, run.meta["variant"])
            append_log(run.out / "log.csv", row)
            if bar is not None:
                bar.set_postfix(D=row["loss_D"], G=row["loss_G"], sec_kimg=row["sec_per_kimg"])
            if snap:
                snapshot(run)
            tick = Tick(run.nimg, dev, tick.r1)
    if bar is not None:
        bar.close()


def training_step(nets: Networks, real, *, step: int, gen: torch.Generator, hp: dict, pl_mean,
                  d) -> tuple[torch.Tensor, bool, torch.Tensor]:  # fmt: skip
    """One D step (+ lazy R1 at its interval), one G step (+ lazy path length) and the EMA update.

    Returns the losses [D, G, R1, path] averaged over ranks (so every rank takes the same
    decision on them), whether R1 ran, and the new path-length mean.
    """
    loss = StyleGAN2Loss(nets.G, nets.D, hp, d)
    dev, n = real.device, real.shape[0]
    real = loss.augment(real, gen)
    r1 = penalty = torch.zeros((), device=dev)

    for p in nets.d_params:  # D passes
        p.requires_grad_(True)
    loss_D = loss.d_main(real, gen)
    optimize(nets.opt_D, nets.d_params, loss_D, d)
    r1_ran = loss.d_reg_due(step)
    if r1_ran:
        r1, objective = loss.d_reg(real)
        optimize(nets.opt_D, nets.d_params, objective, d)

    for p in nets.d_params:  # G passes: D is only a critic here
        p.requires_grad_(False)
    loss_G = loss.g_main(n, gen, dev)
    optimize(nets.opt_G, nets.g_params, loss_G, d)
    if loss.g_reg_due(step):
        penalty, objective, pl_mean = loss.g_reg(n, gen, pl_mean, dev)
        optimize(nets.opt_G, nets.g_params, objective, d)

    update_ema(nets.G_ema, nets.G, ema_decay(hp["ema_half_life_steps"], step, hp["ema_rampup"]))
    stats = dist_utils.all_mean(torch.stack([loss_D, loss_G, r1, penalty]).detach(), d)
    return stats, r1_ran, pl_mean


def optimize(opt: torch.optim.Optimizer, params: list, objective: torch.Tensor, d) -> None:
    """One optimizer step on `objective`'s gradients, averaged over ranks first."""
    opt.zero_grad(set_to_none=True)
    objective.backward()
    dist_utils.sync_grads(params, d)
    opt.step()


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


def snapshot(run: Run) -> Path:
    """Checkpoint + sample grid of G_ema at the current step, then prune to `keep` (rank 0)."""
    state = training_state(run.meta, run.nets, run.step, run.nimg, run.pl_mean)
    path = save_checkpoint(run.out / CHECKPOINT_DIR / snapshot_name(run.step), state)
    grid_path = run.out / "samples" / f"grid-{run.step:08d}.png"
    save_grid(run.nets.G_ema, grid_path, run.grid, run.seed, max(run.batch // run.d.world_size, 16))
    prune_snapshots(run.out, run.keep)
    log.info("snapshot %s (kimg %.3f)", path, run.nimg / 1000)
    run.last_snapshot = path
    return path


def finish(run: Run) -> Path:
    """Point checkpoints/final.pt at the newest snapshot and leave the process group."""
    final = run.out / CHECKPOINT_DIR / FINAL_NAME
    dist_utils.barrier(run.d)
    if run.d.is_main:
        if run.last_snapshot is None:  # nothing left to train (resumed at or past kimg)
            snapshot(run)
        publish_alias(run.last_snapshot, final)
    dist_utils.barrier(run.d)
    dist_utils.shutdown(run.d)
    return final
