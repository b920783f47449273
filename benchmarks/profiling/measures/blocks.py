"""Time by top-level block beside MACs by block (benchmarks/profiling/blocks.py): where a
forward's time goes, at the smallest batch timed at this resolution. A row measure: the report's
"Time by block" table has one row per block, then the whole forward.

One timed forward per row: the hooked forwards give each block's SHARE of the time (block median
÷ sum of block medians), and the report shows share × the latency row's plain median, so the
block times add up to the one forward time the latency table shows. Why not the hooked times
themselves: the hooked forward is a second timing of the same forward, taken at another moment
(other load) and with a clock read (a device sync on CUDA) at every block edge, and two medians
of one forward that disagree by up to 20 % read as two answers. A share is a ratio inside one
forward, so load that slows the whole forward cancels out of it. How far the hooked forward was
from the plain one is kept as a ratio on the whole-forward row, which bounds what scaling
changed. A profile without a valid latency row at the blocks' batch shows the hooked times."""

import dataclasses

from ..blocks import MIN_REPEATS, TIME_CAP_S, measure_blocks
from ..registry import Column, register_measure

GIGA = 1e9
WHOLE = "whole forward (latency row)"
WHOLE_HOOKED = "whole forward (hooked; no valid latency row at this batch)"
NOTE = (
    "A block's time runs from the end of the block before it to the end of its last module, so "
    "glue code between modules is charged to the block that uses it and the blocks add up to the "
    f"forward. Share of time = block median ÷ sum of the block medians over ≥ {MIN_REPEATS} "
    f"hooked forwards (more, up to latency_repeats, while under {TIME_CAP_S:g} s; fewer only "
    "where latency_repeats is), one warm-up; a block's time and IQR are its share (and its IQR's) "
    "scaled onto the latency row's plain median, so the blocks add up to the one forward time the "
    "latency table shows ('Hooked ÷ plain' on the whole-forward row: how far the hooked forward "
    "was from it). Share of MACs = block MACs ÷ all MACs (FIR filters excluded). A block whose "
    "share of time is well above its share of MACs runs below the model's average rate: "
    "memory-bound or overhead-bound work."
)


def _plain(profile: dict, batch: int) -> dict | None:
    """The latency row of the blocks' batch, when it is a result (not INVALID)."""
    row = ((profile.get("latency") or {}).get("by_batch") or {}).get(str(batch))
    return row if row and row.get("valid", True) is not False and row.get("median_ms") else None


def rows(profile: dict) -> list[dict]:
    sec = profile.get("blocks")
    if not sec:
        return []
    common = {"blocks_batch": sec["batch"]}
    plain = _plain(profile, sec["batch"])
    # shares of the hooked forward onto the plain median: one forward time per row
    scale = plain["median_ms"] / sec["sum_ms"] if plain else 1.0
    out = []
    for r in sec["rows"]:
        ms = r["ms"] * scale
        rate = r["macs"] / (ms / 1e3) if ms > 0 else float("nan")
        iqr = (r["q3_ms"] - r["q1_ms"]) * scale
        out.append({**r, **common, "ms": ms, "iqr_ms": iqr, "macs_per_s": rate})
    total = sum(r["macs"] for r in sec["rows"]) + sec.get("rest_macs", 0)
    whole = {
        "block": WHOLE_HOOKED,
        "ms": sec["whole_ms"],
        "iqr_ms": sec["whole_q3_ms"] - sec["whole_q1_ms"],
    }
    if plain:
        whole = {
            "block": WHOLE,
            "ms": plain["median_ms"],
            "iqr_ms": plain.get("iqr_ms"),
            "hooked_over_plain": sec["whole_ms"] / plain["median_ms"],
        }
    whole.update(common, macs=total, share_macs=1.0, share_time=1.0)
    whole["macs_per_s"] = total / (whole["ms"] / 1e3)
    out.append(whole)
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
    needs=("latency",),  # its one warm-up relies on the latency measure having run the model
    rows=rows,
    columns=[
        Column("block", "Block", fmt="text", role="context"),
        Column("blocks_batch", "Batch", fmt="int", role="context"),
        Column(
            "block_GMACs", "MACs", "G", key="macs", scale=1 / GIGA, fmt="sig4", lower_is_better=None
        ),
        Column("block_ms", "Time (share × forward median)", "ms", key="ms"),
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
            "hooked_over_plain",
            "Hooked ÷ plain forward",
            "×",
            fmt="fixed2",
            role="context",
        ),
    ],
)
def blocks(ctx):
    # one warm-up is enough (none where the config asks for none): the latency measure has just
    # run the same model in this process
    p = dataclasses.replace(ctx.cfg, latency_warmup=min(1, ctx.cfg.latency_warmup))
    section = measure_blocks(
        ctx.model, ctx.resolution, ctx.device, p, batch=min(ctx.batch_sizes), **ctx.build
    )
    return {"blocks": section}
