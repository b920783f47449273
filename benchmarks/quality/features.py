"""From uint8 image batches to feature arrays, with a content-addressed on-disk cache.

One pass over an image stream feeds every requested feature set, so FID in `clean` and
`legacy_tensorflow` mode and precision/recall are all computed from the very same pixels.
`gather` returns each set as a `FeatureSet`, what a metric function receives.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from cleanfid.resize import build_resizer
from tqdm.auto import tqdm

from common.io import atomic_output, write_json

from .distances import feature_stats
from .registry import FeatureSpec

FEATURES_VERSION = 1  # bump when extraction changes in a way that invalidates cached features
# Images per feature-net forward, whatever the batches the images come in. Features do not depend
# on it beyond fp32 rounding; speed does: a TF-Inception forward on 2 CPU threads took 87-90 ms
# per image at 4-8 images and 96-114 ms at 16-32 (AMD EPYC, AVX2), where the activations outgrow
# the caches and the allocator's reuse limit (common.allocator).
NET_BATCH = 8


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Generator output in ~[-1, 1] to uint8 exactly as NVIDIA's metrics do before any detector."""
    return (images * 127.5 + 128).clamp(0, 255).to(torch.uint8)


class CleanResize:
    """clean-fid's `clean` resize (PIL bicubic on each float32 channel to 299x299, clipped to
    [0, 255], not re-quantized), taken from clean-fid itself and applied image by image."""

    def __init__(self):
        self.fn = build_resizer("clean")

    def __call__(self, batch_u8: torch.Tensor) -> torch.Tensor:
        arr = batch_u8.cpu().permute(0, 2, 3, 1).numpy()
        out = np.stack([self.fn(img) for img in arr])
        return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def rgb_batch(u8: torch.Tensor) -> torch.Tensor:
    """A checked uint8 NCHW batch with 3 channels: grayscale is repeated to RGB, as NVIDIA does,
    so every net and every IMAGES metric sees the same RGB pixels."""
    if u8.dtype != torch.uint8 or u8.ndim != 4 or u8.shape[1] not in (1, 3):
        raise ValueError(f"expected uint8 NCHW RGB batches, got {u8.dtype} {tuple(u8.shape)}")
    return u8.repeat(1, 3, 1, 1) if u8.shape[1] == 1 else u8


def extract(
    batches: Iterable[torch.Tensor],
    specs: list[FeatureSpec],
    nets: dict,
    device: torch.device,
    total: int | None = None,
    desc: str = "features",
    progress: bool = True,
) -> dict[FeatureSpec, np.ndarray]:
    """Run every spec's net on each uint8 NCHW batch; returns float32 (N, D) arrays per spec."""
    resize = CleanResize() if any(s.resize == "clean" for s in specs) else None
    out: dict[FeatureSpec, list[np.ndarray]] = {s: [] for s in specs}
    with tqdm(total=total, desc=desc, unit="img", disable=not progress, leave=False) as bar:
        for u8 in map(rgb_batch, batches):
            inputs = {}
            if resize is not None:
                inputs["clean"] = resize(u8).to(device)
            if any(s.resize == "none" for s in specs):
                inputs["none"] = u8.to(device).float()
            with torch.no_grad():
                for spec in specs:
                    for x in inputs[spec.resize].split(NET_BATCH):
                        feats = nets[spec.net](x, spec.resize)
                        out[spec].append(feats.float().cpu().numpy().reshape(len(x), -1))
            bar.update(len(u8))
    return {s: np.concatenate(v) if v else np.zeros((0, 0), np.float32) for s, v in out.items()}


def _atomic_write(path: Path, write) -> None:
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        write(f)


class FeatureCache:
    """Features (and their float64 mean/covariance) stored under a hash of what produced them.

    The key is a dict naming the *content*: dataset file sha256 or generator checkpoint sha256,
    seed, N, extractor sha256, resize mode, ... Renaming a file cannot return stale features, and
    the reference statistics of a dataset are computed once and shared by every model.
    A `None` key or a `None` root disables caching for that call.
    """

    def __init__(self, root: str | os.PathLike | None):
        self.root = Path(root) / "features" if root is not None else None
        self.hits: list[str] = []
        self.misses: list[str] = []

    @staticmethod
    def digest(key: dict) -> str:
        blob = json.dumps({**key, "features_version": FEATURES_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def _path(self, key: dict, suffix: str) -> Path:
        return self.root / f"{key.get('kind', 'x')}-{self.digest(key)}{suffix}"

    @contextlib.contextmanager
    def claimed(self, keys):
        """Hold an exclusive lock on each key while its features are looked up and made, so
        jobs running at once that need the same set (a dataset's reference features) make it
        once: the later job waits, then reads the cache. Keys are locked in sorted order (no
        deadlock); a filesystem without locks only loses the sharing, not the result."""
        if self.root is None:
            yield
            return
        paths = sorted({self._path(key, ".lock") for key in keys if key is not None})
        with contextlib.ExitStack() as stack:
            for path in paths:
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = stack.enter_context(open(path, "a"))
                with contextlib.suppress(OSError):
                    fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            yield

    def load(self, key: dict | None) -> np.ndarray | None:
        if self.root is None or key is None:
            return None
        path = self._path(key, ".npy")
        if not path.is_file():
            self.misses.append(path.name)
            return None
        self.hits.append(path.name)
        return np.load(path)

    def save(self, key: dict | None, feats: np.ndarray) -> None:
        if self.root is None or key is None:
            return
        _atomic_write(self._path(key, ".npy"), lambda f: np.save(f, feats))
        write_json(self._path(key, ".json"), {**key, "shape": list(feats.shape)})

    def stats(self, key: dict | None, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float64 (mu, sigma) of `feats`, read from / written to `<key>.stats.npz`."""
        if self.root is None or key is None:
            return feature_stats(feats)
        path = self._path(key, ".stats.npz")
        if path.is_file():
            with np.load(path) as z:
                return z["mu"], z["sigma"]
        mu, sigma = feature_stats(feats)
        _atomic_write(path, lambda f: np.savez(f, mu=mu, sigma=sigma))
        return mu, sigma


class FeatureSet:
    """One feature array as a metric sees it: `.array` (float32, N x D), `.stats()` (float64
    mean and covariance, through the disk cache) and `.memo(name, make)` for anything else
    derived from it, so metrics sharing a value (k-NN radii, tensors) compute it once."""

    def __init__(self, array: np.ndarray, cache: FeatureCache | None = None, key=None):
        self.array = array
        self._cache, self._key = cache, key
        self._memo: dict = {}

    def __len__(self) -> int:
        return len(self.array)

    def memo(self, name, make: Callable):
        if name not in self._memo:
            self._memo[name] = make()
        return self._memo[name]

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is None:
            return self.memo("stats", lambda: feature_stats(self.array))
        return self.memo("stats", lambda: self._cache.stats(self._key, self.array))


def gather(
    cache: FeatureCache,
    specs: list[FeatureSpec],
    key_of: Callable[[FeatureSpec], dict | None],
    make_batches: Callable[[], Iterable[torch.Tensor]],
    total: int,
    nets: dict,
    device: torch.device,
    desc: str,
    progress: bool = True,
) -> dict[FeatureSpec, FeatureSet]:
    """Every spec's features, from the cache where present; one pass covers all the misses
    (under the cache's lock on their keys, FeatureCache.claimed)."""
    with cache.claimed([key_of(spec) for spec in specs]):
        arrays = {spec: cache.load(key_of(spec)) for spec in specs}
        missing = [spec for spec, feats in arrays.items() if feats is None]
        if missing:
            new = extract(make_batches(), missing, nets, device, total, desc, progress)
            for spec in missing:
                cache.save(key_of(spec), new[spec])
            arrays.update(new)
    return {spec: FeatureSet(arrays[spec], cache, key_of(spec)) for spec in specs}
