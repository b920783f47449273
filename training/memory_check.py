"""Refuse a batch whose activations cannot fit before training starts, instead of letting the
process grow until the kernel kills it minutes later with a half-made run folder (issue: a
`train.batch` of 100000 grew to 17 GB). The estimate is the profile's own: what autograd saves
for backward in one training forward of the generator (models.activations, on the meta device,
so it costs a second and no memory), times the images of one forward. It leaves out the
discriminator, the optimizer state and the allocator's slack, so it is a lower bound: a batch
refused here cannot fit, and one let through may still be too large."""

from __future__ import annotations

import torch

from models.activations import activation_bytes

GIB = 2**30


def free_memory(device: torch.device) -> int | None:
    """Bytes free on `device` now (a CUDA device's free memory, or the host's available RAM
    for CPU training); None where it cannot be asked."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type == "cpu":
        import psutil

        return int(psutil.virtual_memory().available)
    return None


def memory_problem(
    model: str, resolution: int, build: dict, images: int, device: torch.device
) -> str | None:
    """Why `images` per forward cannot fit on `device`, or None when the estimate fits."""
    free = free_memory(device)
    if free is None:
        return None
    per_image = activation_bytes(model, resolution, **(build or {}))["train_saved"]
    need = per_image * images
    if need <= free:
        return None
    fits = max(int(free // max(per_image, 1)), 0)
    return (
        f"{images} images per forward need at least {need / GIB:.1f} GiB of activations for "
        f"{model} at {resolution} px (the profile's estimate: {per_image / 2**20:.1f} MiB per "
        f"image saved for backward, generator only), but {free / GIB:.1f} GiB is free on "
        f"{device}; use a batch (or micro-batch) of {fits} or less"
    )
