"""Speed variants against eager fp32 (benchmarks/profiling/speed_variants.py): channels-last,
torch.compile, bf16 autocast and, on CUDA, TF32, fp16 and CUDA graphs, each timed in the same
job as eager fp32, with its speed-up interval, utilization, first-call time, output error on
fixed z and a verdict. A row measure: the report's "Speed variants" table, one row per variant.

Runs in the timed job at `profile.variants_at` (64 px, batch 1 by default: settings.VariantsAt
says why) when `profile.variants` names any. Utilization is read against the device roofline
the latency table uses (device_roof.roof_of), which is measured in fp32: a bf16, fp16 or TF32
variant runs on faster units, so its utilization can exceed 1 (it says by how much the variant
outran the fp32 roof); the job's own sweep stands in when the profile has no latency roof."""

import logging

import torch

import models
from common.device import resolve_device
from common.provenance import device_info, device_label
from common.settings import Profile

from .. import bytecount
from ..device_roof import roof_of, row_utilization
from ..registry import Column, register_measure
from ..roofline import Roofline
from ..speed_variants import Work, error_model, run_grid
from ..timing import timing_record

log = logging.getLogger("pixbench.profiling")
NOTE = (
    "Eager fp32 and each variant timed in one job, like a latency row (median and bootstrap 95 % "
    "CI, roof kernels between rounds), eager again after each variant. Speed-up = median of eager "
    "just before and after the variant ÷ the variant's, its interval the two CIs in quadrature in "
    "log space (the speed claims' method); inconclusive when either CI is wider than "
    "±latency_ci_target. First call: seconds of "
    "the first forward (compile, capture, warm-up). Output error on fixed z: max |y − y_eager| "
    "and that ÷ max |y_eager|; bound = √L·(2·u_f + 2·u32·√K), L the conv/matmul ops of the "
    "forward, K the largest reduction, u_f the format's unit roundoff (0 for reordering-only "
    "variants; docs/roofline.md, 'Speed variants'). Verdict: no gain when the interval's low end "
    "is ≤ 1, else faithful when the error is within the bound. Utilization against the device's "
    "fp32 roofline: reduced-precision variants can exceed 1."
)


def applies(ctx) -> bool:
    at = ctx.cfg.variants_at
    return (
        bool(ctx.cfg.variants)
        and bool(ctx.batch_sizes)  # a timed job
        and ctx.resolution == at.resolution
    )


def measure_variants(
    name: str, resolution: int, device, batch: int, variants, p: Profile, macs: float, **build
) -> dict:
    """The `variants` section: one grid of `variants` against eager fp32 at (resolution, batch),
    each variant timed exactly as a latency row is, under the `profile:` section `p`."""
    dev = resolve_device(device) if isinstance(device, str) else device
    torch.manual_seed(0)
    G = models.build(name, resolution, **build).to(dev).eval()
    z = torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(0)).to(dev)
    work = Work(
        macs, bytecount.forward_bytes_per_image(name, resolution, batch, dev.type, **build), batch
    )
    model = error_model(name, resolution, batch, dev.type, **build)
    roof = Roofline(dev)
    roof.sweep()
    rows = run_grid(G, z, list(variants), p, roof, work, model)
    eager = rows[0]
    roof.offer_macs(f"model:{name} batch {batch}", eager["achieved_macs_per_s"])
    roof.offer_bytes(
        f"model:{name} batch {batch}",
        eager["achieved_macs_per_s"] / eager["intensity_macs_per_byte"],
    )
    return {
        "resolution": resolution,
        "batch": batch,
        "device_info": device_info(dev),
        "macs_per_image": macs,
        "bytes_per_image": work.bytes_per_image,
        "error_model": model,
        "knobs": timing_record(p),
        "roof": roof.summary(),
        "rows": rows,
    }


def rows(profile: dict) -> list[dict]:
    """One record per variant, utilization on the device roofline (the job's own without one)."""
    sec = profile.get("variants")
    if not sec:
        return []
    roof = roof_of(profile) or sec["roof"]
    device = device_label(sec["device_info"])
    out = []
    for r in sec["rows"]:
        lo, hi = r.get("speedup_ci95") or (None, None)
        ci = r.get("ci95_ms") or (None, None)
        rec = {
            **r,
            "batch": sec["batch"],
            "speedup_lo": lo,
            "speedup_hi": hi,
            "ci95_lo_ms": ci[0],
            "ci95_hi_ms": ci[1],
            "depth": sec["error_model"]["depth"],
            "k_max": sec["error_model"]["k_max"],
            "device": device,
        }
        found = row_utilization(r, roof) if r.get("achieved_macs_per_s") else None
        rec["utilization"] = found[1] if found else None
        out.append(rec)
    return out


@register_measure(
    "variants",
    label="Speed variants",
    unit="×",
    lower_is_better=False,
    protocol="eager fp32 and each variant of profile.variants at profile.variants_at, timed in "
    "one job like a latency row; speed-up interval by log-space quadrature; output error on "
    "fixed z against eager fp32, judged against √L·(2·u_f + 2·u32·√K)",
    note=NOTE,
    keys=["variants"],
    applies=applies,
    rows=rows,
    columns=[
        Column("speed_variant", "Variant", fmt="text", key="variant", role="context"),
        Column("variants_batch", "Batch", fmt="int", key="batch", role="context"),
        Column("variant_verdict", "Verdict", fmt="text", key="verdict", lower_is_better=None),
        Column("speedup", "Speed-up over eager", "×", fmt="sig3"),
        Column("speedup_lo", "Speed-up 95 % low", "×", fmt="sig3", lower_is_better=None),
        Column("speedup_hi", "Speed-up 95 % high", "×", fmt="sig3", lower_is_better=None),
        Column(
            "variant_median_ms",
            "Median latency",
            "ms",
            key="median_ms",
            fmt="sig4",
            lower_is_better=True,
        ),  # fmt: skip
        Column(
            "variant_ci95_lo_ms",
            "95 % CI low",
            "ms",
            key="ci95_lo_ms",
            fmt="sig4",
            lower_is_better=None,
        ),  # fmt: skip
        Column(
            "variant_ci95_hi_ms",
            "95 % CI high",
            "ms",
            key="ci95_hi_ms",
            fmt="sig4",
            lower_is_better=None,
        ),  # fmt: skip
        Column(
            "variant_utilization", "Utilization (fp32 roof)", "%", key="utilization", fmt="fixed1"
        ),  # fmt: skip
        Column(
            "first_call_s",
            "First call (compile, warm-up)",
            "s",
            key="warmup_s",
            fmt="sig2",
            lower_is_better=True,
        ),  # fmt: skip
        Column("max_abs_err", "Max abs. error vs eager", fmt="sig2", lower_is_better=True),
        Column("max_rel_err", "Max error ÷ max output", fmt="sig2", lower_is_better=True),
        Column("error_bound", "Bound on error ÷ max output", fmt="sig2", role="context"),
        Column("variant_depth", "L (conv/matmul ops)", fmt="int", key="depth", role="context"),
        Column("variant_k_max", "K (largest reduction)", fmt="int", key="k_max", role="context"),
        Column("variant_device", "Device", fmt="text", key="device", role="context"),
    ],
)
def variants(ctx):
    cfg = ctx.cfg
    section = measure_variants(
        ctx.model,
        ctx.resolution,
        ctx.device,
        cfg.variants_at.batch,
        cfg.variants,
        cfg,
        ctx.mac_count("true").macs,
        **ctx.build,
    )
    return {"variants": section}
