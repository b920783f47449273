"""Locating, checksumming and (if the network allows) fetching the metric networks' weights.

Weights live in one directory we control (default `resources/weights/`), never in /tmp or
site-packages where clean-fid would put them. Every result records the sha256 of the file used.
An optional `<file>.sha256` next to the weights pins the expected hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import QualityError

CDN = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics"
WEIGHT_URLS = {
    "inception-2015-12-05.pt": f"{CDN}/inception-2015-12-05.pt",
    "vgg16.pt": f"{CDN}/vgg16.pt",
}
DEFAULT_WEIGHTS_DIR = Path("resources/weights")
DOWNLOAD_TIMEOUT_S = 5.0

_sha_cache: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, memoised per (path, size, mtime) within the process."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _sha_cache:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(chunk), b""):
                h.update(block)
        _sha_cache[key] = h.hexdigest()
    return _sha_cache[key]


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
    tmp = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial")
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
        os.replace(tmp, dest)
        return True
    except Exception:  # noqa: BLE001 - any network/disk problem means "not available"
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
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
            "see benchmarks/QUALITY.md; or use --extractor proxy)"
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
    first = (str(exc).strip().splitlines() or [""])[0][:160]
    return QualityError(
        f"cannot load {weights.path} as TorchScript ({type(exc).__name__}: {first}); "
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
