"""A run folder is never shared, never left half-made, and a stop loses nothing: one training
process per --out (a second one is one line, exit 2), SIGTERM (what Slurm and Kubernetes send)
ends training on a fresh snapshot with one line and exit 143, a resumed run's log has every step
once, a failed start leaves no folder, and data.prepare removes what a killed run left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from tests.test_training import ROOT, TINY_CLI, dataset, one_thread  # noqa: F401 (fixtures)


def _train(data, out, *extra) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "training.train",
        "--model",
        "stylegan2",
        "--data",
        str(data),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--batch",
        "4",
        "--threads",
        "1",
        "--log-every",
        "1",
        *TINY_CLI,
        *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.1)


def test_one_process_per_folder_and_sigterm_snapshots(dataset, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    first = _train(dataset, out, "--kimg", "100")  # far more than it will get to do
    _wait_for(out / "log.csv", first)  # started, and past its first steps

    second = _train(dataset, out, "--kimg", "1")
    _, err = second.communicate(timeout=120)
    assert second.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"run folder {out} is in use by process {first.pid}" in lines[0]

    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: terminated (SIGTERM); stopped by SIGTERM at kimg ")
    assert "continue with --resume auto" in last
    snap = Path(last.split("snapshot ")[1].split(";")[0])
    assert snap.is_file() and snap.parent == out / "checkpoints"
    assert not list(out.rglob(".*.tmp")) and not (out / ".lock").exists()
    assert not (out / "checkpoints" / "final.pt").exists()  # not finished, so no final

    stopped_at = int(snap.stem.split("-")[1])
    resumed = _train(dataset, out, "--kimg", str((stopped_at + 2) * 4 / 1000), "--resume", "auto")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    log = pd.read_csv(out / "log.csv")
    assert log.step.is_unique and log.step.max() == stopped_at + 2
    assert list(log.step) == sorted(log.step)


def test_a_failed_start_leaves_no_folder(dataset, tmp_path):  # noqa: F811
    out = tmp_path / "new"
    proc = _train(dataset, out, "--kimg", "1", "--resume", str(tmp_path / "missing.pt"))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_prepare_sigterm_and_a_killed_runs_temp_file(tmp_path):
    out = tmp_path / "faces.zip"
    stale = tmp_path / ".faces.zip.abcd1234.tmp"  # what a SIGKILLed run leaves
    stale.write_bytes(b"partial")
    cmd = [
        sys.executable,
        "-m",
        "data.prepare",
        "--source",
        "embedded:default",
        "--resolution",
        "64",
        "--count",
        "100000",
        "--out",
        str(out),
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    end = time.monotonic() + 120
    while stale.exists():  # removed once the lock is held, before any work
        assert proc.poll() is None and time.monotonic() < end, proc.communicate()
        time.sleep(0.1)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "error: terminated (SIGTERM); no output written"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_damaged_prepared_file_is_named_with_its_fix(dataset, tmp_path):  # noqa: F811
    """A bad CRC in a member (a damaged copy) while training: one line naming the file, the
    member and the fix, exit 2, not zipfile's traceback."""
    import zipfile

    raw = bytearray(Path(dataset).read_bytes())
    with zipfile.ZipFile(dataset) as zf:
        info = zf.getinfo("00000/img00000003.png")
    raw[info.header_offset + 30 + len(info.filename) + 20] ^= 0xFF  # inside the PNG bytes
    bad = tmp_path / "damaged.zip"
    bad.write_bytes(bytes(raw))
    proc = _train(bad, tmp_path / "run", "--kimg", "0.064")  # one pass over all 64 images
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: prepared dataset {bad} is damaged at 00000/img00000003.png")
    assert "re-prepare it with python -m data.prepare" in last


def test_rerun_incomplete_cannot_delete_the_training_log():
    """Snakemake deletes an interrupted job's declared outputs before `--rerun-incomplete`; the
    training job declares only final.pt, so log.csv (which training trims to the step it
    resumes from) survives an interrupted workflow."""
    cfg = "tests/workflow/tiny.yaml"
    target = "results/tiny/train/faces/stylegan2/checkpoints/final.pt"
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        target,
        "-n",
        "--forceall",
        "--cores",
        "1",
        "--configfile",
        cfg,
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    train_job = out.stdout.split("rule train:")[1].split("\n\n")[0]
    assert "output: " + target in train_job and "log.csv" not in train_job


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def test_a_file_that_is_not_a_checkpoint_says_so(dataset, tmp_path):  # noqa: F811
    """A pickle that would run code, random bytes, and a text file given to --resume or
    --official: one line that says what the file is, never torch's weights_only=False advice,
    exit 2, and no run folder left."""
    import torch

    torch.save({"x": _Evil()}, tmp_path / "evil.pt")
    (tmp_path / "random.pt").write_bytes(bytes(range(256)) * 16)
    (tmp_path / "text.pt").write_text("hello\nworld\n")
    expect = {
        "evil": "it would run code to load (Trying to load unsupported GLOBAL posix.system",
        "random": "not a PyTorch checkpoint file (",
        "text": "not a PyTorch checkpoint file (",
    }
    for name, words in expect.items():
        path = tmp_path / f"{name}.pt"
        out = tmp_path / f"run_{name}"
        proc = _train(dataset, out, "--kimg", "0.008", "--resume", str(path))
        _, err = proc.communicate(timeout=120)
        line = err.strip().splitlines()[-1]
        assert proc.returncode == 2 and line.startswith(f"error: '{path}' is not a readable"), err
        assert words in line and "weights_only" not in line, line
        assert not out.exists()
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.quality",
            "--official",
            str(path),
            "--model",
            "cips",
            "--data",
            str(dataset),
            "--out",
            str(tmp_path / "q.json"),
            "--extractor",
            "proxy",
        ]
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and words in lines[0], res.stderr
        assert "weights_only" not in lines[0]


def test_weak_statistics_are_said_and_recorded(dataset, tmp_path):  # noqa: F811
    """A --num-real the dataset cannot give, and FID on far fewer images than fid50k: a warning
    line each on the terminal and in the metric card, never a silent clamp."""
    import json

    import models
    from training.checkpoint import save_checkpoint

    G = models.build("stylegan2", resolution=32, width=0.0625, z_dim=32, n_mlp=2)
    meta = {"model": "stylegan2", "resolution": 32, "overrides": G.build_kwargs, "kimg": 0}
    meta["build_kwargs"] = G.build_kwargs
    ckpt = save_checkpoint(tmp_path / "g.pt", {"meta": meta, "G_ema": G.state_dict()})
    out = tmp_path / "q.json"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.quality",
        "--checkpoint",
        str(ckpt),
        "--data",
        str(dataset),
        "--out",
        str(out),
        "--extractor",
        "proxy",
        "--metrics",
        "fid",
        "--modes",
        "clean",
        "--num-real",
        "100000",
        "--num-gen",
        "16",
        "--seeds",
        "0",
        "--device",
        "cpu",
        "--quiet",
    ]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    card = json.loads(out.read_text())["card"]
    clamp, small = card["sample_warnings"]
    assert clamp == "num_real 100000 asked for, but the dataset has 64 images: 64 real images used"
    assert small.startswith("fid: 64 real and 16 generated images per seed, fewer than the 50,000")
    assert clamp in res.stderr and small in res.stderr


def _bad_config(tmp_path, mutate) -> subprocess.CompletedProcess:
    import yaml

    cfg = yaml.safe_load((ROOT / "tests/workflow/tiny.yaml").read_text())
    mutate(cfg)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(path)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


CONFIG_CASES = {
    "kimg nan": (lambda c: c["train"].update(kimg=float("nan")), "train.kimg: must be a finite"),
    "kimg inf": (lambda c: c["train"].update(kimg=float("inf")), "train.kimg: must be a finite"),
    "snap_kimg nan": (lambda c: c["train"].update(snap_kimg=float("nan")), "train.snap_kimg"),
    "lr < 0": (
        lambda c: c["train"].update(hparams={"lr": -1}),
        "lr: -1 is less than or equal to the minimum of 0",
    ),
    "truncation nan": (lambda c: c["quality"].update(truncation=float("nan")), "truncation"),
    "width < 0": (
        lambda c: c["models"]["cips"]["build"].update(width=-1),
        "models.cips.build: build override width=-1 of cips must be a number > 0",
    ),
    "misspelled build key": (
        lambda c: c["models"]["cips"]["build"].update(widht=0.5),
        "build override 'widht' is not accepted by cips",
    ),
    "mixing > 1": (
        lambda c: c["models"]["cips"].update(hparams={"mixing": 5}),
        "mixing: 5 is greater than the maximum of 1",
    ),
}


def test_absurd_config_values_fail_the_dry_run_in_one_line(tmp_path):
    for name, (mutate, words) in CONFIG_CASES.items():
        res = _bad_config(tmp_path, mutate)
        lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
        assert res.returncode != 0 and len(lines) == 1 and words in lines[0], (name, lines)


def test_absurd_command_line_values_are_one_line_exit_2(dataset, tmp_path):  # noqa: F811
    """The entry points share the config's checks, so the CLI and the config cannot disagree,
    and the message quotes the value typed."""
    train = f"training.train --model cips --data {dataset} --out {tmp_path / 'r'}".split()
    profile = "benchmarks.profiling --model cips --resolution 64 --no-latency".split()
    quality = f"benchmarks.quality --checkpoint {tmp_path / 'none.pt'} --data {dataset}".split()
    cases = [
        ([*train, "--build", "width=-1"], "width=-1 of cips must be a number > 0"),
        ([*train, "--hparam", "lr=-1"], "lr: -1 is less than or equal to the minimum"),
        ([*train, "--hparam", "mixing=5"], "mixing: 5 is greater than the maximum"),
        ([*profile, "--build", "width=0", "--out", str(tmp_path / "p.json")], "width=0 of cips"),
        ([*quality, "--out", str(tmp_path / "q.json"), "--truncation", "nan"], "must be a finite"),
    ]
    for argv, words in cases:
        res = subprocess.run(
            [sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and words in lines[0], (argv, res.stderr)
    assert not (tmp_path / "r").exists() and not list(tmp_path.glob("*.json"))


def test_a_full_disk_while_checkpointing_names_the_path(tmp_path, monkeypatch):
    """torch's writer reports a full disk as `[enforce fail at inline_container.cc] unexpected
    pos`; the checkpoint writer turns it into ENOSPC naming the folder and the space needed."""
    import errno
    import shutil as sh

    import pytest
    import torch

    from training import checkpoint

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda p: sh._ntuple_diskusage(1, 1, 0))
    with pytest.raises(OSError) as info:
        checkpoint.save_checkpoint(tmp_path / "ckpt-1.pt", {"w": torch.zeros(1000)})
    assert info.value.errno == errno.ENOSPC
    assert str(info.value.strerror).startswith(f"no space left on {tmp_path} for checkpoint")
    assert list(tmp_path.iterdir()) == []  # nor a temp file


def _snapshot(folder: Path) -> dict:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


def test_a_stopped_or_failed_render_keeps_the_old_report_whole(tmp_path, monkeypatch):
    """Issue 30 case 3: the report folder is rendered beside and swapped in whole, so a Ctrl-C
    or a full disk part-way leaves the previous report exactly as it was (no new tables beside
    an old report.html, no temp folder), and a later render keeps the compare_* folders that
    reports/compare.py wrote into it."""
    import errno
    import json

    from reports import render as report
    from tests.test_report_render import build_results, yaml_config

    results, _ = build_results(tmp_path / "results")
    cfg = json.dumps(yaml_config())
    out = tmp_path / "reports" / "synthetic"
    argv = ["--results", str(results), "--out", str(out), "--config-json", cfg]
    assert report.main(argv) == 0
    for table in out.rglob("*.csv"):  # an older report: a re-render would change every table
        table.write_text(table.read_text() + "# from an older run\n")
    (out / "compare_old").mkdir()
    (out / "compare_old" / "compare.html").write_text("kept")
    before = _snapshot(out)
    real_figures = report.figures.make_figures

    for stop, code in ((KeyboardInterrupt(), 130), (OSError(errno.ENOSPC, "No space"), 1)):

        def fail_after_tables(*args, stop=stop):
            raise stop  # the tables are written by now

        monkeypatch.setattr(report.figures, "make_figures", fail_after_tables)
        assert report.run(report.main, argv) == code
        assert _snapshot(out) == before
        assert sorted(p.name for p in out.parent.iterdir()) == ["synthetic"]  # no temp folder

    monkeypatch.setattr(report.figures, "make_figures", real_figures)
    assert report.main(argv) == 0
    assert (out / "compare_old" / "compare.html").read_text() == "kept"
    assert (out / "report.html").is_file()


def test_a_batch_larger_than_the_dataset_is_refused_before_any_work(dataset, tmp_path):  # noqa: F811
    """Issue 30 case 4: `train.batch: 100000` on a small dataset used to pass the dry run and
    train until the kernel killed it. The workflow refuses it at start (the embedded set's count
    is in the config), the training CLI once it has opened the dataset, both in one line and
    before a run folder exists."""
    res = _bad_config(tmp_path, lambda c: c["train"].update(batch=100000))
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    words = "train.batch 100000 is larger than dataset faces (2000 images at most)"
    assert res.returncode == 2 and len(lines) == 1 and words in lines[0], lines

    out = tmp_path / "run"
    proc = _train(dataset, out, "--batch", "100000")
    _, err = proc.communicate(timeout=300)
    lines = err.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: --batch 100000 is larger than the dataset (64 images in")
    assert not out.exists()
