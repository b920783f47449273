"""Where each stage of a run writes its results: the one definition that the Snakemake rules
(as patterns with {wildcards}) and the report (as paths) both read.

    results/<run>/
      preflight.json                          what the config needs, found   (workflow.preflight)
      invocation.json                         command, config files, commit  (common.invocation)
      data/<dataset>.zip                      prepared images + recipe       (data.prepare)
      profile/<model>_<res>.json              full-width cost                (benchmarks.profiling)
      profile_variant/<dataset>_<model>.json  cost of the trained variant    (benchmarks.profiling)
      train/<dataset>/<model>/                checkpoints/, samples/, log.csv, run.json (training)
      metrics/<dataset>_<model>.json          registered metrics + cards     (benchmarks.quality)
      curves/<dataset>_<model>/ckpt-*.json    the curve metric per snapshot  (benchmarks.quality)
      stages/<dataset>_<model>.{png,json}     per-stage RGB                  (benchmarks.stages)
      nearest/<dataset>_<model>.{png,json}    samples beside nearest reals   (benchmarks.quality.nearest)
      claims.{csv,md}                         paper claims vs measured       (benchmarks.claims)
      settings/<rule>/<job>.json              what each job was planned with (workflow.job_settings)
      cache/  logs/
"""

from __future__ import annotations

from pathlib import Path

PATTERNS = {
    "preflight": "preflight.json",
    "invocation": "invocation.json",
    "dataset": "data/{dataset}.zip",
    "profile": "profile/{model}_{res}.json",
    "variant": "profile_variant/{dataset}_{model}.json",
    "train_dir": "train/{dataset}/{model}",
    "checkpoints": "train/{dataset}/{model}/checkpoints",
    "final_ckpt": "train/{dataset}/{model}/checkpoints/final.pt",
    "train_log": "train/{dataset}/{model}/log.csv",
    "train_meta": "train/{dataset}/{model}/run.json",
    "samples": "train/{dataset}/{model}/samples",
    "metrics": "metrics/{dataset}_{model}.json",
    "curve_dir": "curves/{dataset}_{model}",
    "stages_png": "stages/{dataset}_{model}.png",
    "stages_json": "stages/{dataset}_{model}.json",
    "nearest_png": "nearest/{dataset}_{model}.png",
    "nearest_json": "nearest/{dataset}_{model}.json",
    "claims_csv": "claims.csv",
    "claims_md": "claims.md",
    "cache": "cache",
    "logs": "logs",
    "settings": "settings/{rule}/{job}.json",
}


def results_root(run: str) -> str:
    return f"results/{run}"


def reports_root(run: str) -> str:
    return f"reports/{run}"


class Layout:
    """Paths of one run's results folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def pattern(self, key: str) -> str:
        """A Snakemake pattern: the path with its {wildcards} left in."""
        return f"{self.root.as_posix()}/{PATTERNS[key]}"

    def path(self, key: str, **wildcards) -> Path:
        return self.root / PATTERNS[key].format(**wildcards)

    def folder(self, key: str) -> Path:
        """The folder that holds every file of `key` (its parent has no wildcards)."""
        return (self.root / PATTERNS[key]).parent

    def log(self, name: str) -> str:
        """A rule's log file (a pattern: `name` may hold {wildcards})."""
        return f"{self.pattern('logs')}/{name}.log"
