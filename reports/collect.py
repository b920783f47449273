"""Read a run's results folder (results/<run>/) into plain Python and pandas objects: the one
reader of results, for the report (given the run's config) and the run comparison (without one).

Given the config, it reads the files the config names (its models, datasets and profile
resolutions), so a report never shows a model or resolution the config no longer lists; without
a config it reads every results file on disk, so any two folders can be compared whatever
config files are left. Nothing here runs a model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from common import invocation
from common.cli import UsageError, first_line
from common.io import read_json
from common.layout import Layout, TrainDir
from data._common import read_recipe


@dataclass
class RunResults:
    root: Path
    config: dict | None = None  # the run config, every default filled in; None: read without one
    profiles: dict = field(default_factory=dict)  # (model, res) -> full-width profile JSON
    variants: dict = field(default_factory=dict)  # (dataset, model) -> profile of trained variant
    quality: dict = field(default_factory=dict)  # (dataset, model) -> metrics JSON (+ cards)
    curves: dict = field(default_factory=dict)  # (dataset, model) -> DataFrame(kimg, metric...)
    logs: dict = field(default_factory=dict)  # (dataset, model) -> training log DataFrame
    train_meta: dict = field(default_factory=dict)  # (dataset, model) -> the run's run.json
    stages: dict = field(default_factory=dict)  # (dataset, model) -> stages JSON (+ png path)
    grids: dict = field(default_factory=dict)  # (dataset, model) -> newest sample grid PNG
    nearest: dict = field(default_factory=dict)  # (dataset, model) -> nearest-reals JSON (+ png)
    claims: pd.DataFrame | None = None
    recipes: dict = field(default_factory=dict)  # dataset -> prepared-dataset recipe
    data_files: dict = field(default_factory=dict)  # dataset -> prepared-dataset file
    preflight: dict = field(default_factory=dict)  # the pre-flight record (config hash, …)
    invocation: dict | None = None  # how the run was started (common.invocation), if recorded

    @property
    def name(self) -> str:
        return Path(self.root).name

    @property
    def models(self) -> list[str]:
        return list(self.config["models"])

    @property
    def datasets(self) -> list[str]:
        return list(self.config["datasets"])

    @property
    def extractor(self):
        """The quality extractor the config names (benchmarks.quality.registry.Extractor)."""
        from benchmarks.quality import registry

        return registry.get_extractor(self.config["quality"]["extractor"])

    @property
    def proxy(self) -> bool:
        """True when no quality number is on a reference network (none is comparable)."""
        return not self.extractor.reference


def _read(path: Path, read: Callable = read_json):
    """A results file, or one line naming it when it does not parse (cut short, not JSON/CSV):
    pandas' parser errors are ValueErrors too."""
    try:
        return read(path)
    except (ValueError, OSError) as exc:
        raise UsageError(
            f"cannot read {path} ({type(exc).__name__}: {first_line(exc)}); delete it and "
            "re-run the workflow to write it again"
        ) from None


def _if_file(path: Path, read: Callable = read_json):
    return _read(path, read) if path.is_file() else None


def load_results(root: str | Path, config: dict | None = None) -> RunResults:
    """Every result file of the folder: with the run's config, those the config names, keyed by
    its names and in its order; without, every one on disk, keyed by the names each file
    records. A missing folder, an unreadable file, or (read without a config) a folder with
    neither profiles nor metrics is a UsageError of one line."""
    lay = Layout(root)
    if not lay.root.is_dir():
        raise UsageError(f"{root}: no such results folder")
    res = RunResults(root=lay.root, config=config)
    for key, path in _profiles(lay, config):
        prof = _read(path)
        res.profiles[key or (prof.get("model"), prof.get("resolution"))] = prof
    for key, path in _metrics(lay, config):
        q = _read(path)
        res.quality[key or _pair_named(q, path)] = q
    for dataset, path in _datasets(lay, config):
        res.data_files[dataset] = path
        res.recipes[dataset] = read_recipe(path)
    for dataset, model in _pairs(lay, config, res.quality):
        _load_pair(res, lay, dataset, model)
    res.claims = _if_file(lay.path("claims_csv"), pd.read_csv)
    res.preflight = _if_file(lay.path("preflight")) or {}
    res.invocation = invocation.read(lay.path("invocation"))
    if config is None and not res.profiles and not res.quality:
        raise UsageError(
            f"{root} is not a pixbench results folder (no profile/*.json or metrics/*.json); "
            "give results/<run>"
        )
    return res


def _profiles(lay: Layout, config: dict | None) -> Iterator[tuple[tuple | None, Path]]:
    """(key, path) per profile: the config's (model, resolution)s, or every one on disk with no
    key (the file's own model and resolution name it: {model}_{res} splits two ways)."""
    if config is None:
        yield from ((None, p) for p in sorted(lay.folder("profile").glob("*.json")))
        return
    for model in config["models"]:
        for r in config["profile"]["resolutions"]:
            path = lay.path("profile", model=model, res=r)
            if path.is_file():
                yield (model, r), path


def _config_pairs(config: dict) -> list[tuple[str, str]]:
    return [(d, m) for d in config["datasets"] for m in config["models"]]


def _metrics(lay: Layout, config: dict | None) -> Iterator[tuple[tuple | None, Path]]:
    """(key, path) per metrics file, as _profiles: the config's pairs, or every one on disk."""
    if config is None:
        yield from ((None, p) for p in sorted(lay.folder("metrics").glob("*.json")))
        return
    for d, m in _config_pairs(config):
        path = lay.path("metrics", dataset=d, model=m)
        if path.is_file():
            yield (d, m), path


def _pair_named(q: dict, path: Path) -> tuple[str, str]:
    """The (dataset, model) a metrics file records (its card and generator), else its name's."""
    dataset = q.get("card", {}).get("dataset", {}).get("name") or path.stem.split("_")[0]
    model = q.get("generator", {}).get("model") or path.stem.split("_", 1)[-1]
    return dataset, model


def _datasets(lay: Layout, config: dict | None) -> Iterator[tuple[str, Path]]:
    if config is None:
        yield from ((wc["dataset"], p) for wc, p in lay.find("dataset"))
        return
    for dataset in config["datasets"]:
        path = lay.path("dataset", dataset=dataset)
        if path.is_file():
            yield dataset, path


def _pairs(lay: Layout, config: dict | None, quality: dict) -> list[tuple[str, str]]:
    """The (dataset, model)s whose training-side files to read: the config's, or without one
    every training run folder on disk and every pair with metrics."""
    if config is not None:
        return _config_pairs(config)
    trained = {(wc["dataset"], wc["model"]) for wc, _ in lay.find("train_dir")}
    return sorted(trained | set(quality))


def _load_pair(res: RunResults, lay: Layout, dataset: str, model: str) -> None:
    key, wc = (dataset, model), {"dataset": dataset, "model": model}
    found = [
        (res.variants, _if_file(lay.path("variant", **wc))),
        (res.logs, _if_file(lay.path("train_log", **wc), pd.read_csv)),
        (res.train_meta, _if_file(lay.path("train_meta", **wc))),
        (res.stages, _if_file(lay.path("stages_json", **wc))),
        (res.nearest, _if_file(lay.path("nearest_json", **wc))),
    ]
    for table, value in found:
        if value is not None:
            table[key] = value
    if key in res.stages:
        res.stages[key]["png"] = lay.path("stages_png", **wc)
    if key in res.nearest:
        res.nearest[key]["png"] = lay.path("nearest_png", **wc)
    if lay.path("curve_dir", **wc).is_dir():
        res.curves[key] = curve_frame(lay.path("curve_dir", **wc))
    grids = TrainDir(lay.path("train_dir", **wc)).grids()
    if grids:
        res.grids[key] = grids[-1]


def curve_frame(directory: Path) -> pd.DataFrame:
    """One row per evaluated snapshot: kimg and the summary metrics of its quality JSON."""
    rows = []
    for p in sorted(directory.glob("*.json")):
        d = _read(p)
        rows.append(
            {"kimg": d.get("generator", {}).get("kimg"), "snapshot": p.stem, **d.get("summary", {})}
        )
    return pd.DataFrame(rows).sort_values("kimg") if rows else pd.DataFrame()
