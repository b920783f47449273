"""Turn a folder / zip / LSUN LMDB of images, or an embedded generator, into one prepared dataset.

Why one recipe for everything: how reals are cropped and resized moves FID by a point or more
(docs/metrics.md#pitfalls), so every prepared file carries `dataset.json` stating exactly what was
done, plus hashes of the source list and of the output pixels.

Recipe: convert to RGB (alpha composited on black) -> centre square crop -> PIL Lanczos resize to
R x R (skipped when already R) -> lossless PNG. Corrupt images and images whose shorter side is
below R are skipped and counted (never upscaled); files with non-image extensions are ignored
and counted. Output is written atomically; on any error nothing is left behind. The input formats
live in data/sources.py; this module holds the per-image work, the writer, the recipe and the CLI.

Usage: python -m data.prepare --source PATH|embedded:NAME --resolution R --out FILE.zip
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import PIL
from tqdm import tqdm

from common import cli, sections, settings
from common.cli import OneLineParser, UsageError, check_writable, run, setup_logging
from common.io import atomic_output, exclusive, remove_stale_temps, sha256_file, short
from common.provenance import package_version
from data._common import (
    FORMAT_NAME,
    FORMAT_VERSION,
    IMAGES_PER_FOLDER,
    RECIPE_NAME,
    DatasetError,
    check_resolution,
    image_name,
)
from data.convert import (
    PNG_COMPRESS_LEVEL,
    Result,
    convert_array,
    convert_bytes,
    crop_resize,
    to_rgb,
)
from data.sources import IMAGE_EXTENSIONS, Source, open_source

__all__ = ["IMAGE_EXTENSIONS", "crop_resize", "main", "open_source", "prepare", "to_rgb"]

log = logging.getLogger("pixbench.data.prepare")

PREPARE_VERSION = 2  # 2: EXIF orientation applied, wide pixel types scaled. Bump when the recipe changes in a way that alters output pixels
_MAX_EXAMPLES = 20
SKIP_REASONS = ("corrupt", "too_small", "bad_range")  # per-image outcomes other than "ok"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: same inputs -> same archive bytes


# ---------------------------------------------------------------------------------------------
# The pipeline.


def _results(
    items: Iterable[tuple[str, object]], fn: Callable[[tuple], Result], workers: int
) -> Iterator[tuple[str, Result]]:
    """Apply `fn` in order; with workers > 1 use a process pool on bounded chunks (bounded memory).

    Ctrl-C is the parent's alone: workers ignore SIGINT (a terminal sends it to the whole process
    group), so none dies mid-task or while holding a queue lock, and none prints a traceback. On
    any exit the pool is shut down without `Pool.terminate`, which can wait forever for a queue
    lock a dying worker held (issue 30): queued work is cancelled, the few running tasks (at most
    one per worker, milliseconds each) finish, and the workers exit."""
    if workers <= 1:
        for item in items:
            yield item[0], fn(item)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    chunk = workers * 16
    pool = ProcessPoolExecutor(workers, mp.get_context(), initializer=_worker_signals)
    try:
        buf: list[tuple[str, object]] = []
        for item in items:
            buf.append(item)
            if len(buf) == chunk:
                yield from zip((b[0] for b in buf), pool.map(fn, buf, chunksize=4), strict=True)
                buf = []
        if buf:
            yield from zip((b[0] for b in buf), pool.map(fn, buf, chunksize=4), strict=True)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _worker_signals() -> None:
    """Workers leave Ctrl-C to the parent (see _results) and die quietly on SIGTERM (the parent's
    handler, inherited through fork, would turn it into a traceback in every worker)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _now_iso() -> str:
    """UTC time; honours SOURCE_DATE_EPOCH so builds can be byte-for-byte reproducible."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tool_version() -> str:
    return f"pixbench {package_version()}, data.prepare v{PREPARE_VERSION}"


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_STORED  # PNG is already compressed; stored = fast reads
    info.external_attr = 0o644 << 16
    return info


@dataclass
class _Tally:
    """What happened while writing: counts, examples, and the two running hashes."""

    written: int = 0
    examined: int = 0
    skipped: dict = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    source_hash: hashlib._Hash = field(default_factory=hashlib.sha256)
    pixel_hash: hashlib._Hash = field(default_factory=hashlib.sha256)


def _write_images(
    zf: zipfile.ZipFile,
    src: Source,
    resolution: int,
    max_images: int | None,
    workers: int,
    progress: bool,
) -> _Tally:
    """Convert source items in order and store the usable ones as numbered PNGs."""
    if src.kind == "embedded":
        fn: Callable = convert_array
    else:
        fn = functools.partial(convert_bytes, resolution=resolution)
    target = src.total if max_images is None or src.total is None else min(src.total, max_images)
    t = _Tally(skipped={**dict.fromkeys(SKIP_REASONS, 0), "unsupported": len(src.unsupported)})
    # disable=None: tqdm shows the bar only on a terminal, keeping logs/CI output clean.
    bar = tqdm(total=target, unit="img", desc="prepare", disable=None if progress else True)
    # closing: the pool is shut down now on an error or Ctrl-C, not whenever the GC gets to it
    with bar, contextlib.closing(_results(src.items(), fn, workers)) as results:
        for name, res in results:
            t.examined += 1
            if res.status != "ok":
                t.skipped[res.status] += 1
                if len(t.examples) < _MAX_EXAMPLES:  # log and record the first few only
                    # info, not warning: one warning sums them up at the end (or the error does)
                    log.info("skipping %s (%s: %s)", name, res.status, res.detail)
                    t.examples.append(f"{name}: {res.status} ({res.detail})")
                continue
            zf.writestr(_member(image_name(t.written)), res.png)
            if res.source_line is not None:
                # a file name that is not valid UTF-8 (surrogate-escaped by os.walk) hashes as
                # its bytes on disk
                t.source_hash.update(res.source_line.encode("utf-8", "surrogateescape") + b"\n")
            t.pixel_hash.update(res.pixel_digest)
            t.written += 1
            bar.update(1)
            if max_images is not None and t.written >= max_images:
                break
    if src.kind == "embedded":
        t.source_hash.update(json.dumps(src.extra["embedded"], sort_keys=True).encode())
    return t


def prepare(
    source: str | os.PathLike,
    resolution: int,
    out: str | os.PathLike,
    max_images: int | None = None,
    *,
    seed: int | None = None,
    count: int | None = None,
    workers: int = 1,
    progress: bool = True,
    on_locked=None,
) -> dict:
    """Write a prepared dataset zip to `out` and return a summary (the recipe + out, sha256, time).

    `seed`/`count` apply to embedded:NAME sources only. Raises DatasetError on bad input; then
    no output (and no temp file) exists. `on_locked()` runs once this process holds `out`'s
    lock (the CLI opens its --log there, so a second run that loses the lock cannot truncate
    the winner's log).
    """
    t0 = time.perf_counter()
    check_resolution(resolution)
    if max_images is not None and max_images < 1:
        raise DatasetError(
            f"--max-images must be >= 1 (got {max_images}); omit it to use all images"
        )
    out = Path(out).expanduser()
    if out.suffix.lower() != ".zip":
        raise DatasetError(f"--out {out} must end in .zip (the prepared dataset is a zip of PNGs)")
    if out.is_dir():
        raise DatasetError(f"--out {out} is a folder; give a file path ending in .zip")
    src = open_source(source, resolution, seed, count)
    if src.kind in ("zip", "folder") and Path(src.location).resolve() == out.resolve():
        raise DatasetError(f"--out {out} is the same file as --source; choose another output path")
    try:
        check_writable(out)  # creates the folder; fails before any work if it cannot be made
    except UsageError as exc:
        raise DatasetError(str(exc)) from None

    with exclusive(out.with_name(f".{short(out.name)}.lock"), f"--out {out}"):
        if on_locked is not None:
            on_locked()
        log.info(
            "preparing %s source %s -> %s at %dx%d%s",
            src.kind,
            src.location,
            out,
            resolution,
            resolution,
            f" (at most {max_images} images)" if max_images else "",
        )
        if src.unsupported:
            log.info(
                "ignoring %d non-image files (e.g. %s)", len(src.unsupported), src.unsupported[0]
            )
        for stale in remove_stale_temps(out):  # a killed run's; ours is made after this
            log.info("removed %s (left by a killed run)", stale)
        with atomic_output(out) as tmp, zipfile.ZipFile(tmp, "w") as zf:
            tally = _write_images(zf, src, resolution, max_images, workers, progress)
            if tally.written == 0:
                example = f" (e.g. {tally.examples[0]})" if tally.examples else ""
                raise DatasetError(
                    f"no usable images in {src.location}: {skip_text(tally.skipped, resolution)}"
                    f"{example}; fix the files or lower --resolution"
                )
            recipe = _recipe(src, resolution, out, max_images, tally)
            zf.writestr(_member(RECIPE_NAME), json.dumps(recipe, indent=2, sort_keys=True) + "\n")

    summary = dict(recipe, out=str(out), file_sha256=sha256_file(out))
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    _log_summary(summary, tally, resolution)
    return summary


def skip_text(skipped: dict, resolution: int) -> str:
    """'200 smaller than 64px, 3 unreadable' (reasons with a count only), or 'none'."""
    words = {
        "too_small": f"smaller than {resolution}px",
        "corrupt": "unreadable",
        "bad_range": "with an unknown pixel range",
    }
    parts = [f"{skipped[k]} {w}" for k, w in words.items() if skipped.get(k)]
    return ", ".join(parts) or "none"


def _log_summary(summary: dict, tally: _Tally, resolution: int) -> None:
    """The closing line says what was written and what was skipped, with why: a set that kept 10
    of 210 images must say so where the user looks, not only in the recipe."""
    bad = sum(tally.skipped[k] for k in SKIP_REASONS)
    if bad:
        log.warning(
            f"skipped {bad} of {tally.examined} images ({skip_text(tally.skipped, resolution)}), "
            f"e.g. {tally.examples[0]}; "
            + (
                f"all {bad} listed under skipped_examples in {RECIPE_NAME}"
                if bad <= len(tally.examples)
                else f"the first {len(tally.examples)} listed under skipped_examples in "
                f"{RECIPE_NAME}"
            )
        )


def summary_line(summary: dict) -> str:
    """What the CLI prints on stdout: written, skipped with why, time and hash."""
    skipped, res = summary["skipped"], summary["resolution"]
    bad = sum(skipped.get(k, 0) for k in SKIP_REASONS)
    return (
        f"{summary['out']}: {summary['num_images']} images at {res}px, {bad} of "
        f"{summary['source_images_examined']} skipped ({skip_text(skipped, res)}) in "
        f"{summary['seconds']:.1f}s; sha256 {summary['file_sha256'][:16]}"
    )


def _recipe(
    src: Source,
    resolution: int,
    out: Path,
    max_images: int | None,
    tally: _Tally,
) -> dict:
    generated = src.kind == "embedded"
    recipe = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "name": out.stem,
        "source": src.location,
        "source_kind": src.kind,
        "num_images": tally.written,
        "resolution": resolution,
        "channels": 3,
        "layout": f"00000/img00000000.png, {IMAGES_PER_FOLDER} per folder, index order = sorted source order",
        "crop": "none (drawn square at the target resolution)" if generated else "center square",
        "resize_filter": "none (drawn at target resolution, analytic anti-aliasing)"
        if generated
        else "PIL Lanczos",
        "resize_library": f"Pillow {PIL.__version__}",
        "color": "RGB; alpha/transparency composited on black; L, P, CMYK via Pillow convert; "
        "16-bit and 32-bit integers holding 16 bits scaled by >>8, floats in 0..1 by 255, "
        "other ranges skipped (bad_range); EXIF orientation applied (ImageOps.exif_transpose)",
        "too_small_policy": "skip and count (never upscale)",
        "corrupt_policy": "skip and count",
        "png_compress_level": PNG_COMPRESS_LEVEL,
        "max_images": max_images,
        "source_images_examined": tally.examined,
        "skipped": tally.skipped,
        "skipped_examples": tally.examples,
        "unsupported_examples": src.unsupported[:_MAX_EXAMPLES],
        "source_list_sha256_covers": (
            "sha256 of the JSON generator spec in 'embedded'"
            if generated
            else "sorted list of used source images, one 'name<TAB>byte size<TAB>sha256 of file "
            "content' line each (names + sizes + content)"
        ),
        "source_list_sha256": tally.source_hash.hexdigest(),
        "images_sha256": tally.pixel_hash.hexdigest(),
        "images_sha256_covers": "sha256 over the per-image sha256 of uint8 RGB pixels (H, W, 3 "
        "row-major), in archive order; independent of PNG encoder settings",
        "tool_version": _tool_version(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "date": _now_iso(),
    }
    recipe.update(src.extra)
    return recipe


# ---------------------------------------------------------------------------------------------
# CLI.


def _parser() -> OneLineParser:
    p = OneLineParser(
        prog="python -m data.prepare",
        description="Prepare a dataset zip (centre crop, PIL Lanczos, RGB PNG) with a recipe.",
    )
    sections.add_flags(p, settings.Dataset)  # a config's datasets.<name> entry, field by field
    p.add_argument("--out", required=True, help="output .zip path (written atomically)")
    p.add_argument("--seed", type=int, default=None, help="embedded sources only (default 0)")
    p.add_argument("--count", type=int, default=None, help="embedded sources only (default 2000)")
    p.add_argument(
        "--workers", type=int, default=min(4, os.cpu_count() or 1), help="processes for decoding"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    p.add_argument(
        "--log",
        help="write output and errors to this file, opened once --out's lock is held (a run that "
        "finds --out in use reports that on stderr and leaves the file alone)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """The CLI; errors propagate (DatasetError is a UsageError), so call it through
    common.cli.run for the exit-code rule: bad input 2, OS error 1, Ctrl-C 130, one line each.
    The dataset's own flags are the fields of common.settings.Dataset, passed to prepare() by
    name, so a new dataset knob is one field there and one keyword of prepare()."""
    args = _parser().parse_args(argv)
    cfg = sections.from_args(settings.Dataset, args)
    setup_logging(quiet=args.quiet)
    summary = prepare(
        out=args.out,
        seed=args.seed,
        count=args.count,
        workers=args.workers,
        progress=not args.quiet,
        on_locked=(lambda: cli.redirect_output(args.log)) if args.log else None,
        **settings.as_dict(cfg),
    )
    print(summary_line(summary))
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
