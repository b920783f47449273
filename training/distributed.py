"""Data-parallel plumbing for `torchrun` (NCCL on CUDA, Gloo on CPU).

Gradients are averaged with one flat all-reduce after each pass (as NVlabs' StyleGAN3 loop does)
instead of wrapping the networks in DistributedDataParallel. Why: the loop runs several kinds of
passes per step (main, lazy R1 with a double backward, lazy path length on a smaller batch),
accumulates micro-batches, and PixelFolder keeps a parameter that never receives a gradient;
explicit syncing handles all of that without find_unused_parameters or per-pass DDP wrappers.
Gradients that are None are sent as zeros, so every rank always exchanges the same layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init(device_kind: str) -> Dist:
    """Join the process group torchrun describes via env vars; a plain run is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device_kind == "cuda":
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return Dist(rank=rank, world_size=world, local_rank=local)


def shutdown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_module(module: torch.nn.Module, d: Dist) -> None:
    """Make every rank start from rank 0's parameters and buffers."""
    if d.enabled:
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def reduce_grads(params: list[torch.nn.Parameter], d: Dist, count: int) -> None:
    """Turn the gradient sums this rank accumulated into the mean over all `count` micro-batches
    of the global batch (one flat all-reduce on several processes); missing gradients count as
    zeros on any number of processes, so one process updates exactly what several would."""
    if not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    if not d.enabled:
        for p, g in zip(params, grads, strict=True):
            p.grad = g / count if count > 1 else g
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= count
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def all_sum(t: torch.Tensor, d: Dist) -> torch.Tensor:
    """Sum of a tensor over ranks (identity on a single process)."""
    if d.enabled:
        t = t.clone()
        dist.all_reduce(t)
    return t


def gather_objects(obj, d: Dist) -> list:
    """[rank 0's obj, rank 1's, ...] on every rank (picklable objects, e.g. RNG states)."""
    if not d.enabled:
        return [obj]
    out = [None] * d.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()
