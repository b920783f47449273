"""The GPU check: the CUDA tests and the 256-px profile of every model on one GPU, into one folder.

    python -m benchmarks.gpu_check --out results/gpu-check

Why one command: a GPU is at hand rarely (this project's CI has none), so everything worth
knowing when one is (do the CUDA paths match the CPU's numbers, how fast is each model at 256 px,
do Table 1's speed ratios hold on a GPU, where is each model on the GPU's roofline) is gathered in
one run that fits in STEP budgets adding up to under 8 minutes, and is read as docs/gpu-check.md
says. Each step runs in its own process with its own time limit and log, so one failing step
still leaves the others' results; `summary.json` lists every step's command, exit status and
seconds.

No CUDA device visible: one line and exit status 2, before anything is written.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import models
from common.cli import OneLineParser, UsageError, check_writable_dir, run, setup_logging
from common.io import write_json

log = logging.getLogger("pixbench.gpu_check")
ROOT = Path(__file__).resolve().parents[1]  # steps run from the repository root
RESOLUTION = 256
BATCHES = (1, 16)  # 1: the batch the CPU run's speed claims use; 16: a GPU-sized batch
# seconds per step; summed they stay under 8 minutes (an H200 runs test_cuda.py in about a minute)
TEST_LIMIT_S = 200
PROFILE_LIMIT_S = 60
CLAIMS_LIMIT_S = 30


def steps(out: Path, python: str = sys.executable) -> list[tuple[str, list[str], int]]:
    """(name, argv, time limit in s) of every step, in order."""
    prof = out / "profile"
    latency = f"[{{resolution: {RESOLUTION}, batch_sizes: [{', '.join(map(str, BATCHES))}]}}]"
    todo = [
        (
            "test_cuda",
            [python, "-m", "pytest", "-q", "tests/test_cuda.py", f"--junitxml={out}/test_cuda.xml"],
            TEST_LIMIT_S,
        )
    ]
    for m in models.available():
        argv = [python, "-m", "benchmarks.profiling", "--model", m, "--resolution", str(RESOLUTION)]
        argv += ["--device", "cuda", "--latency", latency, "--fvcore-max-resolution", "0"]
        todo.append(
            (
                f"profile_{m}",
                [*argv, "--out", str(prof / f"{m}-{RESOLUTION}.json")],
                PROFILE_LIMIT_S,
            )
        )
    claims = [python, "-m", "benchmarks.claims", "--profiles", str(prof)]
    claims += ["--out-csv", str(out / "claims.csv"), "--out-md", str(out / "claims.md")]
    todo.append(("claims", claims, CLAIMS_LIMIT_S))
    return todo


def run_step(name: str, argv: list[str], limit: int, logs: Path) -> dict:
    t0 = time.perf_counter()
    with open(logs / f"{name}.log", "w", encoding="utf-8") as f:
        try:
            done = subprocess.run(argv, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, timeout=limit)
            rc = done.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    seconds = time.perf_counter() - t0
    log.info("%-22s %s in %.0f s", name, "ok" if rc == 0 else f"FAILED ({rc})", seconds)
    return {"step": name, "argv": argv, "limit_s": limit, "rc": rc, "seconds": seconds}


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m benchmarks.gpu_check", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for logs, profiles, claims, summary.json")
    p.add_argument("--dry-run", action="store_true", help="print the steps, run nothing")
    a = p.parse_args(argv)
    setup_logging()
    out = Path(a.out)
    if a.dry_run:
        for name, cmd, limit in steps(out):
            print(f"{name} (≤ {limit} s): {subprocess.list2cmdline(cmd)}")
        return 0
    import torch

    if not torch.cuda.is_available():
        raise UsageError("no CUDA device is visible: the GPU check needs one (docs/gpu-check.md)")
    check_writable_dir(out)
    logs = out / "logs"
    for d in (logs, out / "profile"):
        d.mkdir(parents=True, exist_ok=True)
    gpu = torch.cuda.get_device_name(0)
    log.info("GPU check on %s into %s", gpu, out)
    done = [run_step(name, cmd, limit, logs) for name, cmd, limit in steps(out)]
    failed = [d["step"] for d in done if d["rc"] != 0]
    write_json(
        out / "summary.json",
        {"gpu": gpu, "torch": torch.__version__, "steps": done, "failed": failed},
    )
    log.info(
        "%d steps, %d failed%s", len(done), len(failed), f": {', '.join(failed)}" if failed else ""
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(run(main))
