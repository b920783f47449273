"""The harness of tests/test_faults_*.py: run an entry point as `python -m ...` like the workflow
runs it, and check that its fault is one line on stderr, a non-zero exit and nothing left
behind (the shared inputs are the session's `inputs`, tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROC = "/proc/pixbench-fault"  # no folder can be made here, not even by root

JUNK = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # binary: not UTF-8, not JSON, not a zip


def files(*folders: Path) -> set[Path]:
    return {p for f in folders if f.exists() for p in f.rglob("*") if not p.is_dir()}


def one_line(res: subprocess.CompletedProcess, expect) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode not in (0, None), res.stderr
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert str(expect) in lines[0], lines[0]
    return lines[0]


def run_module(module: str, argv, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
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


def check_fault(case, inputs, tmp_path) -> None:
    """One case of a CASES table, (id, module, argv from (inputs, out folder), text the one line
    must contain): ONE stderr line with that text, a non-zero exit, and no output, temp or stray
    file beside the shared inputs or in tmp_path; the blocker file unchanged, /proc untouched."""
    _, module, argv, expect = case
    out = tmp_path / "out"
    before = files(inputs["root"], tmp_path)
    blocker = inputs["file"].read_text()
    res = run_module(module, argv(inputs, out))
    one_line(res, expect(inputs))
    assert files(inputs["root"], tmp_path) == before  # no output, no temp file, no stray file
    assert inputs["file"].read_text() == blocker
    assert not Path(PROC).exists()
