"""Where the images come from: the real set (first N of a prepared dataset, no x-flip) and the
generator's samples (seeded latents, NVIDIA uint8 quantization), both as uint8 NCHW batches."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from . import weights as W
from .errors import QualityError
from .features import quantize


def first_line(exc: BaseException) -> str:
    """First line of an exception message: CLI errors must stay one line."""
    return (str(exc).strip().splitlines() or [""])[0][:200]


def open_dataset(data) -> tuple[Sequence, dict]:
    """A prepared dataset file (through data.dataset.PreparedDataset, x-flip off) or any sequence
    of uint8 (C, H, W) tensors; returns it with its provenance for the metric card."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise QualityError(f"dataset file not found: {path}")
        try:
            from data.dataset import PreparedDataset
        except ImportError as exc:
            raise QualityError(f"cannot import data.dataset.PreparedDataset ({exc})") from None
        try:
            ds = PreparedDataset(str(path), xflip=False)
        except Exception as exc:  # noqa: BLE001 - any reader failure is a bad input file
            raise QualityError(
                f"cannot read dataset {path}: {type(exc).__name__}: {first_line(exc)}"
            ) from None
        sha = getattr(ds, "file_sha256", None) or W.sha256_file(path)
        where = str(path)
    else:
        ds, sha, where = data, getattr(data, "file_sha256", None), None
    info = {
        "path": where,
        "sha256": sha,
        "recipe": getattr(ds, "recipe", None),
        "resolution": getattr(ds, "resolution", None),
        "num_images": len(ds),
        "xflip": False,
    }
    return ds, info


def _image(item) -> torch.Tensor:
    img = item[0] if isinstance(item, (tuple, list)) else item
    img = torch.as_tensor(img)
    if img.dtype != torch.uint8 or img.ndim != 3:
        raise QualityError(
            f"dataset items must be uint8 (C, H, W) tensors, got {img.dtype} {tuple(img.shape)}"
        )
    return img


def real_batches(ds: Sequence, num: int, batch: int) -> Iterator[torch.Tensor]:
    """The first `num` images in dataset order (NVIDIA `*_full` protocol), no x-flip."""
    for start in range(0, num, batch):
        yield torch.stack([_image(ds[i]) for i in range(start, min(start + batch, num))])


def generated_batches(
    G: torch.nn.Module,
    seed: int,
    num: int,
    batch: int,
    truncation: float,
    noise_mode: str,
    device: torch.device,
) -> Iterator[torch.Tensor]:
    """uint8 samples of G for one seed.

    All latents come from one generator: z = randn(num, z_dim, Generator().manual_seed(seed)),
    so sample i does not depend on the batch size. The global torch RNG is also seeded, which
    makes `noise_mode='random'` repeatable (for a fixed batch size and device).
    """
    z_all = torch.randn(num, G.z_dim, generator=torch.Generator().manual_seed(seed))
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):  # the caller's RNG state is left untouched
        torch.manual_seed(seed)
        for start in range(0, num, batch):
            z = z_all[start : start + batch].to(device)
            with torch.no_grad():
                img = G(z, truncation_psi=truncation, noise_mode=noise_mode)
            if img.ndim != 4 or img.shape[0] != z.shape[0] or img.shape[1] not in (1, 3):
                raise QualityError(
                    f"generator returned shape {tuple(img.shape)} for {z.shape[0]} latents; "
                    "expected (B, 3, R, R)"
                )
            yield quantize(img.float())
