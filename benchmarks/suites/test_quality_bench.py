"""pytest-benchmark for the quality pipeline.

    .venv/bin/pytest benchmarks/suites/test_quality_bench.py --benchmark-enable

* feature extraction throughput (images/s) of our in-memory path vs clean-fid's own folder path
  (`get_folder_features` on PNGs), same images, same injected proxy net, clean and legacy modes;
* Fréchet distance for 2048-D covariances.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from cleanfid import fid as cleanfid_fid
from PIL import Image
from threadpoolctl import threadpool_limits

from benchmarks.quality.distances import frechet_distance
from benchmarks.quality.features import extract
from benchmarks.quality.nets import ProxyFeatures, ProxyNet
from benchmarks.quality.registry import MODES, FeatureSpec

CPU = torch.device("cpu")
NUM, RES, BATCH = 128, 64, 32


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (NUM, RES, RES, 3), dtype=np.uint8)
    folder = tmp_path_factory.mktemp("bench_pngs")
    for i, img in enumerate(arr):
        Image.fromarray(img).save(folder / f"{i:04d}.png")
    return arr, folder


def _throughput(benchmark, fn):
    benchmark.pedantic(fn, rounds=3, iterations=1, warmup_rounds=1)
    if benchmark.disabled:  # quick mode: the call ran once, untimed
        return
    benchmark.extra_info["images_per_s"] = round(NUM / benchmark.stats.stats.median, 1)


@pytest.mark.parametrize("mode", list(MODES))
def test_extract_ours(benchmark, images, mode):
    arr, _ = images
    nets = {"proxy": ProxyFeatures(CPU)}
    spec = FeatureSpec("proxy", MODES[mode].resize)
    batches = torch.from_numpy(arr).permute(0, 3, 1, 2)

    def run():
        return extract(batches.split(BATCH), [spec], nets, CPU, progress=False)

    _throughput(benchmark, run)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.heavy)])
def test_extract_cleanfid_folder(benchmark, images, mode, workers):
    _, folder = images
    proxy = ProxyNet().eval()

    def run():
        with torch.no_grad():
            return cleanfid_fid.get_folder_features(
                str(folder),
                proxy,
                num_workers=workers,
                batch_size=BATCH,
                device=CPU,
                mode=mode,
                verbose=False,
            )

    _throughput(benchmark, run)


@pytest.mark.parametrize("threads", [1, 2])
def test_frechet_distance_2048(benchmark, threads):
    """A timing, not a test: no assertion (tests/test_quality_distances.py checks the values); the
    load average is recorded because oversubscribed BLAS threads dominate it on a busy machine."""
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 2048, 2048))
    s1, s2 = a @ a.T / 2048, b @ b.T / 2048
    mu1, mu2 = rng.standard_normal((2, 2048))
    benchmark.extra_info["loadavg_1min"] = os.getloadavg()[0]
    with threadpool_limits(threads):
        benchmark.pedantic(frechet_distance, args=(mu1, s1, mu2, s2), rounds=3, warmup_rounds=1)
