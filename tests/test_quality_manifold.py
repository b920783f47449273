"""benchmarks.quality.manifold: precision/recall (NVIDIA's rule: a probe on the radius counts)
and density/coverage (Naeem et al.: strictly inside) against a NumPy float64 brute force, in one
block and in tiny blocks, on lattice data whose exact ties exercise the `<=` rule, and against
the prdc package."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.quality.manifold import manifold_metrics

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# ----------------------------------------------------------------------------- P/R/D/C


def brute_force(real, fake, k, k_dc=None):
    """NumPy float64 reference: NVIDIA rule (<=) for P/R, Naeem et al. (<) for D/C."""
    k_dc = k if k_dc is None else k_dc
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=-1)
    d_ff = np.linalg.norm(fake[:, None] - fake[None], axis=-1)
    d_fr = np.linalg.norm(fake[:, None] - real[None], axis=-1)
    r_real, r_fake = np.sort(d_rr, axis=1)[:, k], np.sort(d_ff, axis=1)[:, k]
    r_real_dc = np.sort(d_rr, axis=1)[:, k_dc]
    return {
        "precision": (d_fr <= r_real[None]).any(1).mean(),
        "recall": (d_fr.T <= r_fake[None]).any(1).mean(),
        "density": (d_fr < r_real_dc[None]).sum() / (k_dc * len(fake)),
        "coverage": (d_fr.min(0) < r_real_dc).mean(),
    }


@pytest.mark.numerics
@pytest.mark.parametrize("block", [10_000, 7], ids=["one-block", "tiny-blocks"])
def test_manifold_matches_brute_force(block):
    """Counts are exact unless a distance lies within rounding of a radius (none here: equal
    under every dispatch)."""
    rng = np.random.default_rng(4)
    real = rng.standard_normal((70, 6)).astype(np.float32)
    fake = (rng.standard_normal((55, 6)) * 1.2 + 0.3).astype(np.float32)
    ours = manifold_metrics(real, fake, k=3, row_block=block, col_block=block)
    ref = brute_force(real.astype(np.float64), fake.astype(np.float64), 3)
    assert ours == pytest.approx(ref, abs=1e-12)
    assert 0 < ours["precision"] < 1 and 0 < ours["recall"] < 1


@pytest.mark.numerics
def test_precision_recall_ties_use_less_or_equal():
    """Integer lattice features give exact distance ties; NVIDIA counts a probe on the radius.
    Squared distances of small integers are exact in any order, so the ties are ties on any CPU."""
    rng = np.random.default_rng(5)
    real = rng.integers(0, 4, (60, 2)).astype(np.float32)
    fake = rng.integers(0, 6, (50, 2)).astype(np.float32)
    ours = manifold_metrics(real, fake, k=3, row_block=16, col_block=16)
    ref = brute_force(real.astype(np.float64), fake.astype(np.float64), 3)
    assert ours == pytest.approx(ref, abs=1e-12)
    d_fr = np.linalg.norm(fake[:, None] - real[None], axis=-1)
    r_real = np.sort(np.linalg.norm(real[:, None] - real[None], axis=-1), axis=1)[:, 3]
    strict = (d_fr < r_real[None]).any(1).mean()
    assert strict != ours["precision"]  # the data really exercises the <= rule


@pytest.mark.numerics
@pytest.mark.parametrize("k_dc", [None, 5])
def test_manifold_matches_prdc_package(k_dc, capsys):
    """Counts exact as in test_manifold_matches_brute_force; density, a mean of counts over k,
    to rel 1e-6 (measured 2e-16)."""
    prdc = pytest.importorskip("prdc")
    rng = np.random.default_rng(6)
    real = rng.standard_normal((80, 10)).astype(np.float32)
    fake = (rng.standard_normal((64, 10)) * 0.9 + 0.2).astype(np.float32)
    ours = manifold_metrics(real, fake, k=3, k_dc=k_dc, row_block=32, col_block=24)
    pr = prdc.compute_prdc(real, fake, nearest_k=3)
    dc = prdc.compute_prdc(real, fake, nearest_k=k_dc or 3)
    capsys.readouterr()  # prdc prints the set sizes
    assert ours["precision"] == pytest.approx(pr["precision"], abs=1e-12)
    assert ours["recall"] == pytest.approx(pr["recall"], abs=1e-12)
    assert ours["density"] == pytest.approx(dc["density"], rel=1e-6)
    assert ours["coverage"] == pytest.approx(dc["coverage"], abs=1e-12)
