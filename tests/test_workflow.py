"""The Snakemake workflow: both configs plan, bad configs fail at once, and a tiny end-to-end run
adds a new model exactly as the README says (one file, one import line, one config entry)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

TOY_MODEL = '''"""A toy generator: the smallest thing the suite can train, profile, evaluate and report."""

from .base import Generator, check_resolution, scale_width
from .layers import ConstantInput, StyledConv, ToRGB
from .registry import register


@register("toy")
class ToyGenerator(Generator):
    def __init__(self, resolution=32, z_dim=32, n_mlp=2, width=1.0, modconv_mode="auto"):
        check_resolution("toy", resolution)
        super().__init__(resolution, z_dim, n_mlp)
        ch = scale_width(32, width)
        self.input = ConstantInput(ch, size=resolution)
        self.conv = StyledConv(ch, ch, 3, z_dim, mode=modconv_mode)
        self.to_rgb = ToRGB(ch, z_dim, upsample=False, mode=modconv_mode)
        self.num_ws = 2

    def synthesis(self, ws, noise_mode="random", return_stages=False):
        x = self.input(ws.shape[0])
        x = self.conv(x, ws[:, 0], noise=self.layer_noise(0, self.resolution, x, noise_mode))
        img = self.to_rgb(x, ws[:, 1])
        return (img, [img]) if return_stages else img
'''


def run(args, cwd=ROOT, timeout=1200):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("configfile", [None, "config/paper.yaml", "tests/workflow/tiny.yaml"])
def test_dry_run_plans_every_config(configfile):
    extra = ["--configfile", configfile] if configfile else []
    out = run([*SNAKEMAKE, "-n", "--forceall", "--cores", "2", *extra])
    assert out.returncode == 0, out.stderr[-2000:]
    for rule in ("prepare_dataset", "profile", "train", "quality", "report"):
        assert rule in out.stdout


def test_bad_config_fails_at_once(tmp_path):
    cfg = yaml.safe_load((ROOT / "config/default.yaml").read_text())
    cfg["quality"]["extractor"] = "inceptionv4"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    out = run([*SNAKEMAKE, "-n", "--cores", "1", "--configfile", str(bad)])
    said = out.stdout + out.stderr
    assert out.returncode != 0
    assert "'inceptionv4' is not one of ['proxy', 'inception']" in said and "extractor" in said


def _copy_repo(dst: Path) -> Path:
    skip = {
        ".venv",
        ".git",
        "results",
        ".snakemake",
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        ".benchmarks",
    }
    ignore = shutil.ignore_patterns(*skip)
    shutil.copytree(ROOT, dst, ignore=ignore)
    for generated in (dst / "reports").iterdir():  # rendered runs, not code
        if generated.is_dir() and not (generated / "__init__.py").exists():
            shutil.rmtree(generated)
    return dst


def test_tiny_workflow_end_to_end_with_an_added_model(tmp_path):
    repo = _copy_repo(tmp_path / "repo")
    # the README's three steps
    (repo / "models" / "toy.py").write_text(TOY_MODEL)
    init = repo / "models" / "__init__.py"
    init.write_text(init.read_text() + "from . import toy  # noqa: E402,F401\n")
    cfg = yaml.safe_load((ROOT / "tests/workflow/tiny.yaml").read_text())
    cfg["models"] = {"pixelfolder": cfg["models"]["pixelfolder"], "toy": {}}
    cfg["profile"] = {"resolutions": [32], "latency": [{"resolution": 32, "batch_sizes": [1, 2]}]}
    (repo / "toy.yaml").write_text(yaml.safe_dump(cfg))

    out = run([*SNAKEMAKE, "--cores", "2", "--configfile", "toy.yaml"], cwd=repo, timeout=1500)
    assert out.returncode == 0, out.stderr[-3000:]
    rep = repo / "reports" / "tiny"
    for name in ("report.html", "efficiency.csv", "efficiency.md", "quality.csv", "quality.md", "claims.md",
                 "scaling.csv", "latency.csv", "table1_vs_paper.md", "table2_vs_paper.md"):  # fmt: skip
        assert (rep / name).exists(), name
    for plot in ("scaling", "throughput_vs_batch", "training_curves", "pareto_quality_vs_macs"):
        assert (rep / "plots" / f"{plot}.png").exists() and (
            rep / "plots" / f"{plot}.svg"
        ).exists(), plot
    assert (rep / "samples" / "faces_toy.png").exists() and (
        rep / "stages" / "faces_toy.png"
    ).exists()

    eff = pd.read_csv(rep / "efficiency.csv")
    assert set(eff.model) == {"pixelfolder", "toy"}
    qual = pd.read_csv(rep / "quality.csv")
    assert set(qual.model) == {"pixelfolder", "toy"}
    assert not any(c.startswith(("fid", "kid")) for c in qual.columns)  # proxy numbers are named so
    html = (rep / "report.html").read_text()
    assert (
        "PROXY feature extractor" in html
        and "http" not in html.split("<body>")[1].split("Provenance")[0]
    )
    metrics = json.loads((repo / "results/tiny/metrics/faces_toy.json").read_text())
    assert metrics["card"]["extractor"] == "proxy" and "fd_proxy" in metrics["metrics"]

    # changing report code does not retrain: only the report is out of date
    render = repo / "reports" / "render.py"
    render.write_text(render.read_text() + "\n# touched\n")
    plan = run([*SNAKEMAKE, "-n", "--cores", "2", "--configfile", "toy.yaml"], cwd=repo)
    assert (
        plan.returncode == 0
        and "train" not in plan.stdout.split("Job stats")[-1].split("Reasons")[0]
    )
