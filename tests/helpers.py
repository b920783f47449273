"""What several test files build: TorchScript stand-ins of NVIDIA's metric networks (placed under
their real file names, optionally pinned by `.sha256`), and a copy of the repository to run the
workflow in without touching the checkout's results."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from common.io import sha256_file

ROOT = Path(__file__).resolve().parents[1]
INCEPTION_FILE, VGG_FILE = "inception-2015-12-05.pt", "vgg16.pt"


class _FakeInceptionLayers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer(
            "proj", torch.randn(192, 2048, generator=torch.Generator().manual_seed(0))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(x, 8).flatten(1)
        return torch.relu(pooled @ self.proj).view(x.shape[0], 2048, 1, 1)


class FakeInception(torch.nn.Module):
    """TorchScript with the interface clean-fid's InceptionV3W expects from NVIDIA's file."""

    def __init__(self):
        super().__init__()
        self.layers = _FakeInceptionLayers()

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = F.interpolate(img.to(torch.float32), size=(299, 299), mode="bilinear")
        return self.layers((x - 128) / 128).view(img.shape[0], 2048)


class FakeVGG16(torch.nn.Module):
    """TorchScript with NVIDIA vgg16.pt's call convention; insists on uint8 input like pr50k3."""

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        assert img.dtype == torch.uint8, "vgg16.pt gets uint8 images"
        assert return_features
        x = F.adaptive_avg_pool2d(img.to(torch.float32), 4)
        return x.flatten(1) / 255


def write_standin_weights(folder: Path, pin: bool = False) -> Path:
    """Both stand-ins under NVIDIA's file names; with `pin`, each gets a `<file>.sha256`."""
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # torch deprecates TorchScript; NVIDIA's files are TorchScript
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(FakeInception()), str(folder / INCEPTION_FILE))
        torch.jit.save(torch.jit.script(FakeVGG16()), str(folder / VGG_FILE))
    if pin:
        for name in (INCEPTION_FILE, VGG_FILE):
            (folder / f"{name}.sha256").write_text(f"{sha256_file(folder / name)}  {name}\n")
    return folder


COPY_SKIP = (
    ".venv",
    ".git",
    "results",
    ".snakemake",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".benchmarks",
    "resources",
)


def copy_repo(dst: Path) -> Path:
    """The project's files without environments, results or rendered reports."""
    shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(*COPY_SKIP))
    for generated in (dst / "reports").iterdir():  # rendered runs, not code
        if generated.is_dir() and not (generated / "__init__.py").exists():
            shutil.rmtree(generated)
    return dst
