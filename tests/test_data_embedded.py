"""data.embedded: the built-in generators are deterministic, give their default count at every
resolution, and prepare through data.prepare reproducibly (the same file twice) with their seed
and count."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from data import embedded
from data.dataset import PreparedDataset
from data.prepare import prepare

# ---------------------------------------------------------------------------------------------
# embedded


def test_embedded_generation_is_deterministic() -> None:
    assert embedded.list_embedded()[0] == "default" and "shapes" in embedded.list_embedded()
    a = embedded.generate("default", count=64, resolution=32, seed=3)
    b = embedded.generate("default", count=64, resolution=32, seed=3)
    c = embedded.generate("default", count=64, resolution=32, seed=4)
    assert a.shape == (64, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    longer = embedded.generate("default", count=80, resolution=32, seed=3)
    assert np.array_equal(longer[:64], a), "a larger count only appends images"
    # Not noise and not constant: images vary, and the centre (face) differs from the corners.
    assert a.std(axis=0).mean() > 20
    centre, corner = a[:, 12:20, 12:20].astype(float), a[:, :4, :4].astype(float)
    assert np.abs(centre.mean((1, 2)) - corner.mean((1, 2))).mean() > 20
    shapes = embedded.generate("shapes", count=16, resolution=64, seed=0)
    assert shapes.shape == (16, 64, 64, 3)


def test_embedded_default_count_and_resolutions() -> None:
    assert embedded.DEFAULT_COUNT == 2000
    full = embedded.generate(resolution=32)
    assert full.shape == (2000, 32, 32, 3)
    assert len({hashlib.sha256(x.tobytes()).digest() for x in full[:200]}) == 200
    for res in (64, 128, 256):
        assert embedded.generate(count=4, resolution=res).shape == (4, res, res, 3)


def test_prepare_embedded_32_full_and_reproducible(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    s1 = prepare("embedded:default", 32, tmp_path / "a" / "e.zip", progress=False)
    s2 = prepare("embedded:default", 32, tmp_path / "b" / "e.zip", progress=False)
    assert s1["num_images"] == 2000 and s1["source_kind"] == "embedded"
    assert s1["embedded"] == {"name": "default", "seed": 0, "count": 2000, "generator_version": 1}
    assert s1["date"] == "2023-11-14T22:13:20Z"
    assert s1["file_sha256"] == s2["file_sha256"], "same seed -> byte-identical file"
    expected = hashlib.sha256()
    for x in embedded.generate(count=2000, resolution=32):
        expected.update(hashlib.sha256(x.tobytes()).digest())
    assert s1["images_sha256"] == expected.hexdigest()


def test_prepare_embedded_64_seed_and_count(tmp_path: Path) -> None:
    a = prepare("embedded:default", 64, tmp_path / "a.zip", count=300, seed=5, progress=False)
    b = prepare("embedded:default", 64, tmp_path / "b.zip", count=300, seed=5, progress=False)
    c = prepare("embedded:shapes", 64, tmp_path / "c.zip", max_images=50, progress=False)
    assert a["num_images"] == 300 and a["resolution"] == 64
    assert a["images_sha256"] == b["images_sha256"]
    assert c["num_images"] == 50 and c["embedded"]["name"] == "shapes"
    ds = PreparedDataset(tmp_path / "a.zip")
    arr = embedded.generate("default", count=1, resolution=64, seed=5)[0]
    assert torch.equal(ds[0], torch.from_numpy(arr).permute(2, 0, 1))
