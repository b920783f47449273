"""Read a run's results directory (results/<run>/) into plain Python and pandas objects.

The report is rendered from these files only; nothing here runs a model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from common import invocation
from common.io import read_json
from common.layout import Layout, TrainDir
from data._common import read_recipe


@dataclass
class RunResults:
    root: Path
    config: dict  # the run config as a plain mapping, every default filled in
    profiles: list[dict] = field(default_factory=list)  # full-width profile JSONs
    variants: dict = field(default_factory=dict)  # (dataset, model) -> profile of trained variant
    quality: dict = field(default_factory=dict)  # (dataset, model) -> quality JSON
    curves: dict = field(default_factory=dict)  # (dataset, model) -> DataFrame(kimg, metric...)
    logs: dict = field(default_factory=dict)  # (dataset, model) -> training log DataFrame
    runs: dict = field(default_factory=dict)  # (dataset, model) -> training run's meta file
    stages: dict = field(default_factory=dict)  # (dataset, model) -> stages JSON (+ png path)
    grids: dict = field(default_factory=dict)  # (dataset, model) -> newest sample grid PNG
    nearest: dict = field(default_factory=dict)  # (dataset, model) -> nearest-reals JSON (+ png)
    claims: pd.DataFrame | None = None
    recipes: dict = field(default_factory=dict)  # dataset -> prepared-dataset recipe
    data_files: dict = field(default_factory=dict)  # dataset -> prepared-dataset file
    invocation: dict | None = None  # how the run was started (common.invocation), if recorded

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


def _if_file(path: Path, read):
    return read(path) if path.is_file() else None


def load_results(root: str | Path, config: dict) -> RunResults:
    """Every result file the run's config implies, found through the one results layout."""
    lay = Layout(root)
    res = RunResults(root=lay.root, config=config)
    for model in res.models:
        for r in config["profile"]["resolutions"]:
            prof = _if_file(lay.path("profile", model=model, res=r), read_json)
            if prof is not None:
                res.profiles.append(prof)
    for dataset in res.datasets:
        path = lay.path("dataset", dataset=dataset)
        if path.is_file():
            res.data_files[dataset] = path
            res.recipes[dataset] = read_recipe(path)
        for model in res.models:
            _load_pair(res, lay, dataset, model)
    res.claims = _if_file(lay.path("claims_csv"), pd.read_csv)
    res.invocation = invocation.read(lay.path("invocation"))
    return res


def _load_pair(res: RunResults, lay: Layout, dataset: str, model: str) -> None:
    key, wc = (dataset, model), {"dataset": dataset, "model": model}
    found = [
        (res.variants, _if_file(lay.path("variant", **wc), read_json)),
        (res.quality, _if_file(lay.path("metrics", **wc), read_json)),
        (res.logs, _if_file(lay.path("train_log", **wc), pd.read_csv)),
        (res.runs, _if_file(lay.path("train_meta", **wc), read_json)),
        (res.stages, _if_file(lay.path("stages_json", **wc), read_json)),
        (res.nearest, _if_file(lay.path("nearest_json", **wc), read_json)),
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
        d = read_json(p)
        rows.append(
            {"kimg": d.get("generator", {}).get("kimg"), "snapshot": p.stem, **d.get("summary", {})}
        )
    return pd.DataFrame(rows).sort_values("kimg") if rows else pd.DataFrame()
