"""Device-independent cost accounting: parameters, MACs and activation memory.

Everything here runs on the `meta` device unless said otherwise, so counting a 2 GB model costs
no memory and no arithmetic. MACs are counted by torch's FlopCounterMode (FLOPs ÷ 2) with
per-module attribution, which is what lets the fixed FIR filters (`models.layers.FIRFilter`) be
kept out of the headline and reported on their own. fvcore and ptflops (aten backend) are only
cross-checks; fvcore cannot trace meta tensors, so it runs one real batch-1 forward on CPU.

Conventions (docs/macs.md): "true" counts a transposed conv over its input (what it computes);
"paper" counts each strided transposed conv as a dense conv over its upsampled output
(× stride², i.e. ×4 for StyleGAN2's upsampling convs), which reproduces the paper's 83.77 G.
Modulated convs are counted on the "grouped" path (the official one): its weight (de)modulation
is elementwise, so only conv/linear work remains. The default CPU "activations" path adds one
small demodulation matmul per layer; that is reported separately, never in the headline.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

import models
from models.layers import FIRFilter

log = logging.getLogger("pixbench.counting")

COUNTERS = ("flop_counter_mode", "fvcore", "ptflops_aten")
PRIMARY = "flop_counter_mode"
ROOT_KEY = "(root)"  # work done directly in a model's own forward, outside any child module


# --------------------------------------------------------------------------- building
def build_generator(name: str, resolution: int, device: str = "meta", **overrides) -> nn.Module:
    """Build generator `name` directly on `device` (meta: no memory, no init cost)."""
    with torch.device(device):
        return models.build(name, resolution, **overrides)


def build_for_counting(name: str, resolution: int, device: str = "meta", **overrides) -> nn.Module:
    """The generator as it is counted: grouped modconv path, train mode (see module docstring).

    Train mode matters for CIPS only: there the learned embedding is used as it is instead of
    being bilinearly re-sampled with grid_sample (a gather, not a MAC). Other models have no
    train/eval difference in their forward.
    """
    overrides = {**overrides, "modconv_mode": "grouped"}
    return build_generator(name, resolution, device, **overrides).train()


def build_discriminator(resolution: int, device: str = "meta", **overrides) -> nn.Module:
    with torch.device(device):
        return models.build_discriminator(resolution, **overrides).eval()


def example_input(module: nn.Module, batch: int = 1, device="meta") -> torch.Tensor:
    """z for a generator, an image for a discriminator (anything with `z_dim` is a generator)."""
    if hasattr(module, "z_dim"):
        return torch.zeros(batch, module.z_dim, device=device)
    r = module.resolution
    return torch.zeros(batch, 3, r, r, device=device)


def forward_thunk(module: nn.Module, x: torch.Tensor, noise_mode: str = "random"):
    if hasattr(module, "z_dim"):
        return lambda: module(x, noise_mode=noise_mode)
    return lambda: module(x)


# --------------------------------------------------------------------------- parameters
def count_params(module: nn.Module) -> dict:
    """Total, mapping (`style`) / synthesis split, and per top-level module. Buffers excluded."""
    by_module = {
        name: sum(p.numel() for p in child.parameters()) for name, child in module.named_children()
    }
    by_module = {k: v for k, v in by_module.items() if v}
    own = sum(p.numel() for p in module.parameters(recurse=False))
    if own:
        by_module[ROOT_KEY] = own
    total = sum(p.numel() for p in module.parameters())
    style = getattr(module, "style", None)  # every Generator's mapping network (models/base.py)
    mapping = sum(p.numel() for p in style.parameters()) if isinstance(style, nn.Module) else 0
    return {"params": total, "params_mapping": mapping, "params_synthesis": total - mapping,
            "params_by_module": by_module}  # fmt: skip


# --------------------------------------------------------------------------- MACs
def _paper_conv_flop(x_shape, w_shape, _bias, stride, _padding, _dilation, transposed, *args,
                     out_shape=None, **kwargs) -> int:  # fmt: skip
    """FlopCounterMode's conv formula, with strided transposed convs × prod(stride)."""
    flops = conv_flop_count(x_shape, w_shape, out_shape, transposed=transposed)
    return flops * math.prod(stride) if transposed else flops


PAPER_MAPPING = {
    torch.ops.aten.convolution: _paper_conv_flop,
    torch.ops.aten._convolution: _paper_conv_flop,
}


@dataclass
class MacCount:
    """MACs of one forward. `macs` excludes FIR filters; `total` is what a counter would show."""

    total: int
    fir: int
    by_module: dict[str, int] = field(default_factory=dict)
    fir_by_module: dict[str, int] = field(default_factory=dict)

    @property
    def macs(self) -> int:
        return self.total - self.fir


def _fqns(module: nn.Module) -> dict[str, nn.Module]:
    """FlopCounterMode's module names: the root's class name, then the usual dotted path."""
    root = type(module).__name__
    return {(f"{root}.{n}" if n else root): m for n, m in module.named_modules()}


def _sum_outermost(counts: dict[str, int], prefix: str) -> int:
    """Inclusive counts of the outermost called modules under `prefix` (containers such as
    ModuleList are never called, so they have no entry of their own)."""
    keys = [k for k in counts if k == prefix or k.startswith(prefix + ".")]
    outer = [k for k in keys if not any(k != o and k.startswith(o + ".") for o in keys)]
    return sum(counts[k] for k in outer)


def count_macs(module: nn.Module, x: torch.Tensor, convention: str = "true",
               noise_mode: str = "random") -> MacCount:  # fmt: skip
    """One no-grad forward under FlopCounterMode; per top-level module, FIR split out."""
    if convention not in ("true", "paper"):
        raise ValueError(f"convention must be 'true' or 'paper', not {convention!r}")
    mapping = PAPER_MAPPING if convention == "paper" else None
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=mapping) as fc:
        forward_thunk(module, x, noise_mode)()
    counts = {k: sum(v.values()) // 2 for k, v in fc.get_flop_counts().items()}
    total = counts.get("Global", 0)
    fqns = _fqns(module)
    fir_names = [n for n, m in fqns.items() if isinstance(m, FIRFilter)]
    root = type(module).__name__
    by_module, fir_by_module = {}, {}
    for name, _child in module.named_children():
        prefix = f"{root}.{name}"
        fir = sum(counts.get(n, 0) for n in fir_names if n.startswith(prefix + "."))
        inclusive = _sum_outermost(counts, prefix)
        if inclusive:
            by_module[name] = inclusive - fir
        if fir:
            fir_by_module[name] = fir
    rest = total - sum(by_module.values()) - sum(fir_by_module.values())
    if rest:
        by_module[ROOT_KEY] = rest
    fir = sum(fir_by_module.values())
    return MacCount(total=total, fir=fir, by_module=by_module, fir_by_module=fir_by_module)


class _ZOnly(nn.Module):
    """fvcore traces `module(z)`; this pins the keyword arguments (tracing needs tensor-only calls)."""

    def __init__(self, module: nn.Module, noise_mode: str):
        super().__init__()
        self.m, self.noise_mode = module, noise_mode

    def forward(self, x):
        return forward_thunk(self.m, x, self.noise_mode)()


def count_macs_fvcore(module_cpu: nn.Module, x: torch.Tensor) -> MacCount:
    """fvcore FlopCountAnalysis on CPU (it traces with torch.jit, which meta tensors break)."""
    from fvcore.nn import FlopCountAnalysis

    wrapper = _ZOnly(module_cpu, "random")
    with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
        fa = FlopCountAnalysis(wrapper, (x,))
        fa.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        # fvcore counts 4 FLOPs per bilinear output; resampling is not conv/linear work here
        fa.set_op_handle("aten::upsample_bilinear2d", lambda inputs, outputs: Counter())
        total = int(fa.total())
        by_module = fa.by_module()
    fir = sum(
        int(by_module.get(f"m.{n}", 0))
        for n, m in module_cpu.named_modules()
        if isinstance(m, FIRFilter)
    )
    return MacCount(total=total, fir=fir)


def count_macs_ptflops(module: nn.Module, x: torch.Tensor) -> MacCount:
    """ptflops with backend='aten' (its default module-hook backend misses functional convs).

    ptflops puts the model in eval mode and leaves forward hooks on its children, so pass a
    throw-away copy. It also counts conv/addmm bias additions, which is why it runs a little
    high. FIR work cannot be separated (it only attributes to top-level children).
    """
    from ptflops import get_model_complexity_info

    noise = {"noise_mode": "random"} if hasattr(module, "z_dim") else {}
    key = "z" if hasattr(module, "z_dim") else "img"
    macs, _ = get_model_complexity_info(
        module, tuple(x.shape[1:]), input_constructor=lambda _res: {key: x, **noise},
        backend="aten", as_strings=False, print_per_layer_stat=False, ost=io.StringIO(),
    )  # fmt: skip
    if macs is None:
        raise RuntimeError(
            "ptflops (aten backend) failed to count this model; see its traceback above"
        )
    return MacCount(total=int(macs), fir=0)


# --------------------------------------------------------------------------- activation memory
def _storage_key(t: torch.Tensor):
    return StorageWeakRef(t.untyped_storage())


def _owned_storages(module: nn.Module, *extra: torch.Tensor) -> set:
    tensors = [*module.parameters(), *module.buffers(), *extra]
    return {_storage_key(t) for t in tensors}


def saved_tensor_bytes(module: nn.Module, x: torch.Tensor, noise_mode: str = "random") -> dict:
    """Bytes autograd keeps for backward in one training forward (each storage counted once).

    Storages that belong to parameters/buffers are reported apart: they exist anyway and are
    not activations. Works on meta tensors (shapes and storage sizes are all it needs).
    """
    owned = _owned_storages(module, x)
    seen: dict = {}

    def pack(t):
        s = t.untyped_storage()
        seen.setdefault(StorageWeakRef(s), (s.nbytes(), s))  # keep s alive: keys stay unique
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward_thunk(module, x, noise_mode)()
    act = sum(n for k, (n, _) in seen.items() if k not in owned)
    par = sum(n for k, (n, _) in seen.items() if k in owned)
    del out
    return {"train_saved": act, "train_saved_params": par,
            "train_saved_storages": sum(1 for k in seen if k not in owned)}  # fmt: skip


class LiveTensorTracker(TorchDispatchMode):
    """Peak of the bytes held by tensors created inside the mode, sampled after every op.

    Each op's outputs are registered by storage; storages whose last reference has gone are
    dropped before the next sample. That is exactly what a caching allocator would have to
    hold (minus kernel workspaces and block rounding), on any device including meta.
    """

    def __init__(self, exclude: set):
        super().__init__()
        self.exclude, self.live, self.current, self.peak = exclude, {}, 0, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for key in [k for k in self.live if k.expired()]:
            self.current -= self.live.pop(key)
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                key = _storage_key(t)
                if key not in self.live and key not in self.exclude:
                    self.live[key] = t.untyped_storage().nbytes()
                    self.current += self.live[key]
        self.peak = max(self.peak, self.current)
        return out


def peak_live_bytes(module: nn.Module, x: torch.Tensor, noise_mode: str = "const") -> dict:
    """Peak live tensor bytes of one no-grad inference forward (parameters and input excluded)."""
    tracker = LiveTensorTracker(_owned_storages(module, x))
    with torch.no_grad(), tracker:
        out = forward_thunk(module, x, noise_mode)()
    return {"inference_peak_live": tracker.peak,
            "inference_output": out.untyped_storage().nbytes()}  # fmt: skip


ACTIVATION_METHOD = (
    "meta device, batch 1. train_saved: storages packed by torch.autograd.graph.saved_tensors_hooks "
    "during one training-mode forward of G with random noise (the G side of a G step; D not "
    "included), each storage once, parameter/buffer storages excluded (train_saved_params). "
    "inference_peak_live: a TorchDispatchMode registers every op output by storage and drops it "
    "when its last reference is gone; peak sampled after each op (eval mode, no_grad, const "
    "noise; excludes parameters, the input z, kernel workspaces and allocator rounding)."
)


def activation_bytes(name: str, resolution: int, **overrides) -> dict:
    """Both memory figures for generator `name`, built on meta with the caller's overrides (the
    modconv path is what the model would pick: on CPU/meta that is the activations path)."""
    g = build_generator(name, resolution, "meta", **overrides)
    z = example_input(g)
    res = saved_tensor_bytes(g.train(), z)
    res.update(peak_live_bytes(g.eval(), z))
    res["method"] = ACTIVATION_METHOD
    return res


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1)
