"""Where each stage of a run writes its results: the one definition that the Snakemake rules
(as patterns with {wildcards}) and the report (as paths) both read.

    results/<run>/
      preflight.json                          what the config needs, found   (workflow.preflight)
      invocation.json                         command, config files, commit  (common.invocation)
      config.yaml                             the config the run resolved    (common.invocation)
      data/<dataset>.zip                      prepared images + recipe       (data.prepare)
      profile/<model>_<res>.json              full-width cost                (benchmarks.profiling)
      profile_variant/<dataset>_<model>.json  cost of the trained variant    (benchmarks.profiling)
      train/<dataset>/<model>/                one training run (TRAIN_DIR)   (training)
      metrics/<dataset>_<model>.json          registered metrics + cards     (benchmarks.quality)
      curves/<dataset>_<model>/ckpt-*.json    the curve metric per snapshot  (benchmarks.quality)
      stages/<dataset>_<model>.{png,json}     per-stage RGB                  (benchmarks.stages)
      nearest/<dataset>_<model>.{png,json}    samples beside nearest reals   (benchmarks.quality.nearest)
      claims.{csv,md}                         paper claims vs measured       (benchmarks.claims)
      settings/<rule>/<job>.json              what each job was planned with (workflow.job_settings)
      cache/  logs/
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StepNames:
    """Names of the files written once per snapshot: prefix + step + suffix, the step zero-padded
    to 8 digits (so a listing sorted by name is in step order). One spelling gives the name, the
    glob that finds them all and the parser of a name's step."""

    prefix: str
    suffix: str

    def name(self, step: int) -> str:
        return f"{self.prefix}{step:08d}{self.suffix}"

    @property
    def glob(self) -> str:
        return f"{self.prefix}*{self.suffix}"

    def step(self, name: str) -> int | None:
        """The step a file name of this kind carries; None for any other name (a temp file being
        written, the final checkpoint's link, a stray file), so readers never pick those."""
        found = re.fullmatch(rf"{re.escape(self.prefix)}(\d+){re.escape(self.suffix)}", name)
        return int(found.group(1)) if found else None

    def find(self, folder: str | Path) -> list[Path]:
        """The files of this kind in `folder`, oldest step first."""
        steps = {p: self.step(p.name) for p in Path(folder).glob(self.glob) if p.is_file()}
        return sorted((p for p, step in steps.items() if step is not None), key=steps.__getitem__)


SNAPSHOTS = StepNames("ckpt-", ".pt")  # checkpoints/ (training.checkpoint)
GRIDS = StepNames("grid-", ".png")  # samples/, G_ema's sample grid at each snapshot

# Inside one training run folder (train.py --out; train/<dataset>/<model>/ of a results folder),
# keyed like PATTERNS. Existing run folders are read by these names: changing one orphans them.
_CHECKPOINTS = "checkpoints"
TRAIN_DIR = {
    "checkpoints": _CHECKPOINTS,  # SNAPSHOTS, and the final checkpoint: a link to the newest
    "final_ckpt": f"{_CHECKPOINTS}/final.pt",
    "train_log": "log.csv",  # a row per log_every steps, trimmed to the resumed step on resume
    "train_meta": "run.json",  # how the run was made (training.runlog.run_metadata)
    "samples": "samples",  # GRIDS
}
_TRAIN = "train/{dataset}/{model}"


class TrainDir:
    """The files of one training run folder (TRAIN_DIR), for the code that writes them
    (training) and the code that reads them back (the workflow, the report)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _at(self, key: str) -> Path:
        return self.root / TRAIN_DIR[key]

    @property
    def checkpoints(self) -> Path:
        return self._at("checkpoints")

    @property
    def final(self) -> Path:
        return self._at("final_ckpt")

    @property
    def log(self) -> Path:
        return self._at("train_log")

    @property
    def meta(self) -> Path:
        return self._at("train_meta")

    @property
    def samples(self) -> Path:
        return self._at("samples")

    def snapshot(self, step: int) -> Path:
        return self.checkpoints / SNAPSHOTS.name(step)

    def grid(self, step: int) -> Path:
        return self.samples / GRIDS.name(step)

    def snapshots(self) -> list[Path]:
        """The snapshot files on disk, oldest step first."""
        return SNAPSHOTS.find(self.checkpoints)

    def grids(self) -> list[Path]:
        """The sample grids on disk, oldest step first."""
        return GRIDS.find(self.samples)


PATTERNS = {
    "preflight": "preflight.json",
    "invocation": "invocation.json",
    "config": "config.yaml",
    "dataset": "data/{dataset}.zip",
    "profile": "profile/{model}_{res}.json",
    "variant": "profile_variant/{dataset}_{model}.json",
    "train_dir": _TRAIN,
    **{key: f"{_TRAIN}/{inside}" for key, inside in TRAIN_DIR.items()},
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

    def find(self, key: str) -> Iterator[tuple[dict, Path]]:
        """Every file of `key` on disk, with the {wildcards} its path spells, in path order:
        for reading a folder whatever config made it (e.g. every training run's meta). Meant
        for keys whose wildcards are whole path parts ({model}_{res} could split two ways)."""
        glob, regex = "", ""
        for literal, name, _, _ in string.Formatter().parse(PATTERNS[key]):
            glob += literal + ("*" if name else "")
            regex += re.escape(literal) + (f"(?P<{name}>[^/]+)" if name else "")
        for path in sorted(self.root.glob(glob)):
            found = re.fullmatch(regex, path.relative_to(self.root).as_posix())
            if found:
                yield found.groupdict(), path

    def folder(self, key: str) -> Path:
        """The folder that holds every file of `key` (its parent has no wildcards)."""
        return (self.root / PATTERNS[key]).parent

    def log(self, name: str) -> str:
        """A rule's log file (a pattern: `name` may hold {wildcards})."""
        return f"{self.pattern('logs')}/{name}.log"
