"""Every random draw of the loop, as a pure function of (seed, micro-batch, step) or of the
position in the data: what makes an interrupted run, resumed, end bit-identical to an
uninterrupted one, and a step's draws independent of how many processes share it.

The data order depends only on (seed, images seen), so resuming needs no sampler state; the
per-step draws (MicroDraws) cover z, style mixing, flips, per-layer noise and path-length
directions, keyed by each micro-batch's index in the global batch, not by the rank.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    return a CPU generator for everything the loop draws itself (one micro-batch per rank; the
    loop itself uses MicroDraws)."""
    torch.manual_seed(_mix_seed(seed, rank, step, 1))
    return torch.Generator().manual_seed(_mix_seed(seed, rank, step, 2))


PASSES = ("D", "R1", "G", "PL")  # the passes of a step, each with its own global-RNG seed


class MicroDraws:
    """The random sources of this rank's micro-batches in one step.

    Micro-batch k of the global batch (k in `micros`, of `total`) owns a CPU generator (latents,
    mixing, flips; drawn from across the step's passes in order) and, per pass, a fresh seed of
    the global torch RNG (what the models draw themselves: per-layer noise, path-length
    directions), set by `enter(i, pass)`. Nothing depends on the rank or on the order in which
    micro-batches are visited, so one process looping over all of them draws what several
    processes draw between them.
    """

    def __init__(self, seed: int | None, step: int, micros: Sequence[int], total: int):
        self.seed, self.step, self.micros, self.total = seed, step, list(micros), total
        self.gens = [torch.Generator().manual_seed(_mix_seed(seed, k, step, 2)) for k in micros]

    @classmethod
    def single(cls, gen: torch.Generator, total: int = 1) -> MicroDraws:
        """One micro-batch per rank drawing from `gen`, the global RNG left as the caller seeded
        it (training.sampler.seed_step): the interface of benchmarks and single-step tests."""
        draws = cls.__new__(cls)
        draws.seed, draws.step, draws.micros, draws.total, draws.gens = None, 0, [0], total, [gen]
        return draws

    def __len__(self) -> int:
        return len(self.gens)

    def enter(self, i: int, pass_name: str) -> None:
        """Seed the global RNG for pass `pass_name` of this rank's i-th micro-batch."""
        if self.seed is not None:
            k = self.micros[i]
            torch.manual_seed(_mix_seed(self.seed, k, self.step, 1, PASSES.index(pass_name)))


def micro_batches(batch: int, micro_batch: int, d) -> range:
    """Indices (in the global batch) of this rank's micro-batches: a contiguous block, the one
    BatchStream hands this rank's images for."""
    per_rank = batch // d.world_size // micro_batch
    return range(d.rank * per_rank, (d.rank + 1) * per_rank)


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
