"""Profile one generator into one JSON file: every registered efficiency measure.

    python -m benchmarks.profiling --model pixelfolder --resolution 256 --out pf256.json
    python -m benchmarks.profiling --model stylegan2 --resolution 64 \\
        --latency '[{resolution: 64, batch_sizes: [1, 4]}]' --out sg64.json
    python -m benchmarks.profiling --model cips --resolution 64 --build width=0.0625 \\
        --no-latency --out cips64-narrow.json

The flags after the job's own (--model, --resolution, --device, --build, --no-latency, --out)
are the config's `profile` section (common/settings.py `Profile`), generated from it: batch sizes
are timed at this resolution only where `--latency` lists it, and fvcore runs up to
`--fvcore-max-resolution` (above it the two meta-device counters stay).
"""

from __future__ import annotations

import logging
import sys

import models
from benchmarks.profiling import counting
from benchmarks.profiling.profile import context, run_measures
from common import allocator
from common.cli import (
    EXIT_FAILURE,
    OneLineParser,
    check_writable,
    parse_overrides,
    run,
    setup_logging,
)
from common.device import add_device_flag
from common.io import write_json
from common.sections import add_flags, from_args
from common.settings import Profile

log = logging.getLogger("pixbench.profiling")


def parse_args(argv):
    p = OneLineParser(prog="python -m benchmarks.profiling", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help=f"one of {', '.join(models.available())}")
    p.add_argument("--resolution", required=True)
    add_device_flag(p)  # used by latency only: counting runs on the meta device
    p.add_argument(
        "--build",
        action="append",
        metavar="KEY=VALUE",
        help="build override of the model (width, z_dim, ...), repeatable",
    )
    p.add_argument(
        "--no-latency",
        action="store_true",
        help="time nothing, even where --latency lists this resolution",
    )
    add_flags(p, Profile)  # one job profiles one --resolution: `resolutions` is the workflow's
    p.add_argument("--out", required=True, help="JSON file (written atomically)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    setup_logging(a.verbose)
    allocator.tune()
    cfg = from_args(Profile, a)
    build = parse_overrides(a.build, "--build")
    out = check_writable(a.out)
    ctx = context(a.model, a.resolution, cfg, build, a.device, latency=not a.no_latency)
    try:
        result = run_measures(ctx)
    except counting.CounterDisagreement as e:
        print(f"error: {e}", flush=True, file=sys.stderr)
        return EXIT_FAILURE
    write_json(out, result)
    log.info("wrote %s: %s", out, ", ".join(result["measures"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
