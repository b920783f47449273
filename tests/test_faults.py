"""Faults end in one line: every entry point (except training.train, tested with training), run as
`python -m ...` like the workflow runs it, given an output it cannot write (a path under a regular
file, or under /proc: tests run as root, where chmod does not stop writes) or an unreadable /
corrupt input, prints ONE line on stderr, exits non-zero and leaves nothing behind: no output
file, no temp file (an empty output folder the CLI made while checking is tolerated)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROC = "/proc/pixbench-fault"  # no folder can be made here, not even by root
JUNK = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # binary: not UTF-8, not JSON, not a zip
QUALITY = [
    "--extractor",
    "proxy",
    "--metrics",
    "fid",
    "--modes",
    "clean",
    "--num-gen",
    "8",
    "--num-real",
    "8",
    "--seeds",
    "0",
    "--batch",
    "4",
    "--device",
    "cpu",
    "--threads",
    "1",
    "--no-download",
    "--quiet",
]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Good and damaged inputs, shared read-only by every case."""
    import models
    from data.prepare import prepare
    from training.checkpoint import save_checkpoint

    root = tmp_path_factory.mktemp("inputs")
    m = {"root": root, "file": root / "a_regular_file"}
    m["file"].write_text("I am a regular file, not a folder\n")
    m["data"] = root / "data.zip"
    prepare("embedded:default", 32, m["data"], count=8, workers=1, progress=False)
    blob = m["data"].read_bytes()
    m["truncated_zip"] = root / "truncated.zip"
    m["truncated_zip"].write_bytes(blob[: len(blob) // 2])
    m["damaged_zip"] = root / "damaged.zip"  # readable recipe, one PNG with a bad CRC
    with zipfile.ZipFile(m["data"]) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(".png"))
    local = blob[info.header_offset : info.header_offset + 30]
    start = (
        info.header_offset
        + 30
        + int.from_bytes(local[26:28], "little")
        + int.from_bytes(local[28:30], "little")
    )
    damaged = bytearray(blob)
    damaged[start + 40] ^= 0xFF
    m["damaged_zip"].write_bytes(bytes(damaged))
    m["junk_zip"] = root / "junk.zip"
    m["junk_zip"].write_bytes(JUNK)

    build = {"width": 0.0625, "z_dim": 32, "n_mlp": 2}
    G = models.build("stylegan2", resolution=32, **build)
    meta = {
        "model": "stylegan2",
        "resolution": 32,
        "overrides": build,
        "build_kwargs": G.build_kwargs,
        "kimg": 0,
    }
    m["ckpt"] = save_checkpoint(
        root / "ckpt.pt", {"meta": meta, "G": G.state_dict(), "G_ema": G.state_dict()}
    )
    m["junk_ckpt"] = root / "junk.pt"
    m["junk_ckpt"].write_bytes(JUNK)
    m["truncated_ckpt"] = root / "truncated.pt"
    m["truncated_ckpt"].write_bytes(m["ckpt"].read_bytes()[:4096])

    m["truncated_json"] = root / "truncated.json"
    m["truncated_json"].write_text('{"schema": "pixbench.efficiency/1", "model": ')
    m["junk_json"] = root / "junk.json"
    m["junk_json"].write_bytes(JUNK)
    m["junk_yaml"] = root / "junk.yaml"
    m["junk_yaml"].write_bytes(JUNK)
    m["profiles"] = root / "profiles"  # one readable profile, so claims gets to the metrics
    m["profiles"].mkdir()
    (m["profiles"] / "pixelfolder_256.json").write_text(
        json.dumps(
            {
                "schema": "pixbench.efficiency/1",
                "model": "pixelfolder",
                "resolution": 256,
                "params": 1,
                "macs": 1,
                "macs_paper_convention": 1,
            }
        )
    )
    m["bad_metrics"] = root / "metrics"
    m["bad_metrics"].mkdir()
    (m["bad_metrics"] / "faces_pixelfolder.json").write_text('{"summary": {"fd_proxy": ')
    m["empty_results"] = root / "results_empty"  # nothing run yet: the report reads no file
    m["empty_results"].mkdir()
    m["results"] = root / "results_tiny"  # a results folder whose quality JSON is cut short
    (m["results"] / "metrics").mkdir(parents=True)
    (m["results"] / "metrics" / "faces_pixelfolder.json").write_text('{"schema": "pixbench.q')
    m["tiny"] = ROOT / "tests" / "workflow" / "tiny.yaml"
    return m


# (id, module, argv from (inputs, out folder), text the one line must contain)
CASES = [
    # data.prepare
    (
        "prepare-out-under-file",
        "data.prepare",
        lambda m, o: [
            "--source",
            "embedded:shapes",
            "--count",
            "3",
            "--resolution",
            "16",
            "--out",
            m["file"] / "sub" / "ds.zip",
            "-q",
        ],
        lambda m: m["file"],
    ),
    (
        "prepare-out-in-proc",
        "data.prepare",
        lambda m, o: [
            "--source",
            "embedded:shapes",
            "--count",
            "3",
            "--resolution",
            "16",
            "--out",
            f"{PROC}/ds.zip",
            "-q",
        ],
        lambda m: PROC,
    ),
    (
        "prepare-junk-source-zip",
        "data.prepare",
        lambda m, o: ["--source", m["junk_zip"], "--resolution", "16", "--out", o / "ds.zip", "-q"],
        lambda m: m["junk_zip"],
    ),
    (
        "prepare-truncated-source-zip",
        "data.prepare",
        lambda m, o: [
            "--source",
            m["truncated_zip"],
            "--resolution",
            "16",
            "--out",
            o / "ds.zip",
            "-q",
        ],
        lambda m: m["truncated_zip"],
    ),
    # benchmarks.profiling
    (
        "profiling-out-under-file",
        "benchmarks.profiling",
        lambda m, o: [
            "--model",
            "pixelfolder",
            "--resolution",
            "64",
            "--no-latency",
            "--out",
            m["file"] / "sub" / "p.json",
        ],
        lambda m: m["file"],
    ),
    (
        "profiling-out-in-proc",
        "benchmarks.profiling",
        lambda m, o: [
            "--model",
            "pixelfolder",
            "--resolution",
            "64",
            "--no-latency",
            "--out",
            f"{PROC}/p.json",
        ],
        lambda m: PROC,
    ),
    # benchmarks.quality
    (
        "quality-out-under-file",
        "benchmarks.quality",
        lambda m, o: [
            "--checkpoint",
            m["ckpt"],
            "--data",
            m["data"],
            *QUALITY,
            "--no-cache",
            "--out",
            m["file"] / "sub" / "q.json",
        ],
        lambda m: m["file"],
    ),
    (
        "quality-out-in-proc",
        "benchmarks.quality",
        lambda m, o: [
            "--checkpoint",
            m["ckpt"],
            "--data",
            m["data"],
            *QUALITY,
            "--no-cache",
            "--out",
            f"{PROC}/q.json",
        ],
        lambda m: PROC,
    ),
    (
        "quality-cache-under-file",
        "benchmarks.quality",
        lambda m, o: [
            "--checkpoint",
            m["ckpt"],
            "--data",
            m["data"],
            *QUALITY,
            "--cache-dir",
            m["file"] / "cache",
            "--out",
            o / "q.json",
        ],
        lambda m: m["file"],
    ),
    (
        "quality-junk-checkpoint",
        "benchmarks.quality",
        lambda m, o: [
            "--checkpoint",
            m["junk_ckpt"],
            "--data",
            m["data"],
            *QUALITY,
            "--no-cache",
            "--out",
            o / "q.json",
        ],
        lambda m: m["junk_ckpt"],
    ),
    (
        "quality-truncated-checkpoint",
        "benchmarks.quality",
        lambda m, o: [
            "--checkpoint",
            m["truncated_ckpt"],
            "--data",
            m["data"],
            *QUALITY,
            "--no-cache",
            "--out",
            o / "q.json",
        ],
        lambda m: m["truncated_ckpt"],
    ),
    (
        "quality-truncated-prepared-zip",
        "benchmarks.quality",
        lambda m, o: [
            "--checkpoint",
            m["ckpt"],
            "--data",
            m["truncated_zip"],
            *QUALITY,
            "--no-cache",
            "--out",
            o / "q.json",
        ],
        lambda m: m["truncated_zip"],
    ),
    (
        "quality-damaged-prepared-zip",
        "benchmarks.quality",
        lambda m, o: [
            "--checkpoint",
            m["ckpt"],
            "--data",
            m["damaged_zip"],
            *QUALITY,
            "--no-cache",
            "--out",
            o / "q.json",
        ],
        lambda m: m["damaged_zip"],
    ),
    # benchmarks.stages
    (
        "stages-png-under-file",
        "benchmarks.stages",
        lambda m, o: [
            "--checkpoint",
            m["ckpt"],
            "--device",
            "cpu",
            "--out",
            m["file"] / "sub" / "s.png",
            "--json",
            o / "s.json",
        ],
        lambda m: m["file"],
    ),
    (
        "stages-json-in-proc",
        "benchmarks.stages",
        lambda m, o: [
            "--checkpoint",
            m["ckpt"],
            "--device",
            "cpu",
            "--out",
            o / "s.png",
            "--json",
            f"{PROC}/s.json",
        ],
        lambda m: PROC,
    ),
    (
        "stages-junk-checkpoint",
        "benchmarks.stages",
        lambda m, o: [
            "--checkpoint",
            m["junk_ckpt"],
            "--device",
            "cpu",
            "--out",
            o / "s.png",
            "--json",
            o / "s.json",
        ],
        lambda m: m["junk_ckpt"],
    ),
    (
        "stages-truncated-checkpoint",
        "benchmarks.stages",
        lambda m, o: [
            "--checkpoint",
            m["truncated_ckpt"],
            "--device",
            "cpu",
            "--out",
            o / "s.png",
            "--json",
            o / "s.json",
        ],
        lambda m: m["truncated_ckpt"],
    ),
    # benchmarks.claims
    (
        "claims-truncated-profile",
        "benchmarks.claims",
        lambda m, o: ["--profiles", m["truncated_json"], "--out-csv", o / "c.csv"],
        lambda m: m["truncated_json"],
    ),
    (
        "claims-binary-profile",
        "benchmarks.claims",
        lambda m, o: [
            "--profiles",
            m["junk_json"],
            "--out-csv",
            o / "c.csv",
            "--out-md",
            o / "c.md",
        ],
        lambda m: m["junk_json"],
    ),
    (
        "claims-truncated-metrics",
        "benchmarks.claims",
        lambda m, o: [
            "--profiles",
            m["profiles"],
            "--metrics",
            m["bad_metrics"],
            "--out-csv",
            o / "c.csv",
        ],
        lambda m: m["bad_metrics"] / "faces_pixelfolder.json",
    ),
    (
        "claims-csv-under-file",
        "benchmarks.claims",
        lambda m, o: [
            "--profiles",
            m["profiles"],
            "--out-csv",
            m["file"] / "sub" / "c.csv",
            "--out-md",
            o / "c.md",
        ],
        lambda m: m["file"],
    ),
    (
        "claims-md-in-proc",
        "benchmarks.claims",
        lambda m, o: [
            "--profiles",
            m["profiles"],
            "--out-csv",
            o / "c.csv",
            "--out-md",
            f"{PROC}/c.md",
        ],
        lambda m: PROC,
    ),
    # benchmarks.gate
    (
        "gate-truncated-baseline",
        "benchmarks.gate",
        lambda m, o: ["--baseline", m["truncated_json"]],
        lambda m: m["truncated_json"],
    ),
    (
        "gate-binary-baseline",
        "benchmarks.gate",
        lambda m, o: ["--baseline", m["junk_json"]],
        lambda m: m["junk_json"],
    ),
    (
        "gate-update-under-file",
        "benchmarks.gate",
        lambda m, o: ["--update", "--baseline", m["file"] / "sub" / "b.json"],
        lambda m: m["file"],
    ),
    # reports.render
    (
        "render-out-under-file",
        "reports.render",
        lambda m, o: [
            "--results",
            m["empty_results"],
            "--out",
            m["file"] / "sub",
            "--config",
            m["tiny"],
        ],
        lambda m: m["file"],
    ),
    (
        "render-out-in-proc",
        "reports.render",
        lambda m, o: ["--results", m["empty_results"], "--out", PROC, "--config", m["tiny"]],
        lambda m: PROC,
    ),
    (
        "render-truncated-result",
        "reports.render",
        lambda m, o: ["--results", m["results"], "--out", o / "report", "--config", m["tiny"]],
        lambda m: m["results"] / "metrics" / "faces_pixelfolder.json",
    ),
    (
        "render-binary-config",
        "reports.render",
        lambda m, o: ["--results", m["results"], "--out", o / "report", "--config", m["junk_yaml"]],
        lambda m: m["junk_yaml"],
    ),
    # common.settings
    (
        "settings-binary-config",
        "workflow.config",
        lambda m, o: [m["junk_yaml"]],
        lambda m: m["junk_yaml"],
    ),
    (
        "settings-config-is-a-folder",
        "workflow.config",
        lambda m, o: [m["root"]],
        lambda m: m["root"],
    ),
    # workflow.preflight
    (
        "preflight-out-under-file",
        "workflow.preflight",
        lambda m, o: [ROOT / "config" / "default.yaml", "--out", m["file"] / "sub" / "p.json"],
        lambda m: m["file"],
    ),
    (
        "preflight-out-in-proc",
        "workflow.preflight",
        lambda m, o: [ROOT / "config" / "default.yaml", "--out", f"{PROC}/p.json"],
        lambda m: PROC,
    ),
    (
        "preflight-binary-config",
        "workflow.preflight",
        lambda m, o: [m["junk_yaml"], "--out", o / "p.json"],
        lambda m: m["junk_yaml"],
    ),
    (
        "preflight-bad-config-json",
        "workflow.preflight",
        lambda m, o: ["--config-json", '{"run": ', "--out", o / "p.json"],
        lambda m: "--config-json",
    ),
]


def _files(*folders: Path) -> set[Path]:
    return {p for f in folders if f.exists() for p in f.rglob("*") if not p.is_dir()}


def _one_line(res: subprocess.CompletedProcess, expect) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode not in (0, None), res.stderr
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert str(expect) in lines[0], lines[0]
    return lines[0]


def _run(module: str, argv, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIXBENCH_NO_DOWNLOAD": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, argv)],
        cwd=ROOT,
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_fault_is_one_line_and_leaves_nothing(case, inputs, tmp_path):
    _, module, argv, expect = case
    out = tmp_path / "out"
    before = _files(inputs["root"], tmp_path)
    blocker = inputs["file"].read_text()
    res = _run(module, argv(inputs, out))
    _one_line(res, expect(inputs))
    assert _files(inputs["root"], tmp_path) == before  # no output, no temp file, no stray file
    assert inputs["file"].read_text() == blocker
    assert not Path(PROC).exists()


def test_full_stdout_is_one_line(inputs):
    """A command whose output is stdout (workflow.config) fails in one line when stdout cannot be
    written (/dev/full), also when the text fits in the buffer and only fails at exit."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        res = _run("workflow.config", [ROOT / "config" / "default.yaml"], stdout=full)
    line = _one_line(res, "error:")
    assert "No space left on device" in line and res.returncode == 1


def test_failed_stage_keeps_previous_outputs(inputs, tmp_path):
    """A failing re-run leaves the outputs of a previous good run as they were."""
    out = tmp_path / "c.csv"
    out.write_text("previous\n")
    res = _run("benchmarks.claims", ["--profiles", inputs["truncated_json"], "--out-csv", out])
    _one_line(res, inputs["truncated_json"])
    assert out.read_text() == "previous\n" and sorted(os.listdir(tmp_path)) == ["c.csv"]
