"""Where a forward's time goes: each generator cut into its top-level blocks (the mapping
network, then PixelFolder's stages, StyleGAN2's and INR-GAN's resolution blocks, CIPS's layer
groups), each block timed with synchronised forward hooks and set beside its MACs.

Why blocks partition the forward in time: a block's time runs from the end of the block before
it (the forward's start for the first) to the end of its last module, so the glue code between
modules (coordinate grids, const-noise maps, reshapes) is charged to the block that uses it and
the blocks' times add up to the whole forward in every run, less the short tail after the last
block (the final `.contiguous()`), which is kept as `tail_ms`. Spans that skipped the glue would
leave an unexplained gap that grows as a model gets smaller.

Why hooks and not torch.profiler: a post-hook on each block's last module and a pre-hook on the
root cost a clock read each (plus a device sync on CUDA, where kernels run asynchronously), so
the timed forward is the plain forward; the profiler records every aten op and slows a CPU
forward of small ops by tens of percent. Even so the report takes only each block's share of
the hooked forward and scales it onto the latency measure's plain median (measures/blocks.py),
so a forward has one time in the report; the hooked forward is timed as a whole too, and its
ratio to the plain median is shown beside it, which bounds what the scaling changed.

A layout lists each block's modules in call order. `check_order` runs one forward and fails (a
bug, with a traceback) if a block's modules are not called between its neighbours' or one is
never called, so a layout that no longer matches its architecture cannot time silently wrong.

MACs per block are the headline's (FlopCounterMode on meta, grouped modconv path, FIR filters
excluded; counting.py), summed over the block's modules; what no block owns is `rest_macs`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import models
from benchmarks.profiling import counting
from benchmarks.profiling.timing import sync
from common.settings import Profile
from models.layers import FIRFilter

MIN_REPEATS = 3  # a median with a spread needs at least three forwards (fewer only if asked)
TIME_CAP_S = 5.0  # after MIN_REPEATS, stop adding repeats once this much time was spent


@dataclass(frozen=True)
class Block:
    name: str
    modules: tuple[str, ...]  # dotted module names, in the order the forward calls them


def _range(prefix: str, start: int, stop: int) -> list[str]:
    return [f"{prefix}.{i}" for i in range(start, stop)]


def _pixelfolder(G) -> list[Block]:
    out = []
    for i, r in enumerate(G.stage_res):
        mods = ["input"] if i == 0 else []
        mods += [f"lffs.{i}", f"posfolders.{i}"]
        for f in range(2):  # each fold: two styled convs, then a ToRGB
            mods += [*_range("convs", 4 * i + 2 * f, 4 * i + 2 * f + 2), f"to_rgbs.{2 * i + f}"]
        out.append(Block(f"stage {i} ({r} px)", tuple(mods)))
    return out


def _stylegan2(G) -> list[Block]:
    out = [Block("4 px", ("input", "conv1", "to_rgb1"))]
    for k in range(len(G.to_rgbs)):
        mods = (f"convs.{2 * k}", f"convs.{2 * k + 1}", f"to_rgbs.{k}")
        out.append(Block(f"{2 ** (k + 3)} px", mods))
    return out


def _inr_gan(G) -> list[Block]:
    return [
        Block(f"b{r} ({r} px)", (f"synthesis.b{r}",)) for r in G.synthesis_network.block_resolutions
    ]


def _cips(G) -> list[Block]:
    # the embedding is used directly in train mode but grid-sampled in eval mode (its module is
    # then never called), so it is no module of the input block; a warm eval forward reuses the
    # z-independent features (CIPSGenerator.input_features), so this block is then mostly conv1
    out = [Block("input (Fourier features, embedding, conv1)", ("lff", "conv1"))]
    for i in range(len(G.to_rgbs)):
        width = G.linears[2 * i].conv.out_ch
        mods = (f"linears.{2 * i}", f"linears.{2 * i + 1}", f"to_rgbs.{i}")
        out.append(Block(f"group {i} ({width} ch)", mods))
    return out


LAYOUTS: dict[str, Callable[[nn.Module], list[Block]]] = {
    "pixelfolder": _pixelfolder,
    "stylegan2": _stylegan2,
    "inr_gan": _inr_gan,
    "cips": _cips,
}
MAPPING = "mapping"


def layout(G: nn.Module) -> list[Block]:
    """The blocks of generator `G` in call order: the mapping network, then the model's own
    (a model without a layout here: see `probed`)."""
    mapping = next(n for n, m in G.named_children() if m is G.style)
    name = getattr(G, "registry_name", None)
    rest = LAYOUTS[name](G) if name in LAYOUTS else probed(G, mapping)
    return [Block(MAPPING, (mapping,)), *rest]


def probed(G: nn.Module, mapping: str) -> list[Block]:
    """A model without a layout: its top-level children as one forward calls them, one block
    each when each child's calls are contiguous, else all of them as one "synthesis" block
    (ending with the child called last). Children never called are left out."""
    seq: list[str] = []
    children = [(n, m) for n, m in G.named_children() if n != mapping]
    hooks = [m.register_forward_pre_hook(lambda *_, n=n: seq.append(n)) for n, m in children]
    try:
        with torch.no_grad():
            p = next(G.parameters())
            G(torch.zeros(1, G.z_dim, device=p.device, dtype=p.dtype), noise_mode="const")
    finally:
        for h in hooks:
            h.remove()
    runs = [n for i, n in enumerate(seq) if i == 0 or seq[i - 1] != n]
    if len(runs) == len(set(runs)):
        return [Block(n, (n,)) for n in runs]
    first = list(dict.fromkeys(seq))
    last = seq[-1]
    return [Block("synthesis", (*[n for n in first if n != last], last))]


# --------------------------------------------------------------------------- MACs
def block_macs(name: str, resolution: int, blocks: list[Block], **build) -> tuple[list[int], int]:
    """MACs of each block (the headline definition: FIR filters excluded) and the MACs no block
    owns, from one batch-1 FlopCounterMode pass on meta."""
    G = counting.build_for_counting(name, resolution, "meta", **build)
    x = counting.example_input(G)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        counting.forward_thunk(G, x)()
    root = type(G).__name__
    counts = {k: sum(v.values()) // 2 for k, v in fc.get_flop_counts().items()}
    fir = [n for n, m in G.named_modules() if isinstance(m, FIRFilter)]

    def own(path: str) -> int:
        inside = sum(counts.get(f"{root}.{f}", 0) for f in fir if f.startswith(path + "."))
        return counts.get(f"{root}.{path}", 0) - inside

    per_block = [sum(own(p) for p in b.modules) for b in blocks]
    total_fir = sum(counts.get(f"{root}.{f}", 0) for f in fir)
    return per_block, counts.get("Global", 0) - total_fir - sum(per_block)


# --------------------------------------------------------------------------- timing
class _Clock:
    """Hooks that stamp the forward's start, each block's end and the forward's end."""

    def __init__(self, G: nn.Module, blocks: list[Block], device: torch.device):
        self.device, self.n = device, len(blocks)
        self.start = self.end = 0.0
        self.ends: dict[int, float] = {}  # block -> end of the last call of its last module
        self.calls: list[int] = []  # block index of every module call, for check_order
        mods = dict(G.named_modules())
        self.handles = [
            G.register_forward_pre_hook(lambda *_: self._start()),
            G.register_forward_hook(lambda *_: self._end()),
        ]
        for k, b in enumerate(blocks):
            for p in b.modules:
                self.handles.append(mods[p].register_forward_pre_hook(self._seen(k)))
            self.handles.append(mods[b.modules[-1]].register_forward_hook(self._stamp(k)))

    def _seen(self, k: int):
        return lambda *_: self.calls.append(k)

    def _now(self) -> float:
        sync(self.device)
        return time.perf_counter()

    def _start(self) -> None:
        self.ends.clear()
        self.calls.clear()
        self.start = self._now()

    def _end(self) -> None:
        self.end = self._now()

    def _stamp(self, k: int):
        def hook(*_):
            self.ends[k] = self._now()

        return hook

    def split(self) -> tuple[list[float], float, float]:
        """(seconds per block, tail after the last block, whole forward) of the last forward."""
        if sorted(self.ends) != list(range(self.n)):
            raise RuntimeError(f"blocks {sorted(self.ends)} of {self.n} ended in this forward")
        s = [self.start, *(self.ends[k] for k in range(self.n))]
        parts = [b - a for a, b in zip(s[:-1], s[1:], strict=True)]
        if min(parts) < 0:
            raise RuntimeError("a block ended before the block before it: layout out of order")
        return parts, self.end - s[-1], self.end - self.start

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def check_order(calls: list[int], blocks: list[Block]) -> None:
    """A layout must cut the forward into consecutive blocks, each module called at least once."""
    if any(b < a for a, b in zip(calls, calls[1:], strict=False)):
        raise RuntimeError(f"block modules were called out of layout order: {calls}")
    missing = [blocks[k].name for k in range(len(blocks)) if k not in calls]
    if missing:
        raise RuntimeError(f"blocks never called: {missing}")


def _quartiles(xs: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def time_blocks(
    G: nn.Module,
    blocks: list[Block],
    z: torch.Tensor,
    device: torch.device,
    p: Profile,
    time_cap: float = TIME_CAP_S,
) -> dict:
    """Hooked forwards (eval, no_grad, const noise): per block the median and quartiles of its
    seconds, and the same for the whole hooked forward and the tail. `p.latency_warmup` untimed
    forwards, then MIN_REPEATS timed ones (fewer where `p.latency_repeats` is: a smoke test's
    config), more up to `p.latency_repeats` while under `time_cap` seconds. The layout is
    checked on the first forward (check_order)."""
    warmup, least = p.latency_warmup, max(1, min(MIN_REPEATS, p.latency_repeats))
    clock = _Clock(G, blocks, device)
    runs: list[tuple[list[float], float, float]] = []
    try:
        with torch.no_grad():
            for _ in range(warmup):
                G(z, noise_mode="const")
            start = time.perf_counter()
            while len(runs) < least or (
                len(runs) < p.latency_repeats and time.perf_counter() - start < time_cap
            ):
                G(z, noise_mode="const")
                if not runs and not warmup:
                    check_order(clock.calls, blocks)
                runs.append(clock.split())
            if warmup:
                check_order(clock.calls, blocks)
    finally:
        clock.remove()
    per_block = list(zip(*(r[0] for r in runs), strict=True))
    return {
        "blocks_s": [list(b) for b in per_block],
        "tail_s": [r[1] for r in runs],
        "whole_s": [r[2] for r in runs],
    }


def summarize_ms(xs: list[float]) -> dict:
    lo, hi = _quartiles(xs) if len(xs) > 1 else (xs[0], xs[0])
    return {"ms": 1e3 * statistics.median(xs), "q1_ms": 1e3 * lo, "q3_ms": 1e3 * hi}


def measure_blocks(
    name: str,
    resolution: int,
    device: torch.device,
    p: Profile,
    batch: int = 1,
    time_cap: float = TIME_CAP_S,
    **build,
) -> dict:
    """The profile's `blocks` section: one row per block with its MACs and time, and shares,
    timed as `time_blocks` reads the `profile:` section `p`."""
    G = models.build(name, resolution, **build).to(device).eval()
    blocks = layout(G)
    macs, rest = block_macs(name, resolution, blocks, **build)
    z = torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(0)).to(device)
    t = time_blocks(G, blocks, z, device, p, time_cap)
    times = [summarize_ms(xs) for xs in t["blocks_s"]]
    total_ms = sum(s["ms"] for s in times)
    total_macs = sum(macs) + rest
    rows = [
        {
            "block": b.name,
            "modules": list(b.modules),
            "macs": m * batch,
            **s,
            "share_macs": m / total_macs if total_macs else float("nan"),
            "share_time": s["ms"] / total_ms,
        }
        for b, m, s in zip(blocks, macs, times, strict=True)
    ]
    whole = summarize_ms(t["whole_s"])
    return {
        "batch": batch,
        "resolution": resolution,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "repeats": len(t["whole_s"]),
        "latency_warmup": p.latency_warmup,
        "rows": rows,
        "rest_macs": rest * batch,
        "sum_ms": total_ms,
        "whole_ms": whole["ms"],
        "whole_q1_ms": whole["q1_ms"],
        "whole_q3_ms": whole["q3_ms"],
        "tail_ms": summarize_ms(t["tail_s"])["ms"],
        "method": (
            "forward hooks: a block runs from the previous block's end to its last module's "
            "end (device synchronised at each stamp); median and quartiles over the repeats; "
            "share_time = block median / sum of block medians"
        ),
    }
