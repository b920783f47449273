"""`python -m benchmarks.quality`: the registered metrics of one checkpoint, written as JSON.

Every option of `common.settings.Quality` (except the workflow's curve_*) is a flag named after
it (`num_gen` → `--num-gen`), generated from the section by `common.sections` with its default
and help from there; list options take comma lists. The flags become one typed, schema-checked
`settings.Quality` and its plan, once per job. Bad input is one line and exit 2, an unwritable
output exit 1 (`common.cli.run`).
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from common import allocator, settings
from common.cli import OneLineParser, check_writable, check_writable_dir, first_line
from common.device import add_device_flag, resolve_device
from common.io import write_json
from common.sections import add_flags, from_args
from data.dataset import open_dataset

from .errors import QualityError
from .evaluation import evaluate
from .generators import load_checkpoint, load_official_generator
from .nets import locate_weights
from .planning import feature_sets, plan


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="python -m benchmarks.quality", description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="training checkpoint (loads G_ema unless --which G)")
    src.add_argument("--official", help="official release checkpoint (needs --model)")
    p.add_argument("--model", help="model name for --official")
    p.add_argument("--resolution", type=int, help="for --official (default: the dataset's)")
    p.add_argument("--which", default="G_ema", choices=("G_ema", "G"), help="EMA or raw weights")
    p.add_argument("--data", required=True, help="prepared dataset file")
    add_flags(p, settings.Quality)
    add_device_flag(p)
    cache = "feature cache folder (default: none, no cache; the workflow passes its run's)"
    p.add_argument("--cache-dir", help=cache)
    p.add_argument("--no-cache", action="store_true", help="ignore --cache-dir: no cache")
    p.add_argument("--no-download", action="store_true", help="never try to fetch weights")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--out", required=True, help="result JSON (written atomically)")
    return p


def cache_dir_of(args) -> str | None:
    """The feature cache folder of this job: only where one is asked for (see README.md)."""
    return None if args.no_cache else args.cache_dir


def evaluate_args(args, quality: settings.Quality | None = None) -> dict:
    """Everything the CLI does except writing the file; cheap checks come before G is loaded.
    `quality`: the section already read from `args` (default: read it here)."""
    p = plan(quality or from_args(settings.Quality, args))
    if args.official and not args.model:
        raise QualityError("--official needs --model NAME")
    download = not args.no_download
    specs = [info.spec for info in feature_sets(p).values()]
    locate_weights({s.net for s in specs}, p.options.weights_dir, download, specs)
    ds = _ReadErrorsNamed(open_dataset(args.data, xflip=False), args.data)
    device = resolve_device(args.device)
    if args.checkpoint:
        G, info, gid = load_checkpoint(args.checkpoint, device, args.which)
    else:  # official weights carry no resolution: default to the dataset's
        resolution = args.resolution or getattr(ds, "resolution", None)
        G, info, gid = load_official_generator(args.official, args.model, resolution, device)
    cache, progress = cache_dir_of(args), not args.quiet
    return evaluate(
        G,
        ds,
        p,
        device=device,
        cache_dir=cache,
        generator_id=gid,
        generator_info=info,
        download=download,
        progress=progress,
    )


class _ReadErrorsNamed:
    """The prepared dataset, with a member that turns out damaged while the real features are
    read (a bad CRC, a truncated stream) reported as one line naming the file, not as zipfile's
    traceback. Everything else is the dataset's own (path, recipe, sha256, len)."""

    def __init__(self, ds, path):
        self._ds, self._path = ds, path

    def __len__(self) -> int:
        return len(self._ds)

    def __getattr__(self, name):
        if name.startswith("__") or name in ("_ds", "_path"):
            raise AttributeError(name)
        return getattr(self._ds, name)

    def __getitem__(self, index):
        try:
            return self._ds[index]
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise QualityError(
                f"prepared dataset {self._path} is damaged ({first_line(exc)}); re-create it "
                "with python -m data.prepare"
            ) from None


def _check_cache_dir(folder) -> None:
    """The feature cache is written mid-run: fail before any work if it cannot be, without
    creating anything (a failed run must not leave an empty cache folder behind)."""
    path = Path(folder)
    if path.is_dir():
        check_writable_dir(path, what=f"--cache-dir {str(path)!r} is not writable")
        return
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise QualityError(
            f"--cache-dir {str(path)!r} cannot be created: {existing} is a file; "
            "choose another folder or pass --no-cache"
        )


def _limit_threads(n: int) -> None:
    """On a shared CPU box, oversubscribed OpenMP/OpenBLAS pools can be 10x slower than one."""
    import torch

    if n < 1:
        raise QualityError(f"--threads must be >= 1 (got {n})")
    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(n)  # stays in effect for the rest of the process


def main(argv: list[str] | None = None) -> int:
    """Run through `common.cli.run(main)`: UsageError → exit 2, OSError → exit 1."""
    args = build_parser().parse_args(argv)
    out = check_writable(args.out)
    if cache_dir_of(args) is not None:
        _check_cache_dir(cache_dir_of(args))
    quality = from_args(settings.Quality, args)  # the section, checked once
    if quality.threads is not None:
        _limit_threads(quality.threads)
    allocator.tune()
    result = evaluate_args(args, quality)
    write_json(out, result)
    summary = ", ".join(f"{k}={v:.4g}" for k, v in result["summary"].items())
    print(f"{out}: {summary}")
    return 0
