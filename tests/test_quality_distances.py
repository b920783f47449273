"""benchmarks.quality.distances: the Fréchet distance and the feature statistics it reads,
against the scipy sqrtm formula clean-fid and NVIDIA use and against an independent reference
(the nuclear norm), up to dense 2048-D covariances that are rank-deficient, as Inception's are
with a few hundred images. float64 throughout; each tolerance's error model is in its test's
docstring (marker `numerics`, rerun per instruction set by tests/test_isa_variants.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from benchmarks.quality.distances import feature_stats, frechet_distance, trace_sqrt_product

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# ----------------------------------------------------------------------------- Fréchet distance


def sqrtm_fd(mu1, s1, mu2, s2) -> float:
    """Reference: the scipy sqrtm formula clean-fid and NVIDIA use (real part)."""
    covmean = linalg.sqrtm(s1 @ s2).real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.numerics
@pytest.mark.parametrize(("dim", "n"), [(64, 500), (256, 100)], ids=["full-rank", "rank-deficient"])
def test_fd_matches_scipy_sqrtm(dim, n):
    """float64; rel 1e-7 covers the reference's own error, scipy's sqrtm of a singular product
    (measured 2.0e-8 relative under AVX-512, AVX2 and baseline BLAS/LAPACK kernels)."""
    rng = np.random.default_rng(dim)
    a = rng.standard_normal((n, dim)) @ rng.standard_normal((dim, dim)) * 0.2
    b = rng.standard_normal((n, dim)) * 1.3 + 0.2
    (mu1, s1), (mu2, s2) = feature_stats(a), feature_stats(b)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(sqrtm_fd(mu1, s1, mu2, s2), rel=1e-7)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8 * np.trace(s1))


@pytest.mark.numerics
def test_feature_stats_match_numpy():
    """float64 sums of 1000 rows: within γ_1000(U64)·Σ|t| ≈ 1e-13·Σ|t| of each other."""
    x = np.random.default_rng(1).standard_normal((1000, 16)).astype(np.float32) + 5
    mu, sigma = feature_stats(x, chunk=128)
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False), atol=1e-12)


@pytest.mark.numerics
def test_trace_sqrt_2048_rank_deficient_vs_nuclear_norm():
    """With S = X^T X / (n - 1) from centred data, tr sqrt(S1 S2) is exactly the sum of the
    singular values of X1 X2^T / (n - 1): an independent reference for a 2048-D, rank-299 case.
    float64 eigen/SVD on both sides, rel 1e-9 (measured ≤ 1.5e-16 relative on every dispatch)."""
    rng = np.random.default_rng(2)
    x1 = rng.standard_normal((300, 2048)) * np.linspace(0.1, 2, 2048)
    x2 = rng.standard_normal((300, 2048)) + rng.standard_normal(2048)
    x1 -= x1.mean(0)
    x2 -= x2.mean(0)
    s1, s2 = x1.T @ x1 / 299, x2.T @ x2 / 299
    expected = linalg.svdvals(x1 @ x2.T / 299).sum()
    assert trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-9)


def _reflect(s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """H S H for the Householder reflection H = I - 2 v v^T (|v| = 1): dense, same spectrum."""
    sv = s @ v
    return s - 2 * np.outer(v, sv) - 2 * np.outer(sv, v) + 4 * (v @ sv) * np.outer(v, v)


@pytest.mark.numerics
def test_fd_2048_vs_sqrtm():
    """2048-D covariances that are dense (rotated) but whose sqrtm reference can be computed block
    by block: blocks of 256, half of them rank-deficient; FD is invariant under the rotation.
    float64, rel 1e-7 as for test_fd_matches_scipy_sqrtm (measured ≤ 4.2e-9 relative)."""
    rng = np.random.default_rng(3)
    blocks, size = 8, 256
    s1, s2 = np.zeros((2048, 2048)), np.zeros((2048, 2048))
    ref_trace = 0.0
    for b in range(blocks):
        n = 150 if b % 2 else 800  # 150 samples in 256-D -> rank 149
        c1 = np.cov(rng.standard_normal((n, size)) * rng.uniform(0.2, 2, size), rowvar=False)
        c2 = np.cov(
            rng.standard_normal((800, size)) @ rng.standard_normal((size, size)) * 0.1, rowvar=False
        )
        sl = slice(b * size, (b + 1) * size)
        s1[sl, sl], s2[sl, sl] = c1, c2
        ref_trace += np.trace(linalg.sqrtm(c1 @ c2).real)
    mu1, mu2 = rng.standard_normal(2048), rng.standard_normal(2048)
    expected = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * ref_trace)
    for _ in range(3):
        v = rng.standard_normal(2048)
        v /= np.linalg.norm(v)
        s1, s2 = _reflect(s1, v), _reflect(s2, v)
    assert abs(s1[0, -1]) > 0  # really dense now
    # its speed is measured, not asserted, in benchmarks/suites/test_quality_bench.py
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-7)
