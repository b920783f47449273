"""A config change re-runs exactly what it affects, in one invocation, and an unrelated edit
re-runs nothing. On a finished miniature run (one model, 32 px, a few steps), each change is
planned with a dry run and the jobs it plans are compared with what the change can affect; the
quality change is then executed and its output checked for the new value."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.helpers import copy_repo

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--cores", "2"]
DOWNSTREAM_OF_TRAINING = {
    "train",
    "quality",
    "quality_curve",
    "stages",
    "nearest",
    "profile_variant",
}


def _config() -> dict:
    cfg = yaml.safe_load((ROOT / "tests/workflow/tiny.yaml").read_text())
    cfg["run"] = "reruns"
    cfg["models"] = {"stylegan2": cfg["models"]["stylegan2"]}
    cfg["train"].update(kimg=0.016, snap_kimg=None)
    cfg["profile"] = {"resolutions": [64], "latency": []}
    cfg["quality"].update(metrics=["fid"], num_gen=32, num_real=64, seeds=[0])
    return cfg


def _planned(repo: Path, cfg_text: str) -> Counter:
    (repo / "cfg.yaml").write_text(cfg_text)
    out = subprocess.run(
        [*SNAKEMAKE, "-n", "--configfile", "cfg.yaml"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    if "Nothing to be done" in out.stdout + out.stderr:
        return Counter()
    stats = out.stdout.split("Job stats:")[1].split("total")[0]
    rows = [line.split() for line in stats.splitlines()[3:] if line.strip()]
    return Counter({name: int(n) for name, n in rows})


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("reruns") / "repo")
    (repo / "cfg.yaml").write_text(yaml.safe_dump(_config()))
    out = subprocess.run(
        [*SNAKEMAKE, "--configfile", "cfg.yaml"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return repo


@pytest.mark.slow
def test_each_change_replans_what_it_affects_and_nothing_else(finished):
    unchanged = yaml.safe_dump(_config())
    # formatting, key order and comments are not changes
    assert _planned(finished, "# reformatted\n" + yaml.safe_dump(_config(), sort_keys=False)) == {}
    assert _planned(finished, unchanged) == {}

    cfg = _config()
    cfg["quality"]["num_gen"] = 48
    plan = _planned(finished, yaml.safe_dump(cfg))
    assert set(plan) == {"quality", "quality_curve", "claims", "report", "all"}, plan

    cfg = _config()
    cfg["train"]["kimg"] = 0.024
    plan = _planned(finished, yaml.safe_dump(cfg))
    assert set(plan) - {"claims", "report", "all"} == {
        "train",
        "quality",
        "quality_curve",
        "stages",
        "nearest",
    }, plan

    cfg = _config()
    cfg["datasets"]["faces"]["max_images"] = 500
    plan = _planned(finished, yaml.safe_dump(cfg))
    assert "prepare_dataset" in plan and "train" in plan and "profile" not in plan, plan


@pytest.mark.slow
def test_a_quality_change_reaches_its_output_in_one_invocation(finished):
    cfg = _config()
    cfg["quality"]["num_gen"] = 48
    (finished / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    out = subprocess.run(
        [*SNAKEMAKE, "--configfile", "cfg.yaml"],
        cwd=finished,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = json.loads((finished / "results/reruns/metrics/faces_stylegan2.json").read_text())
    assert metrics["card"]["num_gen"] == 48
    assert _planned(finished, yaml.safe_dump(cfg)) == {}  # and then nothing is left to do
