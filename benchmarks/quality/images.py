"""What an IMAGES metric receives: the real or the generated uint8 images of one evaluation,
streamed rather than held, because one set of num_gen=50k images at 256 px is 9.8 GB of uint8.

Each `batches()` call is one pass over the source: the prepared dataset read again, or the
generator run again with the same seed (its latents and, for noise_mode='random', its noise are
seeded, so these are the very pixels the feature sets were computed from). `reduce()` and
`memo()` keep that to one pass per set however many metrics read it, and the real set's values
are shared by every seed of a run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch

from .features import rgb_batch


def _float64(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


class ImageSet:
    """The images of one set: `batches()` (uint8 (B, 3, H, W) RGB on the CPU, in order; grayscale
    repeated to RGB as for the nets), `reduce(name, fn)` (a float64 sum over batches, one pass),
    `memo(name, make)` (any value computed once) and `array()` (every image in memory)."""

    def __init__(self, make_batches: Callable[[], Iterable[torch.Tensor]], total: int):
        self._make = make_batches
        self.total = total
        self.passes = 0  # how many times the source was streamed (a test and a cost check)
        self._memo: dict = {}

    def __len__(self) -> int:
        return self.total

    def batches(self) -> Iterator[torch.Tensor]:
        """One pass over the source: cheap for the real set, a generator run for a generated one."""
        self.passes += 1
        for u8 in self._make():
            yield rgb_batch(u8).cpu()

    def memo(self, name, make: Callable):
        if name not in self._memo:
            self._memo[name] = make()
        return self._memo[name]

    def reduce(self, name: str, fn: Callable[[torch.Tensor], object]) -> np.ndarray:
        """sum over batches of `fn(batch)` (a number, array or tensor) as float64, computed in one
        pass and kept under `name`: per-set statistics (histograms, moments) without holding
        the images. Sums of per-batch values do not depend on the batch size."""

        def total() -> np.ndarray:
            return np.asarray(sum(_float64(fn(b)) for b in self.batches()), np.float64)

        return self.memo(("reduce", name), total)

    def array(self) -> np.ndarray:
        """Every image as one uint8 (N, H, W, 3) array, kept: N x H x W x 3 bytes (24 MB for the
        default run's 2,000 images at 64 px, 9.8 GB for 50k at 256 px). For small sets; metrics
        meant for paper-size runs use `reduce` or `batches`."""

        def stack() -> np.ndarray:
            parts = [b.permute(0, 2, 3, 1).numpy() for b in self.batches()]
            return np.concatenate(parts) if parts else np.zeros((0, 0, 0, 3), np.uint8)

        return self.memo(("array",), stack)
