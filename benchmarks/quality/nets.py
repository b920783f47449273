"""The feature networks behind the extractors (see extractors.py for which net serves what).

* `inception`: NVIDIA's TorchScript Inception (`inception-2015-12-05.pt`, 2048-D pool features)
  through clean-fid's own `InceptionV3W` wrapper, loaded from our weights directory instead of /tmp.
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
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import weights as W

INCEPTION_FILE = "inception-2015-12-05.pt"
VGG16_FILE = "vgg16.pt"


class _WeightsNet:
    """A net loaded from one verified weights file."""

    def __init__(self, weights: W.WeightFile):
        self.file = str(weights.path)
        self.sha256 = weights.sha256
        self.url = weights.url

    def card(self) -> dict:
        return {"file": self.file, "sha256": self.sha256, "url": self.url}


class InceptionNet(_WeightsNet):
    """Inception via clean-fid's InceptionV3W: `clean` input goes straight into the layers,
    `none` input is resized inside the TorchScript module (legacy_tensorflow = NVIDIA fid50k)."""

    name = "inception"
    dim = 2048  # pool3 features

    def __init__(self, weights: W.WeightFile, device: torch.device):
        from cleanfid.inception_torchscript import InceptionV3W

        try:
            with W.quiet_jit_load():
                model = InceptionV3W(str(weights.path.parent), download=False, resize_inside=False)
        except Exception as exc:  # noqa: BLE001 - a corrupt file surfaces as zip/pickle errors
            raise W.corrupt_error(weights, exc) from None
        super().__init__(weights)
        self.model = model.to(device).eval()

    def __call__(self, x: torch.Tensor, resize: str) -> torch.Tensor:
        self.model.resize_inside = resize == "none"
        return self.model(x)


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
    file) and its class, called as cls(WeightFile, device), or cls(device) without a file."""

    file: str | None
    cls: type

    @property
    def dim(self) -> int:
        """Feature width, as the net class declares it."""
        return self.cls.dim


# net name -> Net; an extractor names the nets it uses (extractors.py)
NETS = {
    "inception": Net(INCEPTION_FILE, InceptionNet),
    "vgg16": Net(VGG16_FILE, VGG16Net),
    "proxy": Net(None, ProxyFeatures),
}


def locate_weights(names, weights_dir: str | Path, download: bool = True) -> dict:
    """Find and verify the weights file of every net in `names` (one-line QualityError if not)."""
    return {n: W.locate(NETS[n].file, weights_dir, download) for n in sorted(names) if NETS[n].file}


def load_nets(
    names, weights_dir: str | Path, device: torch.device, download: bool = True
) -> dict[str, object]:
    """Locate, verify and load every net in `names`. All files are checked before any is loaded,
    so a missing VGG16 is reported before minutes are spent loading Inception."""
    files = locate_weights(names, weights_dir, download)
    nets = {}
    for n in sorted(names):
        nets[n] = NETS[n].cls(files[n], device) if n in files else NETS[n].cls(device)
    return nets
