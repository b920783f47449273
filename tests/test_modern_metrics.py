"""FD_DINOv2 and CMMD: rehearsals of the real weight-loading code with random-weight files in the
exact on-disk formats of Meta's and OpenAI's files, run through evaluate(); the biased MMD
against its dense definition; the one-line refusals; the result names and feature sets.

Rehearsal files (written once per module, ~2 GB under pytest's tmp folder):
* `dinov2_vitl14_pretrain.pth`: torch.save of a plain state dict with the key names of the
  torch.hub `dinov2_vitl14` model (checked against the list below), from timm's
  `vit_large_patch14_dinov2` with seeded random weights and layer scale 1 (the hub model's
  init; timm's 1e-5 would leave the CLS token nearly blind to the image).
* `ViT-L-14-336px.pt`: a TorchScript archive whose `state_dict()` carries OpenAI's key names
  and OpenAI's fp16/fp32 split (open_clip's `ViT-L-14-336` with seeded random weights, cast by
  open_clip's `convert_weights_to_fp16`), so open_clip's OpenAI loader takes the same
  `torch.jit.load(...).state_dict()` branch as for OpenAI's own file.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks import quality as Q
from benchmarks.quality import registry, vit_nets
from benchmarks.quality.distances import feature_stats
from benchmarks.quality.errors import QualityError
from benchmarks.quality.metrics.cmmd import SCALE, SIGMA, kernel_mean, mmd
from benchmarks.quality.nets import load_nets
from benchmarks.quality.planning import feature_sets, plan
from common import settings
from common.io import sha256_file
from tests.helpers import ArrayDataset, structured_images

EPS64 = float(np.finfo(np.float64).eps)
RES, N = 32, 2  # images per set: the fewest a covariance takes; each CLIP forward is ~190 GMAC


def dinov2_hub_keys(depth: int = 24) -> set[str]:
    """The state-dict names of torch.hub's dinov2_vitl14 (facebookresearch/dinov2,
    DinoVisionTransformer with block_chunks=0, MLP blocks, layer scale, no registers)."""
    block = [
        *(f"norm{i}.{p}" for i in (1, 2) for p in ("weight", "bias")),
        *(f"attn.{m}.{p}" for m in ("qkv", "proj") for p in ("weight", "bias")),
        *(f"mlp.{m}.{p}" for m in ("fc1", "fc2") for p in ("weight", "bias")),
        "ls1.gamma",
        "ls2.gamma",
    ]
    top = ["cls_token", "pos_embed", "mask_token", "patch_embed.proj.weight"]
    top += ["patch_embed.proj.bias", "norm.weight", "norm.bias"]
    return set(top) | {f"blocks.{i}.{k}" for i in range(depth) for k in block}


def _write_dinov2(path: Path) -> None:
    import timm

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = timm.create_model(
            "vit_large_patch14_dinov2",
            pretrained=False,
            num_classes=0,
            img_size=518,
            init_values=1.0,
        )
    state = {**model.state_dict(), "mask_token": torch.zeros(1, model.embed_dim)}
    assert set(state) == dinov2_hub_keys() and state["pos_embed"].shape == (1, 1 + 37 * 37, 1024)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


class _Node(torch.nn.Module):
    """A module that only holds parameters: scripted, it is a TorchScript archive whose
    state_dict() has exactly the names it was given."""


def _write_clip(path: Path) -> None:
    import open_clip
    from open_clip.model import convert_weights_to_fp16

    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = open_clip.create_model("ViT-L-14-336", pretrained=None, force_quick_gelu=True)
    convert_weights_to_fp16(model)  # OpenAI's files hold these tensors in fp16, the rest fp32
    root = _Node()
    for key, value in model.state_dict().items():
        *parents, leaf = key.split(".")
        node = root
        for name in parents:
            if not hasattr(node, name):
                node.add_module(name, _Node())
            node = getattr(node, name)
        node.register_parameter(leaf, torch.nn.Parameter(value, requires_grad=False))
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # torch deprecates TorchScript; OpenAI's file is TorchScript
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(root), str(path))


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    """Both files where their downloaders leave them (a torch hub folder, a home folder), a
    weights folder linking to them, and one feature cache shared by the module's runs. The ~2 GB
    are deleted afterwards (pytest keeps its last three temp folders)."""
    root = tmp_path_factory.mktemp("modern")
    hub, home = root / "hub", root / "home"
    dinov2 = hub / "checkpoints" / vit_nets.DINOV2_FILE
    clip = home / ".cache" / "clip" / vit_nets.CLIP_FILE
    _write_dinov2(dinov2)
    _write_clip(clip)
    folder = root / "weights"
    folder.mkdir()
    for file in (dinov2, clip):
        os.symlink(file, folder / file.name)
    yield {
        "hub": hub,
        "home": home,
        "weights": folder,
        "cache": root / "cache",
        "files": {"dinov2": dinov2, "clip": clip},
    }
    shutil.rmtree(root, ignore_errors=True)


def _to_unit(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) to the [-1, 1] NCHW values that evaluate's quantization
    (x * 127.5 + 128, truncated) maps back to exactly these bytes."""
    x = (torch.from_numpy(images).permute(0, 3, 1, 2).double() - 127.75) / 127.5
    return x.float()


class Replay(torch.nn.Module):
    """Stand-in G: for seed s its i-th sample is image i of sets[s]. It recognises each latent
    by recomputing evaluate's latents (card LATENTS: randn(num, z_dim, Generator(seed)))."""

    def __init__(self, sets: dict[int, np.ndarray], z_dim: int = 8):
        super().__init__()
        self.z_dim, self.resolution = z_dim, RES
        self.table = []
        for seed, images in sets.items():
            z = torch.randn(len(images), z_dim, generator=torch.Generator().manual_seed(seed))
            self.table += list(zip(z, _to_unit(images), strict=True))

    def forward(self, z, truncation_psi=1.0, noise_mode="const"):
        rows = [next(img for key, img in self.table if torch.equal(key, row)) for row in z.cpu()]
        return torch.stack(rows).to(z.device)


def _cached(cache: Path, net: str, kind: str, seed: int | None = None) -> np.ndarray:
    """The feature array evaluate() computed and cached for one net and image source."""
    for meta in (cache / "features").glob("*.json"):
        key = json.loads(meta.read_text())
        if key["net"] == net and key["kind"] == kind and key.get("seed") == seed:
            return np.load(meta.with_suffix(".npy"))
    raise AssertionError(f"no cached {kind} features of {net} (seed {seed})")


def _fd_roundoff(x: np.ndarray, y: np.ndarray) -> float:
    """float64 round-off of FD by the eigenvalue route: <= 64 d eps of tr S1 + tr S2 (d-term dot
    products in the traces and the triangular products, a few of each)."""
    (_, s1), (_, s2) = feature_stats(x), feature_stats(y)
    return 64 * x.shape[1] * EPS64 * float(np.trace(s1) + np.trace(s2))


def _fd_bound(x: np.ndarray, y: np.ndarray) -> float:
    """Error model of FD(x, y) for paired rows y_i = x_i + d_i (the same images twice):
    FD is the squared 2-Wasserstein distance of the two fitted Gaussians, and the joint Gaussian
    of the pairs is one coupling of them, so FD <= |mean d|² + tr cov(d) (exactly 0 when the
    passes agree bit for bit); plus the float64 round-off (_fd_roundoff)."""
    d = (y - x).astype(np.float64)
    coupling = float(d.mean(0) @ d.mean(0) + ((d - d.mean(0)) ** 2).sum() / (len(d) - 1))
    return coupling + _fd_roundoff(x, y)


def _cmmd_roundoff(x: np.ndarray) -> float:
    """float64 round-off of CMMD: |x|² + |y|² - 2 x.y of unit vectors is off by <= 3 d eps per
    kernel entry, times γ in the exponent, four kernel means' worth, times the scale."""
    return SCALE * 4 * (1 / (2 * SIGMA**2)) * 3 * x.shape[1] * EPS64


def _cmmd_bound(x: np.ndarray, y: np.ndarray) -> float:
    """Error model of CMMD(x, y) for paired rows: the biased MMD² is |mean φ(x) - mean φ(y)|²
    in the kernel's feature space <= mean |φ(x_i) - φ(y_i)|² = mean 2 (1 - k(x_i, y_i))
    <= 2γ mean |x_i - y_i|², times the scale; plus the round-off (_cmmd_roundoff)."""
    d2 = float(((y - x).astype(np.float64) ** 2).sum(1).mean())
    return SCALE * 2 * (1 / (2 * SIGMA**2)) * d2 + _cmmd_roundoff(x)


def _fd_rank_one(x: np.ndarray, y: np.ndarray) -> float:
    """FD of two 2-image sets in closed form: each covariance is a a^T with a = (x1 - x2)/sqrt 2,
    so tr sqrt(S1 S2) = |a.b|; independent of the eigenvalue route under test."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    a, b = (x[0] - x[1]) / np.sqrt(2), (y[0] - y[1]) / np.sqrt(2)
    dm = x.mean(0) - y.mean(0)
    return float(dm @ dm + a @ a + b @ b - 2 * abs(a @ b))


def _evaluate(folder, cache, sets):
    q = settings.Quality(
        metrics=["fd_dinov2", "cmmd"], extractor="proxy", num_gen=N, num_real=N,
        seeds=sorted(sets), batch=N, weights_dir=str(folder),
    )  # fmt: skip
    return Q.evaluate(
        Replay(sets), ArrayDataset(sets[0]), q, cache_dir=cache, generator_id="replay:v1",
        download=False, progress=False,
    )  # fmt: skip


SETS = {0: structured_images(N, 0, RES, seed=0), 1: 255 - structured_images(N, 96, RES, seed=1)}


@pytest.mark.slow
@pytest.mark.numerics
def test_rehearsal_from_the_weights_folder(rehearsal, monkeypatch, tmp_path):
    """Both files from --weights-dir (the caches are empty folders): the same images score 0
    within the error models above, different images score clearly more, both values agree with
    independent computations on the very features evaluate() used, the names stay published
    under the proxy extractor, and the card records file, source and sha256."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "no-hub"))
    monkeypatch.setenv("HOME", str(tmp_path))
    res = _evaluate(rehearsal["weights"], rehearsal["cache"], SETS)
    assert set(res["summary"]) == {"fd_dinov2", "cmmd"}
    fd_same, fd_diff = res["metrics"]["fd_dinov2"]["per_seed"]
    cmmd_same, cmmd_diff = res["metrics"]["cmmd"]["per_seed"]
    cache = rehearsal["cache"]
    dino = {s: _cached(cache, "dinov2", "gen", s) for s in SETS}
    clip = {s: _cached(cache, "clip", "gen", s) for s in SETS}
    dino_real, clip_real = _cached(cache, "dinov2", "real"), _cached(cache, "clip", "real")
    assert dino_real.shape == (N, 1024) and clip_real.shape == (N, 768)
    assert np.allclose(np.linalg.norm(clip_real, axis=1), 1, atol=1e-6)  # float32 norms
    assert abs(fd_same) <= _fd_bound(dino_real, dino[0])
    assert abs(cmmd_same) <= _cmmd_bound(clip_real, clip[0])
    # different images: well above the same-image error model, and the same numbers as an
    # independent closed form (FD) and the dense definition (CMMD) on those features
    fd_eps, cmmd_eps = _fd_roundoff(dino_real, dino[1]), _cmmd_roundoff(clip_real)
    assert fd_diff > 1e3 * fd_eps and cmmd_diff > 1e3 * cmmd_eps
    assert fd_diff == pytest.approx(_fd_rank_one(dino_real, dino[1]), abs=fd_eps)
    assert cmmd_diff == pytest.approx(_dense_cmmd(clip_real, clip[1]), abs=cmmd_eps)
    nets = res["card"]["nets"]
    for net, file in rehearsal["files"].items():
        assert nets[net]["sha256"] == sha256_file(file)
        assert nets[net]["source"] == "weights folder"
        assert Path(nets[net]["file"]) == rehearsal["weights"] / file.name
    assert nets["clip"]["official"] is False  # random weights are not OpenAI's file
    assert res["card"]["metrics"]["cmmd"]["estimator"].startswith("biased V-statistic")


@pytest.mark.slow
def test_rehearsal_from_the_download_caches(rehearsal, monkeypatch, tmp_path):
    """An empty weights folder: the files are found where torch.hub and OpenAI's/open_clip's
    loaders keep them, loaded by the same code, and named as such in the card. The features
    are those of the first run (same file bytes, same cache key) when it ran first."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(rehearsal["hub"]))
    monkeypatch.setenv("HOME", str(rehearsal["home"]))
    res = _evaluate(tmp_path / "empty", rehearsal["cache"], {0: SETS[0]})
    nets = res["card"]["nets"]
    for net, source in (("dinov2", "torch hub cache"), ("clip", "OpenAI CLIP cache")):
        file = rehearsal["files"][net]
        assert nets[net]["source"] == f"{source}: {file}"
        assert nets[net]["file"] == str(file) and nets[net]["sha256"] == sha256_file(file)
    cache = rehearsal["cache"]
    dino, clip = _cached(cache, "dinov2", "real"), _cached(cache, "clip", "real")
    assert abs(res["summary"]["fd_dinov2"]) <= _fd_bound(dino, _cached(cache, "dinov2", "gen", 0))
    assert abs(res["summary"]["cmmd"]) <= _cmmd_bound(clip, _cached(cache, "clip", "gen", 0))


def _dense_cmmd(x: np.ndarray, y: np.ndarray) -> float:
    """google-research/cmmd's distance.py formula, whole matrices in float64."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    gamma = 1 / (2 * SIGMA**2)

    def k(a, b):
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        return np.exp(-gamma * d2).mean()

    return SCALE * (k(x, x) + k(y, y) - 2 * k(x, y))


@pytest.mark.numerics
def test_blockwise_mmd_matches_the_dense_definition():
    """Row blocks (smaller than, and not dividing, the set) give the dense formula's value: both
    float64; each kernel mean carries <= (3d + n) eps relative error (d-term dot products, n-term
    sums of values <= 1), times 4 means and the scale 1000 -> abs 1e-9 covers d = 768."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 768))
    y = rng.standard_normal((37, 768)) + 0.05
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    got = SCALE * (
        kernel_mean(x, x, block=16) + kernel_mean(y, y, block=7) - 2 * kernel_mean(x, y, block=9)
    )
    assert got == pytest.approx(_dense_cmmd(x, y), abs=1e-9)
    assert mmd(x, y) == pytest.approx(_dense_cmmd(x, y), abs=1e-9) and mmd(x, y) > 0
    assert mmd(x, x) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("metric", "file", "where"),
    [("fd_dinov2", vit_nets.DINOV2_FILE, "torch hub cache"), ("cmmd", vit_nets.CLIP_FILE, "clip")],
)
def test_missing_weights_refused_in_one_line(metric, file, where, monkeypatch, tmp_path):
    """No file anywhere: one line naming the weights folder, the cache path looked at and the
    official URL, before any net is built; nothing is downloaded."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(QualityError) as err:
        q = settings.Quality(metrics=[metric], num_gen=N, weights_dir=str(tmp_path / "weights"))
        Q.evaluate(Replay({0: SETS[0]}), ArrayDataset(SETS[0]), q, cache_dir=None, progress=False)
    msg = str(err.value)
    cached = vit_nets.hub_checkpoint_path() if metric == "fd_dinov2" else vit_nets.clip_cache_path()
    assert "\n" not in msg and str(cached) in msg and where in msg
    url = {vit_nets.DINOV2_FILE: vit_nets.DINOV2_URL, vit_nets.CLIP_FILE: vit_nets.CLIP_URL}[file]
    assert url in msg and "--weights-dir" in msg
    assert not (tmp_path / "weights").exists() and not cached.exists()


@pytest.mark.parametrize("net", ["dinov2", "clip"])
def test_corrupt_file_refused_in_one_line(net, tmp_path):
    """A truncated or foreign file is one line naming it and the URL, not a pickle traceback."""
    file = {"dinov2": vit_nets.DINOV2_FILE, "clip": vit_nets.CLIP_FILE}[net]
    (tmp_path / file).write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(QualityError, match=r"cannot load .* download https://") as err:
        load_nets({net}, tmp_path, torch.device("cpu"), download=False)
    assert "\n" not in str(err.value) and str(tmp_path / file) in str(err.value)


def test_fixed_net_metrics_keep_their_names_and_declare_their_sets():
    """FD_DINOv2 and CMMD are defined by their nets: published names under every extractor,
    one feature set each (net, no resize, declared width)."""
    for ex in registry.extractor_names():
        assert registry.result_keys("fd_dinov2", ex) == ["fd_dinov2"]
        assert registry.result_keys("cmmd", ex) == ["cmmd"]
    for key in ("fd_dinov2", "cmmd"):
        info = registry.key_info(key)
        assert info.metric == key and info.comparable and info.lower_is_better
    sets = feature_sets(plan(settings.Quality(metrics=["fd_dinov2", "cmmd"], extractor="proxy")))
    assert {t: (i.net, i.resize, i.dim) for t, i in sets.items()} == {
        "dinov2-none": ("dinov2", "none", 1024),
        "clip-none": ("clip", "none", 768),
    }
