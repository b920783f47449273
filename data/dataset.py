"""Torch Dataset over a prepared dataset zip (see data/prepare.py for the format).

Why lazy per-process zip handles: a ZipFile holds an OS file offset, so sharing one across
forked DataLoader workers corrupts reads. Each process opens its own handle on first access
(and after unpickling), so num_workers > 0, spawn/fork and DistributedSampler all work.
"""

from __future__ import annotations

import functools
import io
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from common.cli import first_line
from common.io import sha256_file
from data._common import RECIPE_NAME, DatasetError, read_recipe

__all__ = ["DatasetError", "PreparedDataset", "dataset_info", "open_dataset", "read_recipe"]


class PreparedDataset(Dataset):
    """Images of a prepared zip as uint8 tensors (3, R, R); optional random horizontal flip.

    The flip uses torch's global RNG, which DataLoader seeds per worker from the base seed, so
    `torch.manual_seed` makes epochs reproducible.
    """

    def __init__(self, path: str | os.PathLike, xflip: bool = False):
        self.path = Path(path)
        self.recipe = read_recipe(self.path)
        self.xflip = bool(xflip)
        self.resolution = int(self.recipe["resolution"])
        self.name = str(self.recipe.get("name") or self.path.stem)
        with zipfile.ZipFile(self.path) as zf:
            names = sorted(n for n in zf.namelist() if n.endswith(".png"))
        if len(names) != self.recipe.get("num_images"):
            raise DatasetError(
                f"{self.path} holds {len(names)} PNGs but {RECIPE_NAME} says "
                f"{self.recipe.get('num_images')}; re-create it with python -m data.prepare"
            )
        self._names = names
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid: int | None = None

    def __len__(self) -> int:
        return len(self._names)

    def _archive(self) -> zipfile.ZipFile:
        if self._zip is None or self._zip_pid != os.getpid():
            self._zip = zipfile.ZipFile(self.path)  # a forked copy of the parent's is never reused
            self._zip_pid = os.getpid()
        return self._zip

    def __getitem__(self, index: int) -> torch.Tensor:
        name = self._names[index]  # IndexError / negative indices as for a list
        try:
            with Image.open(io.BytesIO(self._archive().read(name))) as img:
                arr = np.asarray(img.convert("RGB"))
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            # damaged after preparation (bad CRC, truncated copy): name the file and the fix
            raise DatasetError(
                f"prepared dataset {self.path} is damaged at {name} ({first_line(exc)}); "
                "re-prepare it with python -m data.prepare (the workflow: delete it and re-run)"
            ) from None
        if arr.shape != (self.resolution, self.resolution, 3):
            raise DatasetError(
                f"{self.path}:{name} has shape {arr.shape}, expected "
                f"({self.resolution}, {self.resolution}, 3); re-create the dataset"
            )
        image = torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
        if self.xflip and torch.rand(()) < 0.5:
            image = image.flip(-1)
        return image

    @functools.cached_property
    def file_sha256(self) -> str:
        """sha256 of the prepared file's bytes (identifies the exact reference set); cached."""
        return sha256_file(self.path)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_zip"] = state["_zip_pid"] = None  # open handles do not pickle; reopen lazily
        return state

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __repr__(self) -> str:
        return (
            f"PreparedDataset({str(self.path)!r}, n={len(self)}, resolution={self.resolution}, "
            f"xflip={self.xflip})"
        )


def open_dataset(data, xflip: bool = False):
    """A prepared dataset path → PreparedDataset (one-line DatasetError if it is not one); any
    other object (a sequence of uint8 (C, H, W) tensors, in tests and the API) is used as is."""
    if not isinstance(data, str | os.PathLike):
        return data
    if not Path(data).is_file():
        raise DatasetError(
            f"dataset file {str(data)!r} does not exist; create it with python -m data.prepare"
        )
    try:
        return PreparedDataset(data, xflip=xflip)
    except DatasetError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"cannot read dataset {str(data)!r}: {first_line(exc)}") from None


def dataset_info(ds) -> dict:
    """What identifies a dataset in a result: its file, bytes' sha256, recipe, size."""
    path = getattr(ds, "path", None)
    return {
        "path": str(Path(path).resolve()) if path is not None else None,
        "sha256": getattr(ds, "file_sha256", None),
        "recipe": getattr(ds, "recipe", None),
        "resolution": getattr(ds, "resolution", None),
        "num_images": len(ds),
    }
