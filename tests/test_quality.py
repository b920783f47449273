"""Golden and end-to-end tests of benchmarks.quality: FD vs scipy sqrtm, P/R/D/C vs brute force
and prdc, clean-fid parity, weight-file errors, proxy naming, the CLI and its cache."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cleanfid import fid as cleanfid_fid
from PIL import Image
from scipy import linalg

from benchmarks import quality as Q
from benchmarks.quality import registry
from benchmarks.quality.cli import CURVE_ONLY, build_parser
from benchmarks.quality.cli import main as quality_main
from benchmarks.quality.distances import feature_stats, frechet_distance, trace_sqrt_product
from benchmarks.quality.errors import QualityError
from benchmarks.quality.features import extract, quantize
from benchmarks.quality.manifold import manifold_metrics
from benchmarks.quality.nets import NETS, ProxyFeatures, ProxyNet, load_nets
from benchmarks.quality.planning import curve_quality
from benchmarks.quality.registry import POOL, FeatureSpec, Output
from benchmarks.quality.samples import generated_batches
from benchmarks.quality.weights import WEIGHT_URLS
from common import settings
from common.cli import UsageError, run
from common.io import sha256_file
from common.sections import from_args, to_argv
from tests.helpers import write_standin_weights
from workflow import config as run_config

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# ----------------------------------------------------------------------------- stand-ins


class TinyGenerator(torch.nn.Module):
    """Stand-in G with the suite's call convention: G(z, truncation_psi=, noise_mode=)."""

    def __init__(self, z_dim: int = 16, resolution: int = 32, seed: int = 0):
        super().__init__()
        self.z_dim, self.resolution = z_dim, resolution
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("w", torch.randn(z_dim, 3 * 8 * 8, generator=gen) / z_dim**0.5)

    def forward(self, z, truncation_psi=1.0, noise_mode="const"):
        x = (z * truncation_psi) @ self.w
        x = x.view(-1, 3, 8, 8)
        if noise_mode == "random":
            x = x + 0.1 * torch.randn_like(x)
        x = torch.nn.functional.interpolate(x, size=self.resolution, mode="bilinear")
        return torch.tanh(x)


def structured_images(n: int, shift: int, res: int = 32, seed: int = 0) -> np.ndarray:
    """uint8 (n, res, res, 3) gradients plus noise: varied enough for non-degenerate features."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:res, :res]
    out = []
    for i in range(n):
        base = np.stack([(xx * 8 + 3 * i) % 256, (yy * 8 + shift) % 256, ((xx + yy) * 4) % 256], -1)
        out.append(np.clip(base + rng.integers(-40, 40, (res, res, 3)), 0, 255))
    return np.stack(out).astype(np.uint8)


class ArrayDataset:
    """In-memory dataset with the PreparedDataset attributes the metrics read."""

    def __init__(self, images: np.ndarray, sha: str | None = "feedbeef"):
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        self.resolution = images.shape[1]
        self.recipe = {"name": "synthetic"}
        self.file_sha256 = sha

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def _batches(images: np.ndarray, batch: int = 8):
    t = torch.from_numpy(images).permute(0, 3, 1, 2)
    return (t[i : i + batch] for i in range(0, len(t), batch))


# ----------------------------------------------------------------------------- Fréchet distance


def sqrtm_fd(mu1, s1, mu2, s2) -> float:
    """Reference: the scipy sqrtm formula clean-fid and NVIDIA use (real part)."""
    covmean = linalg.sqrtm(s1 @ s2).real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.numerics
@pytest.mark.parametrize(("dim", "n"), [(64, 500), (256, 100)], ids=["full-rank", "rank-deficient"])
def test_fd_matches_scipy_sqrtm(dim, n):
    """float64; rel 1e-7 covers the reference's own error, scipy's sqrtm of a singular product
    (measured 2.0e-8 relative under AVX-512, AVX2 and baseline BLAS/LAPACK kernels)."""
    rng = np.random.default_rng(dim)
    a = rng.standard_normal((n, dim)) @ rng.standard_normal((dim, dim)) * 0.2
    b = rng.standard_normal((n, dim)) * 1.3 + 0.2
    (mu1, s1), (mu2, s2) = feature_stats(a), feature_stats(b)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(sqrtm_fd(mu1, s1, mu2, s2), rel=1e-7)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8 * np.trace(s1))


@pytest.mark.numerics
def test_feature_stats_match_numpy():
    """float64 sums of 1000 rows: within γ_1000(U64)·Σ|t| ≈ 1e-13·Σ|t| of each other."""
    x = np.random.default_rng(1).standard_normal((1000, 16)).astype(np.float32) + 5
    mu, sigma = feature_stats(x, chunk=128)
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False), atol=1e-12)


@pytest.mark.numerics
def test_trace_sqrt_2048_rank_deficient_vs_nuclear_norm():
    """With S = X^T X / (n - 1) from centred data, tr sqrt(S1 S2) is exactly the sum of the
    singular values of X1 X2^T / (n - 1): an independent reference for a 2048-D, rank-299 case.
    float64 eigen/SVD on both sides, rel 1e-9 (measured ≤ 1.5e-16 relative on every dispatch)."""
    rng = np.random.default_rng(2)
    x1 = rng.standard_normal((300, 2048)) * np.linspace(0.1, 2, 2048)
    x2 = rng.standard_normal((300, 2048)) + rng.standard_normal(2048)
    x1 -= x1.mean(0)
    x2 -= x2.mean(0)
    s1, s2 = x1.T @ x1 / 299, x2.T @ x2 / 299
    expected = linalg.svdvals(x1 @ x2.T / 299).sum()
    assert trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-9)


def _reflect(s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """H S H for the Householder reflection H = I - 2 v v^T (|v| = 1): dense, same spectrum."""
    sv = s @ v
    return s - 2 * np.outer(v, sv) - 2 * np.outer(sv, v) + 4 * (v @ sv) * np.outer(v, v)


@pytest.mark.numerics
def test_fd_2048_vs_sqrtm():
    """2048-D covariances that are dense (rotated) but whose sqrtm reference can be computed block
    by block: blocks of 256, half of them rank-deficient; FD is invariant under the rotation.
    float64, rel 1e-7 as for test_fd_matches_scipy_sqrtm (measured ≤ 4.2e-9 relative)."""
    rng = np.random.default_rng(3)
    blocks, size = 8, 256
    s1, s2 = np.zeros((2048, 2048)), np.zeros((2048, 2048))
    ref_trace = 0.0
    for b in range(blocks):
        n = 150 if b % 2 else 800  # 150 samples in 256-D -> rank 149
        c1 = np.cov(rng.standard_normal((n, size)) * rng.uniform(0.2, 2, size), rowvar=False)
        c2 = np.cov(
            rng.standard_normal((800, size)) @ rng.standard_normal((size, size)) * 0.1, rowvar=False
        )
        sl = slice(b * size, (b + 1) * size)
        s1[sl, sl], s2[sl, sl] = c1, c2
        ref_trace += np.trace(linalg.sqrtm(c1 @ c2).real)
    mu1, mu2 = rng.standard_normal(2048), rng.standard_normal(2048)
    expected = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * ref_trace)
    for _ in range(3):
        v = rng.standard_normal(2048)
        v /= np.linalg.norm(v)
        s1, s2 = _reflect(s1, v), _reflect(s2, v)
    assert abs(s1[0, -1]) > 0  # really dense now
    # its speed (<= 2 s on 2 CPU cores) is measured in benchmarks/test_quality_bench.py
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-7)


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


# ----------------------------------------------------------------------------- clean-fid parity


@pytest.fixture(scope="module")
def png_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("pngs")
    sets = {"a": structured_images(24, 0, seed=1), "b": structured_images(24, 90, seed=2)}
    for name, images in sets.items():
        (root / name).mkdir()
        for i, img in enumerate(images):
            Image.fromarray(img).save(root / name / f"{i:03d}.png")
    return root, sets


@pytest.mark.numerics
@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")
def test_real_features_match_cleanfid_folder_path(png_folders):
    """Clean features bit for bit (the same resize and network in the same process, so the same
    kernels in the same order); legacy features to 1e-5 (measured ≤ 7.7e-7); FD to rel 1e-6
    (measured ≤ 1.3e-7 relative) under every dispatch."""
    root, sets = png_folders
    proxy = ProxyNet().eval()
    nets = {"proxy": ProxyFeatures(CPU)}
    clean, legacy = FeatureSpec("proxy", "clean"), FeatureSpec("proxy", "none")
    ours = extract(_batches(sets["a"]), [clean, legacy], nets, CPU, progress=False)
    with torch.no_grad():
        ref = {
            mode: cleanfid_fid.get_folder_features(
                str(root / "a"),
                proxy,
                num_workers=0,
                batch_size=8,
                device=CPU,
                mode=mode,
                verbose=False,
            )
            for mode in ("clean", "legacy_tensorflow")
        }
    np.testing.assert_array_equal(ours[clean], ref["clean"])  # identical resize, bit for bit
    # clean-fid's folder loader turns uint8 into float via /255*255 (1-ulp noise); we pass exact values
    np.testing.assert_allclose(ours[legacy], ref["legacy_tensorflow"], atol=1e-5)

    with torch.no_grad():
        cf = cleanfid_fid.compute_fid(
            str(root / "a"), str(root / "b"), mode="clean", custom_feat_extractor=proxy,
            device=CPU, num_workers=0, batch_size=8, verbose=False,
        )  # fmt: skip
    other = extract(_batches(sets["b"]), [clean], nets, CPU, progress=False)[clean]
    fd = frechet_distance(*feature_stats(ours[clean]), *feature_stats(other))
    assert fd == pytest.approx(cf, rel=1e-6)


@pytest.mark.numerics
def test_generated_features_match_cleanfid_model_path():
    """Our sampler (seeded z, NVIDIA uint8 quantization) + clean resize vs clean-fid's gen= path
    fed the same latents through a quantizing wrapper, as docs/metrics.md#generated-images describes.
    Bit for bit: the same kernels on the same values in the same process."""
    G = TinyGenerator().eval()
    num, batch = 24, 8  # clean-fid's generator path needs full batches
    proxy = ProxyNet().eval()
    spec = FeatureSpec("proxy", "clean")
    ours = extract(
        generated_batches(G, 7, num, batch, 1.0, "const", CPU),
        [spec], {"proxy": ProxyFeatures(CPU)}, CPU, progress=False,
    )[spec]  # fmt: skip
    z_all = torch.randn(num, G.z_dim, generator=torch.Generator().manual_seed(7))
    stream = iter(z_all.split(batch))

    def wrapped(z):  # clean-fid draws its own z; substitute ours, quantize like NVIDIA
        return quantize(G(next(stream), truncation_psi=1.0, noise_mode="const")).float()

    with torch.no_grad():
        ref = cleanfid_fid.get_model_features(
            wrapped, proxy, mode="clean", z_dim=G.z_dim, num_gen=num, batch_size=batch,
            device=CPU, verbose=False,
        )  # fmt: skip
    np.testing.assert_array_equal(ours, ref[:num])


def test_quantize_is_nvidia_rule():
    x = torch.tensor([-1.5, -1.0, -0.004, 0.0, 0.5, 0.99, 1.0, 2.0])
    expected = torch.tensor([0, 0, 127, 128, 191, 254, 255, 255], dtype=torch.uint8)
    assert torch.equal(quantize(x), expected)


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
    res = Q.evaluate(
        TinyGenerator(), data, extractor="inception", num_gen=24, batch=12, cache_dir=None,
        kid_subsets=5, weights_dir=fake_weights, download=False, progress=False,
    )  # fmt: skip
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
    res = Q.evaluate(
        TinyGenerator(), data, extractor="proxy", num_gen=24, seeds=(0,), batch=12,
        cache_dir=None, kid_subsets=5, progress=False,
    )  # fmt: skip
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
    kwargs = dict(
        metrics=("fid", "pr"), extractor="proxy", num_gen=24, batch=12, modes=("legacy_tensorflow",),
        cache_dir=tmp_path, generator_id="stand-in:v1", progress=False,
    )  # fmt: skip
    first = Q.evaluate(TinyGenerator(), data, seeds=(0,), **kwargs)
    assert first["card"]["cache"]["hits"] == 0
    again = Q.evaluate(TinyGenerator(), data, seeds=(0,), **kwargs)
    assert again["card"]["cache"]["hits"] > 0 and again["card"]["cache"]["misses"] == 0
    assert again["metrics"] == first["metrics"]
    uncached = Q.evaluate(TinyGenerator(), data, seeds=(0,), **{**kwargs, "cache_dir": None})
    assert uncached["metrics"] == first["metrics"]
    other = Q.evaluate(TinyGenerator(), data, seeds=(1,), **kwargs)
    assert other["card"]["cache"]["misses"] > 0  # new seed -> new generated features
    assert other["metrics"]["fd_proxy"] != first["metrics"]["fd_proxy"]


def test_random_noise_mode_is_repeatable_and_leaves_global_rng_alone():
    data = ArrayDataset(structured_images(20, 0), sha=None)
    kwargs = dict(
        metrics=("fid",), extractor="proxy", num_gen=16, batch=8, modes=("legacy_tensorflow",),
        noise_mode="random", cache_dir=None, progress=False,
    )  # fmt: skip
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = Q.evaluate(TinyGenerator(), data, **kwargs)
    assert torch.equal(torch.get_rng_state(), before)
    assert Q.evaluate(TinyGenerator(), data, **kwargs)["metrics"] == first["metrics"]
    const = Q.evaluate(TinyGenerator(), data, **{**kwargs, "noise_mode": "const"})
    assert const["metrics"] != first["metrics"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metrics": ("fid", "lpips")}, "unknown metric"),
        ({"num_gen": 1}, "num_gen: 1 is less than the minimum of 2"),
        ({"seeds": (0, 0)}, "distinct"),
        ({"modes": ("bicubic",)}, "unknown mode"),
        ({"num_gen": 3, "metrics": ("pr",)}, "'pr' needs at least 4 images"),
        ({"extractor": "inceptionv4"}, "unknown extractor 'inceptionv4'; registered: inception"),
        ({"noise_mode": "loud"}, "noise_mode: 'loud' is not one of"),
    ],
)
def test_evaluate_rejects_bad_input(kwargs, match):
    data = ArrayDataset(structured_images(10, 0))
    with pytest.raises(QualityError, match=match):
        Q.evaluate(TinyGenerator(), data, **{"extractor": "proxy", "cache_dir": None, **kwargs})


# ----------------------------------------------------------------------------- CLI end to end


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """A prepared embedded dataset and a real (tiny, untrained) StyleGAN2 training checkpoint."""
    prepare = pytest.importorskip("data.prepare")
    ckpt_mod = pytest.importorskip("training.checkpoint")
    models = pytest.importorskip("models")
    root = tmp_path_factory.mktemp("e2e")
    data = root / "embedded32.zip"
    argv = ["--source", "embedded:default", "--resolution", "32", "--out", str(data)]
    assert prepare.main([*argv, "--count", "48", "-q", "--workers", "1"]) == 0
    overrides = {"width": 0.0625, "z_dim": 32, "n_mlp": 2}
    G = models.build("stylegan2", resolution=32, **overrides)
    state = G.state_dict()
    meta = {
        "model": "stylegan2",
        "resolution": 32,
        "overrides": overrides,
        "build_kwargs": G.build_kwargs,
        "kimg": 0,
    }
    ckpt = ckpt_mod.save_checkpoint(root / "ckpt.pt", {"meta": meta, "G": state, "G_ema": state})
    return root, data, ckpt


def _cli(args, capsys):
    """The CLI as `python -m benchmarks.quality` runs it (common.cli.run: exit-code rule)."""
    try:
        code = run(quality_main, [str(a) for a in args])
    except SystemExit as exc:  # argparse's own one-line errors and --help
        code = exc.code
    return code, capsys.readouterr()


def test_cli_end_to_end_with_training_checkpoint(real_run, capsys):
    from data.dataset import PreparedDataset

    root, data, ckpt = real_run
    out = root / "metrics" / "result.json"
    args = [
        "--checkpoint", ckpt, "--data", data, "--metrics", "fid,kid,pr,dc", "--num-gen", 32,
        "--num-real", 40, "--seeds", "0,1", "--extractor", "proxy", "--batch", 16,
        "--kid-subsets", 5, "--cache-dir", root / "cache", "--no-download", "--quiet", "--out", out,
    ]  # fmt: skip
    code, io = _cli(args, capsys)
    assert code == 0, io.err
    res = json.loads(out.read_text())
    card = res["card"]
    assert res["schema"] == Q.SCHEMA
    assert set(res["metrics"]) == {
        "fd_proxy", "kd_proxy", "precision_proxy", "recall_proxy", "density_proxy", "coverage_proxy",
    }  # fmt: skip
    fd = res["metrics"]["fd_proxy"]["clean"]
    assert len(fd["per_seed"]) == 2 and fd["std"] is not None and fd["mean"] > 0
    assert set(res["metrics"]["fd_proxy"]) == {"clean", "legacy_tensorflow"}
    assert card["num_real"] == 40 and card["num_gen"] == 32 and card["seeds"] == [0, 1]
    assert card["metrics"]["pr"]["k"] == 3 and card["metrics"]["dc"]["k_dc"] == 3
    assert card["metrics"]["fid"]["keys"] == ["fd_proxy_clean", "fd_proxy_legacy_tensorflow"]
    assert card["weights"] == "G_ema" and card["noise_mode"] == "const"
    assert card["dataset"]["sha256"] == PreparedDataset(data).file_sha256
    assert card["dataset"]["recipe"]["resolution"] == 32
    assert set(card["versions"]) >= {"torch", "clean-fid", "numpy", "scipy"}
    assert card["device"]["device"] == "cpu" and card["wall_time_s"] > 0
    assert res["generator"]["model"] == "stylegan2" and len(res["generator"]["sha256"]) == 64
    assert not list(out.parent.glob(".*tmp"))  # atomic write left nothing behind

    out2 = root / "metrics" / "again.json"
    code, io = _cli([*args[:-1], out2], capsys)
    assert code == 0, io.err
    res2 = json.loads(out2.read_text())
    assert res2["card"]["cache"]["misses"] == 0 and res2["metrics"] == res["metrics"]


def test_cli_bad_inputs_exit_2_without_output(real_run, tmp_path, capsys):
    _, data, ckpt = real_run
    out = tmp_path / "never.json"
    base = ["--data", data, "--extractor", "proxy", "--num-gen", 8, "--out", out, "--no-download"]
    cases = [
        (["--checkpoint", tmp_path / "nope.pt", *base], "nope.pt does not exist"),
        (["--checkpoint", ckpt, *base, "--metrics", "fid,is"], "unknown metric"),
        (["--checkpoint", ckpt, *base, "--num-gen", 1], "--num-gen: 1 is less than the minimum"),
        (["--checkpoint", ckpt, *base, "--data", tmp_path / "missing.zip"], "does not exist"),
        (["--checkpoint", ckpt, *base, "--seeds", "a,b"], "--seeds: expected a comma list of int"),
        (["--checkpoint", ckpt, *base, "--seeds", "0,0"], "distinct"),
        (["--checkpoint", ckpt, *base, "--num-gen", "x"], "--num-gen: expected int, got 'x'"),
        (["--official", ckpt, *base], "--official needs --model"),
    ]
    for argv, needle in cases:
        code, io = _cli(argv, capsys)
        assert code == 2, argv
        assert needle in io.err and io.err.count("\n") == 1, io.err
        assert not out.exists()


def test_cli_corrupt_inception_weights(real_run, tmp_path, capsys):
    _, data, ckpt = real_run
    (tmp_path / "inception-2015-12-05.pt").write_bytes(b"\x00garbage" * 1000)
    out = tmp_path / "never.json"
    argv = ["--checkpoint", ckpt, "--data", data, "--metrics", "fid", "--num-gen", 8,
            "--weights-dir", tmp_path, "--no-download", "--out", out]  # fmt: skip
    code, io = _cli(argv, capsys)
    assert code == 2 and "corrupt or truncated" in io.err and io.err.count("\n") == 1
    assert not out.exists()


def test_cli_official_checkpoint(real_run, tmp_path, capsys):
    """--official: a release-style file ({'g_ema': state_dict}) at the dataset's resolution."""
    models = pytest.importorskip("models")
    _, data, _ = real_run
    official = tmp_path / "official.pt"
    torch.save({"g_ema": models.build("stylegan2", resolution=32).state_dict()}, official)
    out = tmp_path / "official.json"
    argv = ["--official", official, "--model", "stylegan2", "--data", data, "--metrics", "fid",
            "--modes", "legacy_tensorflow", "--num-gen", 8, "--num-real", 16, "--batch", 8,
            "--extractor", "proxy", "--no-cache", "--quiet", "--out", out]  # fmt: skip
    code, io = _cli(argv, capsys)
    assert code == 0, io.err
    res = json.loads(out.read_text())
    assert res["generator"]["source"] == "official" and res["generator"]["resolution"] == 32
    assert res["card"]["weights"] == "official release"
    assert res["metrics"]["fd_proxy"]["legacy_tensorflow"]["mean"] > 0


def test_cli_missing_weights_subprocess(tmp_path):
    """The real `python -m benchmarks.quality` entry point: one line, path + URL, exit 2."""
    (tmp_path / "data.zip").write_bytes(b"")
    (tmp_path / "ckpt.pt").write_bytes(b"")
    out = tmp_path / "never.json"
    cmd = [
        sys.executable, "-m", "benchmarks.quality", "--checkpoint", tmp_path / "ckpt.pt",
        "--data", tmp_path / "data.zip", "--metrics", "fid,pr", "--num-gen", "8",
        "--extractor", "inception", "--weights-dir", tmp_path / "w", "--no-download", "--out", out,
    ]  # fmt: skip
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert "\n" not in err
    assert str(tmp_path / "w" / "vgg16.pt") in err  # Inception falls back to the bundled file
    assert WEIGHT_URLS["vgg16.pt"] in err
    assert not out.exists()


# ----------------------------------------------------------------------------- registry


# The shipped metrics' result keys: result JSONs and reports already written depend on them.
SHIPPED_KEYS = {
    ("fid", "inception"): ["fid_clean", "fid_legacy_tensorflow"],
    ("fid", "proxy"): ["fd_proxy_clean", "fd_proxy_legacy_tensorflow"],
    ("kid", "inception"): ["kid_clean", "kid_legacy_tensorflow"],
    ("kid", "proxy"): ["kd_proxy_clean", "kd_proxy_legacy_tensorflow"],
    ("pr", "inception"): ["precision", "recall"],
    ("pr", "proxy"): ["precision_proxy", "recall_proxy"],
    ("dc", "inception"): ["density", "coverage"],
    ("dc", "proxy"): ["density_proxy", "coverage_proxy"],
    ("fid", "inception_only"): ["fid_clean", "fid_legacy_tensorflow"],
    ("pr", "inception_only"): ["precision_inception", "recall_inception"],
    ("dc", "inception_only"): ["density_inception", "coverage_inception"],
}
SHIPPED_OUTPUTS = ("fid", "kid", "precision", "recall", "density", "coverage")  # with inception


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


def test_cli_defaults_and_help_come_from_settings():
    """The flags are generated from settings.Quality (common.sections): unset, each is its one
    default there; the curve_* fields belong to the workflow and are no flags."""
    args = build_parser().parse_args(["--checkpoint", "c", "--data", "d", "--out", "o"])
    assert from_args(settings.Quality, args, exclude=CURVE_ONLY) == settings.Quality()
    text = build_parser().format_help()
    assert settings.help_of(settings.Quality, "pr_block") in text
    assert "--num-gen" in text and "--curve-metric" not in text


@pytest.mark.parametrize("config", ["config/default.yaml", "config/paper.yaml"])
def test_a_section_passed_whole_reaches_the_cli_unchanged(config):
    """What the workflow's rules pass (to_argv of the section and of its curve variant) is read
    back by the CLI as the very same typed section."""
    q = settings.load(ROOT / config).quality
    for section in (q, curve_quality(q)):
        argv = ["--checkpoint", "c", "--data", "d", "--out", "o"]
        args = build_parser().parse_args([*argv, *to_argv(section, exclude=CURVE_ONLY)])
        back = from_args(settings.Quality, args, exclude=CURVE_ONLY)
        fixed = {f: settings.defaults(settings.Quality)[f] for f in CURVE_ONLY}  # not flags
        assert back == dataclasses.replace(section, **fixed)


def test_no_feature_cache_unless_asked(real_run, tmp_path, monkeypatch, capsys):
    """By hand there is no default cache folder (a second one beside the workflow's
    results/<run>/cache would never be shared); --cache-dir names one."""
    _, data, ckpt = real_run
    monkeypatch.chdir(tmp_path)
    assert build_parser().get_default("cache_dir") is None
    argv = [
        "--checkpoint",
        ckpt,
        "--data",
        data,
        "--metrics",
        "fid",
        "--modes",
        "clean",
        "--num-gen",
        8,
        "--num-real",
        16,
        "--batch",
        8,
        "--extractor",
        "proxy",
        "--quiet",
        "--out",
        tmp_path / "r.json",
    ]
    code, io = _cli(argv, capsys)
    assert code == 0, io.err
    assert json.loads((tmp_path / "r.json").read_text())["card"]["cache"]["dir"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # no results/cache made
    code, io = _cli([*argv, "--cache-dir", tmp_path / "c"], capsys)
    assert code == 0 and list((tmp_path / "c" / "features").glob("*.npy")), io.err


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
    res = Q.evaluate(
        TinyGenerator(), data, metrics=["toy", "fid"], extractor="proxy", num_gen=16, batch=8,
        seeds=[0, 1], cache_dir=None, progress=False,
    )  # fmt: skip
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
    code, io = _cli(argv, capsys)
    assert code == 0, io.err
    res = json.loads(out.read_text())
    assert list(res["summary"]) == ["gap_proxy_clean"] and res["summary"]["gap_proxy_clean"] >= 0
    assert "gap_proxy_clean=" in io.out


def test_cli_unknown_metric_lists_the_registered_ones(real_run, tmp_path, capsys):
    _, data, ckpt = real_run
    out = tmp_path / "never.json"
    argv = ["--checkpoint", ckpt, "--data", data, "--metrics", "nonexistent",
            "--extractor", "proxy", "--out", out]  # fmt: skip
    code, io = _cli(argv, capsys)
    assert code == 2 and io.err.count("\n") == 1, io.err
    assert "unknown metric 'nonexistent'" in io.err
    assert f"registered: {', '.join(registry.metric_names())}" in io.err
    assert not out.exists()


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
    feats = extract(_batches(structured_images(3, 0), 3), specs, nets, CPU, progress=False)
    assert specs and all(feats[s].shape == (3, NETS[net].dim) for s in specs), {
        s.tag: feats[s].shape for s in specs
    }


def test_the_job_validates_its_options_once(real_run, tmp_path, monkeypatch, capsys):
    """A CLI job checks its section once against the schema (common.sections.from_args) and
    once against the registry (planning.plan); evaluate() takes the plan as it is."""
    _, data, ckpt = real_run
    calls = {"validate": 0, "select": 0}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(settings, "validate", counting("validate", settings.validate))
    monkeypatch.setattr(registry, "select", counting("select", registry.select))
    argv = [
        "--checkpoint",
        ckpt,
        "--data",
        data,
        "--metrics",
        "fid",
        "--modes",
        "clean",
        "--num-gen",
        8,
        "--num-real",
        16,
        "--batch",
        8,
        "--extractor",
        "proxy",
        "--no-cache",
        "--quiet",
        "--out",
        tmp_path / "once.json",
    ]
    code, io = _cli(argv, capsys)
    assert code == 0, io.err
    assert calls == {"validate": 1, "select": 1}


def test_evaluate_takes_the_typed_section():
    data = ArrayDataset(structured_images(20, 0))
    q = settings.Quality(metrics=["fid"], extractor="proxy", num_gen=16, batch=8, modes=["clean"])
    typed = Q.evaluate(TinyGenerator(), data, q, progress=False)
    keywords = Q.evaluate(TinyGenerator(), data, progress=False, **dataclasses.asdict(q))
    assert typed["metrics"] == keywords["metrics"] and list(typed["summary"]) == ["fd_proxy_clean"]
    with pytest.raises(QualityError, match="distinct"):  # what the schema cannot say: checked
        Q.evaluate(TinyGenerator(), data, dataclasses.replace(q, seeds=[1, 1]), progress=False)
    with pytest.raises(TypeError, match="not both"):
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
    res = Q.evaluate(
        G,
        ArrayDataset(images),
        metrics=["toy_colourhist", "fid"],
        extractor="proxy",
        num_gen=n_gen,
        num_real=16,
        batch=5,
        seeds=[0, 1],
        modes=["clean"],
        progress=False,
    )
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
    res = Q.evaluate(
        TinyGenerator(),
        data,
        metrics=["toy_colourhist"],
        extractor="inception",
        num_gen=8,
        weights_dir=tmp_path,
        download=False,
        progress=False,
    )
    assert list(res["summary"]) == ["toy_colour_hist"] and res["card"]["nets"] == {}
    assert Q.feature_sets(Q.plan(settings.Quality(metrics=["toy_colourhist"]))) == {}


# ----------------------------------------------------------------------------- bad input vs bug


def test_a_bad_checkpoint_is_bad_input_but_a_bug_keeps_its_traceback(real_run, monkeypatch):
    import models
    import training.checkpoint

    _, _, ckpt = real_run
    junk = ckpt.parent / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(QualityError, match="cannot load G_ema from .*junk.pt"):
        Q.load_checkpoint(junk, CPU)
    with pytest.raises(QualityError, match="'nogan' is not registered"):
        Q.load_official_generator(ckpt, "nogan", None, CPU)
    with pytest.raises(QualityError, match="not defined at 48 px"):
        Q.load_official_generator(ckpt, "stylegan2", 48, CPU)

    def buggy(*args, **kwargs):
        raise TypeError("unsupported operand type(s) for +: 'Tensor' and 'NoneType'")

    monkeypatch.setattr(training.checkpoint, "load_generator", buggy)
    with pytest.raises(TypeError, match="unsupported operand"):
        Q.load_checkpoint(ckpt, CPU)
    monkeypatch.setattr(models, "load_official", buggy)
    with pytest.raises(TypeError, match="unsupported operand"):
        Q.load_official_generator(ckpt, "stylegan2", 32, CPU)


class BuggyGenerator(TinyGenerator):
    def forward(self, z, truncation_psi=1.0, noise_mode="const"):
        return z + None  # a bug in model code


def test_a_bug_in_a_model_forward_is_not_bad_input(real_run, tmp_path, monkeypatch, capsys):
    from benchmarks.quality import cli

    _, data, ckpt = real_run
    info = {"source": "checkpoint", "weights": "G_ema"}
    monkeypatch.setattr(cli, "load_checkpoint", lambda *a: (BuggyGenerator(), info, None))
    argv = [
        "--checkpoint",
        ckpt,
        "--data",
        data,
        "--metrics",
        "fid",
        "--num-gen",
        8,
        "--extractor",
        "proxy",
        "--no-cache",
        "--quiet",
        "--out",
        tmp_path / "r.json",
    ]
    code, io = _cli(argv, capsys)
    assert code == 1 and "TypeError" in io.err, io.err  # a failure, not "bad input" (2)
    with pytest.raises(TypeError, match="unsupported operand"):  # raised as it is, traceback kept
        quality_main([str(a) for a in argv])
