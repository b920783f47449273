"""How much a run writes under results/<run>: the pre-flight disk check's estimate.

Kept apart from the checks themselves (workflow.preflight) because it knows the sizes of what
the other stages write: prepared data, checkpoints, sample grids and the feature cache.
"""

from __future__ import annotations

import json
import math

from common import settings
from common.cli import first_line

GB = 1e9


def human_bytes(n: float) -> str:
    return f"{n / GB:.1f} GB" if n >= 0.1 * GB else f"{n / 1e6:.1f} MB"


def _param_counts(model: str, resolution: int, build: dict) -> tuple[int, int]:
    """(G, D) parameter counts of the trained variant, built on the meta device (no memory)."""
    import torch

    import models
    from training.networks import discriminator_kwargs

    with torch.device("meta"):
        G = models.build(model, resolution, **build)
        D = models.build_discriminator(**discriminator_kwargs(resolution, build))
    return sum(p.numel() for p in G.parameters()), sum(p.numel() for p in D.parameters())


def snapshots(train: settings.Train) -> tuple[int, int]:
    """(snapshots written, checkpoints kept on disk) by one training run: at kimg 0, every
    snap_kimg and at the end (final.pt is a hard link to the newest); `keep` prunes old ones."""
    written = 1 + (math.ceil(train.kimg / train.snap_kimg) if train.snap_kimg else 1)
    return written, min(written, train.keep) if train.keep else written


def estimate_disk(cfg: settings.RunConfig, counts: dict, plans) -> tuple[dict, list[str]]:
    """Bytes a full run writes under results/<run>, by part, and what the estimate left out.

    * data: images x R x R x 3 per prepared dataset (uncompressed size; PNG is usually smaller);
    * checkpoints: kept snapshots x 4 bytes x (4 x G params + 3 x D params): G, G_ema and Adam's
      two moments of G; D and its two moments (parameter counts of the trained variant on the
      meta device);
    * samples: one GRID x GRID grid per snapshot, R x R x 3 bytes per image (uncompressed);
    * features: the feature cache, float32 N x dim per feature set (real: once per dataset;
      generated: per model x seed, and per kept snapshot for the curve) plus float64 mean and
      covariance for per-mode (FID-type) features; the sets and their widths are the quality
      plans' own (benchmarks.quality.planning.feature_sets, widths declared by each net).
    """
    from benchmarks.quality.planning import feature_sets

    main, curve = plans
    q, t = cfg.quality, cfg.train
    written, kept = snapshots(t)
    parts = {"data": 0, "checkpoints": 0, "samples": 0, "features": 0}
    left_out: list[str] = []

    def feature_bytes(sets: dict, n: int) -> int:
        return sum(
            n * s.dim * 4 + ((s.dim * s.dim + s.dim) * 8 if s.stats else 0) for s in sets.values()
        )

    real_sets, gen_sets = feature_sets(main, curve), feature_sets(main)
    curve_sets = feature_sets(curve)
    params: dict = {}
    for dname, ds in cfg.datasets.items():
        res, images = ds.resolution, counts.get(dname)
        if images is None:
            left_out.append(f"prepared {dname} (images not counted)")
            n_real = q.num_real or 0
        else:
            parts["data"] += images * res * res * 3
            n_real = images if q.num_real is None else min(q.num_real, images)
        parts["features"] += feature_bytes(real_sets, n_real)
        for model, m in cfg.models.items():
            key = (model, res, json.dumps(m.build, sort_keys=True))
            if key not in params:
                try:
                    params[key] = _param_counts(model, res, m.build)
                except Exception as exc:  # noqa: BLE001 - an estimate must not fail the check
                    params[key] = None
                    left_out.append(f"checkpoints of {model}@{res} ({first_line(exc)[:80]})")
            if params[key] is not None:
                g, d = params[key]
                parts["checkpoints"] += kept * 4 * (4 * g + 3 * d)
            parts["samples"] += written * t.grid**2 * res * res * 3
            parts["features"] += len(q.seeds) * feature_bytes(gen_sets, q.num_gen)
            parts["features"] += kept * feature_bytes(curve_sets, q.curve_num_gen or q.num_gen)
    return parts, left_out
