"""The Snakemake workflow: both configs plan, bad configs fail at once in one line, and a tiny
end-to-end run adds a new model and a new metric exactly as the READMEs say (one file and one
registry line each, one config entry) and finds both in the report."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from tests.helpers import copy_repo

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


TOY_METRIC = '''"""A toy metric: how far apart the mean features of real and generated images are."""

import numpy as np

from ..registry import POOL, register_metric


@register_metric("meangap", features=POOL, lower_is_better=True,
                 protocol="L2 distance between the feature means (toy)")
def meangap(real, gen, ctx):
    return float(np.linalg.norm(real.array.mean(0) - gen.array.mean(0)))
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


@pytest.mark.parametrize(
    "section,key,value,expect",
    [
        (
            "quality",
            "extractor",
            "inceptionv4",
            "quality.extractor: 'inceptionv4' is not registered",
        ),
        ("quality", "metrics", ["fid", "ssim"], "quality.metrics: 'ssim' is not registered"),
        ("models", "nogan", {}, "models: 'nogan' is not registered; available: cips, inr_gan"),
        ("train", "batch", 0, "train.batch: 0 is less than the minimum of 1"),
    ],
)
def test_bad_config_fails_at_once_in_one_line(tmp_path, section, key, value, expect):
    cfg = yaml.safe_load((ROOT / "config/default.yaml").read_text())
    cfg[section][key] = value
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    out = run([*SNAKEMAKE, "-n", "--cores", "1", "--configfile", str(bad)])
    assert out.returncode != 0
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and expect in lines[0], lines


def test_tiny_workflow_end_to_end_with_an_added_model(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    # the README's three steps
    (repo / "models" / "toy.py").write_text(TOY_MODEL)
    init = repo / "models" / "__init__.py"
    init.write_text(init.read_text() + "from . import toy  # noqa: E402,F401\n")
    # the quality README's two steps for a metric: one file, its name in the import line
    metrics_pkg = repo / "benchmarks" / "quality" / "metrics"
    (metrics_pkg / "meangap.py").write_text(TOY_METRIC)
    init = metrics_pkg / "__init__.py"
    init.write_text(
        init.read_text().replace(
            "from . import fid, kid, pr, dc", "from . import fid, kid, pr, dc, meangap"
        )
    )
    # benchmarks/README.md's two steps for an efficiency measure: one file, its name in the import
    measures_pkg = repo / "benchmarks" / "profiling" / "measures"
    (measures_pkg / "weight_mib.py").write_text(
        '''"""A toy measure: the generator's weights in MiB, stored as fp32."""

from ..registry import register_measure


@register_measure("weight_mib", label="Weights, fp32", unit="MiB", lower_is_better=True,
                  protocol="parameters x 4 bytes (toy)")
def weight_mib(ctx):
    return sum(p.numel() for p in ctx.generator().parameters()) * 4 / 2**20
'''
    )
    init = measures_pkg / "__init__.py"
    # one name added at the end of the import line, whatever measures it lists today
    line = re.compile(r"^(from \. import [^#\n]*?)(\s*#.*)?$", re.MULTILINE)
    init.write_text(line.sub(r"\1, weight_mib\2", init.read_text(), count=1))
    assert "weight_mib" in init.read_text()
    cfg = yaml.safe_load((ROOT / "tests/workflow/tiny.yaml").read_text())
    # the toy trained narrow like the others: at full width its 512-channel D took 8 s a step
    cfg["models"] = {
        "pixelfolder": cfg["models"]["pixelfolder"],
        "toy": {"build": {"width": 0.0625}},
    }
    cfg["quality"]["metrics"] += ["meangap"]
    cfg["profile"] = {  # timed, but not for longer than a second a row: no claim rests on it
        "resolutions": [32],
        "latency": [{"resolution": 32, "batch_sizes": [1, 2]}],
        "latency_max_time": 1.0,
    }
    (repo / "toy.yaml").write_text(yaml.safe_dump(cfg))

    out = run([*SNAKEMAKE, "--cores", "2", "--configfile", "toy.yaml"], cwd=repo, timeout=1500)
    assert out.returncode == 0, out.stderr[-3000:]
    rep = repo / "reports" / "tiny"
    for name in (
        "report.html",
        "efficiency.csv",
        "efficiency.md",
        "quality.csv",
        "quality.md",
        "claims.md",
        "scaling.csv",
        "latency.csv",
        "table1_vs_paper.md",
        "table2_vs_paper.md",
    ):
        assert (rep / name).exists(), name
    for plot in (  # no throughput_vs_batch: tiny.yaml times one batch size
        "scaling",
        "training_curves",
        "pareto_quality_vs_macs",
        "quality_metrics",
    ):
        assert (rep / "plots" / f"{plot}.png").exists() and (
            rep / "plots" / f"{plot}.svg"
        ).exists(), plot
    assert (rep / "samples" / "faces_toy.png").exists() and (
        rep / "stages" / "faces_toy.png"
    ).exists()
    # the data's own grid beside the generated ones, at the same size (train.grid × train.grid)
    with (
        Image.open(rep / "samples" / "faces_real.png") as real,
        Image.open(rep / "samples" / "faces_toy.png") as fake,
    ):
        assert real.size == fake.size
    assert "faces: the data" in (rep / "report.html").read_text()

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
    # the citable header: the command and config file the workflow recorded when it started
    record = json.loads((repo / "results/tiny/invocation.json").read_text())
    assert record["command"].startswith("python -m snakemake --cores 2 --configfile toy.yaml")
    assert record["config_files"][0].endswith("toy.yaml")
    assert "--configfile toy.yaml" in html and "pixbench 0.1.0, commit" in html
    assert (rep / "claims.csv").is_file()  # the claims' evidence beside the report
    # the config the run resolved (toy.yaml over the defaults): what the pre-flight check and the
    # report read, and what "Render again" names
    resolved = yaml.safe_load((repo / "results/tiny/config.yaml").read_text())
    assert set(resolved["models"]) == {"pixelfolder", "toy"} and resolved["train"]["kimg"] == 0.064
    assert "--config results/tiny/config.yaml" in html

    # the toy metric: computed and written by the quality rule, tabled and plotted by the report
    toy_keys = [k for k in metrics["summary"] if k.startswith("meangap")]
    assert toy_keys and all(metrics["summary"][k] >= 0 for k in toy_keys)
    assert set(toy_keys) <= set(qual.columns)
    assert toy_keys[0] in (rep / "quality.md").read_text()
    assert "meangap (proxy features)" in (rep / "plots" / "quality_metrics.svg").read_text()

    # changing report code does not retrain: only the report is out of date
    render = repo / "reports" / "render.py"
    render.write_text(render.read_text() + "\n# touched\n")
    plan = run([*SNAKEMAKE, "-n", "--cores", "2", "--configfile", "toy.yaml"], cwd=repo)
    assert (
        plan.returncode == 0
        and "train" not in plan.stdout.split("Job stats")[-1].split("Reasons")[0]
    )

    # the toy measure: run by every profile job, written to the profile, tabled by the report
    for prof in ("toy_32", "pixelfolder_32", "../profile_variant/faces_toy"):
        p = json.loads((repo / "results/tiny/profile" / f"{prof}.json").read_text())
        assert p["measures"][-1] == "weight_mib", prof
        assert p["weight_mib"] == pytest.approx(p["params"] * 4 / 2**20), prof
    assert "weight_mib" in eff and (eff["weight_mib"] > 0).all()
    assert eff.set_index("model")["weight_mib"]["toy"] == pytest.approx(
        eff.set_index("model")["params"]["toy"] * 4 / 2**20
    )
    assert "weight_mib" in pd.read_csv(rep / "scaling.csv")
    label = "Weights, fp32 (MiB) ↓"  # its declared label, unit and direction
    assert label in html and label in (rep / "efficiency.md").read_text()
    assert "Weights, fp32" not in (rep / "plots" / "scaling.svg").read_text()  # not plot=True
