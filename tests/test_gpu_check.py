"""The GPU check (benchmarks/gpu_check.py) where no GPU is: it refuses in one line with exit
status 2 and writes nothing, and every step's command line parses with the real parsers, so the
day a GPU is at hand the script runs as written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks import gpu_check
from benchmarks.claims import __main__ as claims_cli
from benchmarks.profiling import __main__ as profiling_cli
from common.cli import EXIT_USAGE, UsageError, run
from common.sections import from_args
from common.settings import Profile

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where no GPU is")
def test_refuses_in_one_line_without_cuda(tmp_path, capsys):
    out = tmp_path / "check"
    assert run(gpu_check.main, ["--out", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: no CUDA device is visible")
    assert not out.exists()


def test_every_step_parses(tmp_path, capsys):
    todo = gpu_check.steps(tmp_path)
    names = [name for name, _, _ in todo]
    assert names[0] == "test_cuda" and names[-1] == "claims"
    assert sum(limit for _, _, limit in todo) < 8 * 60
    assert (ROOT / todo[0][1][4]).is_file()  # tests/test_cuda.py
    for name, argv, _ in todo[1:-1]:
        args = profiling_cli.parse_args(argv[3:])
        cfg = from_args(Profile, args)
        assert args.device == "cuda" and int(args.resolution) == gpu_check.RESOLUTION, name
        assert cfg.batch_sizes_at(gpu_check.RESOLUTION) == list(gpu_check.BATCHES)
    # the claims step's flags parse: with an empty profile folder it stops at its first check
    claims = todo[-1][1][3:]
    (tmp_path / "profile").mkdir()
    with pytest.raises(UsageError, match="no default-configuration profiles"):
        claims_cli.main(claims)
    assert run(gpu_check.main, ["--out", str(tmp_path / "dry"), "--dry-run"]) == 0
    assert capsys.readouterr().out.count("\n") == len(todo)
