"""Read a run's results directory (results/<run>/) into plain Python and pandas objects.

The report is rendered from these files only; nothing here runs a model."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _split_name(stem: str, known: list[str]) -> tuple[str, str]:
    """'faces_pixelfolder' -> ('faces', 'pixelfolder') for a known model name at the end."""
    for model in sorted(known, key=len, reverse=True):
        if stem.endswith("_" + model):
            return stem[: -len(model) - 1], model
    dataset, _, model = stem.rpartition("_")
    return dataset, model


@dataclass
class RunResults:
    root: Path
    config: dict
    profiles: list[dict] = field(default_factory=list)  # full-width profile JSONs
    variants: dict = field(default_factory=dict)  # (dataset, model) -> profile of trained variant
    quality: dict = field(default_factory=dict)  # (dataset, model) -> quality JSON
    curves: dict = field(default_factory=dict)  # (dataset, model) -> DataFrame(kimg, metric...)
    logs: dict = field(default_factory=dict)  # (dataset, model) -> training log DataFrame
    runs: dict = field(default_factory=dict)  # (dataset, model) -> training run.json
    stages: dict = field(default_factory=dict)  # (dataset, model) -> stages JSON (+ png path)
    grids: dict = field(default_factory=dict)  # (dataset, model) -> newest sample grid PNG
    claims: pd.DataFrame | None = None
    recipes: dict = field(default_factory=dict)  # dataset -> prepared-dataset recipe

    @property
    def models(self) -> list[str]:
        return list(self.config.get("models", {}))

    @property
    def datasets(self) -> list[str]:
        return list(self.config.get("datasets", {}))

    @property
    def proxy(self) -> bool:
        return self.config.get("quality", {}).get("extractor") == "proxy"


def load_results(root: str | Path, config: dict) -> RunResults:
    root = Path(root)
    res = RunResults(root=root, config=config)
    models = res.models
    for p in sorted((root / "profile").glob("*.json")):
        res.profiles.append(_json(p))
    for p in sorted((root / "profile_variant").glob("*.json")):
        res.variants[_split_name(p.stem, models)] = _json(p)
    for p in sorted((root / "metrics").glob("*.json")):
        res.quality[_split_name(p.stem, models)] = _json(p)
    for d in sorted((root / "curves").glob("*")):
        if d.is_dir():
            res.curves[_split_name(d.name, models)] = curve_frame(d)
    for p in sorted((root / "stages").glob("*.json")):
        info = _json(p)
        info["png"] = p.with_suffix(".png")
        res.stages[_split_name(p.stem, models)] = info
    for dataset in res.datasets:
        for model in models:
            tdir = root / "train" / dataset / model
            if (tdir / "log.csv").exists():
                res.logs[(dataset, model)] = pd.read_csv(tdir / "log.csv")
            if (tdir / "run.json").exists():
                res.runs[(dataset, model)] = _json(tdir / "run.json")
            grids = sorted((tdir / "samples").glob("grid-*.png"))
            if grids:
                res.grids[(dataset, model)] = grids[-1]
        zip_path = root / "data" / f"{dataset}.zip"
        if zip_path.exists():
            from data.dataset import read_recipe

            res.recipes[dataset] = read_recipe(zip_path)
    if (root / "claims.csv").exists():
        res.claims = pd.read_csv(root / "claims.csv")
    return res


_STEP = re.compile(r"(\d+)")


def curve_frame(directory: Path) -> pd.DataFrame:
    """One row per evaluated snapshot: kimg and the summary metrics of its quality JSON."""
    rows = []
    for p in sorted(directory.glob("*.json")):
        d = _json(p)
        rows.append(
            {"kimg": d.get("generator", {}).get("kimg"), "snapshot": p.stem, **d.get("summary", {})}
        )
    return pd.DataFrame(rows).sort_values("kimg") if rows else pd.DataFrame()
