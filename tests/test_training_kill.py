"""SIGKILL a training run (`python -m training.train` in a subprocess) and resume it with
`--resume auto`: between two snapshots the run ends bit-identical to an uninterrupted one; in
the middle of a checkpoint write the previous checkpoint stays loadable and is the one picked.

The kill is injected, so it lands at the same point on a loaded machine: KILL_HOOK runs the
real entry point (training.train.main) with one function wrapped to SIGKILL its own process,
an uncatchable kill like the OOM killer's or a cluster's (no finally blocks, no atexit, no
flush). `log:N` kills right after the log row of step N is written (between snapshots);
`save:N` during the N-th checkpoint write, after half of its bytes reached the temp file.
The hook lives only here: nothing in training/ knows about it.

Bit for bit on any CPU for the reason tests/test_training.py::test_resume_is_bit_exact gives
(the exact state restored, then the same kernels in the same order); that test is among the
`numerics` ones rerun per instruction set, these add the kill mechanics, nothing numerical
(both passed under AVX-512, AVX2 and SSE4.1 dispatch; docs/numerics.md).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FAST_REG, NARROW, ROOT, tensors_equal, train_run
from training.checkpoint import latest_checkpoint, load_checkpoint

KILL_HOOK = r"""
import io, os, signal, sys
import torch
import training.loop as loop
from common.cli import run
from training.train import main

when, n = os.environ["PIXBENCH_TEST_KILL"].split(":")
n, calls = int(n), [0]
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if when == "log":
    real_log = loop.append_log
    def append_log(path, row):
        real_log(path, row)
        if int(row["step"]) == n:
            die()
    loop.append_log = append_log
else:
    real_save = torch.save
    def save(obj, f, *args, **kwargs):
        calls[0] += 1
        if calls[0] != n:
            return real_save(obj, f, *args, **kwargs)
        buf = io.BytesIO()
        real_save(obj, buf, *args, **kwargs)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        f.flush()
        os.fsync(f.fileno())
        die()
    torch.save = save
sys.exit(run(main, sys.argv[1:]))
"""
pytestmark = pytest.mark.usefixtures("one_thread_module")  # tests/conftest.py

# 6 steps of 4 images, snapshots at steps 0, 2, 4, 6 (stylegan2: path length + mixing)
RUN = dict(kimg=0.024, batch=4, snap_kimg=0.008, grid=2, log_every=1)
CLI = ["--model", "stylegan2", "--device", "cpu", "--threads", "1"]
CLI += [f"--{k.replace('_', '-')}={v}" for k, v in RUN.items()]
CLI += [f"--build={k}={v}" for k, v in NARROW.items()]
CLI += [f"--hparam={k}={v}" for k, v in FAST_REG.items()]
STATE = ("G", "D", "G_ema", "opt_G", "opt_D", "loop")


def train_cli(data, out, *extra, kill: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if kill:
        cmd = [sys.executable, "-c", KILL_HOOK]
        env["PIXBENCH_TEST_KILL"] = kill
    else:
        cmd = [sys.executable, "-m", "training.train"]
    cmd += [*CLI, "--data", str(data), "--out", str(out), *extra]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def uninterrupted(dataset, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("uninterrupted")
    train_run("stylegan2", dataset, out, device="cpu", build=NARROW, hparams=FAST_REG,
              progress=False, **RUN)  # fmt: skip
    return load_checkpoint(out / "checkpoints" / "final.pt")


def logged_steps(out: Path) -> list[int]:
    with open(out / "log.csv", newline="") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


def test_sigkill_between_snapshots_then_resume_is_bit_exact(dataset, uninterrupted, tmp_path):
    killed = train_cli(dataset, tmp_path, kill="log:3")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert latest_checkpoint(tmp_path).name == "ckpt-00000002.pt"  # step 3 was never saved
    assert logged_steps(tmp_path) == [1, 2, 3]
    assert not (tmp_path / "checkpoints" / "final.pt").exists()

    resumed = train_cli(dataset, tmp_path, "--resume", "auto")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stderr and "ckpt-00000002.pt" in resumed.stderr
    final = load_checkpoint(tmp_path / "checkpoints" / "final.pt")
    for key in STATE:
        tensors_equal(uninterrupted[key], final[key], key)
    assert logged_steps(tmp_path) == [1, 2, 3, 4, 5, 6]  # the killed run's step 3 row replaced


def test_sigkill_during_checkpoint_write_keeps_the_previous_one(dataset, uninterrupted, tmp_path):
    killed = train_cli(dataset, tmp_path, kill="save:3")  # writes: steps 0, 2, then 4 (killed)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    folder = tmp_path / "checkpoints"
    leftovers = sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
    assert len(leftovers) == 1 and leftovers[0].startswith(".ckpt-00000004.pt.")  # half-written
    assert sorted(p.name for p in folder.glob("ckpt-*.pt")) == ["ckpt-00000000.pt",
                                                                "ckpt-00000002.pt"]  # fmt: skip
    assert load_checkpoint(folder / "ckpt-00000002.pt")["meta"]["step"] == 2
    assert latest_checkpoint(tmp_path).name == "ckpt-00000002.pt"

    resumed = train_cli(dataset, tmp_path, "--resume", "auto")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stderr and "ckpt-00000002.pt" in resumed.stderr
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # the leftover removed
    final = load_checkpoint(folder / "final.pt")
    for key in STATE:
        tensors_equal(uninterrupted[key], final[key], key)
