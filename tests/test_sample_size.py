"""The sample-size curve (benchmarks/quality/sample_size.py): FID's upward bias at small N on
Gaussians with a known FID, FID∞ closer to the truth than the largest-N FID, the result JSON's
`sample_size` entries, KID's interval in the summary, and the report's section."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks import quality as Q
from benchmarks.quality import registry
from benchmarks.quality.sample_size import DRAWS, extrapolate, fid_grid, fid_rows, n_grid
from common import settings
from reports import sample_size_plots
from reports.collect import RunResults
from tests.helpers import ArrayDataset, TinyGenerator, structured_images

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_grid_is_geometric_from_about_100_to_the_run_n():
    assert n_grid(50_000) == [100, 473, 2236, 10574, 50000]
    assert n_grid(1000) == [100, 178, 316, 562, 1000]
    assert n_grid(200) == [50, 71, 100, 141, 200]  # below 400 images: from N/4
    assert n_grid(5) == [2, 3, 4, 5] and n_grid(2) == [2]


def test_fid_grid_adds_sizes_above_the_feature_dimension_for_the_fit():
    """FID∞ is fitted over sizes n >= d only; the grid gets three there when it lacks them."""
    assert fid_grid(50_000, 2048) == n_grid(50_000)  # 2236, 10574, 50000 are >= 2048 already
    assert fid_grid(1000, 384) == [100, 178, 316, 384, 562, 620, 1000]
    assert fid_grid(500, 384) == n_grid(500)  # N < 2d: no line, no extra sizes


def test_extrapolation_only_over_sizes_above_the_feature_dimension():
    rows = [{"n": n, "mean": 5.0 + 100.0 / n} for n in (10, 20, 40, 80, 160)]
    assert extrapolate(rows, 20)["fit"]["fitted_n"] == [20, 40, 80, 160]
    assert extrapolate(rows, 20)["inf"] == pytest.approx(5.0, rel=1e-12)
    for dim in (60, 100):  # two sizes >= 60; three >= 30 would span less than a factor 2
        out = extrapolate(rows, dim)
        assert out["inf"] is None and "needs N >= " in out["fit"]["skipped"]


D = 32
SCALES = np.where(np.arange(D) % 2, 0.9, 1.1)  # gen std per dimension; real: N(0, I) exactly
SHIFT = np.eye(D)[0] * 0.2
TRUE_FID = float(SHIFT @ SHIFT + np.sum((1 - SCALES) ** 2))  # |Δμ|² + tr(I + S² - 2 S)
N_GEN, SETS = 2000, 5


@pytest.mark.numerics
def test_fid_bias_shrinks_with_n_and_the_extrapolation_removes_most_of_it():
    """Five generated sets of 2,000 from N(SHIFT, diag(SCALES²)) in 32-D against a real set
    whose statistics are the population's exactly (mean 0, covariance I), so the true FID is
    known and the finite-N bias is the generated side's alone. The bias of the covariance term
    is second order, ~d²/N: ~3 at N = 100 and ~0.15 at 2,000, against a first-order sampling
    spread of sqrt((4 Δμᵀ S² Δμ + 2 Σ s⁴ (1 - 1/s)²) / N) ≈ 0.02 at 2,000, so every mean sits
    above the truth and the five-set means fall strictly with N. FID∞ is unbiased up to the
    curvature of the bias in 1/N and the fit's noise (~0.03 on average here), so over the five
    sets it lies closer to the truth than FID at 2,000 does (by ~5x in expectation: a margin
    no rounding, any CPU's, can move; the data are fixed by their seeds)."""
    assert n_grid(N_GEN) == [100, 211, 447, 946, 2000]
    means, inf_err, top_err = [], [], []
    for seed in range(SETS):
        rng = np.random.default_rng(seed)
        gen = rng.standard_normal((N_GEN, D)) * SCALES + SHIFT
        rows = fid_rows(gen, (np.zeros(D), np.eye(D)), seed)
        assert [len(r["draws"]) for r in rows] == [DRAWS] * 4 + [1]
        assert all(r["lo"] <= r["mean"] <= r["hi"] for r in rows)
        assert all(r["mean"] > TRUE_FID for r in rows)  # biased upward at every N
        fit = extrapolate(rows, D)
        assert fit["fit"]["fitted_n"] == n_grid(N_GEN)
        assert fit["fit"]["slope"] > 0 and fit["inf_se"] > 0
        means.append([r["mean"] for r in rows])
        inf_err.append(abs(fit["inf"] - TRUE_FID))
        top_err.append(rows[-1]["mean"] - TRUE_FID)
    assert np.all(np.diff(np.mean(means, axis=0)) < 0)
    assert np.mean(inf_err) < np.mean(top_err)


@pytest.fixture(scope="module")
def result():
    torch.set_num_threads(1)
    data = ArrayDataset(structured_images(60, 0))
    q = settings.Quality(
        extractor="proxy", metrics=["fid", "kid"], num_gen=48, seeds=[3, 4], batch=12, kid_subsets=5
    )
    return Q.evaluate(TinyGenerator(), data, q, cache_dir=None, progress=False)


def test_result_json_carries_the_curves_and_kid_intervals(result):
    """Every FID/KID result key has a curve from the first seed's features; the full-N row is the
    job's own value; FID entries carry the extrapolation, KID entries their subset settings;
    KID's summary has per-seed intervals and the seed mean's; the JSON is strict JSON."""
    json.dumps(result, allow_nan=False)
    keys = [k for m in ("fid", "kid") for k in registry.result_keys(m, "proxy")]
    assert sorted(result["sample_size"]) == sorted(keys)
    for key, entry in result["sample_size"].items():
        info = registry.key_info(key)
        stat = result["metrics"][key.removesuffix(f"_{info.mode}")][info.mode]
        assert entry["seed"] == 3 and entry["num_gen"] == 48 and entry["num_real"] == 60
        assert [r["n"] for r in entry["rows"]] == n_grid(48)
        assert entry["rows"][-1]["draws"] == [stat["per_seed"][0]]
        if info.metric == "fid":  # 48 generated images, 384-D proxy features: no line
            assert entry["inf"] is None and entry["inf_se"] is None
            assert "needs N >= 768" in entry["fit"]["skipped"]
        else:
            assert entry["subsets_per_draw"] == 5 and "inf" not in entry
            lo, hi = stat["ci95"]
            per = stat["ci95_per_seed"]
            assert len(per) == 2 and all(
                a < v < b for (a, b), v in zip(per, stat["per_seed"], strict=True)
            )
            assert lo == pytest.approx(np.mean([a for a, _ in per]))
            assert hi == pytest.approx(np.mean([b for _, b in per]))
            assert "disjoint-block" in stat["ci_method"]
    assert "ci95" not in result["metrics"]["fd_proxy"]["clean"]  # FID gives no interval


def _res(tmp_path, quality: dict) -> RunResults:
    config = {"quality": {"extractor": "proxy"}, "models": [], "datasets": []}
    return RunResults(root=tmp_path, config=config, quality=quality)


def _gaussian_quality(factor: float) -> dict:
    """A quality result whose sample-size entries are the 32-D Gaussian curves above (two
    modes, the second model's values scaled by `factor`), with their FID∞ fits."""
    rng = np.random.default_rng(0)
    gen = rng.standard_normal((N_GEN, D)) * SCALES + SHIFT
    rows = fid_rows(gen, (np.zeros(D), np.eye(D)), 0)
    for r in rows:
        r.update({k: r[k] * factor for k in ("mean", "lo", "hi")})
    entry = {"metric": "fid", "seed": 0, "num_gen": N_GEN, "num_real": 5000, "rows": rows}
    entry.update(extrapolate(rows, D))
    return {"sample_size": {f"fd_proxy_{m}": entry for m in ("clean", "legacy_tensorflow")}}


def test_report_section_writes_csv_table_and_plot(result, tmp_path):
    """Two models with FID∞ fits and one whose N is too small for a fit (hollow points, no
    row in the fit table): CSVs first, then the Markdown table and the PNG + SVG plot."""
    quality = {
        ("faces", "cips"): _gaussian_quality(1.0),
        ("faces", "stylegan2"): _gaussian_quality(1.5),
        ("faces", "pixelfolder"): result,
    }
    written = sample_size_plots.write(_res(tmp_path, quality), tmp_path / "report", "prov line")
    out = tmp_path / "report"
    curves = pd.read_csv(out / "sample_size.csv")
    assert set(curves["model"]) == {"cips", "stylegan2", "pixelfolder"}
    assert not curves.loc[curves["model"] == "pixelfolder", "fitted"].any()
    fits = pd.read_csv(out / "sample_size_fit.csv")
    assert len(fits) == 4  # 2 fitted models x 2 modes
    assert fits["gap_at_n"].gt(0).all()  # FID at the run's N lies above FID∞
    assert (out / "plots" / "fid_vs_inverse_n.png").exists()
    assert (out / "plots" / "fid_vs_inverse_n.svg").exists()
    assert "25× fewer than the protocol's 50,000" in written["caption"]
    assert "biased upward" in written["caption"] and "FD∞" in written["caption"]
    assert "Fréchet distance (proxy features)" in (out / "sample_size_fit.md").read_text()
    title, body = sample_size_plots.section(written)
    assert title == sample_size_plots.TITLE and "<img" in body and "<table>" in body


def test_report_section_without_curves(tmp_path):
    res = _res(tmp_path, {("faces", "cips"): {"metrics": {}, "summary": {}}})
    written = sample_size_plots.write(res, tmp_path / "report", "prov")
    assert written is None and not (tmp_path / "report").exists()
    assert "No sample-size curve" in sample_size_plots.section(written)[1]
