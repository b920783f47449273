"""What a run leaves beside its checkpoints: the log (one row per `log_every` steps), the meta
file (how the run was made), sample grids of G_ema per snapshot (their names: common.layout's
TrainDir), and the progress bar on stderr."""

from __future__ import annotations

import csv
import json
import resource
import time
from pathlib import Path

import torch

from common import settings
from common.io import atomic_output, write_json
from common.layout import TrainDir
from data.dataset import dataset_info

from .networks import discriminator_kwargs, variant_label

LOG_FIELDS = [
    "step",
    "kimg",
    "loss_D",
    "loss_G",
    "r1",
    "path_length",
    "sec_per_kimg",
    "img_per_s",
    "peak_mem_mb",
    "variant",
]


def run_metadata(model, resolution, build, G, ds, hp, *, seed, batch, d, device, frozen) -> dict:
    """The run folder's meta file, and the `meta` of every checkpoint: enough to rebuild G and to tell variants
    and datasets apart. Plain values only, so checkpoints load with weights_only=True."""
    variant = variant_label(build, model)
    return {
        "model": model,
        "resolution": resolution,
        "overrides": build,
        "build_kwargs": dict(G.build_kwargs),
        "discriminator_kwargs": discriminator_kwargs(resolution, build),
        "variant": variant,
        "narrow": variant != "official architecture",
        "dataset": json.loads(json.dumps(dataset_info(ds), default=str)),
        "hparams": settings.as_dict(hp),
        "seed": seed,
        "batch": batch,
        "world_size": d.world_size,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "frozen_params": frozen,
        "torch_version": str(torch.__version__),
    }


def begin_run_dir(out: Path, meta: dict, resumed_step: int | None) -> None:
    """Write the meta file; on resume, first drop the log rows written after the checkpoint."""
    folder = TrainDir(out)
    if resumed_step is not None:
        trim_log(folder.log, resumed_step)
    write_json(folder.meta, meta)


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


def peak_memory_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


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
            "step": step,
            "kimg": f"{nimg / 1000:.3f}",
            "loss_D": f"{loss_d:.5f}",
            "loss_G": f"{loss_g:.5f}",
            "r1": f"{self.r1:.5f}",
            "path_length": f"{pl_mean:.5f}",
            "sec_per_kimg": f"{elapsed / shown * 1000:.2f}",
            "img_per_s": f"{shown / elapsed:.2f}",
            "peak_mem_mb": f"{peak_memory_mb(device):.1f}",
            "variant": variant,
        }


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


def make_progress_bar(total_nimg: int, nimg: int):
    from tqdm.auto import tqdm

    fmt = "{l_bar}{bar}| {n:.3f}/{total:.3f} kimg [{elapsed}<{remaining}{postfix}]"
    return tqdm(total=total_nimg / 1000, initial=nimg / 1000, bar_format=fmt, dynamic_ncols=True)
