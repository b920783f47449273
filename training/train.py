"""Train a registered generator with the one GAN training loop (training.loop).

    python -m training.train --model pixelfolder --data data.zip --out runs/pf --kimg 20 \
        --batch 16 --build width=0.125 --build z_dim=64 --build n_mlp=2 --hparam ema_rampup=0.05
    python -m torch.distributed.run --standalone --nproc_per_node 2 -m training.train ...  # DDP

`--build KEY=VALUE` goes to models.build (the trained variant); `--hparam KEY=VALUE` overrides
a training hyper-parameter (common.settings.HParams; a model's registered recipe sits between
the defaults and these). The run options' defaults and help come from common.settings.Train.
Bad input is one line on stderr and exit 2; a NaN/inf loss is one line and exit 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import types
import typing

import torch

from common import settings
from common.cli import EXIT_FAILURE, OneLineParser, parse_overrides, run, setup_logging

from .errors import NonFiniteLossError

log = logging.getLogger("pixbench.train")
# the common.settings.Train fields this command shares (default and help come from there)
RUN_OPTIONS = (
    "kimg batch snap_kimg seed threads workers log_every grid keep micro_batch precision "
    "channels_last compile tf32 cudnn_benchmark"
).split()


def _scalar_type(annotation):
    """`float | None` → float: the argparse type of a Train field."""
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        return next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation


def parse_args(argv=None) -> argparse.Namespace:
    p = OneLineParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    arg = p.add_argument
    arg("--model", required=True, help="registered generator name (models.available())")
    arg("--data", required=True, help="prepared dataset file (python -m data.prepare)")
    arg("--out", required=True, help="run directory: checkpoints/, samples/, log.csv, run.json")
    arg("--build", action="append", default=[], metavar="KEY=VALUE",
        help="models.build override of the trained variant (width, z_dim, n_mlp, ...); repeatable")  # fmt: skip
    hp_keys = ", ".join(f.name for f in dataclasses.fields(settings.HParams))
    arg("--hparam", action="append", default=[], metavar="KEY=VALUE",
        help=f"training hyper-parameter ({hp_keys}); repeatable")  # fmt: skip
    defaults, hints = settings.defaults(settings.Train), typing.get_type_hints(settings.Train)
    schema = {f.name: f.metadata["schema"] for f in dataclasses.fields(settings.Train)}
    for name in RUN_OPTIONS:
        flag, kind = f"--{name.replace('_', '-')}", hints[name]
        text = settings.help_of(settings.Train, name)
        if kind is bool:  # a switch, off by default (workflow's cli() passes True as the bare flag)
            arg(flag, action="store_true", default=defaults[name], help=text)
            continue
        if defaults[name] is not None:
            text += f" (default: {defaults[name]})"
        arg(flag, type=_scalar_type(kind), default=defaults[name], choices=schema[name].get("enum"),
            help=text)  # fmt: skip
    arg("--device", default=settings.defaults(settings.RunConfig)["device"],
        help=settings.help_of(settings.RunConfig, "device"))  # fmt: skip
    arg("--resume", default=None, help="auto (newest in --out, else fresh) | checkpoint path")
    arg("--resolution", type=int, default=None, help="expected dataset resolution (checked)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    """The command; wrap it in common.cli.run for the exit-code rule (UsageError → 2)."""
    args = parse_args(argv)
    setup_logging()
    if args.threads:
        torch.set_num_threads(args.threads)
    build, hparams = (
        parse_overrides(args.build, "--build"),
        parse_overrides(args.hparam, "--hparam"),
    )
    from tqdm.contrib.logging import logging_redirect_tqdm

    from .loop import train

    try:
        with logging_redirect_tqdm():
            final = train(
                args.model, args.data, args.out, build=build, hparams=hparams, kimg=args.kimg,
                batch=args.batch, snap_kimg=args.snap_kimg, seed=args.seed, device=args.device,
                resume=args.resume, resolution=args.resolution, workers=args.workers,
                log_every=args.log_every, grid=args.grid, keep=args.keep,
                micro_batch=args.micro_batch, precision=args.precision,
                channels_last=args.channels_last, compile=args.compile, tf32=args.tf32,
                cudnn_benchmark=args.cudnn_benchmark,
            )  # fmt: skip
    except NonFiniteLossError as exc:
        print(f"error: training stopped: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    log.info("done: %s", final)
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
