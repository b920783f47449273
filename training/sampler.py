"""Every random draw of the loop, as a pure function of (seed, rank, step) or of the position in
the data: what makes an interrupted run, resumed, end bit-identical to an uninterrupted one.

The data order depends only on (seed, images seen), so resuming needs no sampler state; the
per-step generators cover z, style mixing, flips, per-layer noise and path-length directions.
"""

from __future__ import annotations

import numpy as np
import torch


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


def real_batches(ds, batch: int, seed: int, start: int, d, workers: int | None, device):
    """Endless iterator over this rank's uint8 batches of `ds` from image position `start`."""
    if workers is None:
        workers = 2 if device.type == "cuda" else 0
    stream = BatchStream(len(ds), batch, seed, start, d.rank, d.world_size)
    loader = torch.utils.data.DataLoader(
        ds, batch_sampler=stream, num_workers=workers, pin_memory=device.type == "cuda"
    )
    return iter(loader)


def to_float_images(batch: torch.Tensor, device) -> torch.Tensor:
    """uint8 [0, 255] → float32 [-1, 1] on `device`."""
    return batch.to(device, non_blocking=True).to(torch.float32) / 127.5 - 1.0


def _mix_seed(*words: int) -> int:
    return int(np.random.SeedSequence(list(words)).generate_state(1, dtype=np.uint64)[0] >> 1)


def seed_step(seed: int, rank: int, step: int) -> torch.Generator:
    """Seed the global torch RNG (the models' per-layer noise, CPU and CUDA) for this step and
    return a CPU generator for everything the loop draws itself."""
    torch.manual_seed(_mix_seed(seed, rank, step, 1))
    return torch.Generator().manual_seed(_mix_seed(seed, rank, step, 2))


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
