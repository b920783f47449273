"""Bad places and files, tried as a new user would on a fresh clone (issue 27, cases 10-13): a file
where the run's folders go, the Snakefile run from another working directory, a resumed
checkpoint whose tensors do not fit, and a read-only clone. Each is one line and exit 2, or works;
none is a traceback. The workflow cases use dry runs and one data job of the tiny config."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common.cli import run
from tests.helpers import ROOT, TINY_CLI, copy_repo
from training.checkpoint import load_checkpoint
from training.train import main as train_main

pytestmark = pytest.mark.usefixtures("one_thread_module")  # tests/conftest.py

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--cores", "1"]
TINY = "tests/workflow/tiny.yaml"


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("bad_paths") / "repo")


def _snakemake(cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def _one_error_line(out: subprocess.CompletedProcess) -> str:
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr[-3000:]
    return lines[0]


@pytest.mark.slow
def test_a_file_where_the_results_folder_goes_is_one_line(clone):
    """Case 10: `results/` or `results/<run>` a file died with `[Errno 20] Not a directory:
    'results/mini/logs'` from the pre-flight handler's mkdir."""
    for blocker in ("results", "results/tiny"):
        path = clone / blocker
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not a folder\n")
        try:
            line = _one_error_line(_snakemake(clone, "-n", "--configfile", TINY))
            assert f"'{blocker}' is a file where the run needs a folder" in line, line
        finally:
            path.unlink()
    shutil.rmtree(clone / "results", ignore_errors=True)


@pytest.mark.slow
def test_the_snakefile_runs_from_another_working_directory(clone, tmp_path):
    """Case 11: `snakemake -s <clone>/Snakefile --directory <elsewhere>` failed in the pre-flight
    with `No module named 'workflow'`, and without --configfile the default config was looked
    up in the working directory. Now the project's packages and its default config come from
    the Snakefile's folder, and results go to the working directory."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    snakefile = str(clone / "Snakefile")
    target = "results/tiny/data/faces.zip"
    out = _snakemake(
        tmp_path, "-s", snakefile, "--directory", str(elsewhere), target,
        "--configfile", str(clone / TINY),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert (elsewhere / target).is_file() and (elsewhere / "results/tiny/preflight.json").is_file()
    assert not (clone / "results").exists()
    out = _snakemake(tmp_path, "-s", snakefile, "--directory", str(elsewhere), "-n")
    assert out.returncode == 0, out.stderr[-3000:]  # config/default.yaml beside the Snakefile


def _can_mount_read_only(folder: Path) -> bool:
    probe = f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder}"
    cmd = ["unshare", "-m", "sh", "-c", probe]
    try:
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.slow
def test_a_read_only_clone_says_so_in_one_line(clone):
    """Case 13: a read-only clone died with Snakemake's own `OSError: Read-only file system:
    '.snakemake'` traceback. The clone is made read-only by a private read-only bind mount (the
    only way root, which ignores file modes, meets a read-only tree)."""
    if shutil.which("unshare") is None or not _can_mount_read_only(clone):
        pytest.skip(
            "needs unshare and mount (root with CAP_SYS_ADMIN) to mount the clone read-only"
        )
    inner = (
        f"mount --bind {clone} {clone} && mount -o remount,ro,bind {clone} && cd {clone} && "
        f"exec {sys.executable} -m snakemake --cores 1 -n --configfile {TINY}"
    )
    out = subprocess.run(
        ["unshare", "-m", "sh", "-c", inner], capture_output=True, text=True, timeout=600
    )
    line = _one_error_line(out)
    assert f"the working directory '{clone}' is not writable" in line and "--directory" in line


def test_resuming_a_checkpoint_whose_tensors_do_not_fit_is_one_line(dataset, tmp_path, capsys):
    """Case 12: `--resume` of a checkpoint with wrongly shaped tensors ended in a traceback and
    "a bug in pixbench"; quality, stages and nearest already said it in one line."""
    base = ["--model", "stylegan2", "--data", str(dataset), "--kimg", "0.004", "--batch", "4"]
    base += ["--device", "cpu", *TINY_CLI]
    assert run(train_main, [*base, "--out", str(tmp_path / "first")]) == 0
    capsys.readouterr()
    state = load_checkpoint(tmp_path / "first/checkpoints/final.pt")
    name, tensor = next((k, v) for k, v in state["G"].items() if v.ndim >= 2)
    state["G"][name] = torch.zeros(tensor.shape[0] + 1, *tensor.shape[1:])
    bad = tmp_path / "wrong_shapes.pt"
    torch.save(state, bad)
    assert run(train_main, [*base, "--out", str(tmp_path / "again"), "--resume", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"error: cannot resume from '{bad}'"), err
    assert f"size mismatch for {name}" in err and "bug" not in err, err


def test_a_prepare_that_loses_the_lock_leaves_the_winners_log_alone(tmp_path):
    """Issue 30 case 6: two `snakemake --nolock` runs of one prepare job; the loser's lock error
    used to overwrite the winner's job log (the shell's `> log` truncated it before the lock was
    tried). The workflow now passes --log, opened only once the lock is held: here the test
    holds the lock as the winner would, and the loser says why on stderr, exit 2, log intact."""
    from common.io import exclusive, short

    out = tmp_path / "faces.zip"
    log = tmp_path / "prepare_faces.log"
    log.write_text("the winner's progress\n")
    argv = ["--source", "embedded:default", "--resolution", "16", "--count", "4"]
    cmd = [sys.executable, "-m", "data.prepare", *argv, "--out", str(out), "--log", str(log)]
    with exclusive(out.with_name(f".{short(out.name)}.lock"), "the test's winner"):
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "is in use by process" in res.stderr, res.stderr
    assert log.read_text() == "the winner's progress\n"
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "" and done.stdout == "", done.stderr
    assert "preparing embedded source" in log.read_text() and out.is_file()
