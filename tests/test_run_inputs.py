"""What a run is given that it cannot use is refused in one line before any work (exit 2, no
run folder): a damaged prepared file (named, with its fix), a file that is not a checkpoint
(never torch's weights_only=False advice), absurd config values (the dry run) and command-line
values (the same checks), a batch larger than the dataset; and statistics too weak to trust
are said and recorded in the metric card, never silently clamped."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers import ROOT, train_process

pytestmark = pytest.mark.usefixtures("one_thread_module")  # tests/conftest.py


def test_a_damaged_prepared_file_is_named_with_its_fix(dataset, tmp_path):
    """A bad CRC in a member (a damaged copy) while training: one line naming the file, the
    member and the fix, exit 2, not zipfile's traceback."""
    import zipfile

    raw = bytearray(Path(dataset).read_bytes())
    with zipfile.ZipFile(dataset) as zf:
        info = zf.getinfo("00000/img00000003.png")
    raw[info.header_offset + 30 + len(info.filename) + 20] ^= 0xFF  # inside the PNG bytes
    bad = tmp_path / "damaged.zip"
    bad.write_bytes(bytes(raw))
    proc = train_process(bad, tmp_path / "run", "--kimg", "0.064")  # one pass over all 64 images
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: prepared dataset {bad} is damaged at 00000/img00000003.png")
    assert "re-prepare it with python -m data.prepare" in last


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def test_a_file_that_is_not_a_checkpoint_says_so(dataset, tmp_path):
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
        proc = train_process(dataset, out, "--kimg", "0.008", "--resume", str(path))
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


def test_weak_statistics_are_said_and_recorded(dataset, tmp_path):
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


def _bad_config(tmp_path, mutate, name: str = "bad") -> subprocess.CompletedProcess:
    import yaml

    cfg = yaml.safe_load((ROOT / "tests/workflow/tiny.yaml").read_text())
    mutate(cfg)
    path = tmp_path / f"{name}.yaml"
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
    # two dry runs at a time: each is mostly one process importing and validating, and each
    # stops at the config check, before any planning or lock
    with ThreadPoolExecutor(2) as pool:
        results = pool.map(
            lambda case: _bad_config(tmp_path, case[1][0], name=case[0].replace(" ", "_")),
            CONFIG_CASES.items(),
        )
    for (name, (_, words)), res in zip(CONFIG_CASES.items(), results, strict=True):
        lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
        assert res.returncode != 0 and len(lines) == 1 and words in lines[0], (name, lines)


def test_absurd_command_line_values_are_one_line_exit_2(dataset, tmp_path):
    """The entry points share the config's checks, so the CLI and the config cannot disagree,
    and the message quotes the value typed."""

    def train(run: str) -> list[str]:
        # a folder per case: two cases run at once, and a folder in use is refused first
        return f"training.train --model cips --data {dataset} --out {tmp_path / run}".split()

    profile = "benchmarks.profiling --model cips --resolution 64 --no-latency".split()
    quality = f"benchmarks.quality --checkpoint {tmp_path / 'none.pt'} --data {dataset}".split()
    cases = [
        ([*train("r1"), "--build", "width=-1"], "width=-1 of cips must be a number > 0"),
        ([*train("r2"), "--hparam", "lr=-1"], "lr: -1 is less than or equal to the minimum"),
        ([*train("r3"), "--hparam", "mixing=5"], "mixing: 5 is greater than the maximum"),
        ([*profile, "--build", "width=0", "--out", str(tmp_path / "p.json")], "width=0 of cips"),
        ([*quality, "--out", str(tmp_path / "q.json"), "--truncation", "nan"], "must be a finite"),
    ]
    with ThreadPoolExecutor(2) as pool:  # two at a time: each is mostly imports
        results = pool.map(
            lambda argv: subprocess.run(
                [sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=300
            ),
            [argv for argv, _ in cases],
        )
    for (argv, words), res in zip(cases, results, strict=True):
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and words in lines[0], (argv, res.stderr)
    assert not list(tmp_path.glob("r*")) and not list(tmp_path.glob("*.json"))


def test_a_batch_larger_than_the_dataset_is_refused_before_any_work(dataset, tmp_path):
    """Issue 30 case 4: `train.batch: 100000` on a small dataset used to pass the dry run and
    train until the kernel killed it. The workflow refuses it at start (the embedded set's count
    is in the config), the training CLI once it has opened the dataset, both in one line and
    before a run folder exists."""
    res = _bad_config(tmp_path, lambda c: c["train"].update(batch=100000))
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    words = "train.batch 100000 is larger than dataset faces (2000 images at most)"
    assert res.returncode == 2 and len(lines) == 1 and words in lines[0], lines

    out = tmp_path / "run"
    proc = train_process(dataset, out, "--batch", "100000")
    _, err = proc.communicate(timeout=300)
    lines = err.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: --batch 100000 is larger than the dataset (64 images in")
    assert not out.exists()
