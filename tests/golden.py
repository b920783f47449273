"""The deterministic weight/input fill rule of the golden parity tests and the reference values
recorded on the official networks (tests/golden/*.json, described in tests/golden/README.md), and
the rounding-error models every numerical test derives its tolerance from (docs/numerics.md)."""

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
    """The tolerances of tests/golden/README.md: stats to 1e-4 relative, pixels to 1e-3.

    Error model: distance to a float64 run. The reference and ours are both fp32 forward passes
    of the same maths, summed in different orders (other code, kernels and instruction set), so
    |ours − ref| ≤ e_ours + e_ref, each e being an fp32 run's distance to the exact (float64)
    output. Measured, the same network run in float64 (every golden generator at 64 and 256 px
    but CIPS at 256, under AVX-512, AVX2 and SSE4.1 dispatch): e_ours ≤ 2.1e-5 on the recorded
    pixels (magnitude ≤ 20; ≤ 4.6e-5 over the whole image), ≤ 4.1e-6 relative on mean, std and
    abs-sum (the mean, the smallest, is the worst); e_ref (float64 run vs the reference) ≤ 1.3e-5
    and ≤ 9.2e-7. So the pixel tolerance is ≥ 29× and the stats tolerance ≥ 20× what rounding
    does, while a wrong gain, padding, channel order or blur moves pixels by ≥ 0.1."""
    assert stats["shape"] == ref["shape"]
    for key in ("mean", "std", "abs_sum"):
        assert stats[key] == pytest.approx(ref[key], rel=1e-4), key
    for key in ("y[0,:,0,0]", "y[1,:,R//2,R//3]"):
        assert stats[key] == pytest.approx(ref[key], abs=1e-3), key


# ----------------------------------------------------------------------------- error models
# Every tolerance of the numerical tests (marker `numerics`) comes from one of these models or
# from a distance to a float64 run; docs/numerics.md lists each with its worst measured value
# under each instruction set.
U32 = 2.0**-24  # float32 unit round-off: one rounding moves a value by at most U32·|value|
U64 = 2.0**-53  # float64


def gamma(n: int, u: float = U32) -> float:
    """γ_n = n·u/(1 − n·u) (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.,
    §3.1, §3.4): a chain of n roundings moves a value by at most γ_n relative, and a sum or dot
    product of n terms in any order and grouping (sequential, pairwise, blocked, per SIMD lane,
    with or without FMA: every kernel of every instruction set is one of these) lands within
    γ_{n−1}·Σ|t_i| of the exact value."""
    if n * u >= 1:
        raise ValueError(f"no bound for {n} roundings at u = {u}")
    return n * u / (1 - n * u)


def reorder_bound(n: int, abs_sum, u: float = U32):
    """The largest gap between two evaluations of the same n-term sums in two orders (two code
    paths, two kernels, two instruction sets): each is within γ_n·Σ|t_i| of the exact value, so
    they are within 2·γ_n·Σ|t_i| of each other. `abs_sum` (Σ|t_i|, or an upper bound of it) may
    be a number or a tensor (an elementwise bound)."""
    return 2 * gamma(n, u) * abs_sum


def assert_within(actual, expected, bound, what: str = "") -> None:
    """|actual − expected| ≤ bound elementwise, compared in float64; the message says how many
    times the bound the worst element is."""
    gap = (torch.as_tensor(actual).double() - torch.as_tensor(expected).double()).abs()
    bound = torch.as_tensor(bound, dtype=torch.float64).expand_as(gap)
    if not bool((gap <= bound).all()):
        worst = float((gap / bound.clamp_min(torch.finfo(torch.float64).tiny)).max())
        raise AssertionError(f"{what}: |Δ| up to {float(gap.max()):.3g}, {worst:.3g}× the bound")
