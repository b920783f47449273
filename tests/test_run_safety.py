"""A run folder is never shared, never left half-made, and a stop loses nothing: one training
process per --out (a second one is one line, exit 2), SIGTERM (what Slurm and Kubernetes send)
ends training on a fresh snapshot with one line and exit 143, a resumed run's log has every step
once, a failed start leaves no folder, and data.prepare removes what a killed run left. A full
disk while checkpointing names the path, and a stopped or failed render keeps the old report
whole. What a run is given that it cannot use is refused in test_run_inputs.py."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import ROOT, train_process

pytestmark = pytest.mark.usefixtures("one_thread_module")  # tests/conftest.py


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.1)


def test_one_process_per_folder_and_sigterm_snapshots(dataset, tmp_path):
    out = tmp_path / "run"
    first = train_process(dataset, out, "--kimg", "100")  # far more than it will get to do
    _wait_for(out / "log.csv", first)  # started, and past its first steps

    second = train_process(dataset, out, "--kimg", "1")
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
    resumed = train_process(
        dataset, out, "--kimg", str((stopped_at + 2) * 4 / 1000), "--resume", "auto"
    )
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    log = pd.read_csv(out / "log.csv")
    assert log.step.is_unique and log.step.max() == stopped_at + 2
    assert list(log.step) == sorted(log.step)


def test_a_failed_start_leaves_no_folder(dataset, tmp_path):
    out = tmp_path / "new"
    proc = train_process(dataset, out, "--kimg", "1", "--resume", str(tmp_path / "missing.pt"))
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
    from tests.report_results import build_results, yaml_config

    results, _ = build_results(tmp_path / "results")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(json.dumps(yaml_config()))  # JSON is YAML
    out = tmp_path / "reports" / "synthetic"
    argv = ["--results", str(results), "--out", str(out), "--config", str(cfg)]
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
