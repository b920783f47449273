"""`evaluate()`: the feature sets the selected metrics need are gathered once per spec (real ones
once per run, generated ones per seed, both through the content-addressed cache), then every
selected registered metric is called on them; per-seed values become mean ± std, plus a card.
Nothing here knows a metric by name: it only loops over `registry`."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from common import settings
from common.cli import UsageError
from common.device import resolve_device
from data.dataset import dataset_info, open_dataset

from . import registry
from .card import build_card
from .errors import QualityError
from .features import FeatureCache, gather
from .nets import load_nets
from .registry import Context, Extractor, FeatureSpec, Metric
from .samples import generated_batches, real_batches

SCHEMA = "pixbench.quality/1"
DEFAULT_CACHE_DIR = Path("results/cache")


# ----------------------------------------------------------------------------- options, plan


def _plain(value):
    """What the settings schema accepts: lists, not tuples; paths as strings."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return os.fspath(value) if isinstance(value, os.PathLike) else value


def resolve_options(**options) -> settings.Quality:
    """The run's options: the given `settings.Quality` fields over their one default, checked
    by the settings schema and against the registry; any problem is one-line QualityError."""
    try:
        opts = settings.validate({k: _plain(v) for k, v in options.items()}, settings.Quality,
                                 where="quality option")  # fmt: skip
    except QualityError:
        raise
    except UsageError as exc:
        raise QualityError(str(exc)) from None
    metrics = opts.metrics
    if metrics is not None:
        metrics = [m.strip().lower() for m in metrics if m.strip()]
        registry.select(metrics)
    registry.get_extractor(opts.extractor)
    seeds = [int(s) for s in opts.seeds]
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise QualityError(f"seeds must be distinct non-negative integers, got {seeds}")
    return dataclasses.replace(opts, metrics=metrics, seeds=seeds,
                               modes=registry.check_modes(opts.modes))  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """What a run computes: the selected metrics, the extractor, every feature set once."""

    metrics: list[Metric]
    extractor: Extractor
    modes: list[str]

    def modes_of(self, metric: Metric) -> list[str | None]:
        return self.modes if metric.features.per_mode else [None]

    @property
    def specs(self) -> list[FeatureSpec]:
        specs = (self.extractor.spec(m.features, mode) for m in self.metrics
                 for mode in self.modes_of(m))  # fmt: skip
        return list(dict.fromkeys(specs))


def plan(opts: settings.Quality) -> Plan:
    return Plan(registry.select(opts.metrics), registry.get_extractor(opts.extractor), opts.modes)


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
        return {"net": spec.net, "net_sha256": self.net_sha[spec.net], "resize": spec.resize,
                "device": self.device}  # fmt: skip

    def real(self, spec: FeatureSpec) -> dict | None:
        if self.dataset_sha is None:
            return None
        return {"kind": "real", "dataset_sha256": self.dataset_sha, "num_real": self.num_real,
                **self._net(spec)}  # fmt: skip

    def gen(self, spec: FeatureSpec, seed: int) -> dict | None:
        if self.generator_id is None:
            return None
        o = self.opts
        return {"kind": "gen", "generator": self.generator_id, "seed": seed, "num_gen": o.num_gen,
                "truncation": o.truncation, "noise_mode": o.noise_mode,
                "batch": o.batch if o.noise_mode == "random" else None, **self._net(spec)}  # fmt: skip


def _check_inputs(p: Plan, opts: settings.Quality, ds, data: dict, generator) -> int:
    """Fail before any extraction; returns the number of real images used."""
    n_real = len(ds) if opts.num_real is None else min(opts.num_real, len(ds))
    if n_real < 2:
        raise QualityError(f"need at least 2 real images, the dataset has {len(ds)}")
    for m in p.metrics:
        need = m.min_images(opts) if m.min_images else 2
        if min(n_real, opts.num_gen) < need:
            raise QualityError(f"metric {m.name!r} needs at least {need} images per set with "
                               f"these options; got {n_real} real, {opts.num_gen} generated")  # fmt: skip
    if not hasattr(generator, "z_dim"):
        raise QualityError("generator has no z_dim attribute")
    g_res, d_res = getattr(generator, "resolution", None), data["resolution"]
    if g_res is not None and d_res is not None and int(g_res) != int(d_res):
        raise QualityError(f"generator resolution {g_res} != dataset resolution {d_res}")
    return n_real


def compute(p: Plan, real: dict, gen: dict, ctx: Context):
    """(result stem, mode, value) of every selected metric for one seed: the registry loop."""
    for metric in p.metrics:
        outputs = {o.name: o for o in metric.outputs}
        for mode in p.modes_of(metric):
            spec = p.extractor.spec(metric.features, mode)
            values = metric(real[spec], gen[spec], dataclasses.replace(ctx, mode=mode))
            for name, value in values.items():
                yield p.extractor.stem(outputs[name]), mode, value


def _stat(values: list[float]) -> dict:
    """Per-seed values with mean and sample std (ddof=1; null for a single seed)."""
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else None
    return {"per_seed": [float(v) for v in arr], "mean": float(arr.mean()), "std": std}


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
    *,
    device: str | torch.device = "auto",
    cache_dir: str | os.PathLike | None = DEFAULT_CACHE_DIR,
    generator_id: str | None = None,
    generator_info: dict | None = None,
    download: bool = True,
    progress: bool = True,
    **options,
) -> dict:
    """The registered metrics of `generator` against `dataset` as a result dict.

    `options` are `common.settings.Quality` fields (metrics, num_gen, seeds, extractor, modes,
    k, ...; each defaults to its one value there). `generator` is called as
    G(z, truncation_psi=, noise_mode=) and must expose `z_dim`. `dataset` is a prepared dataset
    path or a sequence of uint8 (C, H, W) tensors. `generator_id` (e.g. "ckpt:<sha256>:G_ema")
    enables caching of generated features; without it only the real features (keyed by the
    dataset file hash) are cached. Bad input raises a one-line UsageError (QualityError, ...).
    """
    t0 = time.perf_counter()
    opts = resolve_options(**options)
    device = resolve_device(device)
    p = plan(opts)
    nets = load_nets({s.net for s in p.specs}, opts.weights_dir, device, download)
    ds = open_dataset(dataset, xflip=False)
    data = {**dataset_info(ds), "xflip": False}
    n_real = _check_inputs(p, opts, ds, data, generator)
    generator = generator.to(device).eval().requires_grad_(False)
    cache = FeatureCache(cache_dir)
    net_sha = {name: net.sha256 for name, net in nets.items()}
    keys = _CacheKeys(opts, device.type, net_sha, data["sha256"], n_real, generator_id)

    def features(key_of, batches, total, desc):
        return gather(cache, p.specs, key_of, batches, total, nets, device, desc, progress)

    real = features(
        keys.real, lambda: real_batches(ds, n_real, opts.batch), n_real, "real features"
    )
    per_seed: dict[tuple[str, str | None], list[float]] = {}
    for seed in opts.seeds:
        gen = features(
            lambda spec, seed=seed: keys.gen(spec, seed),
            lambda seed=seed: generated_batches(generator, seed, opts.num_gen, opts.batch,
                                                opts.truncation, opts.noise_mode, device),
            opts.num_gen, f"generated features (seed {seed})",
        )  # fmt: skip
        for stem, mode, value in compute(p, real, gen, Context(opts, device, seed)):
            per_seed.setdefault((stem, mode), []).append(value)
    results, summary = summarize(per_seed)
    info = dict(generator_info or {})
    card = build_card(opts, p, nets, device, n_real, data, cache, info, t0)
    return {"schema": SCHEMA, "metrics": results, "summary": summary, "generator": info,
            "card": card}  # fmt: skip
