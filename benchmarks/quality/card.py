"""The metric card of a result: everything needed to reproduce or compare its numbers (nets and
their sha256, modes, each metric's protocol and options, N, seeds, ψ, noise, weights, dataset
hash and recipe, library versions, device, cache use, wall time)."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

from common.provenance import device_info, versions

from . import registry
from .registry import Context

if TYPE_CHECKING:
    from .planning import Plan

QUANTIZATION = "uint8 = (x * 127.5 + 128).clamp(0, 255).to(uint8), as NVIDIA (x in ~[-1, 1])"
LATENTS = "z = torch.randn(num_gen, z_dim, generator=torch.Generator().manual_seed(seed))"


def _metric_card(metric: registry.Metric, p: Plan, ctx: Context, nets: dict) -> dict:
    """The metric's own entry: its features say the net that made them and that net's own
    dimension (a proxy card never names Inception's or VGG16's)."""
    spec = p.spec_of(metric, p.modes_of(metric)[0])
    net = f"{spec.net}" if spec else "no net"
    dim = getattr(nets.get(spec.net), "dim", None) if spec else None
    return {
        "keys": registry.result_keys(metric, p.extractor.name, p.modes),
        "features": f"{net}{f' ({dim}-D)' if dim else ''}: {metric.features.description}",
        "lower_is_better": metric.lower_is_better,
        "protocol": metric.protocol,
        **(metric.card(ctx) if metric.card else {}),
    }


def build_card(
    p: Plan, nets: dict, device, n_real: int, data: dict, cache, info: dict, t0: float
) -> dict:
    opts = p.options
    per_mode = any(m.features.per_mode for m in p.metrics)
    ctx = Context(opts, device)
    return {
        "extractor": p.extractor.name,
        "label": p.extractor.label,
        "comparable": p.extractor.comparable,
        "nets": {name: net.card() for name, net in nets.items()},
        "modes": {m: registry.MODES[m].note for m in p.modes} if per_mode else {},
        "metrics": {m.name: _metric_card(m, p, ctx, nets) for m in p.metrics},
        "quantization": QUANTIZATION,
        "num_real": n_real,
        "num_gen": opts.num_gen,
        "real_selection": "first num_real images in dataset order, x-flip off",
        "seeds": list(opts.seeds),
        "latents": LATENTS,
        "truncation_psi": opts.truncation,
        "noise_mode": opts.noise_mode,
        "weights": info.get("weights", "unknown"),
        "batch": opts.batch,
        "dataset": data,
        "versions": versions(),
        "device": device_info(device),
        "cache": {
            "dir": None if cache.root is None else str(cache.root),
            "hits": len(cache.hits),
            "misses": len(cache.misses),
        },
        "wall_time_s": round(time.perf_counter() - t0, 3),
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
