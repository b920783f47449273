"""Device-independent cost accounting: parameters and MACs (activation memory: activations.py).

Everything here runs on the `meta` device unless said otherwise, so counting a 2 GB model costs
no memory and no arithmetic. MACs are counted by torch's FlopCounterMode (FLOPs ÷ 2) with
per-module attribution, which is what lets the fixed FIR filters (`models.layers.FIRFilter`) be
kept out of the headline and reported on their own. fvcore and ptflops (aten backend) are only
cross-checks; fvcore cannot trace meta tensors, so it runs one real batch-1 forward on CPU.
A profile has all three count one definition (conv/linear/matmul MACs, no bias adds, no
elementwise work), so their totals must be equal (`check_agreement`).

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
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

import models
from models.layers import FIRFilter

log = logging.getLogger("pixbench.counting")

COUNTERS = ("flop_counter_mode", "fvcore", "ptflops_aten")
PRIMARY = "flop_counter_mode"
# Counters differ by nothing: each sums products of op shapes in exact integers over the same ops
# (conv, linear, matmul; bias adds and elementwise work excluded from each, see count_macs_*), so
# no sampling or rounding enters. A difference is an op one counter prices and another does not:
# a definition mismatch to fix, never noise.
COUNTER_TOLERANCE = 0.0
# fvcore's default handles that are not conv/linear/matmul MACs (norms, resampling, pooling):
# ignored, so fvcore counts the definition the other two count
FVCORE_NON_MAC_OPS = (
    "aten::batch_norm",
    "aten::group_norm",
    "aten::layer_norm",
    "aten::instance_norm",
    "aten::upsample_nearest2d",
    "aten::upsample_bilinear2d",
    "aten::adaptive_avg_pool2d",
    "aten::grid_sampler",
)
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
    return {
        "params": total,
        "params_mapping": mapping,
        "params_synthesis": total - mapping,
        "params_by_module": by_module,
    }


# --------------------------------------------------------------------------- MACs
def _paper_conv_flop(
    x_shape,
    w_shape,
    _bias,
    stride,
    _padding,
    _dilation,
    transposed,
    *args,
    out_shape=None,
    **kwargs,
) -> int:
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


def count_macs(
    module: nn.Module, x: torch.Tensor, convention: str = "true", noise_mode: str = "random"
) -> MacCount:
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


class _Unattributed:
    """Stands in for FlopCounterMode's module tracker, whose backward hooks refuse
    `autograd.grad` (the double backward of R1 and path length): every count goes to Global."""

    parents = ("Global",)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def macs_of(thunk) -> int:
    """MACs of whatever `thunk()` runs on real tensors, backward and double backward included
    (a training step): FlopCounterMode's per-op formulas, no per-module attribution. Every
    conv, linear and matmul counts, the fixed FIR filters too: this is work done, not a
    headline."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _Unattributed()
    with counter:
        thunk()
    return counter.get_total_flops() // 2


class _ZOnly(nn.Module):
    """fvcore traces `module(z)`; this pins the keyword arguments (tracing needs tensor-only calls)."""

    def __init__(self, module: nn.Module, noise_mode: str):
        super().__init__()
        self.m, self.noise_mode = module, noise_mode

    def forward(self, x):
        return forward_thunk(self.m, x, self.noise_mode)()


def _no_macs(inputs, outputs) -> Counter:
    return Counter()


def count_macs_fvcore(module_cpu: nn.Module, x: torch.Tensor) -> MacCount:
    """fvcore FlopCountAnalysis on CPU (it traces with torch.jit, which meta tensors break)."""
    from fvcore.nn import FlopCountAnalysis

    wrapper = _ZOnly(module_cpu, "random")
    with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
        fa = FlopCountAnalysis(wrapper, (x,))
        fa.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        # e.g. 4 per bilinear output: elementwise work, not a conv/linear MAC here (a None
        # handle only silences fvcore's warning and keeps its count, so count zero instead)
        fa.set_op_handle(**dict.fromkeys(FVCORE_NON_MAC_OPS, _no_macs))
        total = int(fa.total())
        by_module = fa.by_module()
    fir = sum(
        int(by_module.get(f"m.{n}", 0))
        for n, m in module_cpu.named_modules()
        if isinstance(m, FIRFilter)
    )
    return MacCount(total=total, fir=fir)


def count_macs_ptflops(module: nn.Module, x: torch.Tensor, bias_adds: bool = True) -> MacCount:
    """ptflops with backend='aten' (its default module-hook backend misses functional convs).

    ptflops puts the model in eval mode and leaves forward hooks on its children, so pass a
    throw-away copy. Its own formulas also add one per output element for the bias of a conv or
    addmm (what it reports); `bias_adds=False` calls those same formulas with the bias left out
    (`_without_bias`), so it counts what the other counters count (what a profile compares). FIR
    work cannot be separated (it only attributes to top-level children).
    """
    from ptflops import get_model_complexity_info

    noise = {"noise_mode": "random"} if hasattr(module, "z_dim") else {}
    key = "z" if hasattr(module, "z_dim") else "img"
    macs, _ = get_model_complexity_info(
        module,
        tuple(x.shape[1:]),
        input_constructor=lambda _res: {key: x, **noise},
        backend="aten",
        as_strings=False,
        print_per_layer_stat=False,
        ost=io.StringIO(),
        custom_modules_hooks={} if bias_adds else _ptflops_hooks(),
    )
    if macs is None:
        raise RuntimeError(
            "ptflops (aten backend) failed to count this model; see its traceback above"
        )
    return MacCount(total=int(macs), fir=0)


def _without_bias(count, bias_at: int):
    """ptflops' own formula for one op, called with the op's bias argument set to None."""

    def hook(inputs, outputs):
        inputs = list(inputs)
        inputs[bias_at] = None
        return count(inputs, outputs)

    return hook


def _ptflops_hooks() -> dict:
    from ptflops import aten_ops

    aten = torch.ops.aten
    conv = _without_bias(aten_ops.conv_flop, 2)  # (input, weight, bias, stride, ...)
    return {
        aten.convolution: conv,
        aten._convolution: conv,
        aten.addmm: _without_bias(aten_ops.addmm_flop, 0),
    }  # (bias, input, weight)


class CounterDisagreement(RuntimeError):
    """The MAC counters disagree: one of them prices an op the others do not (a counting bug)."""


def counters_for(resolution: int, fvcore_max_resolution: int) -> tuple[str, ...]:
    """The counters a profile runs: all three up to `fvcore_max_resolution` (fvcore needs a real
    CPU forward), the two meta-device ones above it."""
    if resolution <= fvcore_max_resolution:
        return COUNTERS
    return tuple(c for c in COUNTERS if c != "fvcore")


def check_agreement(by_counter: dict, tolerance: float = COUNTER_TOLERANCE) -> dict:
    """Every counter's total (FIR included, as each tool reports it) vs the primary's; raises
    CounterDisagreement above `tolerance` (COUNTER_TOLERANCE: why it is 0)."""
    ref = by_counter[PRIMARY]["macs_with_fir"]
    diffs = {k: rel_diff(v["macs_with_fir"], ref) for k, v in by_counter.items()}
    worst = max(diffs, key=diffs.get)
    if diffs[worst] > tolerance:
        got = by_counter[worst]["macs_with_fir"]
        raise CounterDisagreement(
            f"MAC counters disagree: {worst} gives {got:,} vs {PRIMARY} {ref:,} "
            f"({got - ref:+,} MACs, {100 * diffs[worst]:.3g} % > {100 * tolerance:.3g} %); one of "
            "them prices an op the others do not (docs/macs.md, 'Cross-check')"
        )
    return {
        "compared": "macs_with_fir",
        "max_rel_diff": max(diffs.values()),
        "tolerance": tolerance,
        "rel_diff_by_counter": diffs,
        "definition": "conv/linear/matmul MACs; bias adds and elementwise work excluded "
        "from every counter",
    }


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1)
