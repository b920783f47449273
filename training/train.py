"""The one GAN training loop for every registered generator (StyleGAN2 recipe, SPEC §8.5).

    python -m training.train --model pixelfolder --data data.zip --out runs/pf --kimg 20 \
        --batch 16 --override width=0.125 --override z_dim=64 --override n_mlp=2
    torchrun --standalone --nproc_per_node 2 -m training.train ...   # data parallel

Per-model hyper-parameters come from config/training.yaml; `--override key=value` sets a
hyper-parameter when `key` is one of that file's keys and a `models.build` override otherwise.
`--batch` is the global batch (split evenly over processes), so a run means the same thing
on any number of GPUs.

Reproducibility: every random draw of step s on rank r (z, mixing, flips, per-layer noise,
path-length directions) comes from generators seeded by (seed, r, s), and the data order is a
pure function of (seed, images seen). A checkpoint therefore holds all the state that matters
(weights, optimizers, step, images seen, path-length mean), and an interrupted CPU run resumed
from it ends bit-identical to an uninterrupted one. The process RNG states are stored too.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import logging
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import yaml

from data.atomic import atomic_output

from . import distributed as dist_utils
from .checkpoint import (
    CHECKPOINT_DIR,
    FINAL_NAME,
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    publish_alias,
    save_checkpoint,
    snapshot_name,
)
from .ema import ema_decay, update_ema
from .loss import d_logistic_loss, g_nonsaturating_loss, path_lengths, r1_penalty

log = logging.getLogger("pixbench.train")

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config" / "training.yaml"
ARCH_KEYS = ("width", "z_dim", "n_mlp", "hidden_size", "channel_multiplier")  # shrink the network
LOG_FIELDS = [
    "step", "kimg", "loss_D", "loss_G", "r1", "path_length", "sec_per_kimg", "img_per_s",
    "peak_mem_mb", "variant",
]  # fmt: skip


class TrainingError(ValueError):
    """Bad user input (unknown model, missing data, resolution mismatch, ...); one-line message."""


class NonFiniteLossError(RuntimeError):
    """A loss became NaN/inf; training stops and the last written checkpoint stays the good one."""


# --------------------------------------------------------------------------------- config


def load_hparams(
    model: str, config: str | os.PathLike | None = None, overrides: dict | None = None
) -> dict:
    """`defaults` ⊕ the model's block ⊕ `overrides`, checked against the keys of `defaults`."""
    path = Path(config) if config else DEFAULT_CONFIG
    try:
        table = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TrainingError(f"cannot read training config {str(path)!r}: {exc}") from None
    hp = dict(table.get("defaults") or {})
    for source, extra in (
        (f"{path.name}:{model}", table.get(model) or {}),
        ("--override", overrides or {}),
    ):
        unknown = sorted(set(extra) - set(hp))
        if unknown:
            raise TrainingError(
                f"{source}: unknown hyper-parameter(s) {unknown}; known: {sorted(hp)}"
            )
        hp.update(extra)
    return hp


def split_overrides(pairs: list[str] | None, hp_keys) -> tuple[dict, dict]:
    """Parse `key=value` strings (values via YAML, so 0.125 → float) into (build, hparam) dicts."""
    build, hparams = {}, {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise TrainingError(f"--override {pair!r}: expected key=value")
        (hparams if key.strip() in hp_keys else build)[key.strip()] = yaml.safe_load(value)
    return build, hparams


def variant_label(build_overrides: dict) -> str:
    shrunk = {k: v for k, v in build_overrides.items() if k in ARCH_KEYS}
    if not shrunk:
        return "official architecture"
    return "narrow variant (" + ", ".join(f"{k}={v}" for k, v in sorted(shrunk.items())) + ")"


def resolve_device(device: str) -> torch.device:
    from common.device import resolve_device as resolve

    try:
        return resolve(device)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None


# --------------------------------------------------------------------------------- data


def open_dataset(data):
    """A path → PreparedDataset; anything else is used as a dataset object as is (tests, API)."""
    if not isinstance(data, str | os.PathLike):
        return data
    if not Path(data).is_file():
        raise TrainingError(f"data file {str(data)!r} does not exist")
    from data.dataset import PreparedDataset

    try:
        return PreparedDataset(data, xflip=False)
    except (ValueError, OSError) as exc:
        raise TrainingError(f"cannot open dataset {str(data)!r}: {exc}") from None


def dataset_meta(ds, data) -> dict:
    recipe = getattr(ds, "recipe", None)
    return {
        "path": str(Path(data).resolve())
        if isinstance(data, str | os.PathLike)
        else getattr(ds, "path", None),
        "sha256": getattr(ds, "file_sha256", None),
        "recipe": json.loads(json.dumps(recipe, default=str)) if recipe is not None else None,
        "resolution": int(ds.resolution),
        "size": len(ds),
    }


class BatchStream(torch.utils.data.Sampler):
    """This rank's slice of every global batch from image position `start` on, forever.

    The global order is a fresh permutation per epoch, seeded by (seed, epoch): a pure function
    of the position, so a resumed run only needs the number of images already seen, and a
    DataLoader may prefetch ahead without that mattering.
    """

    def __init__(self, n: int, batch: int, seed: int, start: int, rank: int = 0, world: int = 1):
        self.n, self.batch, self.seed, self.start = n, batch, seed, start
        self.local = batch // world
        self.offset = rank * self.local
        self._epoch, self._perm = -1, None

    def _index(self, pos: int) -> int:
        epoch = pos // self.n
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(_mix_seed(self.seed, 0x5EED, epoch))
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=gen).tolist()
        return self._perm[pos % self.n]

    def __iter__(self):
        pos = self.start
        while True:
            yield [self._index(pos + self.offset + j) for j in range(self.local)]
            pos += self.batch


def _mix_seed(*words: int) -> int:
    return int(np.random.SeedSequence(list(words)).generate_state(1, dtype=np.uint64)[0] >> 1)


def seed_step(seed: int, rank: int, step: int) -> torch.Generator:
    """Seed the global torch RNG (the models' per-layer noise, CPU and CUDA) for this step and
    return a CPU generator for everything the loop draws itself."""
    torch.manual_seed(_mix_seed(seed, rank, step, 1))
    return torch.Generator().manual_seed(_mix_seed(seed, rank, step, 2))


# --------------------------------------------------------------------------------- pieces


def sample_ws(G, n: int, gen: torch.Generator, mixing: float, device) -> torch.Tensor:
    """Per-layer latents (n, num_ws, w_dim); with probability `mixing` the layers from a random
    cut on take a second latent (style mixing regularisation)."""
    ws = G.mapping(torch.randn(n, G.z_dim, generator=gen).to(device)).unsqueeze(1)
    ws = ws.repeat(1, G.num_ws, 1)
    if mixing > 0 and float(torch.rand((), generator=gen)) < mixing:
        cut = int(torch.randint(1, G.num_ws, (), generator=gen))
        w2 = G.mapping(torch.randn(n, G.z_dim, generator=gen).to(device)).unsqueeze(1)
        ws = torch.cat([ws[:, :cut], w2.repeat(1, G.num_ws - cut, 1)], dim=1)
    return ws


def freeze_unreachable(G, D, device) -> list[str]:
    """Freeze parameters no loss can reach (PixelFolder keeps `posfolders.0.conv_merge` for
    checkpoint compatibility). Found by one probe backward, so no model is special-cased;
    frozen tensors stay in every state dict but are neither optimised nor all-reduced."""
    ws = sample_ws(G, 2, torch.Generator().manual_seed(0), 0.0, device)
    D(G.synthesis(ws, noise_mode="random")).sum().backward()
    frozen = []
    for prefix, net in (("G", G), ("D", D)):
        for name, p in net.named_parameters():
            if p.requires_grad and p.grad is None:
                p.requires_grad_(False)
                frozen.append(f"{prefix}.{name}")
        net.zero_grad(set_to_none=True)
    return frozen


def make_optimizer(params, hp: dict, interval: int) -> torch.optim.Adam:
    """Adam with the lazy-regularisation correction c = interval / (interval + 1)."""
    c = interval / (interval + 1)
    return torch.optim.Adam(params, lr=hp["lr"] * c, betas=(hp["beta1"] ** c, hp["beta2"] ** c))


def optimizer_step(opt, params, d) -> None:
    dist_utils.sync_grads(params, d)
    opt.step()


def to_float_images(batch: torch.Tensor, device) -> torch.Tensor:
    return batch.to(device, non_blocking=True).to(torch.float32) / 127.5 - 1.0


def peak_memory_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rng_states() -> dict:
    """Process RNG states as plain tensors/lists (loadable with weights_only=True)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch_cpu": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [
            np_state[0],
            torch.from_numpy(np_state[1].astype(np.int64)),
            *map(float, np_state[2:]),
        ],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }


def restore_rng_states(s: dict) -> None:
    torch.set_rng_state(s["torch_cpu"])
    if (
        s["torch_cuda"]
        and torch.cuda.is_available()
        and len(s["torch_cuda"]) == torch.cuda.device_count()
    ):
        torch.cuda.set_rng_state_all(s["torch_cuda"])
    name, keys, pos, has_gauss, cached = s["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), cached))
    random.setstate((s["python"][0], tuple(s["python"][1]), s["python"][2]))


@torch.no_grad()
def save_grid(G_ema, path: Path, grid: int, seed: int, chunk: int) -> None:
    """grid×grid samples of G_ema with fixed z (seeded) and fixed noise, as one PNG."""
    from torchvision.utils import save_image

    device = next(G_ema.parameters()).device
    z = torch.randn(grid * grid, G_ema.z_dim, generator=torch.Generator().manual_seed(seed))
    imgs = [G_ema(zc.to(device), noise_mode="const").cpu() for zc in z.split(chunk)]
    with atomic_output(path, suffix=".png") as tmp:
        save_image(
            torch.cat(imgs).clamp(-1, 1), tmp, nrow=grid, normalize=True, value_range=(-1, 1)
        )


def append_log(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def trim_log(path: Path, max_step: int) -> None:
    """On resume, drop rows the interrupted run wrote after the checkpoint it resumes from."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= max_step]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise TrainingError(
            f"output directory {str(out)!r} is not writable ({exc.strerror or exc})"
        ) from None


def find_resume(resume, out: Path) -> Path | None:
    if resume in (None, "", "none"):
        return None
    if resume == "auto":
        path = latest_checkpoint(out)
        if path is None:
            log.info("--resume auto: no checkpoint in %s, starting fresh", out)
        return path
    path = Path(resume)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise TrainingError(f"--resume {str(resume)!r}: no checkpoint in that directory")
        return found
    if not path.is_file():
        raise TrainingError(f"--resume {str(resume)!r}: no such checkpoint file")
    return path


class Tick:
    """Loss averages and throughput since the previous log row (snapshot time excluded)."""

    def __init__(self, nimg: int, device, r1: float = float("nan")):
        self.t0, self.nimg0, self.n, self.r1 = time.perf_counter(), nimg, 0, r1
        self.sums = torch.zeros(2, device=device)

    def add(self, stats: torch.Tensor, r1_ran: bool) -> None:
        self.sums += stats[:2]
        self.n += 1
        if r1_ran:
            self.r1 = float(stats[2])

    def row(self, step: int, nimg: int, pl_mean: float, device, variant: str) -> dict:
        elapsed, shown = time.perf_counter() - self.t0, nimg - self.nimg0
        loss_d, loss_g = (self.sums / max(self.n, 1)).tolist()
        return {
            "step": step, "kimg": f"{nimg / 1000:.3f}", "loss_D": f"{loss_d:.5f}",
            "loss_G": f"{loss_g:.5f}", "r1": f"{self.r1:.5f}", "path_length": f"{pl_mean:.5f}",
            "sec_per_kimg": f"{elapsed / shown * 1000:.2f}", "img_per_s": f"{shown / elapsed:.2f}",
            "peak_mem_mb": f"{peak_memory_mb(device):.1f}", "variant": variant,
        }  # fmt: skip


# --------------------------------------------------------------------------------- setup


def check_inputs(model, data, out, resolution, resume, overrides, seed):
    """Validate everything a user can get wrong before any work starts; TrainingError if not.
    Returns (dataset, resolution, checkpoint path or None, checkpoint or None, overrides, seed);
    a resumed run takes its overrides and seed from the checkpoint."""
    from models import available

    if model not in available():
        raise TrainingError(f"unknown model {model!r}; available: {', '.join(available())}")
    ds = open_dataset(data)
    if resolution is not None and int(resolution) != int(ds.resolution):
        raise TrainingError(
            f"dataset resolution is {ds.resolution}, but --resolution {resolution} was requested"
        )
    resolution = int(ds.resolution)
    check_writable(out)
    ckpt_path = find_resume(resume, out)
    ckpt = load_checkpoint(ckpt_path) if ckpt_path else None
    if ckpt is not None:
        old = ckpt["meta"]
        if (old["model"], old["resolution"]) != (model, resolution):
            raise TrainingError(
                f"checkpoint {str(ckpt_path)!r} is {old['model']}@{old['resolution']}, "
                f"not {model}@{resolution}"
            )
        if overrides and overrides != old["overrides"]:
            raise TrainingError(f"checkpoint was built with {old['overrides']}, not {overrides}")
        overrides, seed = dict(old["overrides"]), int(old["seed"])
    return ds, resolution, ckpt_path, ckpt, overrides, seed


def build_networks(model, resolution, overrides, hp, device):
    """G, D (same width), G_ema, and the names of parameters frozen as unreachable."""
    from models import build, build_discriminator

    try:
        G = build(model, resolution=resolution, **overrides).to(device).train()
        width = overrides.get("width", 1.0)
        D = build_discriminator(resolution=resolution, width=width).to(device).train()
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"cannot build {model}@{resolution} with {overrides}: {exc}") from None
    if float(hp["mixing"]) > 0 and not G.supports_mixing:
        raise TrainingError(f"{model} does not support style mixing; set mixing: 0 in its config")
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    return G, D, G_ema, freeze_unreachable(G, D, device)


class Networks(NamedTuple):
    """What a training step updates; g_params/d_params are the trainable (not frozen) ones."""

    G: torch.nn.Module
    D: torch.nn.Module
    G_ema: torch.nn.Module
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    g_params: list
    d_params: list


def make_networks(model, resolution, overrides, hp, device) -> tuple[Networks, list[str]]:
    """Networks and Adam optimizers for `model`, plus the names of the frozen parameters."""
    G, D, G_ema, frozen = build_networks(model, resolution, overrides, hp, device)
    g_params = [p for p in G.parameters() if p.requires_grad]
    d_params = [p for p in D.parameters() if p.requires_grad]
    opt_G = make_optimizer(g_params, hp, int(hp["g_reg_interval"]))
    opt_D = make_optimizer(d_params, hp, int(hp["d_reg_interval"]))
    return Networks(G, D, G_ema, opt_G, opt_D, g_params, d_params), frozen


def training_step(nets: Networks, real, *, step: int, gen: torch.Generator, hp: dict, pl_mean,
                  d) -> tuple[torch.Tensor, bool, torch.Tensor]:  # fmt: skip
    """One D step (+ lazy R1 at its interval), one G step (+ lazy path length) and the EMA update.

    Returns the losses [D, G, R1, path] averaged over ranks (so every rank takes the same
    decision on them), whether R1 ran, and the new path-length mean.
    """
    G, D, G_ema, opt_G, opt_D, g_params, d_params = nets
    dev, n, mixing = real.device, real.shape[0], float(hp["mixing"])
    if hp["xflip"]:
        flip = (torch.rand(n, generator=gen) < 0.5).to(dev).view(-1, 1, 1, 1)
        real = torch.where(flip, real.flip(3), real)

    # D: logistic loss on reals vs fakes, then lazy R1 on the reals
    for p in d_params:
        p.requires_grad_(True)
    with torch.no_grad():
        fake = G.synthesis(sample_ws(G, n, gen, mixing, dev))
    loss_D = d_logistic_loss(D(real), D(fake))
    opt_D.zero_grad(set_to_none=True)
    loss_D.backward()
    optimizer_step(opt_D, d_params, d)
    r1 = penalty = torch.zeros((), device=dev)
    r1_step = step % hp["d_reg_interval"] == 0
    if r1_step:
        real.requires_grad_(True)
        real_logits = D(real)
        r1 = r1_penalty(real_logits, real)
        opt_D.zero_grad(set_to_none=True)
        # the 0·logit term puts every D parameter in the graph (zero, not missing, grads)
        (hp["r1_gamma"] / 2 * r1 * hp["d_reg_interval"] + 0 * real_logits[0, 0]).backward()
        optimizer_step(opt_D, d_params, d)

    # G: non-saturating loss, then lazy path-length regularisation where configured
    for p in d_params:
        p.requires_grad_(False)
    loss_G = g_nonsaturating_loss(D(G.synthesis(sample_ws(G, n, gen, mixing, dev))))
    opt_G.zero_grad(set_to_none=True)
    loss_G.backward()
    optimizer_step(opt_G, g_params, d)
    if hp["pl_weight"] > 0 and step % hp["g_reg_interval"] == 0:
        ws = sample_ws(G, max(1, n // hp["pl_batch_shrink"]), gen, mixing, dev)
        img = G.synthesis(ws)
        lengths = path_lengths(img, ws)
        batch_mean = dist_utils.all_mean(lengths.mean().detach(), d)
        pl_mean = pl_mean + hp["pl_decay"] * (batch_mean - pl_mean)
        penalty = (lengths - pl_mean).pow(2).mean()
        opt_G.zero_grad(set_to_none=True)
        (hp["pl_weight"] * hp["g_reg_interval"] * penalty + 0 * img[0, 0, 0, 0]).backward()
        optimizer_step(opt_G, g_params, d)
    update_ema(G_ema, G, ema_decay(hp["ema_half_life_steps"], step, hp["ema_rampup"]))
    stats = dist_utils.all_mean(torch.stack([loss_D, loss_G, r1, penalty]).detach(), d)
    return stats, r1_step, pl_mean


# --------------------------------------------------------------------------------- loop


def train(
    model: str,
    data,
    out,
    *,
    kimg: float = 10.0,
    batch: int = 16,
    device: str = "auto",
    resume: str | os.PathLike | None = None,
    seed: int = 0,
    overrides: dict | None = None,
    hparams: dict | None = None,
    snap_kimg: float = 5.0,
    resolution: int | None = None,
    config: str | os.PathLike | None = None,
    workers: int | None = None,
    log_every: int = 10,
    grid: int = 8,
    keep: int | None = None,
    progress: bool = True,
) -> Path:
    """Train `model` on `data` until `kimg` thousand reals have been shown; return the final
    checkpoint (DIR/checkpoints/final.pt, a link to the newest snapshot).

    `overrides` go to models.build (width, z_dim, n_mlp, ...); `hparams` override
    config/training.yaml; `batch` is global; `keep` limits how many snapshots stay on disk.
    """
    if batch < 1 or kimg <= 0 or snap_kimg <= 0 or log_every < 1 or grid < 1:
        raise TrainingError("--batch, --kimg, --snap-kimg, --log-every and --grid must be positive")
    out, hp = Path(out), load_hparams(model, config, hparams)
    dev = resolve_device(device)
    ds, resolution, ckpt_path, ckpt, overrides, seed = check_inputs(
        model, data, out, resolution, resume, dict(overrides or {}), seed
    )
    d = dist_utils.init(dev.type)
    if d.enabled and dev.type == "cuda":
        dev = torch.device("cuda", d.local_rank)
    if batch % d.world_size:
        raise TrainingError(f"--batch {batch} (global) must divide over {d.world_size} processes")
    local_batch = batch // d.world_size

    # ---- networks, optimizers, state
    torch.manual_seed(seed)
    nets, frozen = make_networks(model, resolution, overrides, hp, dev)
    G, D, G_ema, opt_G, opt_D = nets[:5]
    step, nimg, pl_mean = 0, 0, torch.zeros((), device=dev)
    if ckpt is not None:
        for net, key in ((G, "G"), (D, "D"), (G_ema, "G_ema"), (opt_G, "opt_G"), (opt_D, "opt_D")):
            net.load_state_dict(ckpt[key])
        step, nimg = int(ckpt["meta"]["step"]), int(ckpt["meta"]["nimg"])
        pl_mean.fill_(float(ckpt["loop"]["pl_mean"]))
        if d.world_size == 1:
            restore_rng_states(ckpt["rng"])
        if ckpt["meta"]["hparams"] != hp:
            log.warning("hyper-parameters differ from the checkpoint's %s", ckpt["meta"]["hparams"])
    for net in (G, D, G_ema):
        dist_utils.broadcast_module(net, d)

    variant = variant_label(overrides)
    meta = {
        "model": model,
        "resolution": resolution,
        "overrides": overrides,
        "build_kwargs": dict(G.build_kwargs),
        "discriminator_kwargs": {"resolution": resolution, "width": overrides.get("width", 1.0)},
        "variant": variant,
        "narrow": variant != "official architecture",
        "dataset": dataset_meta(ds, data),
        "hparams": hp,
        "seed": seed,
        "batch": batch,
        "world_size": d.world_size,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "frozen_params": frozen,
        "torch_version": str(torch.__version__),
    }
    if d.is_main:
        if ckpt is not None:
            trim_log(out / "log.csv", step)
        (out / "run.json").write_text(json.dumps(meta, indent=2))
        start = f"resuming {ckpt_path} at kimg {nimg / 1000:g}" if ckpt else "fresh start"
        log.info("%s@%d, %s, %s; batch %d over %d process(es) on %s", model, resolution,
                 variant, start, batch, d.world_size, meta["device"])  # fmt: skip
        if frozen:
            log.info("frozen (no loss reaches them): %s", ", ".join(frozen))

    def snapshot() -> Path:
        state = {
            "meta": {**meta, "step": step, "nimg": nimg, "kimg": nimg / 1000, "time": time.time()},
            "G": G.state_dict(),
            "D": D.state_dict(),
            "G_ema": G_ema.state_dict(),
            "opt_G": opt_G.state_dict(),
            "opt_D": opt_D.state_dict(),
            "loop": {"pl_mean": float(pl_mean)},
            "rng": rng_states(),
        }
        path = save_checkpoint(out / CHECKPOINT_DIR / snapshot_name(step), state)
        save_grid(G_ema, out / "samples" / f"grid-{step:08d}.png", grid, seed, max(local_batch, 16))
        for old in sorted((out / CHECKPOINT_DIR).glob("ckpt-*.pt"))[: -keep if keep else 0]:
            old.unlink()
        log.info("snapshot %s (kimg %.3f)", path, nimg / 1000)
        return path

    # ---- data: this rank's part of each global batch, in an order fixed by (seed, position)
    if workers is None:
        workers = 2 if dev.type == "cuda" else 0
    stream = BatchStream(len(ds), batch, seed, nimg, d.rank, d.world_size)
    batches = iter(
        torch.utils.data.DataLoader(
            ds, batch_sampler=stream, num_workers=workers, pin_memory=dev.type == "cuda"
        )
    )

    # ---- loop
    total, snap_every = int(round(kimg * 1000)), max(1, int(round(snap_kimg * 1000)))
    last_path = None  # newest snapshot written by this call
    if d.is_main and ckpt is None:  # the untrained start: metric curves begin at kimg 0
        last_path = snapshot()
    bar = make_progress_bar(total, nimg) if d.is_main and progress else None
    tick = Tick(nimg, dev)
    while nimg < total:
        gen = seed_step(seed, d.rank, step)
        real = to_float_images(next(batches), dev)
        stats, r1_step, pl_mean = training_step(
            nets, real, step=step, gen=gen, hp=hp, pl_mean=pl_mean, d=d
        )
        step, nimg = step + 1, nimg + batch

        if not bool(torch.isfinite(stats).all()):
            D_, G_, R1_, PL_ = stats.tolist()
            raise NonFiniteLossError(
                f"non-finite loss at step {step} (kimg {nimg / 1000:.3f}): D {D_:.4g}, G {G_:.4g}, "
                f"R1 {R1_:.4g}, path {PL_:.4g}; last good checkpoint: "
                f"{last_path or ckpt_path or 'none (nothing written yet)'}"
            )
        tick.add(stats, r1_step)
        snap = nimg >= total or nimg // snap_every > (nimg - batch) // snap_every
        if bar is not None:
            bar.update(min(nimg, total) / 1000 - bar.n)
        if d.is_main and (snap or step % log_every == 0):
            row = tick.row(step, nimg, float(pl_mean), dev, variant)
            append_log(out / "log.csv", row)
            if bar is not None:
                bar.set_postfix(D=row["loss_D"], G=row["loss_G"], sec_kimg=row["sec_per_kimg"])
            if snap:
                last_path = snapshot()
            tick = Tick(nimg, dev, tick.r1)
    if bar is not None:
        bar.close()
    dist_utils.barrier(d)
    if d.is_main:
        if last_path is None:  # nothing left to train (resumed at or past --kimg)
            last_path = snapshot()
        publish_alias(last_path, out / CHECKPOINT_DIR / FINAL_NAME)
    dist_utils.barrier(d)
    dist_utils.shutdown(d)
    return out / CHECKPOINT_DIR / FINAL_NAME


def make_progress_bar(total_nimg: int, nimg: int):
    from tqdm.auto import tqdm

    fmt = "{l_bar}{bar}| {n:.3f}/{total:.3f} kimg [{elapsed}<{remaining}{postfix}]"
    return tqdm(total=total_nimg / 1000, initial=nimg / 1000, bar_format=fmt, dynamic_ncols=True)


# --------------------------------------------------------------------------------- CLI


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m training.train", description=__doc__.split("\n\n")[0]
    )
    arg = p.add_argument
    arg("--model", required=True, help="registered generator name (models.available())")
    arg("--data", required=True, help="prepared dataset file (python -m data.prepare)")
    arg("--out", required=True, help="run directory: checkpoints/, samples/, log.csv, run.json")
    arg("--kimg", type=float, default=10.0, help="train until this many thousand reals are shown")
    arg("--batch", type=int, default=16, help="global batch (split evenly over processes)")
    arg("--device", default="auto", help="auto (CUDA if present) | cpu | cuda")
    arg("--resume", default=None, help="auto (newest in --out, else fresh) | checkpoint path")
    arg("--seed", type=int, default=0)
    arg("--override", action="append", default=[], metavar="KEY=VALUE",
        help="a config/training.yaml key (hyper-parameter) or a models.build override")  # fmt: skip
    arg("--snap-kimg", type=float, default=5.0, help="checkpoint + sample grid interval")
    arg("--resolution", type=int, default=None, help="expected dataset resolution (checked)")
    arg("--config", default=None, help="hyper-parameter YAML (default config/training.yaml)")
    arg("--workers", type=int, default=None, help="DataLoader workers (default: 0 CPU, 2 CUDA)")
    arg("--log-every", type=int, default=10, help="a log.csv row every N steps")
    arg("--grid", type=int, default=8, help="sample grid of GRID×GRID images per snapshot")
    arg("--keep", type=int, default=None, help="keep only the newest N snapshots")
    arg("--threads", type=int, default=None, help="torch CPU threads (1 is best on a busy CPU)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    from tqdm.contrib.logging import logging_redirect_tqdm

    try:
        hp_keys = load_hparams(args.model, args.config).keys()
        build_overrides, hparams = split_overrides(args.override, hp_keys)
        with logging_redirect_tqdm():
            final = train(
                args.model, args.data, args.out, kimg=args.kimg, batch=args.batch,
                device=args.device, resume=args.resume, seed=args.seed, overrides=build_overrides,
                hparams=hparams, snap_kimg=args.snap_kimg, resolution=args.resolution,
                config=args.config, workers=args.workers, log_every=args.log_every,
                grid=args.grid, keep=args.keep,
            )  # fmt: skip
    except (TrainingError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NonFiniteLossError as exc:
        print(f"error: training stopped: {exc}", file=sys.stderr)
        return 1
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    log.info("done: %s", final)
    return 0


if __name__ == "__main__":
    sys.exit(main())
