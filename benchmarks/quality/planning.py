"""What a quality job computes, decided once from its typed `settings.Quality`: the selected
metrics, the extractor, and every feature set they need (`feature_sets`: net, resize, width,
which metrics read it). The evaluation, the pre-flight weight check and the pre-flight disk
estimate all read this one answer, so they cannot disagree about the nets a run loads or what
its feature cache holds.

    p = plan(quality)              # the job's one registry check (names, modes, seeds)
    plan(curve_quality(quality))   # the metric-vs-kimg curve job of the same run
    feature_sets(p)                # {"inception-clean": FeatureSetInfo(net, resize, dim, ...)}
    feature_sets(p, curve_plan)    # the union over several plans (pre-flight: quality + curve)

Cheap to import (registry and settings only); the net table is read on first use.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from common import settings

from . import registry
from .errors import QualityError
from .registry import Extractor, FeatureSpec, Metric


def curve_quality(q: settings.Quality) -> settings.Quality:
    """The section of the metric-vs-kimg curve job: the run's quality section with only the
    curve metric, the first seed, curve_num_gen samples and the curve's extractor (a cheap one,
    e.g. the proxy, can draw the curve while the final table uses Inception: the curve's keys
    then carry the proxy's suffix, so it never reads as FID). The workflow's curve rule passes
    it and the pre-flight check plans it, so both see the same job."""
    return dataclasses.replace(
        q,
        metrics=[q.curve_metric],
        seeds=q.seeds[:1],
        num_gen=q.curve_num_gen or q.num_gen,
        extractor=q.curve_extractor or q.extractor,
        sample_size=False,  # one point per snapshot: the final table's job draws that curve
    )


@dataclass(frozen=True)
class Plan:
    """The checked options, the selected metrics (in result order) and the extractor."""

    options: settings.Quality
    metrics: list[Metric]
    extractor: Extractor

    @property
    def modes(self) -> list[str]:
        return self.options.modes

    def modes_of(self, metric: Metric) -> list[str | None]:
        return self.modes if metric.features.per_mode else [None]

    def spec_of(self, metric: Metric, mode: str | None) -> FeatureSpec | None:
        """The feature set `metric` reads in `mode`; None when it reads the images themselves."""
        return self.extractor.spec(metric.features, mode) if metric.features.by_net else None

    @property
    def needs_images(self) -> bool:
        return any(not m.features.by_net for m in self.metrics)


def plan(opts: settings.Quality) -> Plan:
    """The plan of a typed section, after the checks its schema cannot make: the metric,
    extractor and mode names are registered, the seeds distinct and non-negative (each problem
    one line). This is a job's one registry check; what follows takes the Plan."""
    metrics = registry.select(opts.metrics)
    extractor = registry.get_extractor(opts.extractor)
    seeds = [int(s) for s in opts.seeds]
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise QualityError(f"seeds must be distinct non-negative integers, got {seeds}")
    modes = registry.check_modes(opts.modes)
    return Plan(dataclasses.replace(opts, seeds=seeds, modes=modes), metrics, extractor)


@dataclass(frozen=True)
class FeatureSetInfo:
    """One feature set a run computes (for the real images once, for each generated set again)."""

    net: str  # benchmarks.quality.nets.NETS name
    resize: str  # "clean": clean-fid's resize before the net; "none": the net resizes
    dim: int  # feature width, from the net's declaration
    stats: bool  # a per-mode (FID-type) metric reads it: its float64 mean/covariance are cached
    metrics: tuple[str, ...]  # the metrics that read it, in plan order

    @property
    def spec(self) -> FeatureSpec:
        return FeatureSpec(self.net, self.resize)

    @property
    def tag(self) -> str:
        return self.spec.tag


def feature_sets(*plans: Plan) -> dict[str, FeatureSetInfo]:
    """Every feature set of the plans, once, by tag (`proxy-clean`), in first-use order. IMAGES
    metrics add none: no net computes what they read, and nothing of theirs is cached."""
    from .nets import NETS  # the net classes import torch; the plan itself does not need it

    out: dict[str, FeatureSetInfo] = {}
    for p in plans:
        for metric in p.metrics:
            for mode in p.modes_of(metric):
                spec = p.spec_of(metric, mode)
                if spec is None:
                    continue
                old = out.get(spec.tag)
                users = old.metrics if old else ()
                out[spec.tag] = FeatureSetInfo(
                    spec.net,
                    spec.resize,
                    NETS[spec.net].dim,
                    (old is not None and old.stats) or metric.features.per_mode,
                    users + (() if metric.name in users else (metric.name,)),
                )
    return out
