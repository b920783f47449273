"""data.dataset: a PreparedDataset reads its items and metadata, x-flips at random but seeded,
and works with DataLoader workers and a DistributedSampler; read_recipe refuses files that are
not prepared datasets."""

from __future__ import annotations

import hashlib
import json
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from data.dataset import DatasetError, PreparedDataset, read_recipe
from data.prepare import prepare

# ---------------------------------------------------------------------------------------------
# Dataset


@pytest.fixture(scope="module")
def small_prepared(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "faces.zip"
    prepare("embedded:default", 32, out, count=40, progress=False)
    return out


def test_dataset_reads_items_and_metadata(small_prepared: Path) -> None:
    ds = PreparedDataset(small_prepared)
    assert len(ds) == 40 and ds.resolution == 32 and ds.name == "faces"
    assert ds.recipe["num_images"] == 40 and ds.recipe == read_recipe(small_prepared)
    x = ds[0]
    assert x.dtype == torch.uint8 and x.shape == (3, 32, 32)
    assert torch.equal(ds[-1], ds[39])
    with pytest.raises(IndexError):
        ds[40]
    digest = hashlib.sha256(small_prepared.read_bytes()).hexdigest()
    assert ds.file_sha256 == digest and ds.file_sha256 is ds.file_sha256  # cached
    clone = pickle.loads(pickle.dumps(ds))  # with an open handle: must still pickle
    assert torch.equal(clone[5], ds[5])


def test_dataset_xflip_is_random_and_seeded(small_prepared: Path) -> None:
    plain = PreparedDataset(small_prepared)
    flip = PreparedDataset(small_prepared, xflip=True)
    torch.manual_seed(0)
    first = [flip[i % 40] for i in range(80)]
    flipped = [not torch.equal(f, plain[i % 40]) for i, f in enumerate(first)]
    for i, f in enumerate(first):
        assert torch.equal(f, plain[i % 40]) or torch.equal(f, plain[i % 40].flip(-1))
    assert 20 < sum(flipped) < 60
    torch.manual_seed(0)
    again = [flip[i % 40] for i in range(80)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))


def test_dataloader_workers_and_distributed_sampler(small_prepared: Path) -> None:
    ds = PreparedDataset(small_prepared)
    ds[0]  # open a handle in the parent first: workers must not reuse it
    expected = torch.stack([ds[i] for i in range(len(ds))])
    loader = DataLoader(ds, batch_size=8, num_workers=2, shuffle=False)
    got = torch.cat(list(loader))
    assert torch.equal(got, expected)
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=1)
        seen += list(sampler)
        batch = next(iter(DataLoader(ds, batch_size=4, sampler=sampler, num_workers=2)))
        assert batch.shape == (4, 3, 32, 32)
    assert sorted(seen) == list(range(40))


def test_read_recipe_rejects_non_datasets(tmp_path: Path) -> None:
    assert issubclass(DatasetError, ValueError)
    plain_zip = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain_zip, "w") as zf:
        zf.writestr("x.png", b"")
    text = tmp_path / "text.zip"
    text.write_text("hello")
    wrong = tmp_path / "wrong.zip"
    with zipfile.ZipFile(wrong, "w") as zf:
        zf.writestr("dataset.json", json.dumps({"format": "other"}))
    for bad in (plain_zip, text, wrong, tmp_path / "missing.zip"):
        with pytest.raises(DatasetError, match=str(bad.name)):
            PreparedDataset(bad)
        with pytest.raises(DatasetError) as info:
            read_recipe(bad)
        assert "\n" not in str(info.value) and "data.prepare" in str(info.value)
