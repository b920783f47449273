"""Profile one generator into one JSON file.

    python -m benchmarks.profiling --model pixelfolder --resolution 256 --out pf256.json
    python -m benchmarks.profiling --model cips --resolution 1024 --no-latency \\
        --counters flop_counter_mode,ptflops_aten --out cips1024.json
"""

from __future__ import annotations

import logging
import sys

import models
from benchmarks.profiling import counting
from benchmarks.profiling.profile import (
    CounterDisagreement,
    _build_checked,
    parse_counters,
    profile_model,
    validate_request,
)
from common.cli import (
    EXIT_FAILURE,
    OneLineParser,
    UsageError,
    check_writable,
    parse_int_list,
    parse_overrides,
    run,
    setup_logging,
)
from common.device import resolve_device
from common.io import write_json
from common.settings import Profile, defaults, help_of

log = logging.getLogger("pixbench.profiling")
DEFAULTS = defaults(Profile)


def parse_args(argv):
    p = OneLineParser(prog="python -m benchmarks.profiling", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help=f"one of {', '.join(models.available())}")
    p.add_argument("--resolution", required=True)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (latency only)")
    p.add_argument("--batch-sizes", default="1", help="comma-separated, e.g. 1,8")
    p.add_argument("--no-latency", action="store_true", help="skip timing (counting only)")
    p.add_argument("--build", action="append", metavar="KEY=VALUE",
                   help="build override of the model (width, z_dim, ...), repeatable")  # fmt: skip
    p.add_argument("--counters", default="all",
                   help=f"'all' or a subset of {','.join(counting.COUNTERS)}")  # fmt: skip
    for key, flag in (("latency_warmup", "--warmup"), ("latency_repeats", "--repeats")):
        p.add_argument(flag, type=int, default=DEFAULTS[key], help=help_of(Profile, key))
    p.add_argument("--min-time", type=float, default=DEFAULTS["min_time"],
                   help=help_of(Profile, "min_time"))  # fmt: skip
    p.add_argument("--out", required=True, help="JSON file (written atomically)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    setup_logging(a.verbose)
    batch_sizes = parse_int_list(a.batch_sizes, "--batch-sizes")
    name, resolution, batch_sizes = validate_request(a.model, a.resolution, batch_sizes)
    if a.warmup < 0 or a.repeats < 1 or a.min_time < 0:
        raise UsageError("--warmup must be ≥ 0, --repeats ≥ 1 and --min-time ≥ 0")
    build, counters = parse_overrides(a.build, "--build"), parse_counters(a.counters)
    out = check_writable(a.out)
    dev = resolve_device(a.device)
    _build_checked(name, resolution, **build)  # bad overrides fail here, before any work
    try:
        result = profile_model(
            name, resolution, str(dev), batch_sizes, not a.no_latency, counters,
            a.warmup, a.repeats, a.min_time, **build,
        )  # fmt: skip
    except CounterDisagreement as e:
        print(f"error: {e}", flush=True, file=sys.stderr)
        return EXIT_FAILURE
    write_json(out, result)
    log.info(
        "wrote %s: %.3f G MACs, %.2f M params", out, result["macs"] / 1e9, result["params"] / 1e6
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
