"""Bytes moved by a forward, counted per aten op, the way torch's FlopCounterMode counts FLOPs.

Why: MACs alone cannot say why two models with similar MAC counts run at very different speeds;
the roofline model (Williams et al.) needs the other half, the bytes the work moves, so that
operational intensity (MACs per byte) tells a memory-bound model from a compute-bound one.

The model this counter implements (and what it is not):

* Every aten op reads each of its tensor inputs and writes each of its outputs, from and to
  memory, in full: there is no cache. A real device keeps some operands in cache between ops, so
  the count is an UPPER BOUND on DRAM traffic (a "cache-less" count), and the intensity derived
  from it a lower bound.
* A tensor counts the bytes of the distinct elements it covers: numel × element size, except
  that a broadcast dimension (stride 0) is counted once (an `expand`ed bias is read as the bias,
  not as the full tensor).
* The same tensor passed twice to one op (`a + a`, or one storage view given twice) is read
  once: inputs are de-duplicated by (storage, offset, shape, stride).
* An op that only makes a view (`view`, `t`, `permute`, `expand`, `slice`, ...; its schema says
  its output aliases an input without writing it) moves nothing: 0 bytes. A view that must be
  materialised shows up as the copy op the dispatcher runs (`clone`, `_unsafe_view` of a copy).
* In-place ops (`add_`) read their operands and write `self`: `a.add_(b)` moves as much as
  `a + b`. Ops that overwrite `self` without reading it (`copy_`, `fill_`, `zero_`) and `out=`
  arguments are written, not read. `empty*` allocations move nothing; other factories
  (`zeros`, `randn`, `zeros_like`, ...) write their output and read nothing.

Counting works on the meta device (shapes and dtypes only), so a 1024-px forward costs no memory
and no arithmetic; only the per-op Python overhead of the dispatch mode.
"""

from __future__ import annotations

import functools
import math

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import models

PROTOCOL = (
    "aten dispatch-mode count of one no-grad forward on meta: every op reads its tensor inputs "
    "and writes its outputs in full (no cache: an upper bound on DRAM traffic), broadcast dims "
    "counted once, view-only ops 0 bytes, in-place ops read+write self"
)
# ops that overwrite their first argument without reading it
_OVERWRITE_SELF = {"copy_", "fill_", "zero_", "normal_", "uniform_", "random_", "bernoulli_"}
# allocations that write nothing
_ALLOC_ONLY = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided"}
# factories that take a tensor only for its shape/dtype: they write, never read it
_WRITE_ONLY = {
    "zeros_like",
    "ones_like",
    "full_like",
    "rand_like",
    "randn_like",
    "new_zeros",
    "new_ones",
    "new_full",
}


def tensor_bytes(t: torch.Tensor) -> int:
    """Bytes of the distinct elements `t` covers (a stride-0, broadcast, dimension counted once)."""
    if t.numel() == 0:
        return 0
    distinct = math.prod(s for s, st in zip(t.shape, t.stride(), strict=True) if st != 0)
    return distinct * t.element_size()


def _key(t: torch.Tensor):
    """What makes two tensor arguments the same data: one storage view read once."""
    try:
        storage = t.untyped_storage()._cdata
    except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. some subclasses)
        storage = id(t)
    return (storage, t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)


def _tensors(tree) -> list[torch.Tensor]:
    return [x for x in tree_flatten(tree)[0] if isinstance(x, torch.Tensor)]


def _is_view(func) -> bool:
    """The op returns an alias of an input that it does not write: metadata only."""
    rets = func._schema.returns
    return bool(rets) and all(r.alias_info is not None and not r.alias_info.is_write for r in rets)


def op_bytes(func, args, kwargs, out) -> tuple[int, int]:
    """(bytes read, bytes written) of one aten call, by the model in the module docstring."""
    if _is_view(func):
        return 0, 0
    name = func._schema.name.split("::")[-1]
    kwargs = dict(kwargs or {})
    out_args = _tensors(kwargs.pop("out", None))
    inputs = _tensors((args, kwargs))
    if name in _ALLOC_ONLY:
        return 0, 0
    if name in _WRITE_ONLY:
        inputs = []
    if name in _OVERWRITE_SELF and inputs:
        inputs = inputs[1:]
    seen, read = set(), 0
    for t in inputs:
        k = _key(t)
        if k not in seen:
            seen.add(k)
            read += tensor_bytes(t)
    written = {_key(t): tensor_bytes(t) for t in _tensors(out) + out_args}
    return read, sum(written.values())


class ByteCounterMode(TorchDispatchMode):
    """Sums bytes read and written by every aten op run under it.

    with ByteCounterMode() as bc:
        model(z)
    bc.read, bc.written, bc.total, bc.by_op  # by_op: aten op name -> total bytes
    """

    def __init__(self):
        super().__init__()
        self.read = 0
        self.written = 0
        self.by_op: dict[str, int] = {}

    @property
    def total(self) -> int:
        return self.read + self.written

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        r, w = op_bytes(func, args, kwargs, out)
        self.read += r
        self.written += w
        if r or w:
            name = func._schema.name.split("::")[-1]
            self.by_op[name] = self.by_op.get(name, 0) + r + w
        return out


def count_forward_bytes(model: torch.nn.Module, z: torch.Tensor, **forward_kw) -> ByteCounterMode:
    """One no-grad forward of `model(z, **forward_kw)` under the counter (use meta tensors)."""
    with torch.no_grad(), ByteCounterMode() as bc:
        model(z, **forward_kw)
    return bc


def forward_bytes_per_image(
    name: str, resolution: int, batch: int = 1, device_type: str = "cpu", **build
) -> float:
    """Bytes one forward moves per image, as it is timed: eval mode, const noise, built on meta
    with `build`, on the modconv path `device_type` would take ("auto" picks per device: the
    grouped path for no-grad CUDA, models/layers.py)."""
    return forward_bytes_by_op(name, resolution, batch, device_type, **build)["total"] / batch


def forward_bytes_by_op(
    name: str, resolution: int, batch: int = 1, device_type: str = "cpu", **build
) -> dict[str, int]:
    """Bytes of one forward at `batch` by aten op (largest first) and their "total"."""
    if device_type == "cuda" and "modconv_mode" not in build:
        build = {**build, "modconv_mode": "grouped"}
    return dict(_bytes(name, int(resolution), int(batch), tuple(sorted(build.items()))))


@functools.lru_cache(maxsize=64)
def _bytes(name: str, resolution: int, batch: int, build: tuple) -> tuple:
    with torch.device("meta"):
        g = models.build(name, resolution, **dict(build)).eval()
    z = torch.zeros(batch, g.z_dim, device="meta")
    bc = count_forward_bytes(g, z, noise_mode="const")
    ops = sorted(bc.by_op.items(), key=lambda kv: -kv[1])
    return (("total", bc.total), *ops)
