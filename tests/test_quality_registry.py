"""benchmarks.quality.registry: the shipped metrics keep their result key names (written
results and reports depend on them), every key can be described, config names are checked
against the registered ones, and a metric registered through the public API is computed,
described and written by the CLI (the CLI lists the registered names for an unknown one)."""

from __future__ import annotations

import json

import pytest

from benchmarks import quality as Q
from benchmarks.quality import registry
from benchmarks.quality.registry import POOL, Output
from common import settings
from common.cli import UsageError
from tests.helpers import SHIPPED_KEYS, ArrayDataset, TinyGenerator, quality_cli, structured_images
from workflow import config as run_config

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_registry_keeps_the_result_key_names():
    """The shipped metrics keep their exact key names, and a metric added the README's way
    (one file, one import, one config entry) only adds keys: this test reads the registry for
    everything else, so it passes with any number of added metrics."""
    modes = ["clean", "legacy_tensorflow"]
    assert {m for m, _ in SHIPPED_KEYS} <= set(registry.metric_names())
    assert {e for _, e in SHIPPED_KEYS} <= set(registry.extractor_names())
    for (metric, extractor), keys in SHIPPED_KEYS.items():
        assert registry.result_keys(metric, extractor, modes) == keys, (metric, extractor)
    writers: dict[str, set] = {}
    for m in registry.metric_names():
        for e in registry.extractor_names():
            for k in registry.result_keys(m, e, modes):
                writers.setdefault(k, set()).add(m)
    every = list(writers)
    # no two metrics write the same key (a published name, `fid_clean`, may come from several
    # extractors that use the published network for it)
    assert all(len(ms) == 1 for ms in writers.values()), writers
    assert all(registry.key_info(k).metric in registry.metric_names() for k in every)
    assert registry.result_keys("fid", modes=["clean"]) == ["fid_clean"]  # settings' extractor


def test_key_info_answers_for_every_result_key():
    info = registry.key_info("fid_legacy_tensorflow")
    assert (info.metric, info.output, info.extractor, info.mode) == (
        "fid", "fid", "inception", "legacy_tensorflow",
    )  # fmt: skip
    assert info.lower_is_better and info.comparable and "fid50k_full" in info.protocol
    assert "FID" in info.label
    proxy = registry.key_info("fd_proxy_clean")
    assert proxy.metric == "fid" and not proxy.comparable and "FID" not in proxy.label
    assert "not comparable" in proxy.protocol and proxy.mode == "clean"
    recall = registry.key_info("recall_proxy")
    assert (recall.metric, recall.lower_is_better, recall.mode) == ("pr", False, None)
    assert registry.key_info("kid").metric == "kid"  # an entry of result["metrics"]
    assert registry.key_info("coverage").protocol.startswith("Naeem")
    assert registry.key_info("lpips", None) is None
    with pytest.raises(KeyError):
        registry.key_info("lpips")


def test_settings_check_the_registered_names():
    """workflow.config validates config names through registry.metric_names()."""
    base = {"run": "x", "datasets": {"d": {"source": "s", "resolution": 32}},
            "models": {"stylegan2": {}}}  # fmt: skip
    known = ", ".join(registry.metric_names())
    with pytest.raises(UsageError, match=f"'lpips' is not registered; available: {known}"):
        run_config.load({**base, "quality": {"metrics": ["lpips"]}})


@pytest.fixture
def toy_metric(monkeypatch):
    """A metric registered through the public API, in a private copy of the registry table."""
    monkeypatch.setattr(registry, "_METRICS", dict(registry._METRICS))
    calls = []

    @registry.register_metric(
        "toy",
        features=POOL,
        outputs=[Output("toy_gap", "mean gap", generic="gap", generic_label="mean gap")],
        lower_is_better=True,
        protocol="|mean(real) - mean(gen)| of pool features",
        card=lambda ctx: {"what": "a test metric"},
    )
    def toy(real, gen, ctx):
        calls.append((ctx.seed, ctx.mode))
        return float(abs(real.array.mean() - gen.array.mean()))

    return calls


def test_a_registered_metric_is_computed_and_described(toy_metric):
    assert registry.metric_names()[-1] == "toy"
    assert registry.result_keys("toy", "proxy", ["clean"]) == ["gap_proxy_clean"]
    assert registry.result_keys("toy", "inception") == [
        "toy_gap_clean",
        "toy_gap_legacy_tensorflow",
    ]
    info = registry.key_info("gap_proxy_legacy_tensorflow")
    assert (info.metric, info.lower_is_better, info.mode) == ("toy", True, "legacy_tensorflow")
    assert info.protocol.startswith("|mean(real)")
    data = ArrayDataset(structured_images(20, 0))
    q = settings.Quality(
        metrics=["toy", "fid"], extractor="proxy", num_gen=16, batch=8, seeds=[0, 1]
    )
    res = Q.evaluate(TinyGenerator(), data, q, cache_dir=None, progress=False)
    assert sorted(toy_metric) == [(0, "clean"), (0, "legacy_tensorflow"), (1, "clean"),
                                  (1, "legacy_tensorflow")]  # fmt: skip
    assert set(res["summary"]) == {"gap_proxy_clean", "gap_proxy_legacy_tensorflow",
                                   "fd_proxy_clean", "fd_proxy_legacy_tensorflow"}  # fmt: skip
    assert len(res["metrics"]["gap_proxy"]["clean"]["per_seed"]) == 2
    assert res["card"]["metrics"]["toy"]["what"] == "a test metric"


def test_a_registered_metric_reaches_the_cli_json(toy_metric, real_run, tmp_path, capsys):
    _, data, ckpt = real_run
    out = tmp_path / "toy.json"
    argv = ["--checkpoint", ckpt, "--data", data, "--metrics", "toy", "--modes", "clean",
            "--num-gen", 8, "--num-real", 16, "--batch", 8, "--extractor", "proxy",
            "--no-cache", "--quiet", "--out", out]  # fmt: skip
    code, io = quality_cli(argv, capsys)
    assert code == 0, io.err
    res = json.loads(out.read_text())
    assert list(res["summary"]) == ["gap_proxy_clean"] and res["summary"]["gap_proxy_clean"] >= 0
    assert "gap_proxy_clean=" in io.out


def test_cli_unknown_metric_lists_the_registered_ones(real_run, tmp_path, capsys):
    _, data, ckpt = real_run
    out = tmp_path / "never.json"
    argv = ["--checkpoint", ckpt, "--data", data, "--metrics", "nonexistent",
            "--extractor", "proxy", "--out", out]  # fmt: skip
    code, io = quality_cli(argv, capsys)
    assert code == 2 and io.err.count("\n") == 1, io.err
    assert "unknown metric 'nonexistent'" in io.err
    assert f"registered: {', '.join(registry.metric_names())}" in io.err
    assert not out.exists()
