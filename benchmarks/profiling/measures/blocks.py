"""Time by top-level block beside MACs by block (benchmarks/profiling/blocks.py): where a
forward's time goes, at the smallest batch timed at this resolution. A row measure: the report's
"Time by block" table has one row per block, then the whole hooked forward beside the latency
measure's plain one (their difference is what the hooks cost)."""

from ..blocks import MIN_REPEATS, TIME_CAP_S, measure_blocks
from ..registry import Column, register_measure

GIGA = 1e9
WHOLE = "whole forward (hooked)"
NOTE = (
    "A block's time runs from the end of the block before it to the end of its last module, so "
    "glue code between modules is charged to the block that uses it and the blocks add up to the "
    f"forward; median and quartiles of ≥ {MIN_REPEATS} hooked forwards (more, up to "
    f"latency_repeats, while under {TIME_CAP_S:g} s; fewer only where latency_repeats is), "
    "one warm-up. Share of time = block median ÷ sum of the block medians; "
    "share of MACs = block MACs ÷ all MACs (FIR filters excluded). A block whose share of time "
    "is well above its share of MACs runs below the model's average rate: memory-bound or "
    "overhead-bound work."
)


def rows(profile: dict) -> list[dict]:
    sec = profile.get("blocks")
    if not sec:
        return []
    common = {"blocks_batch": sec["batch"]}
    out = []
    for r in sec["rows"]:
        rate = r["macs"] / (r["ms"] / 1e3) if r["ms"] > 0 else float("nan")
        out.append({**r, **common, "iqr_ms": r["q3_ms"] - r["q1_ms"], "macs_per_s": rate})
    plain = (
        profile.get("latency", {}).get("by_batch", {}).get(str(sec["batch"]), {}).get("median_ms")
    )
    total = sum(r["macs"] for r in sec["rows"]) + sec.get("rest_macs", 0)
    out.append(
        {
            **common,
            "block": WHOLE,
            "macs": total,
            "ms": sec["whole_ms"],
            "iqr_ms": sec["whole_q3_ms"] - sec["whole_q1_ms"],
            "share_macs": 1.0,
            "share_time": 1.0,
            "macs_per_s": total / (sec["whole_ms"] / 1e3),
            "plain_ms": plain,
        }
    )
    return out


@register_measure(
    "blocks",
    label="Time by block",
    unit="ms",
    lower_is_better=True,
    protocol="synchronised forward hooks on each top-level block (eval, no_grad, const noise), "
    "smallest batch timed at this resolution; MACs by block from FlopCounterMode on meta",
    note=NOTE,
    keys=["blocks"],
    applies=lambda ctx: bool(ctx.batch_sizes),
    rows=rows,
    columns=[
        Column("block", "Block", fmt="text", role="context"),
        Column("blocks_batch", "Batch", fmt="int", role="context"),
        Column(
            "block_GMACs", "MACs", "G", key="macs", scale=1 / GIGA, fmt="sig4", lower_is_better=None
        ),
        Column("block_ms", "Time, median", "ms", key="ms"),
        Column("block_iqr_ms", "Time IQR", "ms", key="iqr_ms", fmt="sig2", lower_is_better=None),
        Column("share_macs", "Share of MACs", "%", fmt="fixed1", lower_is_better=None),
        Column("share_time", "Share of time", "%", fmt="fixed1", lower_is_better=None),
        Column(
            "block_GMAC_per_s",
            "Achieved",
            "GMAC/s",
            key="macs_per_s",
            scale=1 / GIGA,
            lower_is_better=False,
        ),
        Column(
            "plain_forward_ms",
            "Plain forward (latency measure)",
            "ms",
            key="plain_ms",
            role="context",
        ),
    ],
)
def blocks(ctx):
    cfg = ctx.cfg
    # a config that asks for fewer forwards (a smoke test) gets fewer here too; otherwise one
    # warm-up is enough, as the latency measure has just run the same model in this process
    least = min(MIN_REPEATS, cfg.latency_repeats)
    section = measure_blocks(
        ctx.model,
        ctx.resolution,
        ctx.device,
        batch=min(ctx.batch_sizes),
        warmup=min(1, cfg.latency_warmup),
        max_repeats=max(least, cfg.latency_repeats),
        min_repeats=least,
        **ctx.build,
    )
    return {"blocks": section}
