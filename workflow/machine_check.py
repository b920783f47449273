"""The machine's side of the pre-flight check: the GPUs a config asks for, and free disk under
results/<run> against the run's estimate (workflow.disk_estimate)."""

from __future__ import annotations

import shutil
from pathlib import Path

from common import settings
from common.layout import results_root
from workflow.disk_estimate import estimate_disk, human_bytes, snapshots
from workflow.items import MISMATCH, MISSING, NOTE, OK, Item


def check_gpus(cfg: settings.RunConfig) -> list[Item]:
    device, gpus, batch = cfg.device, cfg.train.gpus, cfg.train.batch
    data = {"device": device, "train_gpus": gpus}
    items = []
    if gpus > 1 and batch % gpus:
        items.append(
            Item(
                "gpus",
                "train.batch",
                MISMATCH,
                f"train.batch {batch} does not divide over train.gpus {gpus} processes",
                f"make train.batch a multiple of {gpus}",
            )
        )
    if device == "cpu":
        how = f"{gpus} CPU processes (gloo)" if gpus > 1 else "one CPU process per job"
        return [
            Item("gpus", "cuda", OK, f"not needed (device cpu; training runs {how})", data=data),
            *items,
        ]
    if device == "auto" and gpus == 1:
        return [
            Item(
                "gpus",
                "cuda",
                OK,
                "not needed (device auto, train.gpus 1: CUDA is used when visible)",
                data=data,
            ),
            *items,
        ]
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    props = [torch.cuda.get_device_properties(i) for i in range(count)]
    devices = [{"name": p.name, "memory_bytes": int(p.total_memory)} for p in props]
    data.update(
        cuda_devices=count, devices=devices, torch=torch.__version__, torch_cuda=torch.version.cuda
    )
    need = max(gpus, 1)
    per = f"batch {batch // gpus} per GPU" if gpus > 1 else f"batch {batch}"
    if count < need:
        seen = (
            ", ".join(f"{d['name']} ({human_bytes(d['memory_bytes'])})" for d in devices)
            or f"none (torch {torch.__version__}, CUDA build {torch.version.cuda or 'no'})"
        )
        detail = f"device {device}, train.gpus {gpus}: needs {need} CUDA devices, {count} visible: {seen}"
        fix = (
            f"run on a machine with {need} CUDA GPUs (nvidia-smi lists them; torch must be a "
            f"CUDA build), or lower train.gpus / set device: cpu in a copy of the config"
        )
        return [Item("gpus", "cuda", MISSING, detail, fix, data), *items]
    least = min(d["memory_bytes"] for d in devices)
    detail = (
        f"{count} CUDA devices ({props[0].name}, smallest {human_bytes(least)}) for train.gpus "
        f"{gpus} ({per})"
    )
    return [Item("gpus", "cuda", OK, detail, data=data), *items]


# --------------------------------------------------------------------------------- disk


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def check_disk(cfg: settings.RunConfig, counts: dict, plans) -> list[Item]:
    root = Path(results_root(cfg.run))
    parts, left_out = estimate_disk(cfg, counts, plans)
    need = sum(parts.values())
    free = shutil.disk_usage(_existing_ancestor(root)).free
    written, kept = snapshots(cfg.train)
    breakdown = ", ".join(f"{k} {human_bytes(v)}" for k, v in parts.items())
    detail = f"~{human_bytes(need)} needed ({breakdown}; {kept} checkpoints kept per training run), {human_bytes(free)} free"
    if left_out:
        detail += f"; left out: {', '.join(left_out)}"
    data = {
        "path": str(root),
        "free_bytes": free,
        "estimate_bytes": parts,
        "left_out": left_out,
        "method": " ".join(estimate_disk.__doc__.split()),
    }
    if need <= free:
        return [Item("disk", str(root), OK, detail, data=data)]
    fix = f"free {human_bytes(need - free)} or make results/ a link to a larger disk"
    if cfg.train.keep is None or cfg.train.keep > 2:
        fix += (
            " (train.keep: N keeps only the newest N checkpoints per run; the metric-vs-kimg "
            "curve then covers only those)"
        )
    return [Item("disk", str(root), MISSING, detail, fix, data)]


def check_memory(cfg: settings.RunConfig) -> list[Item]:
    """Each model's training batch against the memory free on this machine now, by the
    training CLI's own rule (training.memory_check: the profile's activation estimate, a lower
    bound). Checked on the machine that runs the jobs: a cluster's submit host is not it, so the
    workflow skips this check there (--skip memory)."""
    from common.cli import UsageError
    from common.device import resolve_device
    from training.memory_check import memory_problem

    try:
        device = resolve_device(cfg.device)
    except UsageError:  # no CUDA here: the gpus check names that problem once
        return [Item("memory", "*", NOTE, f"not checked: device {cfg.device} is not visible here")]
    images = cfg.train.micro_batch or max(cfg.train.batch // max(cfg.train.gpus, 1), 1)
    items = []
    for name, m in cfg.models.items():
        for ds in sorted({d.resolution for d in cfg.datasets.values()}):
            problem = memory_problem(name, ds, m.build, images, device)
            where = f"{name}@{ds}"
            if problem:
                fix = "lower train.batch, or set train.micro_batch (images per forward)"
                items.append(Item("memory", where, MISMATCH, problem, fix))
            else:
                detail = f"{images} images per forward fit in the memory free on {device}"
                items.append(Item("memory", where, OK, detail))
    return items
