"""`python -m benchmarks.profiling`: bad input exits 2 with one line and writes nothing, an
unwritable --out too, the profile is written atomically with the untimed measures only under
--no-latency, the flags are the config's `profile` section (settings.Profile, parsed back to the
same section), and profile() takes the typed section."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.profiling import __main__ as profiling_cli
from benchmarks.profiling import profile as efficiency
from benchmarks.profiling import registry
from common import settings
from common.cli import UsageError, run

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- bad input
BAD_ARGS = {
    "unknown model": ["--model", "nope", "--resolution", "256"],
    "not a power of two": ["--model", "stylegan2", "--resolution", "100"],
    "too large": ["--model", "stylegan2", "--resolution", "2048"],
    "too small": ["--model", "stylegan2", "--resolution", "16"],
    "not an int": ["--model", "stylegan2", "--resolution", "abc"],
    "batch zero": [
        "--model",
        "stylegan2",
        "--resolution",
        "64",
        "--latency",
        "[{resolution: 64, batch_sizes: [1, 0]}]",
    ],
    "batch text": [
        "--model",
        "stylegan2",
        "--resolution",
        "64",
        "--latency",
        "[{resolution: 64, batch_sizes: [1, x]}]",
    ],
    "batch empty": [
        "--model",
        "stylegan2",
        "--resolution",
        "64",
        "--latency",
        "[{resolution: 64, batch_sizes: []}]",
    ],
    "latency not YAML": ["--model", "stylegan2", "--resolution", "64", "--latency", "[{"],
    "repeats zero": ["--model", "stylegan2", "--resolution", "64", "--latency-repeats", "0"],
    "fvcore text": ["--model", "stylegan2", "--resolution", "64", "--fvcore-max-resolution", "x"],
    "override syntax": ["--model", "stylegan2", "--resolution", "64", "--build", "width"],
    "override key": ["--model", "stylegan2", "--resolution", "64", "--build", "bogus=1"],
}


@pytest.mark.parametrize("case", sorted(BAD_ARGS))
def test_bad_input_exits_2_without_output(case, tmp_path, capsys):
    out = tmp_path / "out.json"
    assert run(profiling_cli.main, [*BAD_ARGS[case], "--no-latency", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["folder cannot be made", "is a directory"])
def test_unwritable_out_exits_2(where, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "x.json" if where == "folder cannot be made" else tmp_path
    argv = ["--model", "stylegan2", "--resolution", "64", "--no-latency", "--out", str(out)]
    assert run(profiling_cli.main, argv) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_cli_subprocess_exit_code(tmp_path):
    out = tmp_path / "x.json"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.profiling",
        "--model",
        "nope",
        "--resolution",
        "256",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and not out.exists()
    assert (
        proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "unknown model" in proc.stderr
    )


def test_cli_writes_profile_atomically(tmp_path):
    out = tmp_path / "pf.json"
    argv = [
        "--model",
        "pixelfolder",
        "--resolution",
        "64",
        "--no-latency",
        "--latency",
        "[{resolution: 64, batch_sizes: [1]}]",
        "--out",
        str(out),
    ]
    assert run(profiling_cli.main, argv) == 0
    prof = json.loads(out.read_text())
    assert prof["model"] == "pixelfolder" and prof["macs"] > 0 and "latency" not in prof
    timed = ("latency", "blocks", "variants")  # the measures that run the model
    assert prof["measures"] == [m for m in registry.measure_names() if m not in timed]
    assert [p.name for p in tmp_path.iterdir()] == ["pf.json"]


# --------------------------------------------------------------------------- the profile section
def test_cli_flags_are_the_profile_section(tmp_path):
    """The job's knobs are the config's `profile` section, generated from settings.Profile: the
    rule's to_argv(section) parses back to the same section, and the batch sizes timed are the
    section's for this resolution only."""
    from common.sections import from_args, to_argv

    section = settings.Profile(
        latency=[settings.Latency(32, [1, 2])],
        latency_repeats=2,
        latency_warmup=0,
        latency_max_time=0.0,
        fvcore_max_resolution=16,
    )
    argv = to_argv(section)
    args = profiling_cli.parse_args([*args_of(32, argv), "--out", "x.json"])
    assert from_args(settings.Profile, args) == section
    cfg = section
    assert cfg.batch_sizes_at(32) == [1, 2] and cfg.batch_sizes_at(64) == []
    out = tmp_path / "sg.json"
    assert run(profiling_cli.main, [*args_of(32, argv), "--out", str(out)]) == 0
    prof = json.loads(out.read_text())
    assert set(prof["latency"]["by_batch"]) == {"1", "2"}
    assert set(prof["macs_by_counter"]) == {"flop_counter_mode", "ptflops_aten"}  # 32 > 16
    out64 = tmp_path / "sg64.json"
    assert run(profiling_cli.main, [*args_of(64, argv), "--out", str(out64)]) == 0
    assert "latency" not in json.loads(out64.read_text())  # not listed at 64: counted only


def args_of(resolution: int, section_argv: list[str]) -> list[str]:
    return [
        "--model",
        "stylegan2",
        "--resolution",
        str(resolution),
        "--device",
        "cpu",
        "--build",
        "width=0.0625",
        *section_argv,
    ]


def test_profile_takes_the_typed_section():
    with pytest.raises(UsageError, match="counters must include"):
        efficiency.profile("pixelfolder", 64, settings.Profile(), counters=("fvcore",))
    with pytest.raises(UsageError, match="cannot build"):
        efficiency.profile("pixelfolder", 64, settings.Profile(), {"bogus": 1})
