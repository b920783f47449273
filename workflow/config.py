"""A run config as the workflow takes it: the schema (common.settings) plus every name a plug-in
defines (models, metrics, extractors, hyper-parameters) checked against its registry.

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


def check_registered(cfg: settings.RunConfig, where: str = "config") -> settings.RunConfig:
    """Names that plug-ins define must be registered; say which ones are."""
    checks = [
        ("models", list(cfg.models), models.available()),
        ("quality.metrics", cfg.quality.metrics or [], registry.metric_names()),
        ("quality.curve_metric", [cfg.quality.curve_metric], registry.metric_names()),
        ("quality.extractor", [cfg.quality.extractor], registry.extractor_names()),
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


def load(source: str | Path | dict) -> settings.RunConfig:
    """settings.load, then the registry check: what the workflow and the pre-flight check use."""
    where = "config" if isinstance(source, dict) else str(source)
    return check_registered(settings.load(source), where)


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
