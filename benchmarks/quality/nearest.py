"""The learned-not-copied check: a few samples of a generator, each beside its nearest real
images in feature space.

A GAN that memorised its training set would score well on FD and precision while producing
nothing new; showing each sample next to the closest real images is the standard check in GAN
papers. Distances are Euclidean between PROXY features (the fixed random conv net of
benchmarks/quality/nets.py, the one the default run's metrics use), so "nearest" means nearest
as those metrics see it. The JSON also gives the median distance of a real image to its nearest
other real image: a sample much closer to a real one than that is a copy.

    python -m benchmarks.quality.nearest --checkpoint CKPT --data DATA.zip --out nn.png \\
        --json nn.json [--samples 3] [--k 3] [--num-real 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import sys

import numpy as np
import torch

from common.cli import OneLineParser, run, setup_logging
from common.device import DEFAULT_DEVICE, add_device_flag, resolve_device
from common.io import atomic_output, write_json

from .errors import QualityError

log = logging.getLogger("pixbench.quality.nearest")


def nearest(gen: np.ndarray, real: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, distances), each (len(gen), k): the k real rows nearest to each generated row
    (Euclidean), closest first; equal distances keep the lower real index first."""
    gen, real = np.asarray(gen, np.float64), np.asarray(real, np.float64)
    if gen.ndim != 2 or real.ndim != 2 or gen.shape[1] != real.shape[1]:
        raise QualityError(f"feature shapes differ: generated {gen.shape}, real {real.shape}")
    if not 1 <= k <= len(real):
        raise QualityError(f"k must be 1..{len(real)} (the real images), got {k}")
    d2 = (gen**2).sum(1)[:, None] + (real**2).sum(1)[None, :] - 2.0 * gen @ real.T
    dist = np.sqrt(np.maximum(d2, 0.0))
    idx = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(dist, idx, axis=1)


def real_to_real_median(real: np.ndarray) -> float:
    """Median over real images of the distance to their nearest *other* real image: the scale a
    sample-to-real distance is read against."""
    real = np.asarray(real, np.float64)
    if len(real) < 2:
        raise QualityError("need at least 2 real images")
    _, dist = nearest(real, real, 2)  # column 0 is the image itself (distance 0)
    return float(np.median(dist[:, 1]))


def panel(gen_u8: torch.Tensor, real_u8: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
    """One uint8 image: row i is generated image i, then real images idx[i] in order, with a
    wider gap after the generated column so the two are never confused."""
    if len(gen_u8) != len(idx):
        raise QualityError(f"{len(gen_u8)} generated images but {len(idx)} rows of neighbours")

    def framed(img):  # a 2-px white frame, so neighbouring images never touch
        return torch.nn.functional.pad(img, (2, 2, 2, 2), value=255)

    rows = []
    for i, img in enumerate(gen_u8):
        gap = torch.full((img.shape[0], img.shape[1] + 4, 6), 255, dtype=torch.uint8)
        rows.append(torch.cat([framed(img), gap, *(framed(real_u8[j]) for j in idx[i])], dim=2))
    return torch.cat(rows, dim=1)


def features(u8_batches, device: torch.device) -> np.ndarray:
    """PROXY features of uint8 NCHW batches, extracted the way the quality metrics extract them
    (features.extract: grey images made RGB, the net's own resize)."""
    from .features import extract
    from .nets import ProxyFeatures
    from .registry import FeatureSpec

    spec = FeatureSpec("proxy", "none")
    return extract(u8_batches, [spec], {"proxy": ProxyFeatures(device)}, device, progress=False)[
        spec
    ]


def check(
    checkpoint,
    data,
    *,
    samples: int = 3,
    k: int = 3,
    num_real: int | None = None,
    seed: int = 0,
    device: str = DEFAULT_DEVICE,
    batch: int = 64,
) -> tuple[torch.Tensor, dict]:
    """(the panel image, its JSON) for the first `samples` images of `seed` (the latents the
    quality metrics draw first) against the first `num_real` real images."""
    from data.dataset import open_dataset

    from .generators import load_checkpoint
    from .samples import generated_batches, real_batches

    dev = resolve_device(device)
    G, gen_info, _ = load_checkpoint(checkpoint, dev)
    ds = open_dataset(data)
    n_real = min(num_real or len(ds), len(ds))
    reals = torch.cat(list(real_batches(ds, n_real, batch)))
    gens = torch.cat(list(generated_batches(G, seed, samples, batch, 1.0, "const", dev))).cpu()
    real_f, gen_f = features(reals.split(batch), dev), features(gens.split(batch), dev)
    idx, dist = nearest(gen_f, real_f, k)
    info = {
        "checkpoint": str(checkpoint),
        "model": gen_info.get("model"),
        "kimg": gen_info.get("kimg"),
        "features": "proxy",
        "seed": seed,
        "num_real": n_real,
        "real_to_real_median": real_to_real_median(real_f),
        "samples": [
            {"index": i, "nearest": idx[i].tolist(), "distances": dist[i].round(6).tolist()}
            for i in range(samples)
        ],
    }
    return panel(gens, reals, idx), info


def build_parser() -> OneLineParser:
    p = OneLineParser(
        prog="python -m benchmarks.quality.nearest", description=__doc__.split("\n\n")[0]
    )
    arg = p.add_argument
    arg("--checkpoint", required=True, help="training checkpoint (G_ema)")
    arg("--data", required=True, help="prepared dataset file")
    arg("--out", required=True, help="panel PNG")
    arg("--json", required=True, help="indices and distances of the panel")
    arg("--samples", type=int, default=3, help="generated images (rows)")
    arg("--k", type=int, default=3, help="nearest real images per sample")
    arg("--num-real", type=int, default=None, help="first N real images (default: all)")
    arg("--seed", type=int, default=0, help="latent seed of the samples")
    add_device_flag(p)
    return p


def main(argv=None) -> int:
    args: argparse.Namespace = build_parser().parse_args(argv)
    setup_logging()
    img, info = check(
        args.checkpoint,
        args.data,
        samples=args.samples,
        k=args.k,
        num_real=args.num_real,
        seed=args.seed,
        device=args.device,
    )
    from PIL import Image

    with atomic_output(args.out, suffix=".png") as tmp:
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(tmp, format="PNG")
    write_json(args.json, info)
    log.info("wrote %s and %s", args.out, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
