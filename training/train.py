"""Train a registered generator with the one GAN training loop (training.loop).

    python -m training.train --model pixelfolder --data data.zip --out runs/pf --kimg 20 \
        --batch 16 --build width=0.125 --build z_dim=64 --build n_mlp=2 --hparam ema_rampup=0.05
    python -m torch.distributed.run --standalone --nproc_per_node 2 -m training.train ...  # DDP

`--build KEY=VALUE` goes to models.build (the trained variant); `--hparam KEY=VALUE` overrides
a training hyper-parameter (common.settings.HParams; a model's registered recipe sits between
the defaults and these). Every other flag is a field of common.settings.Train (the config's
`train:` section), generated from it with its default and help (common.sections), except the
launcher's `gpus`: a new knob is one field there.
Bad input is one line on stderr and exit 2; a NaN/inf loss is one line and exit 1.
"""

from __future__ import annotations

import logging
import sys

import torch

from common import allocator, sections, settings
from common.cli import EXIT_FAILURE, OneLineParser, parse_overrides, run, setup_logging
from common.device import add_device_flag
from common.layout import TRAIN_DIR

from .errors import NonFiniteLossError

log = logging.getLogger("pixbench.train")


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    arg = p.add_argument
    arg("--model", required=True, help="registered generator name (models.available())")
    arg("--data", required=True, help="prepared dataset file (python -m data.prepare)")
    arg("--out", required=True, help=f"run directory: {', '.join(TRAIN_DIR.values())}")
    arg(
        "--build",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="models.build override of the trained variant (width, z_dim, n_mlp, ...); repeatable",
    )
    hp_keys = ", ".join(settings.defaults(settings.HParams))
    arg(
        "--hparam",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"training hyper-parameter ({hp_keys}); repeatable",
    )
    sections.add_flags(p, settings.Train)  # gpus and hparams are the workflow's (scope)
    add_device_flag(p)
    arg("--resume", default=None, help="auto (newest in --out, else fresh) | checkpoint path")
    arg("--resolution", type=int, default=None, help="expected dataset resolution (checked)")
    arg(
        "--speed-grid",
        default=None,
        metavar="PROFILE_JSON",
        help="the model's profile JSON whose speed-variant grid --speed-variant auto reads",
    )
    return p


def parse_args(argv=None):
    """(the per-job arguments, the typed `train:` section, checked once)."""
    args = build_parser().parse_args(argv)
    return args, sections.from_args(settings.Train, args)


def main(argv=None) -> int:
    """The command; wrap it in common.cli.run for the exit-code rule (UsageError → 2)."""
    args, cfg = parse_args(argv)
    build = parse_overrides(args.build, "--build")
    hparams = parse_overrides(args.hparam, "--hparam")
    setup_logging()
    allocator.tune()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    from tqdm.contrib.logging import logging_redirect_tqdm

    from .loop import train

    try:
        with logging_redirect_tqdm():
            final = train(
                args.model,
                args.data,
                args.out,
                cfg,
                build,
                hparams,
                device=args.device,
                resume=args.resume,
                resolution=args.resolution,
                speed_grid=args.speed_grid,
            )
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
