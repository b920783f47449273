"""benchmarks.quality.nets and .weights: a missing, corrupt, undownloadable or mis-pinned weight
file is one QualityError line naming the path (and the URL); the real-weights path runs end to
end on TorchScript stand-ins of NVIDIA's two files (tests/helpers.py), under the registry's
names; and each net's declared width is that of the arrays it really returns."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks import quality as Q
from benchmarks.quality import registry
from benchmarks.quality.errors import QualityError
from benchmarks.quality.features import extract
from benchmarks.quality.nets import NETS, load_nets
from benchmarks.quality.registry import FeatureSpec
from benchmarks.quality.weights import WEIGHT_URLS
from common import settings
from common.io import sha256_file
from tests.helpers import (
    SHIPPED_OUTPUTS,
    ArrayDataset,
    TinyGenerator,
    image_batches,
    structured_images,
    write_standin_weights,
)

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# ----------------------------------------------------------------------------- weights


def test_missing_weights_error_names_path_and_url(tmp_path):
    """VGG16 has no offline fallback: its absence is one line naming the path and the URL.
    (Inception's absence falls back to the bundled file: tests/test_inception_bundled.py.)"""
    with pytest.raises(QualityError) as err:
        load_nets({"vgg16"}, tmp_path, CPU, download=False)
    msg = str(err.value)
    assert str(tmp_path / "vgg16.pt") in msg
    assert WEIGHT_URLS["vgg16.pt"] in msg and "\n" not in msg


@pytest.mark.parametrize("name", ["inception", "vgg16"])
def test_corrupt_weights_give_one_line_error(tmp_path, name):
    fname = "inception-2015-12-05.pt" if name == "inception" else "vgg16.pt"
    (tmp_path / fname).write_bytes(b"PK\x03\x04 definitely not a TorchScript archive" * 50)
    with pytest.raises(QualityError) as err:
        load_nets({name}, tmp_path, CPU, download=False)
    msg = str(err.value)
    assert "corrupt or truncated" in msg and fname in msg and "\n" not in msg


def test_failed_download_leaves_nothing_behind(tmp_path, monkeypatch):
    import urllib.request

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.delenv("PIXBENCH_NO_DOWNLOAD", raising=False)
    with pytest.raises(QualityError, match="missing metric weights"):
        load_nets({"vgg16"}, tmp_path / "res" / "weights", CPU, download=True)
    assert not (tmp_path / "res").exists()


def test_pinned_sha256_mismatch(tmp_path):
    (tmp_path / "vgg16.pt").write_bytes(b"x" * 100)
    (tmp_path / "vgg16.pt.sha256").write_text("0" * 64 + "  vgg16.pt\n")
    with pytest.raises(QualityError, match="sha256 of .* expects 0000"):
        load_nets({"vgg16"}, tmp_path, CPU, download=False)


@pytest.fixture(scope="module")
def fake_weights(tmp_path_factory):
    return write_standin_weights(tmp_path_factory.mktemp("weights"))


def test_inception_path_wiring_with_torchscript_stand_ins(fake_weights):
    """The real-weights path end to end, with TorchScript stand-ins of NVIDIA's two files:
    clean-fid's InceptionV3W in both modes, uint8 into VGG16, real metric names, hashes."""
    data = ArrayDataset(structured_images(30, 0))
    q = settings.Quality(
        extractor="inception", num_gen=24, batch=12, kid_subsets=5, weights_dir=str(fake_weights)
    )
    res = Q.evaluate(TinyGenerator(), data, q, cache_dir=None, download=False, progress=False)
    inception = registry.get_extractor("inception")
    written = {inception.stem(o) for m in registry.select(None) for o in m.outputs}
    assert set(res["metrics"]) == written  # every registered metric, by the registry's names
    assert set(SHIPPED_OUTPUTS) <= written  # the shipped ones under their published names
    modes = registry.mode_names()
    assert set(res["summary"]) == {
        k for m in registry.select(None) for k in registry.result_keys(m, "inception", modes)
    }
    assert set(res["metrics"]["fid"]) == {"clean", "legacy_tensorflow"}
    clean, legacy = (res["metrics"]["fid"][m]["mean"] for m in ("clean", "legacy_tensorflow"))
    assert clean > 0 and legacy > 0 and clean != legacy  # two resize paths really differ
    nets = res["card"]["nets"]
    assert nets["inception"]["sha256"] == sha256_file(fake_weights / "inception-2015-12-05.pt")
    assert nets["vgg16"]["sha256"] == sha256_file(fake_weights / "vgg16.pt")
    assert "fid_clean" in res["summary"] and "precision" in res["summary"]


def _specs_of(net: str) -> list[FeatureSpec]:
    """Every feature set a registered extractor computes with `net` (its resize modes)."""
    specs = []
    for ex in map(registry.get_extractor, registry.extractor_names()):
        for kind in (registry.POOL, registry.MANIFOLD):
            for mode in registry.mode_names() if kind.per_mode else [None]:
                if ex.nets.get(kind.name) == net and ex.spec(kind, mode) not in specs:
                    specs.append(ex.spec(kind, mode))
    return specs


@pytest.mark.parametrize("net", sorted(NETS))
def test_declared_net_dims_match_real_feature_arrays(net, fake_weights):
    """Each net's declared `dim` (what feature_sets and the disk estimate read) is the width of
    the arrays it really returns: NVIDIA's files where resources/weights has them, else the
    TorchScript stand-ins of tests/helpers.py, and the proxy net itself."""
    file = NETS[net].file
    real = ROOT / "resources" / "weights"
    folder = real if file and (real / file).is_file() else fake_weights
    if folder == fake_weights and net == "vgg16":
        pytest.skip(
            "tests/helpers.FakeVGG16 pools to 48-D; only NVIDIA's vgg16.pt has the fc2 width"
        )
    if file and not (folder / file).is_file():
        pytest.skip(f"no {file} here")
    nets = load_nets({net}, folder, CPU, download=False)
    specs = _specs_of(net)
    feats = extract(image_batches(structured_images(3, 0), 3), specs, nets, CPU, progress=False)
    assert specs and all(feats[s].shape == (3, NETS[net].dim) for s in specs), {
        s.tag: feats[s].shape for s in specs
    }
