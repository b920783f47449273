"""Small pieces shared by `prepare` and `dataset`: the error type and format constants.

Kept free of torch so `python -m data.prepare` starts quickly.
"""

from __future__ import annotations

import os
from pathlib import Path

from common.cli import UsageError
from common.settings import RESOLUTIONS

FORMAT_NAME = "pixbench-prepared-dataset"
FORMAT_VERSION = 1
RECIPE_NAME = "dataset.json"
IMAGES_PER_FOLDER = 1000


class DatasetError(UsageError):
    """A user-facing problem with a dataset source or prepared file; the message is one line."""


def image_name(index: int) -> str:
    """Archive member name of image `index` (StyleGAN2-ADA style, 1000 images per folder)."""
    return f"{index // IMAGES_PER_FOLDER:05d}/img{index:08d}.png"


def check_resolution(resolution: int) -> int:
    """Return `resolution` if data.prepare can make it (common.settings.RESOLUTIONS: a power of
    two from 8 to 1024, the one rule the config schema also uses), else raise DatasetError."""
    if not isinstance(resolution, int) or resolution not in RESOLUTIONS:
        raise DatasetError(
            f"resolution {resolution!r} is not supported: use a power of two from "
            f"{RESOLUTIONS[0]} to {RESOLUTIONS[-1]} (e.g. 32, 64, 256)"
        )
    return resolution


def read_recipe(path: str | os.PathLike) -> dict:
    """The `dataset.json` recipe of a prepared dataset zip; DatasetError if `path` is not one."""
    import json
    import zipfile

    path = Path(path)
    fix = "create it with: python -m data.prepare --source SRC --resolution R --out FILE.zip"
    if not path.is_file():
        raise DatasetError(f"prepared dataset {path} does not exist; {fix}")
    try:
        with zipfile.ZipFile(path) as zf:
            recipe = json.loads(zf.read(RECIPE_NAME))
    except KeyError:
        raise DatasetError(
            f"{path} has no {RECIPE_NAME}, so it is not a prepared dataset; {fix}"
        ) from None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DatasetError(f"{path} is not a readable prepared dataset ({exc}); {fix}") from None
    if not isinstance(recipe, dict) or recipe.get("format") != FORMAT_NAME:
        raise DatasetError(f"{path}: {RECIPE_NAME} is not a {FORMAT_NAME} recipe; {fix}")
    if recipe.get("format_version") != FORMAT_VERSION:
        raise DatasetError(
            f"{path} uses format version {recipe.get('format_version')!r}, this code reads "
            f"{FORMAT_VERSION}; re-create it with python -m data.prepare"
        )
    return recipe
