"""`train.speed_variant: auto` (training.speed_variant): the fastest variant a profile's grid
judged fast and faithful on this device, applied to the training section, recorded in run.json
and the report's run box, kept on resume; and the one-line refusals around it.

The grids here are written by the test in the profile's layout, so each verdict can be chosen;
tests/test_speed_variants.py feeds a real grid to the same `pick`."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
import yaml

from common import settings
from common.cli import run
from common.provenance import device_info
from reports import header
from tests.helpers import NARROW, tensors_equal, train_run
from tests.test_workflow import ROOT, SNAKEMAKE
from tests.test_workflow import run as run_cmd
from training import speed_variant
from training.checkpoint import load_checkpoint
from training.errors import TrainingError
from training.train import main

pytestmark = pytest.mark.usefixtures("one_thread_module")  # tests/conftest.py

RUN = dict(kimg=0.008, batch=4, grid=2, device="cpu", build=NARROW, progress=False)
FAITHFUL = speed_variant.FAITHFUL


def row(variant, speedup, verdict, lo=None):
    lo = speedup * 0.95 if lo is None else lo
    ci = [lo, speedup * 1.05]
    return {"variant": variant, "speedup": speedup, "speedup_ci95": ci, "verdict": verdict}


def write_grid(path, rows, model="stylegan2", info=None):
    """A profile JSON with a `variants` section as the profiler writes it (the fields pick reads)."""
    eager = {"variant": "eager", "speedup": 1.0, "verdict": "baseline"}
    section = {"resolution": 32, "batch": 1, "device_info": info or device_info("cpu")}
    path.write_text(json.dumps({"model": model, "variants": {**section, "rows": [eager, *rows]}}))
    return path


def test_pick_takes_the_fastest_faithful_variant_that_training_has(tmp_path):
    grid = write_grid(
        tmp_path / "p.json",
        [
            row("channels_last", 1.3, FAITHFUL),
            row("compile", 1.6, FAITHFUL),
            row("bf16", 2.5, "fast but changes the output beyond 1.0e-02 (max |Δ| ÷ max |y|)"),
            row("cuda_graphs", 3.0, FAITHFUL),  # no training counterpart
        ],
    )
    choice = speed_variant.pick(grid, "stylegan2", torch.device("cpu"))
    assert choice["variant"] == "compile" and choice["speedup"] == 1.6
    assert choice["grid_sha256"] and choice["grid_at"] == "32 px, batch 1"
    cfg, again = speed_variant.resolve(
        settings.Train(speed_variant="auto"), grid, "stylegan2", "cpu", None
    )
    assert cfg.compile == "inductor" and cfg.precision == "fp32" and again == choice
    line = speed_variant.summary(choice)
    assert "compile, 1.60× [1.52–1.68]" in line


def test_nothing_faithful_or_another_device_trains_eager_and_says_why(tmp_path):
    cpu = torch.device("cpu")
    grid = write_grid(
        tmp_path / "p.json",
        [row("channels_last", 1.0, "no gain"), row("bf16", 1.0, "skipped: no AVX-512 BF16")],
    )
    choice = speed_variant.pick(grid, "stylegan2", cpu)
    assert choice["variant"] == "eager"
    assert "channels_last: no gain; bf16: skipped: no AVX-512 BF16" in choice["why"]
    other = {**device_info("cpu"), "device": "cuda:0", "device_name": "NVIDIA H100"}
    grid = write_grid(tmp_path / "q.json", [row("tf32", 2.0, FAITHFUL)], info=other)
    choice = speed_variant.pick(grid, "stylegan2", cpu)
    assert choice["variant"] == "eager" and "NVIDIA H100" in choice["why"]
    assert speed_variant.summary(choice).startswith("speed variant auto: eager fp32 (the grid")
    assert speed_variant.summary({"mode": "fixed"}) is None


def test_bad_grids_and_conflicting_fields_are_one_line(tmp_path, dataset, capsys):
    cpu = torch.device("cpu")
    bad = {
        "does not exist": tmp_path / "none.json",
        "is not readable JSON": tmp_path / "text.json",
        "has no speed-variant grid": tmp_path / "empty.json",
        "is the profile of cips, not of stylegan2": tmp_path / "cips.json",
    }
    bad["is not readable JSON"].write_text("{not json")
    bad["has no speed-variant grid"].write_text(json.dumps({"model": "stylegan2"}))
    write_grid(bad["is the profile of cips, not of stylegan2"], [], model="cips")
    for expected, path in bad.items():
        with pytest.raises(TrainingError, match=expected):
            speed_variant.pick(path, "stylegan2", cpu)
    base = ["--model", "stylegan2", "--data", str(dataset), "--out", str(tmp_path / "run")]
    base += ["--device", "cpu", "--kimg", "0.004", "--batch", "4", "--speed-variant", "auto"]
    cases = {
        "auto picks channels_last, compile, precision, tf32 itself, but precision=bf16 is set": [
            "--precision",
            "bf16",
        ],
        "train.speed_variant auto needs --speed-grid PATH": [],
        "does not exist": ["--speed-grid", str(bad["does not exist"])],
    }
    for expected, extra in cases.items():
        assert run(main, base + extra) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and expected in err and "\n" not in err, err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_auto_trains_exactly_as_the_chosen_fields_records_it_and_keeps_it_on_resume(
    dataset, tmp_path
):
    """auto picking channels_last is the run `channels_last: true` makes, bit for bit; run.json,
    the checkpoint and the report's run box say which variant and why; a resumed run keeps the
    checkpoint's choice though the grid now says otherwise."""
    grid = write_grid(tmp_path / "p.json", [row("channels_last", 1.4, FAITHFUL)])
    fixed = tmp_path / "fixed"
    train_run("stylegan2", dataset, fixed, channels_last=True, **RUN)
    auto = tmp_path / "auto"
    train_run("stylegan2", dataset, auto, speed_variant="auto", speed_grid=grid, **RUN)
    a, b = (load_checkpoint(d / "checkpoints" / "final.pt") for d in (fixed, auto))
    for net in ("G", "D", "G_ema"):
        tensors_equal(a[net], b[net], net)
    numerics = b["meta"]["numerics"]
    assert numerics["channels_last"] and numerics["speed_variant"]["variant"] == "channels_last"
    assert json.loads((auto / "run.json").read_text())["numerics"] == numerics
    assert a["meta"]["numerics"]["speed_variant"] == {"mode": "fixed"}
    meta = json.loads((auto / "run.json").read_text())
    lines = [
        line for line, _ in header.deviations(SimpleNamespace(train_meta={("d", "sg2"): meta}))
    ]
    assert any(line.startswith("speed variant auto: channels_last, 1.40×") for line in lines)

    write_grid(grid, [row("channels_last", 1.0, "no gain")])  # the grid changed since
    train_run(
        "stylegan2",
        dataset,
        auto,
        speed_variant="auto",
        speed_grid=grid,
        resume="auto",
        **{**RUN, "kimg": 0.016},
    )
    resumed = load_checkpoint(auto / "checkpoints" / "final.pt")["meta"]["numerics"]
    assert resumed["channels_last"] and resumed["speed_variant"]["variant"] == "channels_last"
    assert resumed["speed_variant"]["kept_from"] == "the resumed checkpoint"


def test_workflow_waits_for_the_grid_and_refuses_a_config_without_one(tmp_path):
    cfg = yaml.safe_load((ROOT / "config/default.yaml").read_text())
    cfg["train"]["speed_variant"] = "auto"
    good = tmp_path / "auto.yaml"
    good.write_text(yaml.safe_dump(cfg))
    out = run_cmd([*SNAKEMAKE, "-n", "-p", "--forceall", "--cores", "2", "--configfile", str(good)])
    assert out.returncode == 0, out.stderr[-2000:]
    at = settings.load(cfg).profile.variants_at.resolution
    commands = [line for line in out.stdout.splitlines() if "-m training.train" in line]
    assert commands and all(f"_{at}.json" in c and "--speed-grid" in c for c in commands)
    cfg["profile"]["variants"] = []
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    out = run_cmd([*SNAKEMAKE, "-n", "--cores", "1", "--configfile", str(bad)])
    lines = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert out.returncode != 0 and len(lines) == 1, lines
    assert "train.speed_variant auto needs each model's speed-variant grid" in lines[0]
