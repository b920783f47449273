"""The layer order of the README's layout table holds, checked by import-linter (the contracts
are in pyproject.toml): workflow (orchestration) > reports > benchmarks > training > data |
models > common, and inside benchmarks, claims and the gate above profiling | quality | stages.
A lower layer importing a higher one, even inside a function body, fails here with the chain of
imports that breaks it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    cmd = [str(lint)] if lint.exists() else [sys.executable, "-m", "importlinter.cli"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout or "broken" not in out.stdout.lower(), out.stdout[-2000:]
