"""Locating, checksumming and (if the network allows) fetching the metric networks' weights.

Weights live in one directory we control (`settings.Quality.weights_dir`), never in /tmp or
site-packages where clean-fid would put them. Every result records the sha256 of the file used.
An optional `<file>.sha256` next to the weights pins the expected hash.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from common.cli import first_line
from common.io import atomic_output, sha256_file

from .errors import QualityError

CDN = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics"
WEIGHT_URLS = {
    "inception-2015-12-05.pt": f"{CDN}/inception-2015-12-05.pt",
    "vgg16.pt": f"{CDN}/vgg16.pt",
}
DOWNLOAD_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class WeightFile:
    """A verified weights file: where it is and what it hashes to."""

    name: str
    path: Path
    sha256: str
    url: str


def _try_download(url: str, dest: Path, timeout: float) -> bool:
    """Fetch `url` into `dest` atomically; False (and nothing left behind, not even a folder we
    created) on any failure."""
    created = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
    try:
        with (
            atomic_output(dest, suffix=".partial") as tmp,
            urllib.request.urlopen(url, timeout=timeout) as resp,
            open(tmp, "wb") as out,
        ):
            shutil.copyfileobj(resp, out)
        return True
    except Exception:  # noqa: BLE001 - any network/disk problem means "not available"
        for folder in created:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()
        return False


def locate(name: str, weights_dir: str | os.PathLike, download: bool = True) -> WeightFile:
    """Find `name` under `weights_dir`, trying one quick download if it is missing."""
    url = WEIGHT_URLS[name]
    path = Path(weights_dir) / name
    if not path.is_file() and download and os.environ.get("PIXBENCH_NO_DOWNLOAD") != "1":
        _try_download(url, path, DOWNLOAD_TIMEOUT_S)
    if not path.is_file():
        raise QualityError(
            f"missing metric weights {path} (expected file; download {url} and place it there, "
            "see benchmarks/quality/README.md; or use --extractor proxy)"
        )
    digest = sha256_file(path)
    pin = path.with_name(path.name + ".sha256")
    if pin.is_file():
        words = pin.read_text().split()
        expected = words[0].lower() if words else ""
        if expected and expected != digest:
            raise QualityError(
                f"sha256 of {path} is {digest} but {pin} expects {expected}; "
                f"the file is corrupt or a different version, re-download it from {url}"
            )
    return WeightFile(name=name, path=path, sha256=digest, url=url)


def corrupt_error(weights: WeightFile, exc: BaseException) -> QualityError:
    """One-line replacement for the zip/pickle traceback a truncated TorchScript file produces."""
    return QualityError(
        f"cannot load {weights.path} as TorchScript ({type(exc).__name__}: {first_line(exc)}); "
        f"the file is corrupt or truncated, delete it and download {weights.url} again"
    )


@contextlib.contextmanager
def quiet_jit_load():
    """NVIDIA ships the metric nets only as TorchScript; torch's deprecation notice for
    torch.jit.load is not actionable for users, so it is silenced while loading them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.*", category=FutureWarning)
        yield


def load_torchscript(weights: WeightFile, device: torch.device) -> torch.jit.ScriptModule:
    """torch.jit.load with a readable error for truncated or non-TorchScript files."""
    try:
        with quiet_jit_load():
            module = torch.jit.load(str(weights.path), map_location=device)
    except Exception as exc:  # noqa: BLE001 - zip/pickle/format errors all mean "corrupt"
        raise corrupt_error(weights, exc) from None
    return module.eval()
