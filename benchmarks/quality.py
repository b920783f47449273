"""Sample-quality metrics of a generator against a prepared dataset, with a metric card.

FID and KID come from clean-fid's building blocks in both `clean` and `legacy_tensorflow` mode,
precision/recall follow NVIDIA's `pr50k3_full` exactly, density/coverage follow Naeem et al.;
all of them are computed from the same uint8-quantized samples. See benchmarks/QUALITY.md.

    python -m benchmarks.quality --checkpoint CKPT --data DATA.zip --metrics fid,kid,pr,dc \\
        --num-gen 50000 --seeds 0,1,2 --extractor inception --out results/metrics/x.json

Python: `evaluate(G, "data.zip", metrics=("fid", "pr"), num_gen=1000, extractor="proxy")`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

import models
from benchmarks.metrics import weights as W
from benchmarks.metrics.distances import frechet_distance, kernel_distance
from benchmarks.metrics.errors import QualityError
from benchmarks.metrics.extractors import (
    EXTRACTORS,
    INCEPTION_FILE,
    MODE_RESIZE,
    VGG16_FILE,
    ProxyNet,
    load_nets,
    specs_for,
)
from benchmarks.metrics.features import FeatureCache, extract
from benchmarks.metrics.manifold import manifold_metrics
from benchmarks.metrics.samples import (
    first_line,
    generated_batches,
    open_dataset,
    real_batches,
)
from data.atomic import atomic_write_text

SCHEMA = "pixbench.quality/1"
METRICS = ("fid", "kid", "pr", "dc")
MODES = tuple(MODE_RESIZE)
NOISE_MODES = ("const", "random", "none")
DEFAULT_CACHE_DIR = Path("results/cache")
QUANTIZATION = "uint8 = (x * 127.5 + 128).clamp(0, 255).to(uint8), as NVIDIA (x in ~[-1, 1])"
MODE_NOTES = {
    "clean": "clean-fid clean: PIL bicubic to 299x299 on float32 channels, no re-quantization",
    "legacy_tensorflow": "resize inside the TorchScript net (TF-style bilinear), NVIDIA fid50k_full",
}

# result names: real Inception/VGG16 metrics vs. the offline proxy, which must never look like FID
NAMES = {
    "inception": {
        "fid": "fid",
        "kid": "kid",
        "precision": "precision",
        "recall": "recall",
        "density": "density",
        "coverage": "coverage",
    },
    "proxy": {
        "fid": "fd_proxy",
        "kid": "kd_proxy",
        "precision": "precision_proxy",
        "recall": "recall_proxy",
        "density": "density_proxy",
        "coverage": "coverage_proxy",
    },
}


# ----------------------------------------------------------------------------- inputs


def resolve_device(name: str | torch.device) -> torch.device:
    try:
        return __import__("common.device").device.resolve_device(name)
    except ValueError as exc:
        raise QualityError(str(exc)) from None


def _validate(
    metrics, num_gen, num_real, seeds, extractor, modes, noise_mode, k, k_dc, batch
) -> tuple[str, ...]:
    metrics = tuple(dict.fromkeys(m.strip().lower() for m in metrics if m.strip()))
    bad = [m for m in metrics if m not in METRICS]
    if not metrics or bad:
        raise QualityError(f"unknown metric(s) {bad or metrics}; choose from {','.join(METRICS)}")
    if extractor not in EXTRACTORS:
        raise QualityError(f"unknown extractor {extractor!r}; choose from {', '.join(EXTRACTORS)}")
    bad_modes = [m for m in modes if m not in MODES]
    if not modes or bad_modes:
        raise QualityError(f"unknown mode(s) {bad_modes or modes}; choose from {','.join(MODES)}")
    if noise_mode not in NOISE_MODES:
        raise QualityError(
            f"unknown noise mode {noise_mode!r}; choose from {', '.join(NOISE_MODES)}"
        )
    if num_gen < 2:
        raise QualityError(f"--num-gen must be >= 2 (got {num_gen})")
    if num_real is not None and num_real < 2:
        raise QualityError(f"--num-real must be >= 2 (got {num_real})")
    if not seeds or len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise QualityError(f"--seeds must be distinct non-negative integers (got {list(seeds)})")
    if k < 1 or (k_dc is not None and k_dc < 1):
        raise QualityError("k must be >= 1")
    if batch < 1:
        raise QualityError(f"--batch must be >= 1 (got {batch})")
    return metrics


def _stat(values: list[float]) -> dict:
    """Per-seed values with mean and sample std (ddof=1; null for a single seed)."""
    arr = np.asarray(values, dtype=np.float64)
    return {
        "per_seed": [float(v) for v in arr],
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if len(arr) > 1 else None,
    }


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for dist in ("torch", "clean-fid", "numpy", "scipy", "torchvision", "pixbench"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    out["torch"] = torch.__version__
    return out


def _device_info(device: torch.device) -> dict:
    info = {"type": device.type, "name": platform.processor() or platform.machine()}
    if device.type == "cuda":
        info["name"] = torch.cuda.get_device_name(device)
    return info


# ----------------------------------------------------------------------------- evaluation


def _features(cache, specs, key_of, make_batches, total, nets, device, desc, progress):
    """Cached features for every spec; one extraction pass covers all cache misses."""
    found, missing = {}, []
    for spec in specs:
        feats = cache.load(key_of(spec))
        if feats is None:
            missing.append(spec)
        else:
            found[spec] = feats
    if missing:
        new = extract(make_batches(), missing, nets, device, total, desc, progress)
        for spec in missing:
            cache.save(key_of(spec), new[spec])
        found.update(new)
    return found


def evaluate(
    generator: torch.nn.Module,
    dataset,
    *,
    metrics: Sequence[str] = METRICS,
    num_gen: int = 50_000,
    num_real: int | None = None,
    seeds: Sequence[int] = (0,),
    extractor: str = "inception",
    modes: Sequence[str] = MODES,
    truncation: float = 1.0,
    noise_mode: str = "const",
    device: str | torch.device = "auto",
    batch: int = 16,
    weights_dir: str | os.PathLike = W.DEFAULT_WEIGHTS_DIR,
    cache_dir: str | os.PathLike | None = DEFAULT_CACHE_DIR,
    k: int = 3,
    k_dc: int | None = None,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    pr_block: int = 10_000,
    generator_id: str | None = None,
    generator_info: dict | None = None,
    download: bool = True,
    progress: bool = True,
) -> dict:
    """Compute the requested metrics of `generator` against `dataset` and return the result dict.

    `generator` is called as G(z, truncation_psi=, noise_mode=) and must expose `z_dim`.
    `dataset` is a prepared dataset path or a sequence of uint8 (C, H, W) tensors.
    `generator_id` (e.g. "ckpt:<sha256>:G_ema") enables caching of generated features; without
    it only the real features (keyed by the dataset file hash) are cached.
    """
    t0 = time.perf_counter()
    seeds = [int(s) for s in seeds]
    modes = tuple(dict.fromkeys(modes))
    metrics = _validate(
        metrics, num_gen, num_real, seeds, extractor, modes, noise_mode, k, k_dc, batch
    )
    device = resolve_device(device)
    needs = specs_for(extractor, set(metrics), modes)
    specs = list(dict.fromkeys(spec for group in needs.values() for _, spec in group))
    nets = load_nets({s.net for s in specs}, weights_dir, device, download)
    ds, data_info = open_dataset(dataset)
    n_real = len(ds) if num_real is None else min(num_real, len(ds))
    if n_real < 2:
        raise QualityError(f"need at least 2 real images, the dataset has {len(ds)}")
    kmax = max(k, k_dc or k)
    if "pr" in needs and min(n_real, num_gen) <= kmax:
        raise QualityError(f"precision/recall with k={kmax} needs more than {kmax} images per set")
    if not hasattr(generator, "z_dim"):
        raise QualityError("generator has no z_dim attribute")
    g_res, d_res = getattr(generator, "resolution", None), data_info["resolution"]
    if g_res is not None and d_res is not None and int(g_res) != int(d_res):
        raise QualityError(f"generator resolution {g_res} != dataset resolution {d_res}")
    generator = generator.to(device).eval().requires_grad_(False)

    cache = FeatureCache(cache_dir)
    net_sha = {name: net.sha256 for name, net in nets.items()}

    def real_key(spec):
        if data_info["sha256"] is None:
            return None
        return {
            "kind": "real",
            "dataset_sha256": data_info["sha256"],
            "num_real": n_real,
            "net": spec.net,
            "net_sha256": net_sha[spec.net],
            "resize": spec.resize,
            "device": device.type,
        }

    def gen_key(spec, seed):
        if generator_id is None:
            return None
        return {
            "kind": "gen",
            "generator": generator_id,
            "seed": seed,
            "num_gen": num_gen,
            "truncation": truncation,
            "noise_mode": noise_mode,
            "batch": batch if noise_mode == "random" else None,
            "net": spec.net,
            "net_sha256": net_sha[spec.net],
            "resize": spec.resize,
            "device": device.type,
        }

    real = _features(
        cache,
        specs,
        real_key,
        lambda: real_batches(ds, n_real, batch),
        n_real,
        nets,
        device,
        "real features",
        progress,
    )
    names = NAMES[extractor]
    per_seed: dict[tuple[str, str | None], list[float]] = {}
    for seed in seeds:
        gen = _features(
            cache,
            specs,
            lambda spec, seed=seed: gen_key(spec, seed),
            lambda seed=seed: generated_batches(
                generator, seed, num_gen, batch, truncation, noise_mode, device
            ),
            num_gen,
            nets,
            device,
            f"generated features (seed {seed})",
            progress,
        )
        for mode, spec in needs.get("fd", []):
            if "fid" in metrics:
                mu_r, sig_r = cache.stats(real_key(spec), real[spec])
                mu_g, sig_g = cache.stats(gen_key(spec, seed), gen[spec])
                fd = frechet_distance(mu_g, sig_g, mu_r, sig_r)
                per_seed.setdefault((names["fid"], mode), []).append(fd)
            if "kid" in metrics:
                kd = kernel_distance(gen[spec], real[spec], kid_subsets, kid_subset_size, seed=seed)
                per_seed.setdefault((names["kid"], mode), []).append(kd)
        for _, spec in needs.get("pr", []):
            want = (("precision", "recall") if "pr" in metrics else ()) + (
                ("density", "coverage") if "dc" in metrics else ()
            )
            values = manifold_metrics(
                real[spec], gen[spec], k, k_dc, want, pr_block, pr_block, device
            )
            for name, value in values.items():
                per_seed.setdefault((names[name], None), []).append(value)

    results: dict = {}
    summary: dict = {}
    for (name, mode), values in per_seed.items():
        stat = _stat(values)
        if mode is None:
            results[name] = stat
            summary[name] = stat["mean"]
        else:
            results.setdefault(name, {})[mode] = stat
            summary[f"{name}_{mode}"] = stat["mean"]

    info = dict(generator_info or {})
    card = {
        "extractor": extractor,
        "label": (
            "Inception-v3 (NVIDIA TorchScript) for FID/KID, NVIDIA VGG16 for P/R/D/C"
            if extractor == "inception"
            else "PROXY random conv net - NOT Inception/VGG16, not comparable to published numbers"
        ),
        "nets": {
            name: {
                "file": net.file,
                "sha256": net.sha256,
                "url": net.url,
                **({"version": ProxyNet.version, "dim": net.model.dim} if name == "proxy" else {}),
            }
            for name, net in nets.items()
        },
        "modes": {m: MODE_NOTES[m] for m in modes} if "fd" in needs else {},
        "pr_input": "raw uint8 pixels, resized inside the net" if "pr" in needs else None,
        "quantization": QUANTIZATION,
        "fd_method": "eigenvalues of F S2 F^T with S1 = F^T F (pivoted Cholesky), float64",
        "kid": {
            "subsets": kid_subsets,
            "max_subset_size": kid_subset_size,
            "kernel": "(x.y/d+1)^3",
        },
        "num_real": n_real,
        "num_gen": num_gen,
        "real_selection": "first num_real images in dataset order, x-flip off",
        "k": k,
        "k_dc": k if k_dc is None else k_dc,
        "pr_rule": "NVIDIA pr50k3: radius = (k+1)-th smallest cdist incl. self, probe inside if <=",
        "dc_rule": "Naeem et al. 2020, strict <, real radii with k_dc",
        "pr_dtype": "float16 (CUDA, as NVIDIA)" if device.type == "cuda" else "float32 (CPU)",
        "seeds": seeds,
        "latents": "z = torch.randn(num_gen, z_dim, generator=torch.Generator().manual_seed(seed))",
        "truncation_psi": truncation,
        "noise_mode": noise_mode,
        "weights": info.get("weights", "unknown"),
        "batch": batch,
        "dataset": data_info,
        "versions": _versions(),
        "device": _device_info(device),
        "cache": {
            "dir": None if cache.root is None else str(cache.root),
            "hits": len(cache.hits),
            "misses": len(cache.misses),
        },
        "wall_time_s": round(time.perf_counter() - t0, 3),
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    return {
        "schema": SCHEMA,
        "metrics": results,
        "summary": summary,
        "generator": info,
        "card": card,
    }


# ----------------------------------------------------------------------------- generators


def load_checkpoint(path: str | os.PathLike, device: torch.device, which: str = "G_ema"):
    """Generator from one of our training checkpoints, with provenance and cache id."""
    path = Path(path)
    if not path.is_file():
        raise QualityError(f"checkpoint not found: {path}")
    try:
        from training.checkpoint import load_generator
    except ImportError as exc:
        raise QualityError(f"cannot import training.checkpoint.load_generator ({exc})") from None
    try:
        G, meta = load_generator(str(path), which=which, device=device)
    except Exception as exc:  # noqa: BLE001 - unreadable checkpoint is a bad input
        raise QualityError(
            f"cannot load {which} from {path}: {type(exc).__name__}: {first_line(exc)}"
        ) from None
    sha = W.sha256_file(path)
    meta = dict(meta or {})
    info = {
        "source": "checkpoint",
        "path": str(path),
        "sha256": sha,
        "weights": which,
        **{key: meta.get(key) for key in ("model", "resolution", "overrides", "kimg")},
    }
    return G, info, f"ckpt:{sha}:{which}"


def load_official_generator(path, name: str, resolution: int | None, device: torch.device):
    """Generator from an official release checkpoint via models.load_official."""
    path = Path(path)
    if not path.is_file():
        raise QualityError(f"official checkpoint not found: {path}")
    try:
        from models import load_official
    except ImportError as exc:
        raise QualityError(f"cannot import models.load_official ({exc})") from None
    try:
        kwargs = {} if resolution is None else {"resolution": int(resolution)}
        G = load_official(str(path), name, **kwargs)
    except Exception as exc:  # noqa: BLE001
        raise QualityError(
            f"cannot load official {name} from {path}: {type(exc).__name__}: {first_line(exc)}"
        ) from None
    sha = W.sha256_file(path)
    info = {
        "source": "official",
        "path": str(path),
        "sha256": sha,
        "weights": "official release",
        "model": name,
        "resolution": resolution or getattr(G, "resolution", None),
    }
    return G.to(device), info, f"official:{sha}:{name}:{info['resolution']}"


# ----------------------------------------------------------------------------- CLI


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2 (no usage dump)."""

    def error(self, message):
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m benchmarks.quality", description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="training checkpoint (loads G_ema unless --which G)")
    src.add_argument("--official", help="official release checkpoint (needs --model)")
    p.add_argument("--model", help="model name for --official")
    p.add_argument("--resolution", type=int, help="for --official (default: the dataset's)")
    p.add_argument("--which", default="G_ema", choices=("G_ema", "G"), help="EMA or raw weights")
    p.add_argument("--data", required=True, help="prepared dataset file")
    p.add_argument("--metrics", default="fid,kid,pr,dc", help="comma list of fid,kid,pr,dc")
    p.add_argument("--num-gen", type=int, default=50_000)
    p.add_argument("--num-real", type=int, default=None, help="default: the whole dataset")
    p.add_argument("--seeds", type=_int_list, default=[0])
    p.add_argument("--extractor", default="inception", choices=EXTRACTORS)
    p.add_argument("--modes", default=",".join(MODES), help="FID/KID resize modes")
    p.add_argument("--truncation", type=float, default=1.0)
    p.add_argument("--noise-mode", default="const")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--k", type=int, default=3, help="k of precision/recall (NVIDIA: 3)")
    p.add_argument("--k-dc", type=int, default=None, help="k of density/coverage (default: --k)")
    p.add_argument("--kid-subsets", type=int, default=100)
    p.add_argument("--kid-subset-size", type=int, default=1000)
    p.add_argument("--pr-block", type=int, default=10_000, help="row/column block of the k-NN")
    p.add_argument("--weights-dir", default=str(W.DEFAULT_WEIGHTS_DIR))
    p.add_argument("--cache-dir", default=str(DEFAULT_CACHE_DIR))
    p.add_argument("--no-cache", action="store_true", help="do not read or write cached features")
    p.add_argument("--no-download", action="store_true", help="never try to fetch weights")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch and BLAS")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--out", required=True, help="result JSON (written atomically)")
    return p


def write_json(path: str | os.PathLike, obj: dict) -> None:
    """Write JSON via a temp file in the same directory + os.replace (never a half file)."""
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


def run(args: argparse.Namespace) -> dict:
    """Everything the CLI does except writing the file; raises QualityError on bad input."""
    metrics = [m for m in args.metrics.split(",") if m.strip()]
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    _validate(
        metrics,
        args.num_gen,
        args.num_real,
        args.seeds,
        args.extractor,
        modes,
        args.noise_mode,
        args.k,
        args.k_dc,
        args.batch,
    )
    if not Path(args.data).is_file():
        raise QualityError(f"dataset file not found: {args.data}")
    if args.official and not args.model:
        raise QualityError("--official needs --model NAME")
    download = not args.no_download
    if args.extractor == "inception":  # fail on missing/corrupt-by-hash weights before loading G
        W.locate(INCEPTION_FILE, args.weights_dir, download)
        if {"pr", "dc"} & {m.strip().lower() for m in metrics}:
            W.locate(VGG16_FILE, args.weights_dir, download)
    device = resolve_device(args.device)
    if args.checkpoint:
        G, info, gid = load_checkpoint(args.checkpoint, device, args.which)
    else:  # official weights carry no resolution: default to the dataset's
        resolution = args.resolution or open_dataset(args.data)[1]["resolution"]
        G, info, gid = load_official_generator(args.official, args.model, resolution, device)
    return evaluate(
        G,
        args.data,
        metrics=metrics,
        num_gen=args.num_gen,
        num_real=args.num_real,
        seeds=args.seeds,
        extractor=args.extractor,
        modes=modes,
        truncation=args.truncation,
        noise_mode=args.noise_mode,
        device=device,
        batch=args.batch,
        weights_dir=args.weights_dir,
        cache_dir=None if args.no_cache else args.cache_dir,
        k=args.k,
        k_dc=args.k_dc,
        kid_subsets=args.kid_subsets,
        kid_subset_size=args.kid_subset_size,
        pr_block=args.pr_block,
        generator_id=gid,
        generator_info=info,
        download=download,
        progress=not args.quiet,
    )


def _limit_threads(n: int) -> None:
    """On a shared CPU box, oversubscribed OpenMP/OpenBLAS pools can be 10x slower than one."""
    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(n)  # stays in effect for the rest of the process


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # bad arguments (one line already printed) or --help
        return int(exc.code or 0)
    try:
        if args.threads is not None:
            if args.threads < 1:
                raise QualityError(f"--threads must be >= 1 (got {args.threads})")
            _limit_threads(args.threads)
        result = run(args)
    except QualityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_json(args.out, result)
    summary = ", ".join(f"{k}={v:.4g}" for k, v in result["summary"].items())
    print(f"{args.out}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
