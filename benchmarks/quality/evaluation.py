"""`evaluate()`: every feature set of the plan (planning.feature_sets) is gathered once (the real
ones once per run, the generated ones per seed, both through the content-addressed cache when a
cache folder is given), IMAGES metrics get the images themselves (images.ImageSet), then every
selected registered metric is called on them; per-seed values become mean ± std, plus a card.
Nothing here knows a metric by name: it only loops over the plan."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from common import settings
from common.device import DEFAULT_DEVICE, resolve_device
from data.dataset import dataset_info, open_dataset

from . import registry
from .card import build_card
from .errors import QualityError
from .estimate import interval_summary
from .features import FeatureCache, gather
from .images import ImageSet
from .nets import load_nets
from .planning import Plan, feature_sets, plan
from .registry import Context, FeatureSpec
from .sample_size import curves as sample_size_curves
from .samples import generated_batches, real_batches

log = logging.getLogger("pixbench.quality")

SCHEMA = "pixbench.quality/1"

# ----------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class _CacheKeys:
    """What produced a feature set (content only, never a file name), for FeatureCache."""

    opts: settings.Quality
    device: str
    net_sha: dict
    dataset_sha: str | None
    num_real: int
    generator_id: str | None

    def _net(self, spec: FeatureSpec) -> dict:
        return {
            "net": spec.net,
            "net_sha256": self.net_sha[spec.net],
            "resize": spec.resize,
            "device": self.device,
        }

    def real(self, spec: FeatureSpec) -> dict | None:
        if self.dataset_sha is None:
            return None
        return {
            "kind": "real",
            "dataset_sha256": self.dataset_sha,
            "num_real": self.num_real,
            **self._net(spec),
        }

    def gen(self, spec: FeatureSpec, seed: int) -> dict | None:
        if self.generator_id is None:
            return None
        o = self.opts
        return {
            "kind": "gen",
            "generator": self.generator_id,
            "seed": seed,
            "num_gen": o.num_gen,
            "truncation": o.truncation,
            "noise_mode": o.noise_mode,
            "batch": o.batch if o.noise_mode == "random" else None,
            **self._net(spec),
        }


def _check_inputs(p: Plan, ds, data: dict, generator) -> int:
    """Fail before any extraction; returns the number of real images used."""
    opts = p.options
    n_real = len(ds) if opts.num_real is None else min(opts.num_real, len(ds))
    if n_real < 2:
        raise QualityError(f"need at least 2 real images, the dataset has {len(ds)}")
    for m in p.metrics:
        need = m.min_images(opts) if m.min_images else 2
        if min(n_real, opts.num_gen) < need:
            raise QualityError(
                f"metric {m.name!r} needs at least {need} images per set with these options; "
                f"got {n_real} real, {opts.num_gen} generated"
            )
    if not hasattr(generator, "z_dim"):
        raise QualityError("generator has no z_dim attribute")
    g_res, d_res = getattr(generator, "resolution", None), data["resolution"]
    if g_res is not None and d_res is not None and int(g_res) != int(d_res):
        raise QualityError(f"generator resolution {g_res} != dataset resolution {d_res}")
    return n_real


def sample_warnings(p: Plan, dataset_size: int, n_real: int) -> list[str]:
    """What makes these numbers weaker than their protocol's, one line each: a --num-real the
    dataset cannot give (clamped), and any metric run on fewer images per set than its published
    protocol uses (FID, KID and precision/recall are biased at small N, so such a value is not
    comparable with a published one). Logged as warnings and kept in the metric card."""
    opts, out = p.options, []
    if opts.num_real is not None and opts.num_real > dataset_size:
        out.append(
            f"num_real {opts.num_real} asked for, but the dataset has {dataset_size} images: "
            f"{n_real} real images used"
        )
    for m in p.metrics:
        if m.protocol_images and min(n_real, opts.num_gen) < m.protocol_images:
            out.append(
                f"{m.name}: {n_real} real and {opts.num_gen} generated images per seed, fewer "
                f"than the {m.protocol_images:,} of its protocol; biased, not comparable with "
                "published values"
            )
    return out


def compute(p: Plan, real: dict, gen: dict, ctx: Context):
    """(result stem, mode, value) of every selected metric for one seed: the registry loop.
    `real`/`gen` map each FeatureSpec of the plan to its FeatureSet, and None to the ImageSet
    (present when an IMAGES metric reads the images)."""
    for metric in p.metrics:
        outputs = {o.name: o for o in metric.outputs}
        for mode in p.modes_of(metric):
            spec = p.spec_of(metric, mode)
            values = metric(real[spec], gen[spec], dataclasses.replace(ctx, mode=mode))
            for name, value in values.items():
                yield p.extractor.stem(outputs[name], metric.features), mode, value


def _stat(values: list) -> dict:
    """Per-seed values with mean and sample std (ddof=1; null for a single seed), plus the 95 %
    intervals when the metric returned Estimates (estimate.interval_summary)."""
    arr = np.asarray([float(v) for v in values], dtype=np.float64)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else None
    stat = {"per_seed": [float(v) for v in arr], "mean": float(arr.mean()), "std": std}
    return {**stat, **interval_summary(values)}


def summarize(per_seed: dict) -> tuple[dict, dict]:
    """result["metrics"] (per-mode results nested by mode) and result["summary"] (key → mean)."""
    results: dict = {}
    summary: dict = {}
    for (stem, mode), values in per_seed.items():
        stat = _stat(values)
        if mode is None:
            results[stem] = stat
        else:
            results.setdefault(stem, {})[mode] = stat
        summary[registry.result_key(stem, mode)] = stat["mean"]
    return results, summary


def evaluate(
    generator: torch.nn.Module,
    dataset,
    quality: settings.Quality | Plan,
    *,
    device: str | torch.device = DEFAULT_DEVICE,
    cache_dir: str | os.PathLike | None = None,
    generator_id: str | None = None,
    generator_info: dict | None = None,
    download: bool = True,
    progress: bool = True,
) -> dict:
    """The registered metrics of `generator` against `dataset` as a result dict.

    `quality` is the typed `common.settings.Quality` (what the CLI and the workflow build, its
    schema checked once there; in Python `settings.Quality(num_gen=1000, ...)`, every field
    unset keeping its one default) or its `planning.Plan`. `generator` is called as G(z, truncation_psi=, noise_mode=) and must
    expose `z_dim`. `dataset` is a prepared dataset path or a sequence of uint8 (C, H, W)
    tensors. Features are cached under `cache_dir` (None: no cache); `generator_id` (e.g.
    "ckpt:<sha256>:G_ema") enables caching of generated features, without it only the real
    features (keyed by the dataset file hash) are cached. Bad input raises a one-line UsageError.
    """
    t0 = time.perf_counter()
    p = quality if isinstance(quality, Plan) else plan(quality)
    opts = p.options
    device = resolve_device(device)
    specs = [info.spec for info in feature_sets(p).values()]
    nets = load_nets({s.net for s in specs}, opts.weights_dir, device, download, specs)
    ds = open_dataset(dataset, xflip=False)
    data = {**dataset_info(ds), "xflip": False}
    n_real = _check_inputs(p, ds, data, generator)
    warnings = sample_warnings(p, len(ds), n_real)  # said once the real images have been read
    generator = generator.to(device).eval().requires_grad_(False)
    cache = FeatureCache(cache_dir)
    net_sha = {name: net.sha256 for name, net in nets.items()}
    keys = _CacheKeys(opts, device.type, net_sha, data["sha256"], n_real, generator_id)

    def inputs(key_of, make_batches, total, desc) -> dict:
        """Every feature set of one image source (one pass for all cache misses), plus the
        images themselves under None when an IMAGES metric reads them."""
        out: dict = gather(cache, specs, key_of, make_batches, total, nets, device, desc, progress)
        if p.needs_images:
            out[None] = ImageSet(make_batches, total)
        return out

    real = inputs(keys.real, lambda: real_batches(ds, n_real, opts.batch), n_real, "real features")
    for line in warnings:  # after the reads that can fail, so a failure stays one line
        log.warning("warning: %s", line)
    per_seed: dict[tuple[str, str | None], list] = {}
    sample_size = None
    for seed in opts.seeds:
        gen = inputs(
            lambda spec, seed=seed: keys.gen(spec, seed),
            lambda seed=seed: generated_batches(
                generator, seed, opts.num_gen, opts.batch, opts.truncation, opts.noise_mode, device
            ),
            opts.num_gen,
            f"generated features (seed {seed})",
        )
        found = {}
        for stem, mode, value in compute(p, real, gen, Context(opts, device, seed)):
            per_seed.setdefault((stem, mode), []).append(value)
            found[registry.result_key(stem, mode)] = value
        if sample_size is None and opts.sample_size:  # first seed, on the features at hand
            sample_size = sample_size_curves(p, real, gen, seed, found)
    results, summary = summarize(per_seed)
    info = dict(generator_info or {})
    card = build_card(p, nets, device, n_real, data, cache, info, t0)
    card["sample_warnings"] = warnings
    return {
        "schema": SCHEMA,
        "metrics": results,
        "summary": summary,
        "sample_size": sample_size,
        "generator": info,
        "card": card,
    }
