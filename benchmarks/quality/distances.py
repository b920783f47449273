"""Distances between two feature distributions: Fréchet distance and kernel distance (KID)."""

from __future__ import annotations

import numpy as np
from scipy.linalg import blas, eigh, lapack


def feature_stats(feats: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance in float64.

    Two passes over row chunks (mean first, then centred outer products) so that 50k x 2048
    float32 features never need a full float64 copy and the covariance stays accurate.
    """
    n, d = feats.shape
    if n < 2:
        raise ValueError(f"need at least 2 feature rows for a covariance, got {n}")
    mu = np.zeros(d, dtype=np.float64)
    for start in range(0, n, chunk):
        mu += feats[start : start + chunk].sum(axis=0, dtype=np.float64)
    mu /= n
    cov = np.zeros((d, d), dtype=np.float64)
    for start in range(0, n, chunk):
        x = feats[start : start + chunk].astype(np.float64) - mu
        cov += x.T @ x
    cov /= n - 1
    return mu, cov


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr sqrt(S1 S2) for symmetric PSD S1, S2, without a (complex) matrix square root.

    The eigenvalues of S1 S2 are those of F S2 F^T for any factor S1 = F^T F. LAPACK's pivoted
    Cholesky (?pstrf) gives P^T S1 P = U^T U and stops at the numerical rank, so rank-deficient
    S1 is fine; then F S2 F^T = U (P^T S2 P) U^T, two triangular products (half the flops of
    general ones) yielding a symmetric PSD matrix whose eigenvalues one real symmetric solve
    returns. Round-off negatives are clipped to zero.
    """
    s1 = np.array(sigma1, dtype=np.float64, order="F", copy=True)
    s2 = np.asarray(sigma2, dtype=np.float64)
    factor, piv, rank, info = lapack.dpstrf(s1, lower=0, overwrite_a=1)
    if info < 0:
        raise ValueError(f"pivoted Cholesky failed (LAPACK info={info})")
    if rank == 0:
        return 0.0
    u = np.triu(factor)
    u[rank:] = 0.0  # rows past the numerical rank hold the discarded residual
    p = piv - 1
    s2p = s2[np.ix_(p, p)].T  # symmetric, so the transpose is the same matrix in Fortran order
    x = blas.dtrmm(1.0, u, s2p, side=0, lower=0, overwrite_b=1)  # U @ S2p
    m = blas.dtrmm(1.0, u, x, side=1, lower=0, trans_a=1, overwrite_b=1)  # (U S2p) @ U^T
    m = m[:rank, :rank]
    eig = eigh(m, eigvals_only=True, overwrite_a=True, check_finite=False, driver="evd")
    return float(np.sqrt(np.clip(eig, 0.0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2), all in float64.

    Same quantity as clean-fid's / NVIDIA's scipy-sqrtm formula, computed from eigenvalues so it is
    real by construction and takes about a second for 2048-D on two CPU cores.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError("feature dimensions of the two distributions differ")
    diff = mu1 - mu2
    value = (
        diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    )
    return float(value)


def kernel_distance(
    feats1: np.ndarray,
    feats2: np.ndarray,
    num_subsets: int = 100,
    max_subset_size: int = 1000,
    seed: int = 0,
) -> float:
    """KID: clean-fid's unbiased cubic-polynomial-kernel MMD^2, averaged over random subsets.

    clean-fid draws the subsets from NumPy's global RNG without a seed; we set that state from
    `seed` (and restore it afterwards) so the number is reproducible. Features are promoted to
    float64 because the estimate is a small difference of large kernel sums.
    """
    from cleanfid.fid import kernel_distance as cleanfid_kernel_distance  # heavy; only here

    state = np.random.get_state()
    try:
        np.random.seed(seed)
        return float(
            cleanfid_kernel_distance(
                np.asarray(feats1, dtype=np.float64),
                np.asarray(feats2, dtype=np.float64),
                num_subsets=num_subsets,
                max_subset_size=max_subset_size,
            )
        )
    finally:
        np.random.set_state(state)
