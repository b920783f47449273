"""`python -m benchmarks.quality` end to end on a real (tiny, untrained) StyleGAN2 training
checkpoint and a prepared dataset (the session's `real_run`, tests/conftest.py): the result
JSON and metric card, cache hits on a re-run, bad input as one line and exit 2, release-style
checkpoints, no cache folder unless asked, flags generated from settings.Quality and validated
once; and a bug in model code is kept apart from bad input (exit 1, its traceback kept)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import quality as Q
from benchmarks.quality import registry
from benchmarks.quality.cli import build_parser
from benchmarks.quality.cli import main as quality_main
from benchmarks.quality.errors import QualityError
from benchmarks.quality.planning import curve_quality
from benchmarks.quality.weights import WEIGHT_URLS
from common import settings
from common.sections import from_args, to_argv, workflow_only
from tests.helpers import TinyGenerator, quality_cli

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_cli_end_to_end_with_training_checkpoint(real_run, capsys):
    from data.dataset import PreparedDataset

    root, data, ckpt = real_run
    out = root / "metrics" / "result.json"
    args = [
        "--checkpoint", ckpt, "--data", data, "--metrics", "fid,kid,pr,dc", "--num-gen", 32,
        "--num-real", 40, "--seeds", "0,1", "--extractor", "proxy", "--batch", 16,
        "--kid-subsets", 5, "--cache-dir", root / "cache", "--no-download", "--quiet", "--out", out,
    ]  # fmt: skip
    code, io = quality_cli(args, capsys)
    assert code == 0, io.err
    res = json.loads(out.read_text())
    card = res["card"]
    assert res["schema"] == Q.SCHEMA
    assert set(res["metrics"]) == {
        "fd_proxy", "kd_proxy", "precision_proxy", "recall_proxy", "density_proxy", "coverage_proxy",
    }  # fmt: skip
    fd = res["metrics"]["fd_proxy"]["clean"]
    assert len(fd["per_seed"]) == 2 and fd["std"] is not None and fd["mean"] > 0
    assert set(res["metrics"]["fd_proxy"]) == {"clean", "legacy_tensorflow"}
    assert card["num_real"] == 40 and card["num_gen"] == 32 and card["seeds"] == [0, 1]
    assert card["metrics"]["pr"]["k"] == 3 and card["metrics"]["dc"]["k_dc"] == 3
    assert card["metrics"]["fid"]["keys"] == ["fd_proxy_clean", "fd_proxy_legacy_tensorflow"]
    assert card["weights"] == "G_ema" and card["noise_mode"] == "const"
    assert card["dataset"]["sha256"] == PreparedDataset(data).file_sha256
    assert card["dataset"]["recipe"]["resolution"] == 32
    assert set(card["versions"]) >= {"torch", "clean-fid", "numpy", "scipy"}
    assert card["device"]["device"] == "cpu" and card["wall_time_s"] > 0
    assert res["generator"]["model"] == "stylegan2" and len(res["generator"]["sha256"]) == 64
    assert not list(out.parent.glob(".*tmp"))  # atomic write left nothing behind

    out2 = root / "metrics" / "again.json"
    code, io = quality_cli([*args[:-1], out2], capsys)
    assert code == 0, io.err
    res2 = json.loads(out2.read_text())
    assert res2["card"]["cache"]["misses"] == 0 and res2["metrics"] == res["metrics"]


def test_cli_bad_inputs_exit_2_without_output(real_run, tmp_path, capsys):
    _, data, ckpt = real_run
    out = tmp_path / "never.json"
    base = ["--data", data, "--extractor", "proxy", "--num-gen", 8, "--out", out, "--no-download"]
    cases = [
        (["--checkpoint", tmp_path / "nope.pt", *base], "nope.pt does not exist"),
        (["--checkpoint", ckpt, *base, "--metrics", "fid,is"], "unknown metric"),
        (["--checkpoint", ckpt, *base, "--num-gen", 1], "--num-gen: 1 is less than the minimum"),
        (["--checkpoint", ckpt, *base, "--data", tmp_path / "missing.zip"], "does not exist"),
        (["--checkpoint", ckpt, *base, "--seeds", "a,b"], "--seeds: expected a comma list of int"),
        (["--checkpoint", ckpt, *base, "--seeds", "0,0"], "distinct"),
        (["--checkpoint", ckpt, *base, "--num-gen", "x"], "--num-gen: expected int, got 'x'"),
        (["--official", ckpt, *base], "--official needs --model"),
    ]
    for argv, needle in cases:
        code, io = quality_cli(argv, capsys)
        assert code == 2, argv
        assert needle in io.err and io.err.count("\n") == 1, io.err
        assert not out.exists()


def test_cli_corrupt_inception_weights(real_run, tmp_path, capsys):
    _, data, ckpt = real_run
    (tmp_path / "inception-2015-12-05.pt").write_bytes(b"\x00garbage" * 1000)
    out = tmp_path / "never.json"
    argv = ["--checkpoint", ckpt, "--data", data, "--metrics", "fid", "--num-gen", 8,
            "--weights-dir", tmp_path, "--no-download", "--out", out]  # fmt: skip
    code, io = quality_cli(argv, capsys)
    assert code == 2 and "corrupt or truncated" in io.err and io.err.count("\n") == 1
    assert not out.exists()


def test_cli_official_checkpoint(real_run, tmp_path, capsys):
    """--official: a release-style file ({'g_ema': state_dict}) at the dataset's resolution."""
    models = pytest.importorskip("models")
    _, data, _ = real_run
    official = tmp_path / "official.pt"
    torch.save({"g_ema": models.build("stylegan2", resolution=32).state_dict()}, official)
    out = tmp_path / "official.json"
    argv = ["--official", official, "--model", "stylegan2", "--data", data, "--metrics", "fid",
            "--modes", "legacy_tensorflow", "--num-gen", 8, "--num-real", 16, "--batch", 8,
            "--extractor", "proxy", "--no-cache", "--quiet", "--out", out]  # fmt: skip
    code, io = quality_cli(argv, capsys)
    assert code == 0, io.err
    res = json.loads(out.read_text())
    assert res["generator"]["source"] == "official" and res["generator"]["resolution"] == 32
    assert res["card"]["weights"] == "official release"
    assert res["metrics"]["fd_proxy"]["legacy_tensorflow"]["mean"] > 0


def test_cli_missing_weights_subprocess(tmp_path):
    """The real `python -m benchmarks.quality` entry point: one line, path + URL, exit 2."""
    (tmp_path / "data.zip").write_bytes(b"")
    (tmp_path / "ckpt.pt").write_bytes(b"")
    out = tmp_path / "never.json"
    cmd = [
        sys.executable, "-m", "benchmarks.quality", "--checkpoint", tmp_path / "ckpt.pt",
        "--data", tmp_path / "data.zip", "--metrics", "fid,pr", "--num-gen", "8",
        "--extractor", "inception", "--weights-dir", tmp_path / "w", "--no-download", "--out", out,
    ]  # fmt: skip
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert "\n" not in err
    assert str(tmp_path / "w" / "vgg16.pt") in err  # Inception falls back to the bundled file
    assert WEIGHT_URLS["vgg16.pt"] in err
    assert not out.exists()


def test_cli_defaults_and_help_come_from_settings():
    """The flags are generated from settings.Quality (common.sections): unset, each is its one
    default there; the curve_* fields belong to the workflow and are no flags."""
    args = build_parser().parse_args(["--checkpoint", "c", "--data", "d", "--out", "o"])
    assert from_args(settings.Quality, args) == settings.Quality()
    text = build_parser().format_help()
    assert settings.help_of(settings.Quality, "pr_block") in text
    assert "--num-gen" in text and "--curve-metric" not in text


@pytest.mark.parametrize("config", ["config/default.yaml", "config/paper.yaml"])
def test_a_section_passed_whole_reaches_the_cli_unchanged(config):
    """What the workflow's rules pass (to_argv of the section and of its curve variant) is read
    back by the CLI as the very same typed section."""
    q = settings.load(ROOT / config).quality
    for section in (q, curve_quality(q)):
        argv = ["--checkpoint", "c", "--data", "d", "--out", "o"]
        args = build_parser().parse_args([*argv, *to_argv(section)])
        back = from_args(settings.Quality, args)
        fixed = {
            f: settings.defaults(settings.Quality)[f] for f in workflow_only(settings.Quality)
        }  # not flags
        assert back == dataclasses.replace(section, **fixed)


def test_no_feature_cache_unless_asked(real_run, tmp_path, monkeypatch, capsys):
    """By hand there is no default cache folder (a second one beside the workflow's
    results/<run>/cache would never be shared); --cache-dir names one."""
    _, data, ckpt = real_run
    monkeypatch.chdir(tmp_path)
    assert build_parser().get_default("cache_dir") is None
    argv = [
        "--checkpoint",
        ckpt,
        "--data",
        data,
        "--metrics",
        "fid",
        "--modes",
        "clean",
        "--num-gen",
        8,
        "--num-real",
        16,
        "--batch",
        8,
        "--extractor",
        "proxy",
        "--quiet",
        "--out",
        tmp_path / "r.json",
    ]
    code, io = quality_cli(argv, capsys)
    assert code == 0, io.err
    assert json.loads((tmp_path / "r.json").read_text())["card"]["cache"]["dir"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # no results/cache made
    code, io = quality_cli([*argv, "--cache-dir", tmp_path / "c"], capsys)
    assert code == 0 and list((tmp_path / "c" / "features").glob("*.npy")), io.err


def test_the_job_validates_its_options_once(real_run, tmp_path, monkeypatch, capsys):
    """A CLI job checks its section once against the schema (common.sections.from_args) and
    once against the registry (planning.plan); evaluate() takes the plan as it is."""
    _, data, ckpt = real_run
    calls = {"validate": 0, "select": 0}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(settings, "validate", counting("validate", settings.validate))
    monkeypatch.setattr(registry, "select", counting("select", registry.select))
    argv = [
        "--checkpoint",
        ckpt,
        "--data",
        data,
        "--metrics",
        "fid",
        "--modes",
        "clean",
        "--num-gen",
        8,
        "--num-real",
        16,
        "--batch",
        8,
        "--extractor",
        "proxy",
        "--no-cache",
        "--quiet",
        "--out",
        tmp_path / "once.json",
    ]
    code, io = quality_cli(argv, capsys)
    assert code == 0, io.err
    assert calls == {"validate": 1, "select": 1}


# ----------------------------------------------------------------------------- bad input vs bug


def test_a_bad_checkpoint_is_bad_input_but_a_bug_keeps_its_traceback(real_run, monkeypatch):
    import models
    import training.checkpoint

    _, _, ckpt = real_run
    junk = ckpt.parent / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(QualityError, match="cannot load G_ema from .*junk.pt"):
        Q.load_checkpoint(junk, CPU)
    with pytest.raises(QualityError, match="'nogan' is not registered"):
        Q.load_official_generator(ckpt, "nogan", None, CPU)
    with pytest.raises(QualityError, match="not defined at 48 px"):
        Q.load_official_generator(ckpt, "stylegan2", 48, CPU)

    def buggy(*args, **kwargs):
        raise TypeError("unsupported operand type(s) for +: 'Tensor' and 'NoneType'")

    monkeypatch.setattr(training.checkpoint, "load_generator", buggy)
    with pytest.raises(TypeError, match="unsupported operand"):
        Q.load_checkpoint(ckpt, CPU)
    monkeypatch.setattr(models, "load_official", buggy)
    with pytest.raises(TypeError, match="unsupported operand"):
        Q.load_official_generator(ckpt, "stylegan2", 32, CPU)


class BuggyGenerator(TinyGenerator):
    def forward(self, z, truncation_psi=1.0, noise_mode="const"):
        return z + None  # a bug in model code


def test_a_bug_in_a_model_forward_is_not_bad_input(real_run, tmp_path, monkeypatch, capsys):
    from benchmarks.quality import cli

    _, data, ckpt = real_run
    info = {"source": "checkpoint", "weights": "G_ema"}
    monkeypatch.setattr(cli, "load_checkpoint", lambda *a: (BuggyGenerator(), info, None))
    argv = [
        "--checkpoint",
        ckpt,
        "--data",
        data,
        "--metrics",
        "fid",
        "--num-gen",
        8,
        "--extractor",
        "proxy",
        "--no-cache",
        "--quiet",
        "--out",
        tmp_path / "r.json",
    ]
    code, io = quality_cli(argv, capsys)
    assert code == 1 and "TypeError" in io.err, io.err  # a failure, not "bad input" (2)
    with pytest.raises(TypeError, match="unsupported operand"):  # raised as it is, traceback kept
        quality_main([str(a) for a in argv])
