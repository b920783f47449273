"""Latency, throughput and utilization: timed eval-mode no-grad forwards (const noise) per batch
size of `profile.latency` at this resolution, against the dense-matmul roof sampled in the same
process (timing.Roof). A row whose figures cannot be trusted is kept with `valid: false` and its
reason: a figure, never a result. A row measure: the report's latency table has one row per
timed batch size (`rows`)."""

import logging

import torch

import models
from common.device import resolve_device
from common.provenance import device_info
from common.settings import Profile, defaults

from ..registry import REASON, VALID, Column, register_measure
from ..timing import ROOF_DRIFT_LIMIT, Roof, summarize, time_callable

log = logging.getLogger("pixbench.profiling")
_DEFAULTS = defaults(Profile)
GIGA = 1e9
NOTE = (
    "Utilization = achieved MAC/s ÷ the median dense-matmul rate (the roof) sampled in the same "
    "process before each batch size and after the last. A row is INVALID, its figures not shown "
    "as results, when its utilization exceeds 1 or the roof moved more than "
    f"{100 * ROOF_DRIFT_LIMIT:.0f} % of its median during the job (benchmarks/profiling/timing.py)."
)


def _time_batch(G, dev, b: int, warmup: int, repeats: int, min_time: float) -> dict:
    z = torch.randn(b, G.z_dim, generator=torch.Generator().manual_seed(0)).to(dev)
    log.info("latency batch %d: %d warm-up + ≥%d timed forwards", b, warmup, repeats)
    with torch.no_grad():
        times = time_callable(lambda: G(z, noise_mode="const"), dev, warmup, repeats, min_time)
        stats = summarize(times)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
            G(z, noise_mode="const")
            stats["cuda_max_memory_allocated"] = torch.cuda.max_memory_allocated(dev)
    stats["threads"] = torch.get_num_threads()
    return stats


def measure_latency(
    name,
    resolution,
    device,
    batch_sizes,
    macs,
    warmup=_DEFAULTS["latency_warmup"],
    repeats=_DEFAULTS["latency_repeats"],
    min_time=_DEFAULTS["min_time"],
    **overrides,
) -> dict:
    """The `latency` section: per batch size, timed between roof samples (one before each batch
    size, one after the last); each row judged by Roof.check_row."""
    dev = resolve_device(device) if isinstance(device, str) else device
    G = models.build(name, resolution, **overrides).to(dev).eval()
    roof = Roof(dev)
    by_batch = {}
    for b in batch_sizes:
        before = roof.sample()
        by_batch[str(b)] = _time_batch(G, dev, b, warmup, repeats, min_time)
        by_batch[str(b)]["roof_before_macs_per_s"] = before
    roof.sample()
    log.info(
        "matmul roof on %s: median %.1f GMAC/s (min %.1f, max %.1f, spread %.0f %%)",
        dev,
        roof.median / 1e9,
        min(roof.samples) / 1e9,
        max(roof.samples) / 1e9,
        100 * roof.spread,
    )
    for i, (b, stats) in enumerate(by_batch.items()):
        sec = stats["median_ms"] / 1e3
        achieved = macs * int(b) / sec
        stats.update(
            images_per_s=int(b) / sec,
            achieved_macs_per_s=achieved,
            utilization=achieved / roof.median,
            roof_after_macs_per_s=roof.samples[i + 1],
        )
        reason = roof.check_row(stats["utilization"], stats["threads"])
        stats.update(valid=reason is None, invalid_reason=reason)
        if reason:
            log.warning("latency %s@%d batch %s is INVALID: %s", name, resolution, b, reason)
    return {
        "device_info": device_info(dev),
        "matmul_macs_per_s": roof.median,
        "roof": roof.summary(),
        "noise_mode": "const",
        "mode": "eval, no_grad",
        "warmup": warmup,
        "min_repeats": repeats,
        "min_time_s": min_time,
        "by_batch": by_batch,
    }


def _validity(b: dict) -> tuple[bool, str | None]:
    """A row's validity as the profiler judged it; a profile from before roof tracking is judged
    here on the one rule it allows (utilization above 1 is impossible)."""
    if VALID in b:
        return bool(b[VALID]), b.get(REASON)
    if not b["utilization"] < 1:
        return False, f"utilization {b['utilization']:.2f} > 1 (roof not tracked in this profile)"
    return True, None


def rows(profile: dict) -> list[dict]:
    """One record per timed batch size (what the latency table's columns read)."""
    lat = profile.get("latency")
    if not lat:
        return []
    info = lat["device_info"]
    device = f"{info['device']} ({info['device_name']}, {info['threads']} threads)"
    out = []
    for batch, b in sorted(lat["by_batch"].items(), key=lambda item: int(item[0])):
        valid, why = _validity(b)
        out.append(
            {
                **b,
                "batch": int(batch),
                "matmul_macs_per_s": lat["matmul_macs_per_s"],
                "roof": lat.get("roof", {}),
                VALID: valid,
                REASON: why,
                "device": device,
            }
        )
    return out


def _gmac_per_s(name: str, label: str, key: str, **kw) -> Column:
    return Column(name, label, "GMAC/s", key=key, scale=1 / GIGA, **kw)


@register_measure(
    "latency",
    label="Latency and throughput",
    unit="ms",
    lower_is_better=True,
    protocol="median of ≥ latency_repeats timed forwards after latency_warmup (eval, no_grad, "
    "const noise) per batch size; utilization = achieved MAC/s ÷ dense fp32 matmul MAC/s "
    "sampled in the same process",
    note=NOTE,
    keys=["latency"],
    applies=lambda ctx: bool(ctx.batch_sizes),
    rows=rows,
    # a timed figure has the 3 significant digits its interquartile range supports at best
    columns=[
        Column("batch", "Batch", fmt="int", role="context"),
        Column("median_ms", "Median latency", "ms"),
        Column("iqr_ms", "Latency IQR", "ms", fmt="sig2", lower_is_better=None),
        Column("images_per_s", "Throughput", "images/s", lower_is_better=False),
        _gmac_per_s(
            "achieved_GMAC_per_s", "Achieved", "achieved_macs_per_s", lower_is_better=False
        ),
        Column(
            "utilization_vs_matmul",
            "Utilization vs matmul",
            "%",
            key="utilization",
            fmt="fixed1",
            lower_is_better=False,
        ),
        _gmac_per_s(
            "matmul_GMAC_per_s", "Matmul roof, median", "matmul_macs_per_s", role="context"
        ),
        _gmac_per_s("roof_min_GMAC_per_s", "Roof min", "roof.min_macs_per_s", role="context"),
        _gmac_per_s("roof_max_GMAC_per_s", "Roof max", "roof.max_macs_per_s", role="context"),
        Column("roof_spread", "Roof spread", "%", key="roof.spread", fmt="fixed0", role="context"),
        Column(VALID, "Valid", fmt="text", role="status"),
        Column(REASON, "Why invalid", fmt="text", role="status"),
        Column("device", "Device", fmt="text", role="context"),
    ],
)
def latency(ctx):
    cfg = ctx.cfg
    macs = ctx.mac_count("true").macs
    section = measure_latency(
        ctx.model,
        ctx.resolution,
        ctx.device,
        ctx.batch_sizes,
        macs,
        cfg.latency_warmup,
        cfg.latency_repeats,
        cfg.min_time,
        **ctx.build,
    )
    return {"latency": section}
