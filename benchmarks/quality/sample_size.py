"""FID and KID against the number of generated images N, and FID extrapolated to N = ∞.

FID is biased upward at finite N (the bias falls roughly as 1/N), so a FID measured on 1,000
images is not a small-sample reading of fid50k: it is a larger number. This module shows how
far a run is from its limit, on the features the job already computed (no new extraction):

* a geometric grid of POINTS sizes from ~min(MIN_N, N/4) up to the N the job used;
* at each size below N, DRAWS subsets of the generated features drawn without replacement
  (seeded), each scored against the FULL real set; at N itself the one full set (its value is
  the job's own). `lo`/`hi` are the 2.5/97.5 percentiles of the draws (linear interpolation:
  with 5 draws, nearly their range). They are subsampling intervals, conditional on this
  seed's generated set: they show how much a value at that N moves with the images drawn, and
  shrink to nothing at the full N, where the per-seed spread and KID's ci95 are the measure;
* FID∞ (Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and where to find
  them"): the ordinary least-squares line of the per-N mean FID against 1/N; FID∞ is its
  intercept, `inf_se` the intercept's standard error from the fit residuals (it does not
  include the sampling error of the job's generated or real set). The line is fitted only over
  sizes n >= the feature dimension d: below it the generated covariance is singular and the
  bias is not of the form c/N (on Gaussians with a 1/i spectrum in 2,048-D, a fit through
  N = 100 put FID∞ further from the truth than FID at 10k itself; fitted from n >= d on it
  removed 85-98 % of the bias in three sets). Chong & Forsyth fit over 5k-50k images at d = 2,048. So the grid gets
  extra sizes in [d, N] when fewer than FIT_POINTS of its own lie there, and there is no FID∞
  (`inf` null, the reason in `fit.skipped`) when N < FIT_SPAN x d.
  KID is unbiased in N: its curve should stay flat within its draws, and it gets no fit.

Cost: a FID draw below d is one n x n eigen solve against the real set's Cholesky factor
(distances.FrechetToReference), above d one covariance plus one Fréchet distance (~1-2 s at
d = 2,048 on two cores); a KID draw uses KID_SUBSETS_PER_DRAW subsets of the job's subset size,
so a grid point costs about a quarter of one full KID. First seed only (evaluation.evaluate).
"""

from __future__ import annotations

import numpy as np

from . import registry
from .distances import FrechetToReference, frechet_distance, kernel_distance

CURVE_METRICS = ("fid", "kid")  # per-mode metrics whose value depends on N in a known way
POINTS = 5
DRAWS = 5
MIN_N = 100
FIT_POINTS = 3  # sizes with n >= d the FID∞ line needs (one degree of freedom for its SE)
FIT_SPAN = 2  # and N >= FIT_SPAN * d: the fitted sizes span at least this factor in 1/N
KID_SUBSETS_PER_DRAW = 5
INTERVAL = (
    "2.5-97.5 percentiles over draws of n generated images without replacement, each against "
    "the full real set (subsampling, conditional on this seed's generated set; one draw at the "
    "full n)"
)


def n_grid(n: int, points: int = POINTS, smallest: int = MIN_N) -> list[int]:
    """Geometric sizes from ~min(smallest, n/4) (at least 2, a covariance's minimum) to n."""
    lo = max(2, min(smallest, n // 4))
    return [int(v) for v in np.unique(np.round(np.geomspace(lo, n, points)).astype(int))]


def fid_grid(n: int, dim: int) -> list[int]:
    """`n_grid(n)` plus, when fewer than FIT_POINTS of its sizes are >= dim and n >= FIT_SPAN *
    dim, FIT_POINTS geometric sizes from dim to n, so the FID∞ line has points to fit."""
    grid = n_grid(n)
    if sum(g >= dim for g in grid) < FIT_POINTS and n >= FIT_SPAN * dim:
        grid += [int(v) for v in np.round(np.geomspace(dim, n, FIT_POINTS)).astype(int)]
    return sorted(set(grid))


def _subsets(total: int, n: int, draws: int, seed: int) -> list[np.ndarray]:
    """Row indices of each draw of n of `total` rows; seeded by (seed, n), so FID and KID and
    every mode see the same images at each n. The full set is drawn once."""
    if n >= total:
        return [np.arange(total)]
    rng = np.random.default_rng([seed, n])
    return [np.sort(rng.choice(total, n, replace=False)) for _ in range(draws)]


def _row(n: int, values: list[float]) -> dict:
    arr = np.asarray(values, dtype=np.float64)
    lo, hi = np.percentile(arr, [2.5, 97.5])
    return {
        "n": int(n),
        "mean": float(arr.mean()),
        "lo": float(lo),
        "hi": float(hi),
        "draws": [float(v) for v in arr],
    }


def fid_rows(gen, real_stats, seed: int, grid=None, draws=DRAWS, full_value=None) -> list[dict]:
    """One row per grid size: FID of `draws` subsets of the generated features `gen` (N x D)
    against the real set's float64 (mu, sigma); `full_value` (the job's FID) is the full-N row."""
    rows, to_real = [], FrechetToReference(*real_stats)
    for n in grid or fid_grid(len(gen), gen.shape[1]):
        values = []
        for idx in _subsets(len(gen), n, draws, seed):
            if len(idx) == len(gen) and full_value is not None:
                values.append(float(full_value))
                continue
            values.append(to_real(gen[idx]))
        rows.append(_row(n, values))
    return rows


def kid_rows(gen, real, seed: int, subset_size: int, grid=None, draws=DRAWS, full_value=None):
    """As fid_rows for KID: each draw is clean-fid's KID with KID_SUBSETS_PER_DRAW subsets of
    min(n, real, subset_size) images, its subset RNG seeded from (seed, n, draw)."""
    rows = []
    for n in grid or n_grid(len(gen)):
        values = []
        for j, idx in enumerate(_subsets(len(gen), n, draws, seed)):
            if len(idx) == len(gen) and full_value is not None:
                values.append(float(full_value))
                continue
            kid_seed = int(np.random.SeedSequence([seed, n, j]).generate_state(1)[0])
            values.append(
                kernel_distance(gen[idx], real, KID_SUBSETS_PER_DRAW, subset_size, kid_seed)
            )
        rows.append(_row(n, values))
    return rows


def extrapolate(rows: list[dict], dim: int) -> dict:
    """FID∞: least squares of the per-N mean against x = 1/N over the sizes n >= dim (the
    feature dimension); the intercept and its standard error. None, with the reason in
    `fit.skipped`, with fewer than FIT_POINTS such sizes (a line through 2 points has no
    residual to judge) or when they span less than FIT_SPAN in N."""
    used = [r for r in rows if r["n"] >= dim]
    if len(used) < FIT_POINTS or used[-1]["n"] < FIT_SPAN * used[0]["n"]:
        why = (
            f"fewer than {FIT_POINTS} sizes n >= the feature dimension {dim} spanning a factor "
            f"{FIT_SPAN}: needs N >= {FIT_SPAN * dim} generated images"
        )
        return {"inf": None, "inf_se": None, "fit": {"skipped": why, "min_n": int(dim)}}
    x = np.array([1.0 / r["n"] for r in used])
    y = np.array([r["mean"] for r in used])
    from scipy.stats import linregress  # here: importing scipy.stats costs ~1 s

    fit = linregress(x, y)
    return {
        "inf": float(fit.intercept),
        "inf_se": float(fit.intercept_stderr),
        "fit": {
            "x": "1/n (per generated image)",
            "y": "mean over draws",
            "intercept": float(fit.intercept),
            "intercept_se": float(fit.intercept_stderr),
            "slope": float(fit.slope),
            "slope_se": float(fit.stderr),
            "r2": float(fit.rvalue**2),
            "points": len(used),
            "dof": len(used) - 2,
            "fitted_n": [int(r["n"]) for r in used],
            "min_n": int(dim),
            "method": "ordinary least squares (Chong & Forsyth 2020)",
        },
    }


def curve(name: str, real, gen, options, seed: int, full_value=None) -> dict:
    """The sample-size entry of one metric result: `name` is "fid" or "kid", `real`/`gen` the
    FeatureSets it was computed on, `full_value` its value on the whole set (reused)."""
    entry = {
        "metric": name,
        "seed": int(seed),
        "num_gen": len(gen),
        "num_real": len(real),
        "draws_per_n": DRAWS,
        "interval": INTERVAL,
    }
    if name == "fid":
        if full_value is None:
            full_value = frechet_distance(*gen.stats(), *real.stats())
        rows = fid_rows(gen.array, real.stats(), seed, full_value=full_value)
        return {**entry, "rows": rows, **extrapolate(rows, gen.array.shape[1])}
    size = options.kid_subset_size
    rows = kid_rows(gen.array, real.array, seed, size, full_value=full_value)
    return {**entry, "subsets_per_draw": KID_SUBSETS_PER_DRAW, "subset_size": size, "rows": rows}


def curves(p, real: dict, gen: dict, seed: int, found: dict | None = None) -> dict:
    """result["sample_size"]: {result key: curve entry} for every per-mode FID-type metric of
    the plan (`fid`, `kid`) in every mode; `found` maps result keys to this seed's values, so
    the full-N point is the job's own number, not a recomputation."""
    out = {}
    for metric in p.metrics:
        if metric.name not in CURVE_METRICS or not metric.features.per_mode:
            continue
        for mode in p.modes_of(metric):
            spec = p.spec_of(metric, mode)
            key = registry.result_keys(metric, p.extractor.name, [mode])[0]
            full = (found or {}).get(key)
            full = None if full is None else float(full)
            out[key] = curve(metric.name, real[spec], gen[spec], p.options, seed, full)
    return out
