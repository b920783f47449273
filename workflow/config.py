"""A run config as the workflow takes it: the schema (common.settings) plus every name a plug-in
defines (models, metrics, extractors, hyper-parameters, presets) checked against its registry.

The check lives here, above the rooms, because the registries are in `models` and
`benchmarks`; `common.settings` below them knows only the schema.

    python -m workflow.config CONFIG.yaml   # the resolved config, every default filled in
    python -m workflow.config --schema      # the JSON schema (for editors)
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import models
from benchmarks.quality import registry
from common import settings
from common.cli import OneLineParser, UsageError, run
from training.hparams import resolve_hparams
from training.presets import PRESETS


def check_registered(cfg: settings.RunConfig, where: str = "config") -> settings.RunConfig:
    """Names that plug-ins define must be registered; say which ones are."""
    checks = [
        ("models", list(cfg.models), models.available()),
        ("train.preset", [cfg.train.preset] if cfg.train.preset else [], list(PRESETS)),
        ("quality.metrics", cfg.quality.metrics or [], registry.metric_names()),
        ("quality.curve_metric", [cfg.quality.curve_metric], registry.metric_names()),
        ("quality.extractor", [cfg.quality.extractor], registry.extractor_names()),
        (
            "quality.curve_extractor",
            [cfg.quality.curve_extractor or cfg.quality.extractor],
            registry.extractor_names(),
        ),
    ]
    for key, names, known in checks:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UsageError(
                f"{where}: {key}: {unknown[0]!r} is not registered; available: {', '.join(known)}"
            )
    hp_names = {f.name for f in dataclasses.fields(settings.HParams)}
    tables = [("train.hparams", cfg.train.hparams)]
    tables += [(f"models.{n}.hparams", m.hparams) for n, m in cfg.models.items()]
    for key, table in tables:
        unknown = sorted(set(table) - hp_names)
        if unknown:
            raise UsageError(
                f"{where}: {key}: unknown hyper-parameter {unknown[0]!r}; known: "
                f"{', '.join(sorted(hp_names))}"
            )
    for name, m in cfg.models.items():  # the variant each job builds: keys and values
        try:
            models.check_build(name, m.build)
        except models.BuildError as exc:
            raise UsageError(f"{where}: models.{name}.build: {exc}") from None
    for name, m in cfg.models.items():  # what each job will train with, ranges checked
        hp_where = f"{where}: hparams of {name} (train.hparams, then models.{name}.hparams)"
        for ds in cfg.datasets.values():  # a preset's values depend on resolution and batch
            resolve_hparams(
                name,
                {**cfg.train.hparams, **m.hparams},
                where=hp_where,
                preset=cfg.train.preset,
                resolution=ds.resolution,
                batch=cfg.train.batch,
            )
    return cfg


# `train.kimg` above this is a slip of the exponent (`1e12` for `1e4`), not a plan: 100 billion
# images, 4,000 x the longest StyleGAN2 FFHQ run (25,000 kimg); at 10,000 images/s, four months.
MAX_KIMG = 1e8


def batch_problem(batch: int, name: str, images: int) -> str | None:
    """The refusal of a global batch larger than dataset `name`'s `images`, else None."""
    if batch <= images:
        return None
    return (
        f"train.batch {batch} is larger than dataset {name} ({images} images at most); set "
        f"train.batch to {images} or less, or use more images"
    )


def check_sizes(cfg: settings.RunConfig, where: str = "config") -> settings.RunConfig:
    """A batch larger than a dataset can hold is refused before any job starts: training would
    repeat images within a step and grow its memory with the batch until the kernel kills it.
    Counted where the config alone says it (an embedded set, or datasets.NAME.max_images); a
    folder's, zip's or LMDB's count is the pre-flight check's (workflow.preflight, with
    `batch_problem`), which counts them at workflow start anyway. An absurd `train.kimg` is
    refused here too (MAX_KIMG)."""
    from data import embedded

    if cfg.train.kimg > MAX_KIMG:
        raise UsageError(
            f"{where}: train.kimg {cfg.train.kimg:g} is more than {MAX_KIMG:g} (10^11 images, "
            "months on any cluster); set the thousands of images to train on, e.g. 25000"
        )
    for name, ds in cfg.datasets.items():
        most = ds.max_images
        if embedded.parse_source(ds.source) is not None:
            most = min(embedded.DEFAULT_COUNT, most or embedded.DEFAULT_COUNT)
        problem = None if most is None else batch_problem(cfg.train.batch, name, most)
        if problem:
            raise UsageError(f"{where}: {problem}")
    return cfg


def check_speed_variant(cfg: settings.RunConfig, where: str = "config") -> settings.RunConfig:
    """`train.speed_variant: auto` reads each model's speed-variant grid, so the profile stage
    must make one: profile.variants non-empty, and profile.variants_at a resolution that
    profile.resolutions profiles and `latency` times."""
    from training.speed_variant import conflicts

    if cfg.train.speed_variant != "auto":
        return cfg
    if problem := conflicts(cfg.train):
        raise UsageError(f"{where}: {problem}")
    p, at = cfg.profile, cfg.profile.variants_at.resolution
    if not p.variants:
        missing = "profile.variants is empty (no grid is timed)"
    elif at not in p.resolutions or not p.batch_sizes_at(at):
        missing = (
            f"profile.variants_at.resolution {at} is not both in profile.resolutions and timed "
            "by profile.latency"
        )
    else:
        return cfg
    raise UsageError(
        f"{where}: train.speed_variant auto needs each model's speed-variant grid, but {missing}; "
        "fix that, or set train.speed_variant fixed"
    )


def load(source: str | Path | dict) -> settings.RunConfig:
    """settings.load, then the registry, size and speed-variant checks: what the workflow and
    the pre-flight check use."""
    where = "config" if isinstance(source, dict) else str(source)
    cfg = check_sizes(check_registered(settings.load(source), where), where)
    return check_speed_variant(cfg, where)


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m workflow.config", description=__doc__.splitlines()[0])
    p.add_argument("config", nargs="?", help="a config YAML to resolve")
    p.add_argument("--schema", action="store_true", help="print the JSON schema instead")
    a = p.parse_args(argv)
    if a.schema or not a.config:
        print(json.dumps(settings.json_schema(), indent=2, ensure_ascii=False))
    else:
        import yaml

        print(yaml.safe_dump(settings.as_dict(load(a.config)), sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
