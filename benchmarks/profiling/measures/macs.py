"""MACs: true dense multiply-accumulates of conv/linear/matmul at batch 1 (FIR filters apart, see
fir.py), the paper's convention beside them, per top-level module, cross-checked by every counter
that runs at this resolution (docs/macs.md)."""

import logging
import warnings

from .. import counting
from ..registry import Column, register_measure

log = logging.getLogger("pixbench.profiling")

MACS_UNIT = (
    "multiply-accumulates (MACs, not FLOPs; FLOPs ≈ 2 × MACs) of conv/linear/matmul at batch 1; "
    "FIR filters, bias, activations and weight-modulation arithmetic excluded"
)
FVCORE_SLOW_MACS = 500e9  # above this, warn that the fvcore cross-check is a slow real forward
COUNTING = {
    "device": "meta (fvcore: cpu)",
    "batch": 1,
    "model_mode": "train mode under no_grad (only CIPS differs: embedding used directly, no "
    "grid_sample)",
    "modconv_path": "grouped (official); the activations path adds macs_modconv_demod_matmul",
    "paper_convention": "each stride-2 transposed conv counted as a dense conv over its 2H×2W "
    "output (×4)",
}
NOTE = (
    "MACs = multiply-accumulates of conv/linear/matmul at batch 1 (FLOPs ≈ 2 × MACs); FIR filters "
    "listed separately; true count vs the paper's convention: docs/macs.md."
)


@register_measure(
    "macs",
    label="MACs",
    unit="G",
    lower_is_better=True,
    protocol="torch FlopCounterMode ÷ 2 on the meta device, batch 1, conv/linear/matmul only, FIR "
    "filters apart; equal to fvcore and ptflops (aten) on the same definition",
    note=NOTE,
    keys=[
        "macs",
        "macs_unit",
        "macs_paper_convention",
        "macs_by_module",
        "macs_by_module_paper_convention",
        "macs_modconv_demod_matmul",
        "macs_by_counter",
        "counter_agreement",
        "counting",
    ],
    # 4 significant digits: exact counts, shown to the digits a reader compares with the paper
    columns=[
        Column(
            "GMACs", "MACs, true", "G", key="macs", scale=1e-9, fmt="sig4", plot=True, variant=True
        ),
        Column(
            "GMACs_paper_convention",
            "MACs, paper convention",
            "G",
            key="macs_paper_convention",
            scale=1e-9,
            fmt="sig4",
            plot=True,
        ),
        Column(
            "counter_max_rel_diff",
            "Counter spread",
            "%",
            key="counter_agreement.max_rel_diff",
            fmt="fixed3",
            role="context",
            tables=("efficiency",),
        ),
    ],
    breakdowns=[
        ("true MACs", "macs_by_module"),
        ("paper convention", "macs_by_module_paper_convention"),
    ],
)
def macs(ctx):
    true, paper = ctx.mac_count("true"), ctx.mac_count("paper")
    g = counting.build_generator(ctx.model, ctx.resolution, "meta", **ctx.build).train()
    demod = counting.count_macs(g, counting.example_input(g)).total - true.total
    by_counter = cross_check(ctx, true)
    return {
        "macs": true.macs,
        "macs_unit": MACS_UNIT,
        "macs_paper_convention": paper.macs,
        "macs_by_module": true.by_module,
        "macs_by_module_paper_convention": paper.by_module,
        "macs_modconv_demod_matmul": demod,
        "macs_by_counter": by_counter,
        "counter_agreement": counting.check_agreement(by_counter),
        "counting": COUNTING,
    }


def cross_check(ctx, true: counting.MacCount) -> dict:
    """Each counter of `ctx.counters` on a fresh generator; raises nothing, only counts."""
    by_counter = {counting.PRIMARY: _entry(true, "meta")}
    if "ptflops_aten" in ctx.counters:
        log.info("ptflops (aten backend) on meta")
        fresh = ctx.generator()  # ptflops leaves hooks on its model: a throw-away copy
        z = counting.example_input(fresh)
        pt = counting.count_macs_ptflops(fresh, z, bias_adds=False)  # the one definition
        by_counter["ptflops_aten"] = _entry(pt, "meta", False)
    if "fvcore" in ctx.counters:
        log.info("fvcore: one batch-1 forward on CPU (it cannot trace meta tensors)")
        if true.total > FVCORE_SLOW_MACS:
            log.warning(
                "fvcore needs a real %.0f GMAC CPU forward here; a lower "
                "--fvcore-max-resolution stays on meta",
                true.total / 1e9,
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g_cpu = ctx.generator("cpu")
            z_cpu = counting.example_input(g_cpu, device="cpu")
            by_counter["fvcore"] = _entry(counting.count_macs_fvcore(g_cpu, z_cpu), "cpu")
    return by_counter


def _entry(m: counting.MacCount, device: str, headline: bool = True) -> dict:
    return {"macs_with_fir": m.total, "macs": m.macs if headline else None, "device": device}
