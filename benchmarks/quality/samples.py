"""Where the images come from: the real set (first N of a dataset opened by
data.dataset.open_dataset, no x-flip) and the generator's samples (seeded latents, NVIDIA uint8
quantization), both as uint8 NCHW batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from .errors import QualityError
from .features import quantize


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
