"""Faults end in one line at the stages' entry points (data.prepare, benchmarks.profiling,
benchmarks.quality, benchmarks.stages), run as `python -m ...` like the workflow runs them: given
an output they cannot write (a path under a regular file, or under /proc: tests run as root,
where chmod does not stop writes) or an unreadable / corrupt input, each prints ONE line on
stderr, exits non-zero and leaves nothing behind: no output file, no temp file (an empty output
folder the CLI made while checking is tolerated). The harness is tests/faults.py, the shared
good and damaged inputs the session's `inputs` (tests/conftest.py); training.train is tested
with training."""

from __future__ import annotations

import pytest

from tests.faults import PROC, check_fault

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
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_fault_is_one_line_and_leaves_nothing(case, inputs, tmp_path):
    check_fault(case, inputs, tmp_path)
