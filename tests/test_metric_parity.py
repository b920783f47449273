"""Known answers for the quality metrics on identical float64 feature arrays: our Fréchet
distance, KID, precision/recall and density/coverage against clean-fid's and prdc's own
functions; KID's 95 % interval against a pair of distributions whose MMD² is known in closed
form; and extracted features that do not depend on the batch size. Every tolerance comes from
a rounding-error model stated in the test's docstring (u64 = 2^-53, u32 = 2^-24, γ_n = n·u)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cleanfid import fid as cleanfid_fid

from benchmarks.quality.distances import (
    FrechetToReference,
    feature_stats,
    frechet_distance,
    kernel_distance,
    kid_blocks,
    kid_estimate,
)
from benchmarks.quality.errors import QualityError
from benchmarks.quality.features import CleanResize, extract
from benchmarks.quality.manifold import manifold_metrics
from benchmarks.quality.nets import ProxyFeatures, ProxyNet, load_nets
from benchmarks.quality.registry import FeatureSpec

CPU = torch.device("cpu")
U64 = 2.0**-53
U32 = 2.0**-24


def gamma(n: int, u: float) -> float:
    return n * u / (1 - n * u)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def inception_like(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """Non-negative, correlated, skewed float64 features (post-ReLU pool features are)."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    return np.abs(rng.standard_normal((n, d)) @ mix + shift) * rng.uniform(0.2, 1.5, d)


# ----------------------------------------------------------------------------- Fréchet distance


def _fd_tolerance(s1: np.ndarray, s2: np.ndarray, mu1, mu2) -> float:
    """Error model of |ours - clean-fid|, both float64. Traces, means and our symmetric eigen
    solve are backward stable: ≤ 16·d·u64·scale with scale = |Δμ|² + tr S1 + tr S2. clean-fid's
    scipy `sqrtm` of the non-symmetric S1 S2 perturbs each eigenvalue λ by δ ≲ d·u64·‖S1 S2‖;
    tr sqrt moves by δ / (2 sqrt λ) for λ > 0, and by up to sqrt(δ) for each of the d - r zero
    eigenvalues of a rank-r product (the square root is not Lipschitz at 0). Doubled for both."""
    d = len(s1)
    scale = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2))
    norm = np.linalg.norm(s1 @ s2, 2)
    delta = d * U64 * norm
    eig = np.linalg.eigvals(s1 @ s2).real
    rank = int(np.sum(eig > 1e3 * delta))
    pos = np.sort(eig)[::-1][:rank]
    smooth = float(np.sum(delta / (2 * np.sqrt(pos))))
    return 2 * (16 * d * U64 * scale + smooth + (d - rank) * np.sqrt(delta))


@pytest.mark.numerics
@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")
@pytest.mark.parametrize(("d", "n"), [(64, 600), (256, 120)], ids=["full-rank", "rank-deficient"])
def test_frechet_distance_matches_cleanfid(d, n):
    """Ours (eigenvalues of F S2 F^T) against clean-fid's `frechet_distance` (scipy sqrtm) on
    the same float64 mean/covariance; the tolerance is `_fd_tolerance`'s model."""
    a = inception_like(n, d, seed=d)
    b = inception_like(n + 37, d, seed=d + 1, shift=0.3)
    (mu1, s1), (mu2, s2) = feature_stats(a), feature_stats(b)
    ours = frechet_distance(mu1, s1, mu2, s2)
    theirs = float(np.real(cleanfid_fid.frechet_distance(mu1, s1, mu2, s2)))
    assert ours == pytest.approx(theirs, abs=_fd_tolerance(s1, s2, mu1, mu2))
    assert ours > 0


@pytest.mark.numerics
@pytest.mark.parametrize("n", [40, 150, 600], ids=["n<d", "n~d", "n>d"])
def test_frechet_to_reference_matches_frechet_distance(n):
    """The sample-size curve's FD of a subset against a fixed reference (Gram-matrix eigen
    solve below the reference's rank) against `frechet_distance` on the subset's statistics:
    both float64 eigen routes, so `_fd_tolerance`'s model (its rank-deficient sqrt(δ) term
    covers the covariance route's near-zero eigenvalues, which the Gram route never forms)."""
    d = 128
    real = inception_like(900, d, seed=5)
    gen = inception_like(n, d, seed=6, shift=0.2)
    mu_r, s_r = feature_stats(real)
    mu_g, s_g = feature_stats(gen)
    ours = FrechetToReference(mu_r, s_r)(gen)
    assert ours == pytest.approx(
        frechet_distance(mu_g, s_g, mu_r, s_r), abs=_fd_tolerance(s_g, s_r, mu_g, mu_r)
    )


# ----------------------------------------------------------------------------- KID


def _kid_tolerance(x: np.ndarray, y: np.ndarray, m: int) -> float:
    """Error model of one KID computed in two float64 orders. With R the largest row norm, every
    dot product is within γ_d·R² (BLAS, any blocking), so each kernel (z/d + 1)^3 is within
    E = 3(R²/d + 1)²·γ_d·R²/d + 4·u64·K (its power and add), K = (R²/d + 1)^3 bounding it. A
    subset's term sums m² such values (pairwise or not: ≤ γ_{m²}·m²·K more) and divides by
    (m - 1) or m/2; KID is their mean over subsets, divided by m: ≤ 8·(E + γ_{m²}·K)."""
    r2 = max(np.max(np.sum(x * x, 1)), np.max(np.sum(y * y, 1)))
    d = x.shape[1]
    k = (r2 / d + 1) ** 3
    e = 3 * (r2 / d + 1) ** 2 * gamma(d, U64) * r2 / d + 4 * U64 * k
    return 8 * (e + gamma(m * m, U64) * k)


@pytest.mark.numerics
@pytest.mark.parametrize(
    ("n_gen", "n_real", "subsets", "size"),
    [(300, 250, 20, 100), (120, 120, 5, 1000), (90, 150, 7, 1000)],
    ids=["subsets-of-both", "every-subset-whole", "unequal-sets"],
)
def test_kernel_distance_matches_cleanfid_same_draws(n_gen, n_real, subsets, size):
    """Our KID and clean-fid 0.1.35's `kernel_distance` after `np.random.seed(seed)`: the same
    subsets (our private RandomState replays its global-RNG draws) and the same float64 sums,
    within `_kid_tolerance`. A different seed draws other subsets and gives another value
    (where subsets are proper subsets), and the caller's global RNG is left as it was."""
    gen = inception_like(n_gen, 48, seed=1)
    real = inception_like(n_real, 48, seed=2, shift=0.2)
    m = min(n_gen, n_real, size)
    state = np.random.get_state()
    ours = kernel_distance(gen, real, subsets, size, seed=7)
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(state, after, strict=True))
    np.random.seed(7)
    theirs = cleanfid_fid.kernel_distance(gen, real, num_subsets=subsets, max_subset_size=size)
    assert ours == pytest.approx(theirs, abs=_kid_tolerance(gen, real, m))
    assert kid_estimate(gen, real, subsets, size, seed=7).value == ours
    if m < max(n_gen, n_real):
        assert kernel_distance(gen, real, subsets, size, seed=8) != ours


def _kernel_mean(ma, sa, mb, sb) -> float:
    """E k(a, b) for independent a ~ N(ma, sa), b ~ N(mb, sb) and k = (a.b/d + 1)^3, exactly:
    with u = a.b/d, E(1+u)^3 = 1 + 3E u + 3E u² + E u³, where E u = ma.mb/d,
    E u² = tr(Ma Mb)/d² (M = S + m mᵀ, the second moments) and E u³ = <Ta, Tb>/d³ with the
    Gaussian third moments T_ijk = m_i m_j m_k + m_i S_jk + m_j S_ik + m_k S_ij."""
    d = len(ma)

    def third(m, s):
        return (
            np.einsum("i,j,k->ijk", m, m, m)
            + np.einsum("i,jk->ijk", m, s)
            + np.einsum("j,ik->ijk", m, s)
            + np.einsum("k,ij->ijk", m, s)
        )

    second = np.trace((sa + np.outer(ma, ma)) @ (sb + np.outer(mb, mb)))
    cubic = np.sum(third(ma, sa) * third(mb, sb))
    return float(1 + 3 * (ma @ mb) / d + 3 * second / d**2 + cubic / d**3)


def true_mmd2(m1, s1, m2, s2) -> float:
    return (
        _kernel_mean(m1, s1, m1, s1)
        + _kernel_mean(m2, s2, m2, s2)
        - 2 * _kernel_mean(m1, s1, m2, s2)
    )


REPLICATES = 20
# a correct 95 % interval misses in each replicate with probability ≤ 0.05, independently
# (fresh data per replicate): P(misses ≥ 7 of 20) = 3.4e-5, so at most 6 may miss
MAX_MISSES = 6


@pytest.mark.numerics
@pytest.mark.parametrize(
    ("shift", "scale", "n", "subsets", "size"),
    [(0.0, 1.0, 400, 5, 1000), (0.3, 1.3, 600, 20, 200)],
    ids=["identical-every-subset-whole", "different-subsets-drawn"],
)
def test_kid_interval_covers_the_known_mmd2(shift, scale, n, subsets, size):
    """Gaussian features in 8-D with a closed-form population MMD² (`true_mmd2`; 0 for
    identical distributions). Over 20 independent replicates the interval misses it at most
    MAX_MISSES times (the binomial bound above: a correct interval fails this check with
    probability < 1e-4 and, with fixed seeds, deterministically never). The clean-fid subset
    spread, which is exactly zero when every subset is the whole set, would miss every time.
    The replicate mean lies within 4 standard errors of the true value: the estimator is
    unbiased (and the closed form right)."""
    d = 8
    m1, s1 = np.zeros(d), np.eye(d)
    m2, s2 = np.full(d, shift), np.eye(d) * scale**2
    truth = true_mmd2(m1, s1, m2, s2)
    misses, values = 0, []
    for r in range(REPLICATES):
        rng = np.random.default_rng(1000 + r)
        real = rng.standard_normal((n, d))
        gen = rng.standard_normal((n, d)) * scale + shift
        est = kid_estimate(gen, real, subsets, size, seed=r)
        assert est.lo is not None and est.lo < est.value < est.hi
        misses += not est.lo <= truth <= est.hi
        values.append(est.value)
    assert kid_blocks(n, n) == 10
    assert misses <= MAX_MISSES, (misses, truth)
    se = np.std(values, ddof=1) / np.sqrt(REPLICATES)
    assert abs(np.mean(values) - truth) <= 4 * se + 1e-12


def test_kid_interval_needs_two_blocks():
    """Below 2 × KID_CI_MIN_BLOCK images per set there is no interval (None, not NaN)."""
    rng = np.random.default_rng(0)
    est = kid_estimate(rng.standard_normal((30, 4)), rng.standard_normal((39, 4)), 10, 1000)
    assert kid_blocks(30, 39) == 1 and est.lo is None and est.hi is None
    assert est.interval is None and float(est) == est.value


# ----------------------------------------------------------------------------- P/R/D/C vs prdc


def _no_near_ties(real: np.ndarray, fake: np.ndarray, k: int) -> float:
    """The smallest margin, in units of its rounding bound, between any probe distance and any
    radius it is compared with. Ours computes distances in float32 from the float64 arrays:
    the cast moves a distance by ≤ u32·(|x| + |y|), and torch.cdist's |x|² + |y|² - 2x.y form
    moves d² by ≤ 2γ_{D+2}(|x|² + |y|²), so d by that over 2d. A margin above 1 on both sides
    of every comparison means rounding cannot flip one: the counts are exact, and `<=`
    (NVIDIA) and `<` (prdc) agree."""
    d_dim = real.shape[1]

    def dist_err(a, b):
        na, nb = np.linalg.norm(a, axis=1)[:, None], np.linalg.norm(b, axis=1)[None]
        dist = np.linalg.norm(a[:, None] - b[None], axis=-1)
        err_sq = 2 * gamma(d_dim + 2, U32) * (na**2 + nb**2)
        return dist, err_sq / (2 * np.maximum(dist, 1e-300)) + U32 * (na + nb)

    worst = np.inf
    d_rr, e_rr = dist_err(real, real)
    d_ff, e_ff = dist_err(fake, fake)
    d_fr, e_fr = dist_err(fake, real)
    for d_m, e_m, d_p, e_p in ((d_rr, e_rr, d_fr, e_fr), (d_ff, e_ff, d_fr.T, e_fr.T)):
        order = np.argsort(d_m, axis=1)[:, k]
        rows = np.arange(len(d_m))
        radius, radius_err = d_m[rows, order], e_m[rows, order]
        gap = np.abs(d_p - radius[None]) / (e_p + radius_err[None])
        worst = min(worst, float(gap.min()))
    return worst


def _compare_with_prdc(real, fake, k, capsys) -> dict:
    prdc = pytest.importorskip("prdc")
    assert _no_near_ties(real, fake, k) > 1
    ours = manifold_metrics(real, fake, k=k, row_block=37, col_block=29)
    theirs = prdc.compute_prdc(real, fake, nearest_k=k)
    capsys.readouterr()  # prdc prints the set sizes
    # counts over ≤ 500 items: exact fractions, equal to the last bit of a double division;
    # density is a count over k·N, formed in another order (≤ 2 u64 relative)
    for name in ("precision", "recall", "coverage"):
        assert ours[name] == pytest.approx(float(theirs[name]), abs=1e-15), name
    assert ours["density"] == pytest.approx(float(theirs["density"]), rel=4 * U64, abs=1e-15)
    return ours


@pytest.mark.numerics
@pytest.mark.parametrize("k", [3, 5])
def test_manifold_metrics_match_prdc(k, capsys):
    """precision/recall (NVIDIA: a probe inside if distance <= radius) and density/coverage
    (Naeem et al.) against prdc's `compute_prdc`, which uses `<` for all four. On continuous
    data without ties (checked: `_no_near_ties`) `<=` and `<` count the same probes, so the
    numbers must be equal; the tie rule itself is tested in tests/test_quality_manifold.py."""
    rng = np.random.default_rng(10 + k)
    real = rng.standard_normal((150, 12)) @ rng.standard_normal((12, 12)) / 3
    fake = rng.standard_normal((120, 12)) * 1.1 + 0.25
    ours = _compare_with_prdc(real, fake, k, capsys)
    assert 0 < ours["precision"] < 1 and 0 < ours["recall"] < 1


@pytest.mark.numerics
def test_mode_collapse_has_full_precision_and_no_recall(capsys):
    """Every generated sample near one real image (offset 0.3, spread 0.01 in 16-D, where real
    neighbours are ~3 apart): precision is 1 (all inside that image's radius), recall 0 (the
    fakes' k-NN balls are ~0.01 wide, no real image lies in one), coverage at most the few
    real images whose radius reaches the cluster; the same in prdc."""
    rng = np.random.default_rng(3)
    real = rng.standard_normal((200, 16))
    direction = rng.standard_normal(16)
    centre = real[0] + 0.3 * direction / np.linalg.norm(direction)
    fake = centre + 0.01 * rng.standard_normal((100, 16))
    ours = _compare_with_prdc(real, fake, 3, capsys)
    assert ours["precision"] == 1.0
    assert ours["recall"] == 0.0
    assert ours["coverage"] <= 5 / len(real)


# ----------------------------------------------------------------------------- batch invariance


def _images(n: int, seed: int = 0) -> torch.Tensor:
    """uint8 (n, 3, 64, 64): smooth gradients plus noise, so features are not degenerate."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    base = np.stack([xx * 4, yy * 4, (xx + yy) * 2], 0)[None]
    noise = rng.integers(-50, 50, (n, 3, 64, 64))
    return torch.from_numpy(np.clip(base + noise + 20 * np.arange(n)[:, None, None, None], 0, 255))


def _features(net, name: str, resize: str, images: torch.Tensor, batch: int) -> np.ndarray:
    spec = FeatureSpec(name, resize)
    batches = (images[i : i + batch].to(torch.uint8) for i in range(0, len(images), batch))
    return extract(batches, [spec], {name: net}, CPU, progress=False)[spec]


def _proxy_float64(net: ProxyNet, images: torch.Tensor) -> np.ndarray:
    """ProxyNet's features computed in float64 from its definition (resize, scale, four
    stride-2 convs with leaky ReLU, spatial means of the last two): the exact reference."""
    x = F.interpolate(images.double(), size=(net.size, net.size), mode="bilinear", antialias=True)
    x, pooled = (x - 128.0) / 128.0, []
    for i in range(len(net.widths) - 1):
        w, b = getattr(net, f"w{i}").double(), getattr(net, f"b{i}").double()
        x = F.leaky_relu(F.conv2d(x, w, b, stride=2, padding=1), 0.2)
        if i >= len(net.widths) - 3:
            pooled.append(x.mean(dim=(2, 3)))
    return torch.cat(pooled, 1).numpy()


def rms(x) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# docs/numerics.md model 2 (distance to a float64 run), as for compiled vs eager: batching may
# change the kernels' summation order, and so the rounding, but not how much there is of it
RATIO = 2.0


def _check_against_float64(one, many, exact) -> None:
    """Each fp32 run (batch 1, batch > 1) is within its own rounding of the float64 features;
    the batched run's RMS error is at most RATIO times the unbatched one's and vice versa. A
    real batch effect (statistics across the batch, images mixed up or padded) is an error of
    the order of the features themselves, orders of magnitude more than rounding."""
    e_one, e_many = rms(one - exact), rms(many - exact)
    assert e_many <= RATIO * e_one and e_one <= RATIO * e_many, (e_one, e_many)
    assert e_one < 1e-3 * rms(exact)  # rounding, not a different computation


@pytest.mark.numerics
def test_proxy_features_do_not_depend_on_batch_size():
    """features.extract on eight 64-px images through the proxy net, batch 1 against batch 8,
    each against the float64 features (`_check_against_float64`)."""
    net = ProxyFeatures(CPU)
    images = _images(8)
    one = _features(net, "proxy", "none", images, 1)
    eight = _features(net, "proxy", "none", images, 8)
    _check_against_float64(one, eight, _proxy_float64(net.model, images))


@pytest.mark.numerics
def test_inception_features_do_not_depend_on_batch_size(tmp_path):
    """The Inception net loaded with no NVIDIA file (the bundled copy; skipped where none is
    installed) on three 64-px images, clean resize, batch 1 against batch 3, each against the
    same net run in float64 on the same resized pixels (`_check_against_float64`)."""
    try:
        net = load_nets({"inception"}, tmp_path, CPU, False)["inception"]
    except QualityError as exc:
        pytest.skip(f"no Inception without NVIDIA's file here: {exc}")
    images = _images(3, seed=1)
    one = _features(net, "inception", "clean", images, 1)
    three = _features(net, "inception", "clean", images, 3)
    net64 = load_nets({"inception"}, tmp_path, CPU, False)["inception"]
    for module in vars(net64).values():
        if isinstance(module, torch.nn.Module):
            module.double()
    with torch.no_grad():
        exact = net64(CleanResize()(images.to(torch.uint8)).double(), "clean").numpy()
    _check_against_float64(one, three, exact)
