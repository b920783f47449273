"""The deterministic weight/input fill rule of the golden parity tests and the reference values
recorded on the official networks (tests/golden/*.json, described in tests/golden/README.md)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def hash_stream(n: int, seed: int, scale: float) -> np.ndarray:
    """The integer hash stream of the fill rule in tests/golden/README.md (exact uint64), as float32."""
    mask = np.uint64(0xFFFFFFFF)
    i = np.arange(n, dtype=np.uint64)
    x = (i * np.uint64(0x9E3779B1) + np.uint64(seed)) & mask
    x = (((x >> np.uint64(16)) ^ x) * np.uint64(0x45D9F3B)) & mask
    x = (((x >> np.uint64(16)) ^ x) * np.uint64(0x45D9F3B)) & mask
    x = (x >> np.uint64(16)) ^ x
    return ((x.astype(np.float64) / 2.0**32 - 0.5) * scale).astype(np.float32)


def _hash_fill(name: str, t: torch.Tensor) -> None:
    seed = zlib.crc32(name.encode("utf-8"))
    t.copy_(torch.from_numpy(hash_stream(t.numel(), seed, 12**0.5)).view(t.shape))


def fill_golden(module: torch.nn.Module) -> None:
    """Parameters: zeros for `noise.weight`, the hash stream otherwise. Buffers keep their
    constructed values, except INR-GAN's `random_basis` (drawn at random by the official code),
    which is filled like a parameter; no other model has such a buffer."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("noise.weight"):
                p.zero_()
            else:
                _hash_fill(name, p)
        for name, b in module.named_buffers():
            if name.endswith("random_basis"):
                _hash_fill(name, b)


def golden_input(shape, seed: int) -> torch.Tensor:
    n = int(np.prod(shape))
    return torch.from_numpy(hash_stream(n, seed, 2.0)).view(*shape)


def load_reference(name: str) -> dict:
    """A reference file of tests/golden; missing data is an error, so parity never skips."""
    return json.loads((GOLDEN_DIR / name).read_text())


def load_golden() -> dict:
    return load_reference("official_outputs.json")["models"]


def load_layout() -> dict:
    return load_reference("state_dict_layout_256.json")


def output_stats(y: torch.Tensor) -> dict:
    y64 = y.double()
    r = y.shape[-1]
    stats = {
        "shape": list(y.shape),
        "mean": y64.mean().item(),
        "std": y64.std().item(),
        "abs_sum": y64.abs().sum().item(),
    }
    if y.ndim == 4:
        stats["y[0,:,0,0]"] = y[0, :, 0, 0].tolist()
        stats["y[1,:,R//2,R//3]"] = y[1, :, r // 2, r // 3].tolist()
    return stats


def assert_close_to_golden(stats: dict, ref: dict) -> None:
    """The tolerances of tests/golden/README.md: stats to 1e-4 relative, pixels to 1e-3."""
    assert stats["shape"] == ref["shape"]
    for key in ("mean", "std", "abs_sum"):
        assert stats[key] == pytest.approx(ref[key], rel=1e-4), key
    for key in ("y[0,:,0,0]", "y[1,:,R//2,R//3]"):
        assert stats[key] == pytest.approx(ref[key], abs=1e-3), key
