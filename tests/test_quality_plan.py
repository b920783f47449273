"""benchmarks.quality.planning: the feature sets a plan needs, each listed once with the
metrics that read it; the default run's FID/KID and P/R/D/C share one clean-resized Inception
set while its per-kimg curve runs on the proxy; the pre-flight check and the disk estimate read
the same sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import quality as Q
from benchmarks.quality import registry
from benchmarks.quality.planning import curve_quality
from common import settings

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# ----------------------------------------------------------------------------- plan, feature sets


def test_feature_sets_of_a_plan_are_listed_once_with_their_users():
    shipped = ["fid", "kid", "pr", "dc"]
    main = Q.plan(settings.Quality(metrics=shipped))
    sets = {
        tag: (i.net, i.resize, i.dim, i.stats, i.metrics) for tag, i in Q.feature_sets(main).items()
    }
    assert sets == {
        "inception-clean": ("inception", "clean", 2048, True, ("fid", "kid")),
        "inception-none": ("inception", "none", 2048, True, ("fid", "kid")),
        "vgg16-none": ("vgg16", "none", 4096, False, ("pr", "dc")),
    }
    # proxy: P/R reads the same raw-pixel set as legacy FID, so it is computed (and cached) once
    proxy = Q.plan(
        settings.Quality(metrics=shipped, extractor="proxy", modes=["legacy_tensorflow"])
    )
    assert {t: i.metrics for t, i in Q.feature_sets(proxy).items()} == {
        "proxy-none": ("fid", "kid", "pr", "dc")
    }
    # several plans: the union (the pre-flight check's quality + curve jobs)
    pr_only = Q.plan(settings.Quality(metrics=["pr"]))
    curve = Q.plan(curve_quality(settings.Quality(metrics=["pr"], curve_metric="fid")))
    assert list(Q.feature_sets(pr_only, curve)) == [
        "vgg16-none",
        "inception-clean",
        "inception-none",
    ]


def test_the_default_run_shares_inception_features_and_curves_on_the_proxy():
    """The default config: FID/KID and P/R/D/C read ONE clean-resized Inception set (embedded
    once per image), and the per-kimg curve job plans the proxy, never Inception."""
    cfg = settings.load(ROOT / "config/default.yaml")
    main, curve = (Q.plan(q) for q in (cfg.quality, curve_quality(cfg.quality)))
    assert {t: i.metrics for t, i in Q.feature_sets(main).items()} == {
        "inception-clean": ("fid", "kid", "pr", "dc")
    }
    assert list(Q.feature_sets(curve)) == ["proxy-clean"]
    assert registry.result_keys("fid", curve.extractor.name, curve.modes) == ["fd_proxy_clean"]


def test_preflight_and_disk_estimate_read_the_same_feature_sets():
    from workflow import disk_estimate, preflight

    cfg = settings.load(ROOT / "config/paper.yaml")
    plans = preflight.quality_plans(cfg)
    sets = Q.feature_sets(*plans)
    nets = preflight.needed_nets(plans)
    assert set(nets) == {i.net for i in sets.values()}
    assert all(
        set(users) == {m for i in sets.values() if i.net == net for m in i.metrics}
        for net, users in nets.items()
    )
    parts, _ = disk_estimate.estimate_disk(cfg, {name: 10 for name in cfg.datasets}, plans)
    n_real = min(cfg.quality.num_real or 10, 10)
    per_set = sum(n_real * i.dim * 4 + (i.dim**2 + i.dim) * 8 * i.stats for i in sets.values())
    assert parts["features"] >= len(cfg.datasets) * per_set
