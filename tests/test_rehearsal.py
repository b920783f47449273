"""The paper path rehearsed end to end, in miniature, on CPU: config/paper.yaml with only its sizes
shrunk runs through the same workflow, rules and code as a GPU user's first real run.

What it proves: a folder of images larger than 256 px and an LSUN-style LMDB export are both
prepared at 256 px; training goes through the paper's launcher (torchrun, 2 processes, gloo on
CPU) with the global batch split across them; the `inception` extractor path loads NVIDIA's file
names from the weights folder and checks their `.sha256` pins, and computes FID/KID in both
protocols, precision/recall and density/coverage; the claims table judges the two FID rows from
the run's own metrics, labelled as a rehearsal; the report renders every section.

What it cannot prove: anything about real weights (the networks are TorchScript stand-ins with
NVIDIA's call convention), real data, GPUs or NCCL, or the numbers of a real run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from tests.helpers import ROOT, copy_repo, write_standin_weights

lmdb = pytest.importorskip("lmdb", reason="the lmdb package is in requirements.txt")

pytestmark = pytest.mark.slow
NUM_IMAGES = 24


def _faces(n: int, size: tuple[int, int], seed: int) -> list[Image.Image]:
    """Images larger than 256 px, not square (so the centre crop runs), with some structure."""
    from data.embedded import generate

    small = generate("default", count=n, resolution=64, seed=seed)
    return [Image.fromarray(a).resize(size, Image.Resampling.BICUBIC) for a in small]


def make_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    for i, img in enumerate(_faces(NUM_IMAGES, (320, 288), seed=1)):
        img.save(path / f"{i:05d}.png")
    return path


def make_lmdb(path: Path) -> Path:
    """LSUN's export layout: one LMDB folder, keys are ids, values are encoded (webp) images."""
    import io

    env = lmdb.open(str(path), map_size=1 << 28)
    with env.begin(write=True) as txn:
        for i, img in enumerate(_faces(NUM_IMAGES, (300, 280), seed=2)):
            buf = io.BytesIO()
            img.save(buf, format="webp", quality=90)
            txn.put(f"{i:040x}".encode(), buf.getvalue())
    env.close()
    return path


def rehearsal_config(repo: Path) -> dict:
    """config/paper.yaml with only sizes changed: data, widths, steps, sample counts, CPU, and
    its models list cut to PixelFolder (the model of the FID claims; every model runs through
    the same rules, and the tiny workflow test covers the others)."""
    cfg = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    cfg.update(run="rehearsal", device="cpu", rehearsal=True)
    sources = {
        "ffhq": make_folder(repo / "data_in/ffhq"),
        "church": make_lmdb(repo / "data_in/church"),
    }
    for name, ds in cfg["datasets"].items():
        ds.update(source=str(sources[name]), max_images=NUM_IMAGES)
    narrow = {"width": 0.0625, "z_dim": 32, "n_mlp": 2}
    cfg["models"] = {"pixelfolder": {"build": narrow}}
    cfg["train"].update(kimg=0.016, batch=8, snap_kimg=0.016, gpus=2, threads=1)
    cfg["profile"] = {
        "resolutions": [256],
        "latency": [{"resolution": 256, "batch_sizes": [1]}],
        "latency_warmup": 0,
        "latency_repeats": 1,
        # one timed forward: a claim row would otherwise repeat for up to claim_max_time
        "latency_max_time": 0.0,
        "claim_max_time": 0.0,
    }
    cfg["quality"].update(
        num_gen=16,
        num_real=NUM_IMAGES,
        curve_num_gen=8,
        seeds=[0],
        kid_subset_size=8,
        kid_subsets=4,
    )
    return cfg


def test_paper_config_rehearsed_end_to_end(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    write_standin_weights(repo / "resources/weights", pin=True)
    (repo / "rehearsal.yaml").write_text(yaml.safe_dump(rehearsal_config(repo)))
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "rehearsal.yaml"]
    out = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-4000:]
    results = repo / "results/rehearsal"

    for name in ("ffhq", "church"):  # both sources prepared at 256 px
        from data.dataset import read_recipe

        recipe = read_recipe(results / f"data/{name}.zip")
        assert recipe["resolution"] == 256 and recipe["num_images"] == NUM_IMAGES

    meta = json.loads((results / "train/ffhq/pixelfolder/run.json").read_text())
    assert meta["world_size"] == 2 and meta["batch"] == 8  # the global batch, split over 2 ranks

    q = json.loads((results / "metrics/church_pixelfolder.json").read_text())
    assert {
        "fid_clean",
        "fid_legacy_tensorflow",
        "kid_clean",
        "kid_legacy_tensorflow",
        "precision",
        "recall",
        "density",
        "coverage",
    } <= set(q["summary"])
    assert q["card"]["nets"]["inception"]["sha256"] and q["card"]["extractor"] == "inception"

    claims = pd.read_csv(results / "claims.csv").set_index("claim")
    for claim in (
        "PixelFolder reaches FID 3.77 on FFHQ-256",
        "PixelFolder reaches FID 2.45 on LSUN Church-256",
    ):
        row = claims.loc[claim]
        assert row.verdict != "not measured" and row.explanation.startswith("REHEARSAL")
        assert np.isfinite(row.measured_value)

    html = (repo / "reports/rehearsal/report.html").read_text()
    for section in (
        "Paper claims vs measured",
        "Efficiency",
        "Latency",
        "Quality",
        "Training",
        "Stage-by-stage",
        "Provenance",
    ):
        assert section in html, section
    assert "REHEARSAL" in html
