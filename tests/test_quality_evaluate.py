"""benchmarks.quality.evaluate on a stand-in generator and in-memory images (tests/helpers.py):
proxy results never carry the real metrics' names, the feature cache and the seeds make results
repeatable without touching the global RNG, bad options are one-line UsageErrors (the schema's
or the plan's), the typed section and its plan give the same results; and a metric on images (no network) registered the
README's way gets the images, streamed once for every seed, and needs no weights at all."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from benchmarks import quality as Q
from benchmarks.quality import registry
from benchmarks.quality.errors import QualityError
from benchmarks.quality.registry import Output
from benchmarks.quality.samples import generated_batches
from common import settings
from common.cli import UsageError
from tests.helpers import ArrayDataset, TinyGenerator, structured_images

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# ----------------------------------------------------------------------------- evaluate()


def _walk_keys(obj):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            yield from _walk_keys(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _walk_keys(value)


def test_proxy_results_never_named_like_real_metrics(tmp_path):
    data = ArrayDataset(structured_images(30, 0))
    q = settings.Quality(extractor="proxy", num_gen=24, seeds=[0], batch=12, kid_subsets=5)
    res = Q.evaluate(TinyGenerator(), data, q, cache_dir=None, progress=False)
    keys = set(_walk_keys(res["metrics"])) | set(res["summary"])
    forbidden = {"fid", "kid", "precision", "recall", "density", "coverage"}
    assert not keys & forbidden
    assert not any(k.startswith(("fid", "kid")) for k in keys)
    assert {"fd_proxy", "kd_proxy", "precision_proxy", "recall_proxy"} <= keys
    assert {"density_proxy", "coverage_proxy", "fd_proxy_clean"} <= keys
    assert "NOT Inception" in res["card"]["label"]
    assert set(res["card"]["nets"]) == {"proxy"}


def test_evaluate_cache_and_determinism(tmp_path):
    data = ArrayDataset(structured_images(30, 0))
    q = settings.Quality(
        metrics=["fid", "pr"], extractor="proxy", num_gen=24, batch=12, modes=["legacy_tensorflow"]
    )
    kwargs = dict(cache_dir=tmp_path, generator_id="stand-in:v1", progress=False)
    first = Q.evaluate(TinyGenerator(), data, q, **kwargs)
    assert first["card"]["cache"]["hits"] == 0
    again = Q.evaluate(TinyGenerator(), data, q, **kwargs)
    assert again["card"]["cache"]["hits"] > 0 and again["card"]["cache"]["misses"] == 0
    assert again["metrics"] == first["metrics"]
    uncached = Q.evaluate(TinyGenerator(), data, q, **{**kwargs, "cache_dir": None})
    assert uncached["metrics"] == first["metrics"]
    other = Q.evaluate(TinyGenerator(), data, dataclasses.replace(q, seeds=[1]), **kwargs)
    assert other["card"]["cache"]["misses"] > 0  # new seed -> new generated features
    assert other["metrics"]["fd_proxy"] != first["metrics"]["fd_proxy"]


def test_jobs_at_once_make_a_shared_feature_set_once(tmp_path):
    """Two quality jobs running at once (the default run's one-thread jobs) need the same real
    features: the later one waits on the cache's lock for that key, then reads what the first
    wrote, instead of extracting them again. A thread stands in for the other process: flock
    locks belong to each open file, so two opens in one process exclude each other too."""
    import threading

    from benchmarks.quality import features as F

    cache, spec, key = F.FeatureCache(tmp_path), F.FeatureSpec("proxy", "none"), {"kind": "real"}
    made, inside = [], threading.Event()

    def first_job():
        with cache.claimed([key]):
            inside.set()
            threading.Event().wait(0.5)  # the first job is still extracting
            cache.save(key, np.ones((3, 2), np.float32))

    def net(x, resize):
        made.append(len(x))
        return torch.zeros(len(x), 2)

    job = threading.Thread(target=first_job)
    job.start()
    assert inside.wait(10)
    batches = lambda: iter([torch.zeros(3, 3, 8, 8, dtype=torch.uint8)])  # noqa: E731
    got = F.gather(cache, [spec], lambda s: key, batches, 3, {"proxy": net}, CPU, "real", False)
    job.join()
    assert made == []  # nothing extracted twice
    assert np.array_equal(got[spec].array, np.ones((3, 2), np.float32))
    uncached = F.gather(
        F.FeatureCache(None), [spec], lambda s: key, batches, 3, {"proxy": net}, CPU, "real", False
    )
    assert made == [3] and np.array_equal(uncached[spec].array, np.zeros((3, 2)))


def test_random_noise_mode_is_repeatable_and_leaves_global_rng_alone():
    data = ArrayDataset(structured_images(20, 0), sha=None)
    q = settings.Quality(
        metrics=["fid"], extractor="proxy", num_gen=16, batch=8, modes=["legacy_tensorflow"],
        noise_mode="random",
    )  # fmt: skip
    kwargs = dict(cache_dir=None, progress=False)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = Q.evaluate(TinyGenerator(), data, q, **kwargs)
    assert torch.equal(torch.get_rng_state(), before)
    assert Q.evaluate(TinyGenerator(), data, q, **kwargs)["metrics"] == first["metrics"]
    const = Q.evaluate(TinyGenerator(), data, dataclasses.replace(q, noise_mode="const"), **kwargs)
    assert const["metrics"] != first["metrics"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metrics": ["fid", "lpips"]}, "unknown metric"),
        ({"num_gen": 1}, "num_gen: 1 is less than the minimum of 2"),
        ({"seeds": [0, 0]}, "distinct"),
        ({"modes": ["bicubic"]}, "unknown mode"),
        ({"num_gen": 3, "metrics": ["pr"]}, "'pr' needs at least 4 images"),
        ({"extractor": "inceptionv4"}, "unknown extractor 'inceptionv4'; registered: inception"),
        ({"noise_mode": "loud"}, "noise_mode: 'loud' is not one of"),
    ],
)
def test_evaluate_rejects_bad_input(kwargs, match):
    """Values from outside Python (a config, a flag) pass the section's schema
    (settings.validate, as the CLI's from_args does), then evaluate's plan and input checks."""
    data = ArrayDataset(structured_images(10, 0))
    with pytest.raises(UsageError, match=match):
        q = settings.validate({"extractor": "proxy", **kwargs}, settings.Quality, "quality")
        Q.evaluate(TinyGenerator(), data, q, cache_dir=None)


def test_evaluate_takes_the_typed_section():
    """The section or its plan, nothing beside them: no keyword options run past the section."""
    data = ArrayDataset(structured_images(20, 0))
    q = settings.Quality(metrics=["fid"], extractor="proxy", num_gen=16, batch=8, modes=["clean"])
    typed = Q.evaluate(TinyGenerator(), data, q, progress=False)
    planned = Q.evaluate(TinyGenerator(), data, Q.plan(q), progress=False)
    assert typed["metrics"] == planned["metrics"] and list(typed["summary"]) == ["fd_proxy_clean"]
    with pytest.raises(QualityError, match="distinct"):  # what the schema cannot say: checked
        Q.evaluate(TinyGenerator(), data, dataclasses.replace(q, seeds=[1, 1]), progress=False)
    with pytest.raises(TypeError, match="num_gen"):
        Q.evaluate(TinyGenerator(), data, q, num_gen=8)


# ----------------------------------------------------------------------------- IMAGES metrics

BINS = 8


def _histogram(batch: torch.Tensor) -> torch.Tensor:
    """Counts of a BINS-bin histogram per RGB channel over every pixel of a uint8 batch."""
    idx = batch.long() * BINS // 256  # (B, 3, H, W)
    return torch.stack([torch.bincount(idx[:, c].flatten(), minlength=BINS) for c in range(3)])


@pytest.fixture
def colour_histogram(monkeypatch):
    """A toy image-level metric registered the README's way, in a private copy of the table."""
    monkeypatch.setattr(registry, "_METRICS", dict(registry._METRICS))
    seen = []

    @registry.register_metric(
        "toy_colourhist",
        features=registry.IMAGES,
        outputs=[Output("toy_colour_hist", "colour histogram distance", generic="toy_chist")],
        lower_is_better=True,
        protocol=f"L1 distance of normalized {BINS}-bin RGB histograms",
    )
    def colourhist(real, gen, ctx):
        seen.append((real, gen))
        h_real, h_gen = real.reduce("hist", _histogram), gen.reduce("hist", _histogram)
        return float(np.abs(h_real / h_real.sum() - h_gen / h_gen.sum()).sum())

    return seen


def _reference_histogram_distance(real_u8: np.ndarray, gen_u8: np.ndarray) -> float:
    def hist(x):
        h = np.stack(
            [
                np.bincount((x[..., c].astype(int) * BINS // 256).ravel(), minlength=BINS)
                for c in range(3)
            ]
        ).astype(np.float64)
        return h / h.sum()

    return float(np.abs(hist(real_u8) - hist(gen_u8)).sum())


def test_an_images_metric_gets_the_images(colour_histogram):
    images = structured_images(20, 0)
    G, n_gen = TinyGenerator(), 12
    q = settings.Quality(
        metrics=["toy_colourhist", "fid"],
        extractor="proxy",
        num_gen=n_gen,
        num_real=16,
        batch=5,
        seeds=[0, 1],
        modes=["clean"],
    )
    res = Q.evaluate(G, ArrayDataset(images), q, progress=False)
    assert set(res["summary"]) == {"toy_chist_proxy", "fd_proxy_clean"}
    for i, seed in enumerate([0, 1]):
        gen = torch.cat(list(generated_batches(G, seed, n_gen, 5, 1.0, "const", CPU)))
        expected = _reference_histogram_distance(images[:16], gen.permute(0, 2, 3, 1).numpy())
        assert res["metrics"]["toy_chist_proxy"]["per_seed"][i] == pytest.approx(
            expected, rel=1e-12
        )
    (real0, gen0), (real1, gen1) = colour_histogram
    assert real0 is real1 and real0.passes == 1  # the real images streamed once for every seed
    assert gen0.passes == gen1.passes == 1 and len(gen0) == n_gen
    np.testing.assert_array_equal(real0.array(), images[:16])
    assert res["card"]["metrics"]["toy_colourhist"]["features"].startswith("no net: ")


def test_an_images_metric_alone_needs_no_network(colour_histogram, tmp_path):
    """Only images asked for: no net is loaded, so not even the Inception files are needed."""
    data = ArrayDataset(structured_images(10, 0))
    q = settings.Quality(
        metrics=["toy_colourhist"], extractor="inception", num_gen=8, weights_dir=str(tmp_path)
    )
    res = Q.evaluate(TinyGenerator(), data, q, download=False, progress=False)
    assert list(res["summary"]) == ["toy_colour_hist"] and res["card"]["nets"] == {}
    assert Q.feature_sets(Q.plan(settings.Quality(metrics=["toy_colourhist"]))) == {}
