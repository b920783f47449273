"""The input formats of `python -m data.prepare`: an image folder, a zip of images, an LSUN LMDB
export, or an embedded generator (`embedded:NAME`).

Each source is classified and validated up front, before any output exists, then streamed as
(name, payload) items in sorted order (key order for LMDB). Anything unreadable, at open time or
while streaming (a zip member with a bad CRC, a file that vanished, a corrupt LMDB page), is a
one-line DatasetError naming the path and a fix; the writer then leaves nothing behind.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.cli import first_line
from data import embedded
from data._common import DatasetError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
# What a damaged zip member raises on read: bad CRC / header (BadZipFile), broken deflate data
# (zlib.error), truncated stream (EOFError), encryption (RuntimeError), exotic methods
# (NotImplementedError), and the OS errors of the archive file itself.
_ZIP_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    RuntimeError,
    NotImplementedError,
    OSError,
)


@dataclass
class Source:
    kind: str  # folder | zip | lmdb | embedded
    location: str
    total: int | None  # candidate images, for progress
    items: Callable[[], Iterator[tuple[str, object]]]
    unsupported: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _no_images_error(path: Path, others: list[str]) -> DatasetError:
    example = f", e.g. {others[0]!r}" if others else ""
    return DatasetError(
        f"no images found in {path} ({len(others)} files with other extensions{example}); "
        f"supported extensions: {' '.join(IMAGE_EXTENSIONS)}"
    )


# ---------------------------------------------------------------------------------------------
# Folder and zip.


def folder_source(path: Path) -> Source:
    files = sorted(
        (Path(root) / f).relative_to(path).as_posix()
        for root, _, names in os.walk(path)
        for f in names
    )
    if not files:
        raise DatasetError(
            f"source folder {path} is empty; put images in it or pass another --source"
        )
    images = [f for f in files if is_image_name(f)]
    others = [f for f in files if not is_image_name(f)]
    if not images:
        raise _no_images_error(path, others)

    def items() -> Iterator[tuple[str, bytes]]:
        for name in images:
            try:
                data = (path / name).read_bytes()
            except OSError as exc:  # vanished, unreadable, broken symlink, a folder named *.png
                raise DatasetError(
                    f"cannot read {path / name} ({exc.strerror or first_line(exc)}); "
                    "fix or remove it and run again"
                ) from None
            yield name, data

    return Source("folder", str(path), len(images), items, others)


def zip_source(path: Path) -> Source:
    try:
        with zipfile.ZipFile(path) as zf:
            names = sorted(i.filename for i in zf.infolist() if not i.is_dir())
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(
            f"cannot read zip {path} ({exc}); re-create it or pass the unpacked folder"
        ) from None
    if not names:
        raise DatasetError(f"source zip {path} is empty; add images to it or pass another --source")
    images = [n for n in names if is_image_name(n) and not n.startswith("__MACOSX/")]
    keep = set(images)
    others = [n for n in names if n not in keep]
    if not images:
        raise _no_images_error(path, others)

    def items() -> Iterator[tuple[str, bytes]]:
        with zipfile.ZipFile(path) as zf:
            for name in images:
                try:
                    data = zf.read(name)
                except _ZIP_READ_ERRORS as exc:
                    raise DatasetError(
                        f"zip {path} is damaged: member {name!r} cannot be read "
                        f"({first_line(exc)}); re-create the archive or pass the unpacked folder"
                    ) from None
                yield name, data

    return Source("zip", str(path), len(images), items, others)


# ---------------------------------------------------------------------------------------------
# LSUN LMDB.


def lmdb_source(path: Path) -> Source:
    """LSUN export: keys are arbitrary ids, values encoded images (webp/jpeg); key order is used."""
    try:
        import lmdb
    except ImportError:
        raise DatasetError(
            f"reading the LSUN LMDB at {path} needs the optional 'lmdb' package: pip install lmdb"
        ) from None
    try:
        env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, subdir=True)
        total = env.stat()["entries"]
    except lmdb.Error as exc:
        raise DatasetError(
            f"cannot open LMDB {path} ({first_line(exc)}); pass the folder holding the data.mdb "
            "of an LSUN export"
        ) from None
    if total == 0:
        env.close()
        raise DatasetError(f"LMDB {path} has no entries; pass a non-empty LSUN export")

    def items() -> Iterator[tuple[str, bytes]]:
        try:
            with env.begin(write=False) as txn:
                for key, value in txn.cursor():
                    yield key.decode("utf-8", "backslashreplace"), bytes(value)
        except lmdb.Error as exc:
            raise DatasetError(
                f"LMDB {path} is damaged ({first_line(exc)}); re-download or re-export it"
            ) from None
        finally:
            env.close()

    return Source("lmdb", str(path), total, items)


# ---------------------------------------------------------------------------------------------
# Embedded generators and the classifier.


def embedded_source(name: str, resolution: int, seed: int, count: int) -> Source:
    def items() -> Iterator[tuple[str, np.ndarray]]:
        i = 0
        for batch in embedded.iter_batches(name, count, resolution, seed):
            for arr in batch:
                yield f"{i:08d}", arr
                i += 1

    spec = {
        "name": name,
        "seed": seed,
        "count": count,
        "generator_version": embedded.GENERATOR_VERSION,
    }
    return Source("embedded", embedded.PREFIX + name, count, items, extra={"embedded": spec})


def open_source(
    source: str | os.PathLike, resolution: int, seed: int | None = None, count: int | None = None
) -> Source:
    """Classify and validate `source`; raises DatasetError with a fix for anything unusable."""
    name = embedded.parse_source(str(source))
    if name is not None:
        count = embedded.DEFAULT_COUNT if count is None else count
        if count < 1:
            raise DatasetError(f"--count must be >= 1 for {source} (got {count})")
        seed = embedded.DEFAULT_SEED if seed is None else seed
        return embedded_source(name, resolution, seed, count)
    if seed is not None or count is not None:
        raise DatasetError(f"--seed/--count only apply to embedded:NAME sources, not {source}")
    path = Path(source).expanduser()
    if not path.exists():
        raise DatasetError(
            f"source {path} does not exist; pass an existing folder, .zip, LMDB folder or embedded:NAME"
        )
    if path.is_dir():
        if (path / "data.mdb").is_file():
            return lmdb_source(path)
        return folder_source(path)
    if path.name == "data.mdb":
        return lmdb_source(path.parent)
    if path.suffix.lower() == ".zip":
        return zip_source(path)
    raise DatasetError(
        f"unsupported source {path}: pass a folder of images, a .zip of images, "
        f"an LSUN LMDB folder (with data.mdb) or embedded:NAME ({', '.join(embedded.list_embedded())})"
    )
