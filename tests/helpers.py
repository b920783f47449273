"""What several test files build or share: TorchScript stand-ins of NVIDIA's metric networks
(placed under their real file names, optionally pinned by `.sha256`), a copy of the repository
to run the workflow in without touching the checkout's results, the quality tests' stand-in
generator and images, the tiny training settings, and the stages' command lines as the tests
run them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.quality.cli import main as quality_main
from common import settings
from common.cli import run
from common.io import sha256_file
from reports import compare
from training.distributed import Dist
from training.fastpath import FastPath
from training.hparams import resolve_hparams
from training.networks import make_networks
from training.sampler import MicroDraws
from training.step import training_step

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


# ---------------------------------------- quality: a stand-in generator and images, the CLI


class TinyGenerator(torch.nn.Module):
    """Stand-in G with the suite's call convention: G(z, truncation_psi=, noise_mode=)."""

    def __init__(self, z_dim: int = 16, resolution: int = 32, seed: int = 0):
        super().__init__()
        self.z_dim, self.resolution = z_dim, resolution
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("w", torch.randn(z_dim, 3 * 8 * 8, generator=gen) / z_dim**0.5)

    def forward(self, z, truncation_psi=1.0, noise_mode="const"):
        x = (z * truncation_psi) @ self.w
        x = x.view(-1, 3, 8, 8)
        if noise_mode == "random":
            x = x + 0.1 * torch.randn_like(x)
        x = torch.nn.functional.interpolate(x, size=self.resolution, mode="bilinear")
        return torch.tanh(x)


def structured_images(n: int, shift: int, res: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 (n, res, res, 3) gradients plus noise: varied enough for non-degenerate features."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:res, :res]
    out = []
    for i in range(n):
        base = np.stack([(xx * 8 + 3 * i) % 256, (yy * 8 + shift) % 256, ((xx + yy) * 4) % 256], -1)
        out.append(np.clip(base + rng.integers(-40, 40, (res, res, 3)), 0, 255))
    return np.stack(out).astype(np.uint8)


class ArrayDataset:
    """In-memory dataset with the PreparedDataset attributes the metrics read."""

    def __init__(self, images: np.ndarray, sha: str | None = "feedbeef"):
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        self.resolution = images.shape[1]
        self.recipe = {"name": "synthetic"}
        self.file_sha256 = sha

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def image_batches(images: np.ndarray, batch: int = 8):
    """uint8 (n, H, W, 3) images as (B, 3, H, W) tensors, `batch` at a time, as a loader gives."""
    t = torch.from_numpy(images).permute(0, 3, 1, 2)
    return (t[i : i + batch] for i in range(0, len(t), batch))


def quality_cli(args, capsys):
    """The CLI as `python -m benchmarks.quality` runs it (common.cli.run: exit-code rule)."""
    try:
        code = run(quality_main, [str(a) for a in args])
    except SystemExit as exc:  # argparse's own one-line errors and --help
        code = exc.code
    return code, capsys.readouterr()


# The shipped metrics' result keys: result JSONs and reports already written depend on them.
SHIPPED_KEYS = {
    ("fid", "inception"): ["fid_clean", "fid_legacy_tensorflow"],
    ("fid", "proxy"): ["fd_proxy_clean", "fd_proxy_legacy_tensorflow"],
    ("kid", "inception"): ["kid_clean", "kid_legacy_tensorflow"],
    ("kid", "proxy"): ["kd_proxy_clean", "kd_proxy_legacy_tensorflow"],
    ("pr", "inception"): ["precision", "recall"],
    ("pr", "proxy"): ["precision_proxy", "recall_proxy"],
    ("dc", "inception"): ["density", "coverage"],
    ("dc", "proxy"): ["density_proxy", "coverage_proxy"],
    ("fid", "inception_only"): ["fid_clean", "fid_legacy_tensorflow"],
    ("pr", "inception_only"): ["precision_inception", "recall_inception"],
    ("dc", "inception_only"): ["density_inception", "coverage_inception"],
}

SHIPPED_OUTPUTS = ("fid", "kid", "precision", "recall", "density", "coverage")  # with inception


# ---------------------------------------- training: tiny networks, few steps


TINY = {"width": 0.125, "z_dim": 32, "n_mlp": 2}
FAST_REG = {"d_reg_interval": 2, "g_reg_interval": 2}  # regularisers run within a few steps
TINY_CLI = [f"--build={k}={v}" for k, v in TINY.items()]
TINY_CLI += [f"--hparam={k}={v}" for k, v in FAST_REG.items()]
NARROW = {"width": 0.0625, "z_dim": 32, "n_mlp": 2}  # the parallel and fast-path runs' networks


def tensors_equal(a, b, where="") -> None:
    """Assert two nested checkpoint structures are identical, tensors compared with torch.equal."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            tensors_equal(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            tensors_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def relative_difference(a: dict, b: dict, init: dict) -> tuple[float, float]:
    """(‖a − b‖ / ‖a − init‖, max |a − b|) over a network's floating-point tensors: how far
    apart two runs ended, as a fraction of how far training moved the weights."""
    keys = [k for k in a if a[k].is_floating_point()]
    fa, fb, fi = (torch.cat([s[k].flatten() for k in keys]) for s in (a, b, init))
    return float((fa - fb).norm() / (fa - fi).norm()), float((fa - fb).abs().max())


def fp16_against_fp32(device: str, steps: int = 3) -> tuple[float, dict]:
    """(gap of G after `steps` fp16 steps against fp32 ones, the fp16 scalers' state), both
    runs from the same weights and reals, the scalers starting calibrated at 2^14."""
    hp = resolve_hparams("stylegan2", FAST_REG)
    real = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    calibrated = {
        "scale": 2.0**14,
        "growth_factor": 2.0,
        "backoff_factor": 0.5,
        "growth_interval": 2000,
        "_growth_tracker": 0,
    }
    weights = {}
    for precision in ("fp32", "fp16"):
        torch.manual_seed(0)
        nets, _ = make_networks("stylegan2", 32, NARROW, hp, torch.device(device))
        weights["init"] = {k: v.to("cpu", copy=True) for k, v in nets.G.state_dict().items()}
        fast = FastPath(settings.Train(precision=precision), nets, device)
        fast.load_state_dict({"G": calibrated, "D": calibrated})
        pl = torch.zeros((), device=device)
        for step in range(steps):
            draws = MicroDraws(0, step, range(1), 1)
            stats, _, pl = training_step(
                nets, real.to(device), step=step, gen=draws, hp=hp, pl_mean=pl, d=Dist(), fast=fast
            )
            assert torch.isfinite(stats).all() and stats.dtype == torch.float32
        weights[precision] = {k: v.to("cpu", copy=True) for k, v in nets.G.state_dict().items()}
    rel, _ = relative_difference(weights["fp16"], weights["fp32"], weights["init"])
    return rel, fast.state_dict()


def train_process(data, out, *extra) -> subprocess.Popen:
    """`python -m training.train` on the tiny networks and one thread, started, not waited for:
    the caller stops it or reads its exit."""
    cmd = [
        sys.executable,
        "-m",
        "training.train",
        "--model",
        "stylegan2",
        "--data",
        str(data),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--batch",
        "4",
        "--threads",
        "1",
        "--log-every",
        "1",
        *TINY_CLI,
        *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


# ---------------------------------------- data.prepare


def noise_pixels(rng: np.random.Generator, h: int, w: int, c: int = 3) -> np.ndarray:
    """Random uint8 pixels, (h, w, c), or (h, w) for one channel."""
    return rng.integers(0, 256, (h, w, c) if c > 1 else (h, w), dtype=np.uint8)


def leftovers(folder: Path) -> list[str]:
    """The names in `folder` (none if it does not exist): what a failed run left behind."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def prepare_cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m data.prepare` in a subprocess, as the workflow runs it."""
    cmd = [sys.executable, "-m", "data.prepare", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)


# ---------------------------------------- reports.compare


def compare_gate(*folders) -> int:
    """The exit code of `python -m reports.compare <folders> --gate`, run in this process."""
    return run(compare.main, [*map(str, folders), "--gate"])


def train_run(model, data, out, *, device="cpu", build=None, hparams=None, resume=None,
              progress=False, speed_grid=None, **fields):  # fmt: skip
    """training.loop.train with its `train:` section built from `fields` as a config gives it
    (checked against the section's schema, defaults for the rest)."""
    from training.loop import train

    cfg = settings.validate(fields, settings.Train, "the test's train section")
    return train(model, data, out, cfg, build, hparams, device=device, resume=resume,
                 progress=progress, speed_grid=speed_grid)  # fmt: skip
