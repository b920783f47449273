"""Tests for data/: prepare (all sources + every bad-input path), embedded generators, Dataset."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, DistributedSampler

from data import embedded
from data.dataset import DatasetError, PreparedDataset, read_recipe
from data.prepare import crop_resize, prepare, to_rgb

REPO = Path(__file__).resolve().parents[1]
R = 32


def _save(img: Image.Image, path: Path, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt)


def _noise(rng: np.random.Generator, h: int, w: int, c: int = 3) -> np.ndarray:
    return rng.integers(0, 256, (h, w, c) if c > 1 else (h, w), dtype=np.uint8)


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """Seven usable images of mixed modes/sizes/formats plus one corrupt, one tiny, one text file."""
    rng = np.random.default_rng(0)
    src = tmp_path / "src"
    _save(Image.fromarray(_noise(rng, 40, 60)), src / "a_rgb.jpg")
    _save(Image.fromarray(_noise(rng, 48, 48, 1), "L"), src / "b_gray.png")
    rgba = np.zeros((40, 64, 4), np.uint8)
    rgba[..., 0] = 255  # red, but fully transparent -> black after compositing
    _save(Image.fromarray(rgba, "RGBA"), src / "c_rgba.png")
    _save(Image.fromarray(_noise(rng, 50, 50)).convert("P"), src / "sub" / "d_pal.png")
    _save(Image.fromarray(_noise(rng, 64, 96)), src / "sub" / "e_wide.webp")
    _save(Image.fromarray(_noise(rng, 33, 33)), src / "f_gif.gif")
    _save(Image.fromarray(_noise(rng, 32, 32)), src / "g_exact.bmp")
    good = io.BytesIO()
    Image.fromarray(_noise(rng, 64, 64)).save(good, format="PNG")
    (src / "x_truncated.png").write_bytes(good.getvalue()[:200])
    _save(Image.fromarray(_noise(rng, 8, 8)), src / "y_tiny.png")
    (src / "notes.txt").write_text("not an image")
    return src


def _members(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return sorted(zf.namelist())


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------------------------------------
# prepare: happy paths


def test_prepare_folder_mixed_modes(mixed_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "mixed.zip"
    summary = prepare(mixed_folder, R, out, progress=False)
    assert summary["num_images"] == 7
    assert summary["skipped"] == {"corrupt": 1, "too_small": 1, "bad_range": 0, "unsupported": 1}
    assert any("x_truncated.png" in e for e in summary["skipped_examples"])
    assert any("y_tiny.png" in e for e in summary["skipped_examples"])
    assert summary["unsupported_examples"] == ["notes.txt"]
    assert summary["file_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert _leftovers(out.parent) == ["mixed.zip"]
    names = _members(out)
    assert names[:2] == ["00000/img00000000.png", "00000/img00000001.png"]
    assert "dataset.json" in names and len(names) == 8
    with zipfile.ZipFile(out) as zf:
        imgs = [Image.open(io.BytesIO(zf.read(n))) for n in names if n.endswith(".png")]
        arrays = [np.asarray(im) for im in imgs]
    assert all(im.mode == "RGB" and im.size == (R, R) for im in imgs)
    # Sorted order: a_rgb, b_gray, c_rgba, f_gif, g_exact, sub/d_pal, sub/e_wide.
    assert np.all(arrays[2] == 0), "transparent RGBA must be composited on black"
    assert np.all(arrays[1][..., 0] == arrays[1][..., 1]), "grayscale stays gray in RGB"
    exact = np.asarray(Image.open(mixed_folder / "g_exact.bmp").convert("RGB"))
    assert np.array_equal(arrays[4], exact), "an image already R x R is copied, not resampled"


def test_recipe_content(mixed_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "mixed.zip"
    prepare(mixed_folder, R, out, progress=False)
    recipe = read_recipe(out)
    assert recipe["format"] == "pixbench-prepared-dataset"
    assert recipe["source"] == str(mixed_folder) and recipe["source_kind"] == "folder"
    assert recipe["num_images"] == 7 and recipe["resolution"] == R
    assert recipe["crop"] == "center square" and recipe["resize_filter"] == "PIL Lanczos"
    assert "black" in recipe["color"]
    assert "content" in recipe["source_list_sha256_covers"]
    assert len(recipe["source_list_sha256"]) == 64 and len(recipe["images_sha256"]) == 64
    assert recipe["tool_version"].startswith("pixbench") and recipe["date"].endswith("Z")
    assert recipe["skipped"]["corrupt"] == 1 and recipe["skipped"]["too_small"] == 1


def test_center_crop_and_lanczos_match_pil(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    img = Image.fromarray(_noise(rng, 64, 100))
    expected = img.crop((18, 0, 82, 64)).resize((R, R), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(crop_resize(img, R)), np.asarray(expected))
    tall = Image.fromarray(_noise(rng, 101, 64))  # odd margin: floor on top
    assert crop_resize(tall, 64).tobytes() == tall.crop((0, 18, 64, 82)).tobytes()
    assert to_rgb(Image.new("LA", (4, 4), (200, 0))).getpixel((0, 0)) == (0, 0, 0)


def test_prepare_zip_matches_folder_and_hash_tracks_content(
    mixed_folder: Path, tmp_path: Path
) -> None:
    src_zip = tmp_path / "src.zip"
    with zipfile.ZipFile(src_zip, "w") as zf:
        for p in sorted(mixed_folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(mixed_folder).as_posix())
    a = prepare(mixed_folder, R, tmp_path / "a.zip", progress=False)
    b = prepare(src_zip, R, tmp_path / "b.zip", progress=False)
    assert b["source_kind"] == "zip" and b["num_images"] == 7
    assert a["images_sha256"] == b["images_sha256"]
    assert a["source_list_sha256"] == b["source_list_sha256"]
    # Same names and sizes, different content -> different source hash.
    data = bytearray((mixed_folder / "g_exact.bmp").read_bytes())
    data[-1] ^= 0xFF
    (mixed_folder / "g_exact.bmp").write_bytes(bytes(data))
    c = prepare(mixed_folder, R, tmp_path / "c.zip", progress=False)
    assert c["source_list_sha256"] != a["source_list_sha256"]


def test_max_images_and_workers(mixed_folder: Path, tmp_path: Path) -> None:
    one = prepare(mixed_folder, R, tmp_path / "one.zip", max_images=3, progress=False)
    assert one["num_images"] == 3 and one["max_images"] == 3
    assert len([n for n in _members(tmp_path / "one.zip") if n.endswith(".png")]) == 3
    full1 = prepare(mixed_folder, R, tmp_path / "w1.zip", progress=False)
    full2 = prepare(mixed_folder, R, tmp_path / "w2.zip", workers=2, progress=False)
    assert full1["images_sha256"] == full2["images_sha256"]


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


# ---------------------------------------------------------------------------------------------
# Bad input: one-line DatasetError naming the path, and nothing left behind.


def _folder_with(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    d = tmp_path / name
    d.mkdir()
    for rel, data in files.items():
        (d / rel).write_bytes(data)
    return d


def _png(size: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (10, 20, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _bad_cases(tmp_path: Path) -> list[tuple[dict, str]]:
    empty = _folder_with(tmp_path, "empty", {})
    no_images = _folder_with(tmp_path, "noimg", {"a.txt": b"x", "b.csv": b"y"})
    corrupt = _folder_with(tmp_path, "corrupt", {"a.png": b"\x89PNG broken", "b.jpg": b"nope"})
    small = _folder_with(tmp_path, "small", {"a.png": _png(16)})
    ok = _folder_with(tmp_path, "ok", {"a.png": _png(32)})
    tar = tmp_path / "images.tar"
    tar.write_bytes(b"x" * 100)
    badzip = tmp_path / "broken.zip"
    badzip.write_bytes(b"PK not really")
    return [
        ({"source": tmp_path / "missing"}, "missing"),
        ({"source": empty}, "empty"),
        ({"source": no_images}, "a.txt"),
        ({"source": corrupt}, "corrupt"),
        ({"source": small}, "small"),
        ({"source": tar}, "images.tar"),
        ({"source": badzip}, "broken.zip"),
        ({"source": ok, "resolution": 48}, "power of two"),
        ({"source": ok, "resolution": 2048}, "power of two"),
        ({"source": ok, "resolution": 4}, "power of two"),
        ({"source": ok, "max_images": 0}, "max-images"),
        ({"source": ok, "out": tmp_path / "out" / "x.tar"}, "x.tar"),
        ({"source": ok, "seed": 1}, "embedded"),
        ({"source": "embedded:nope"}, "embedded:default"),
    ]


def test_bad_inputs_raise_one_line_errors_and_leave_nothing(tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    outdir.mkdir()
    for kwargs, needle in _bad_cases(tmp_path):
        kwargs = {"resolution": R, "out": outdir / "ds.zip", "progress": False, **kwargs}
        with pytest.raises(DatasetError) as info:
            prepare(**kwargs)
        msg = str(info.value)
        assert needle in msg and "\n" not in msg, msg
        assert _leftovers(outdir) == [], f"{kwargs}: left {_leftovers(outdir)}"


def test_failed_prepare_keeps_existing_output(tmp_path: Path) -> None:
    out = tmp_path / "ds.zip"
    out.write_bytes(b"previous")
    bad = _folder_with(tmp_path, "bad", {"a.png": b"broken"})
    with pytest.raises(DatasetError):
        prepare(bad, R, out, progress=False)
    assert out.read_bytes() == b"previous" and _leftovers(tmp_path) == ["bad", "ds.zip"]


def test_lmdb_without_package_explains_install(tmp_path: Path, monkeypatch) -> None:
    lsun = tmp_path / "church_outdoor_train_lmdb"
    lsun.mkdir()
    (lsun / "data.mdb").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "lmdb", None)  # makes `import lmdb` raise ImportError
    for source in (lsun, lsun / "data.mdb"):
        with pytest.raises(DatasetError, match="pip install lmdb") as info:
            prepare(source, R, tmp_path / "o.zip", progress=False)
        assert str(lsun) in str(info.value)
    assert not (tmp_path / "o.zip").exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "data.prepare", *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)


def test_cli_exit_codes_and_messages(tmp_path: Path) -> None:
    out = tmp_path / "out" / "ds.zip"
    missing = tmp_path / "nowhere"
    res = _cli("--source", str(missing), "--resolution", "32", "--out", str(out))
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and str(missing) in res.stderr
    res = _cli("--source", "embedded:default", "--resolution", "100", "--out", str(out))
    assert res.returncode == 2 and "--resolution: 100 is not one of [8, 16, 32" in res.stderr
    bad = _folder_with(tmp_path, "allbad", {"a.png": b"junk"})
    res = _cli("--source", str(bad), "--resolution", "32", "--out", str(out), "-q")
    assert res.returncode == 2 and str(bad) in res.stderr.splitlines()[-1]
    assert _leftovers(out.parent) == []
    res = _cli(
        "--source", "embedded:shapes", "--resolution", "16", "--out", str(out), "--count", "5"
    )
    assert res.returncode == 0, res.stderr
    assert read_recipe(out)["num_images"] == 5 and _leftovers(out.parent) == ["ds.zip"]


def test_atomic_output_permissions_and_cleanup(tmp_path: Path) -> None:
    """Every writer in the project goes through common.io: normal permissions (not mkstemp's
    0600, which would hide reports from other users), existing modes kept, nothing left on error."""
    from common.io import atomic_output, atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "new" / "a.txt", "x")
        assert (tmp_path / "new" / "a.txt").stat().st_mode & 0o777 == 0o644
        (tmp_path / "b.txt").write_text("old")
        (tmp_path / "b.txt").chmod(0o640)
        atomic_write_text(tmp_path / "b.txt", "new")
        assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o640
        with pytest.raises(RuntimeError), atomic_output(tmp_path / "b.txt", suffix=".png") as tmp:
            assert tmp.suffix == ".png"
            tmp.write_text("partial")
            raise RuntimeError("crash")
        assert (tmp_path / "b.txt").read_text() == "new"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt", "new"]
    finally:
        os.umask(old)


# ---------------------------------------------------------------------------------------------
# Corrupt input through the CLI: exactly one stderr line, exit 2 (1 for OS errors), no output
# file and no temp file. `-q` keeps progress/info logs off stderr, as the workflow's logs do.


def _assert_one_line_failure(code: int, stderr: str, out: Path, needle: str, codes=(2,)) -> str:
    lines = stderr.strip().splitlines()
    assert code in codes, (code, stderr)
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in stderr
    assert not out.exists() and _leftovers(out.parent) == [], "no output and no temp file"
    return lines[0]


def _run_main(argv: list[str], capsys) -> tuple[int, str]:
    from common.cli import run
    from data.prepare import main

    capsys.readouterr()
    code = run(main, [str(a) for a in argv])
    return code, capsys.readouterr().err


def _stored_zip_with_bad_crc(path: Path) -> None:
    """Two stored PNG members; one byte in the middle of the second member's data is flipped,
    so the central directory is fine but reading that member fails its CRC-32 check."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("a.png", _png(32))
        zf.writestr("b.png", _png(40))
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("b.png")
    raw = bytearray(path.read_bytes())
    name_len, extra_len = (
        int.from_bytes(raw[info.header_offset + o : info.header_offset + o + 2], "little")
        for o in (26, 28)
    )
    data_start = info.header_offset + 30 + name_len + extra_len
    raw[data_start + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_cli_zip_with_bad_crc_member(tmp_path: Path) -> None:
    src = tmp_path / "damaged.zip"
    _stored_zip_with_bad_crc(src)
    with zipfile.ZipFile(src) as zf, pytest.raises(zipfile.BadZipFile, match="CRC"):
        zf.read("b.png")  # the fixture really is damaged
    out = tmp_path / "out" / "ds.zip"
    res = _cli("--source", str(src), "--resolution", "32", "--out", str(out), "-q")
    line = _assert_one_line_failure(res.returncode, res.stderr, out, str(src))
    assert "b.png" in line and "CRC" in line


def test_cli_folder_with_truncated_image(tmp_path: Path) -> None:
    good = io.BytesIO()
    Image.fromarray(_noise(np.random.default_rng(2), 64, 64)).save(good, format="JPEG")
    src = _folder_with(tmp_path, "trunc", {"a.jpg": good.getvalue()[: len(good.getvalue()) // 2]})
    out = tmp_path / "out" / "ds.zip"
    res = _cli("--source", str(src), "--resolution", "32", "--out", str(out), "-q")
    line = _assert_one_line_failure(res.returncode, res.stderr, out, str(src))
    assert "a.jpg" in line and "truncated" in line


def test_folder_with_unreadable_entry(tmp_path: Path, capsys) -> None:
    src = _folder_with(tmp_path, "links", {"a.png": _png(32)})
    (src / "b.png").symlink_to(tmp_path / "gone.png")  # a dangling link: listed, not readable
    out = tmp_path / "out" / "ds.zip"
    code, err = _run_main(["--source", src, "--resolution", 32, "--out", out, "-q"], capsys)
    assert "b.png" in _assert_one_line_failure(code, err, out, "cannot read")


def test_cli_lmdb_folder_that_is_not_an_lmdb(tmp_path: Path) -> None:
    src = tmp_path / "fake_lmdb"
    src.mkdir()
    (src / "data.mdb").write_bytes(b"this is not an LMDB file" * 200)
    out = tmp_path / "out" / "ds.zip"
    res = _cli("--source", str(src), "--resolution", "32", "--out", str(out), "-q")
    line = _assert_one_line_failure(res.returncode, res.stderr, out, str(src))
    try:
        import lmdb  # noqa: F401
    except ImportError:
        assert "pip install lmdb" in line
    else:
        assert "cannot open LMDB" in line


def _fake_lmdb(fail_open: bool):
    """A stand-in `lmdb` module: open() fails like on a non-LMDB file, or iteration hits a
    corrupt page after one good entry."""
    import types

    mod = types.ModuleType("lmdb")

    class Error(Exception):
        pass

    class _Txn:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def cursor(self):
            yield b"0001", _png(32)
            raise Error("mdb_cursor_get: MDB_CORRUPTED: Located page was wrong type")

    class _Env:
        def stat(self):
            return {"entries": 2}

        def begin(self, write=False):
            return _Txn()

        def close(self):
            pass

    def open_(path, **kwargs):
        if fail_open:
            raise Error(f"{path}: MDB_INVALID: File is not an LMDB file")
        return _Env()

    mod.Error, mod.open = Error, open_
    return mod


@pytest.mark.parametrize("fail_open", [True, False], ids=["open", "read"])
def test_lmdb_errors_are_one_line(tmp_path: Path, monkeypatch, capsys, fail_open) -> None:
    monkeypatch.setitem(sys.modules, "lmdb", _fake_lmdb(fail_open))
    src = tmp_path / "lsun"
    src.mkdir()
    (src / "data.mdb").write_bytes(b"junk")
    out = tmp_path / "out" / "ds.zip"
    code, err = _run_main(
        ["--source", src, "--resolution", 32, "--out", out, "-q", "--workers", 1], capsys
    )
    line = _assert_one_line_failure(code, err, out, str(src))
    assert ("cannot open LMDB" if fail_open else "is damaged") in line
    assert "MDB_" in line


def test_cli_output_folder_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("I am a regular file")
    out = blocker / "sub" / "ds.zip"
    res = _cli(
        "--source", "embedded:shapes", "--count", "3", "--resolution", "16", "--out", str(out), "-q"
    )
    _assert_one_line_failure(res.returncode, res.stderr, out, str(blocker), codes=(1, 2))
    assert blocker.read_text() == "I am a regular file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_check_resolution_follows_settings() -> None:
    from common.settings import RESOLUTIONS
    from data._common import check_resolution

    assert all(check_resolution(r) == r for r in RESOLUTIONS)
    for bad in (4, 48, 2048, 32.0, "32", True):
        with pytest.raises(DatasetError, match="power of two"):
            check_resolution(bad)


# ---------------------------------------------------------------------------------------------
# images converted on purpose: orientation, wide pixel types, odd names, what was skipped


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    """A phone JPEG stored sideways (orientation 6: rotate 90° clockwise to view) is prepared
    as it is viewed: left half blue, right half red as stored becomes top blue, bottom red."""
    src = tmp_path / "src"
    src.mkdir()
    img = Image.new("RGB", (3 * R, 2 * R), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 3 * R // 2, 2 * R))
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(src / "sideways.jpg", exif=exif, quality=95)
    out = tmp_path / "o.zip"
    recipe = prepare(src, R, out, progress=False)
    assert "EXIF orientation applied" in recipe["color"]
    with zipfile.ZipFile(out) as zf:
        a = np.asarray(Image.open(io.BytesIO(zf.read("00000/img00000000.png")))).astype(int)
    assert a[1, R // 2, 2] > 200 and a[1, R // 2, 0] < 60  # top: blue
    assert a[-2, R // 2, 0] > 200 and a[-2, R // 2, 2] < 60  # bottom: red


def test_wide_pixel_types_are_scaled_by_their_range_or_skipped(tmp_path: Path) -> None:
    """float32 in 0..1 is × 255 and 32-bit integers holding 16 bits are >> 8 (never the black or
    white images a plain cast gives); a range that means nothing known is skipped and counted."""
    src = tmp_path / "src"
    src.mkdir()
    ramp = np.linspace(0, 1, R * R, dtype=np.float32).reshape(R, R)
    Image.fromarray(ramp, "F").save(src / "a_float01.tif")
    Image.fromarray((ramp * 65535).astype(np.int32), "I").save(src / "b_int16in32.tif")
    Image.fromarray((ramp * 1000 - 500).astype(np.float32), "F").save(src / "c_negative.tif")
    out = tmp_path / "o.zip"
    summary = prepare(src, R, out, progress=False)
    assert summary["num_images"] == 2 and summary["skipped"]["bad_range"] == 1
    assert any("c_negative.tif" in e for e in summary["skipped_examples"])
    with zipfile.ZipFile(out) as zf:
        for member in ("00000/img00000000.png", "00000/img00000001.png"):
            a = np.asarray(Image.open(io.BytesIO(zf.read(member))))[..., 0].astype(int)
            # a ramp 0..1 of the full range: mean near the middle, both ends reached
            assert abs(a.mean() - 127.5) < 3 and a.min() <= 1 and a.max() >= 254, member


def test_undecodable_file_names_and_the_skip_summary(tmp_path: Path) -> None:
    """A file name that is not UTF-8 is prepared (hashed as its bytes on disk), and the closing
    line on stdout says how many images were skipped and why."""
    src = tmp_path / "src"
    src.mkdir()
    pixels = np.full((R, R, 3), 90, np.uint8)
    Image.fromarray(pixels).save(os.path.join(os.fsencode(src), b"caf\xe9.png"))
    Image.fromarray(pixels[:4, :4]).save(src / "tiny.png")
    res = _cli("--source", str(src), "--resolution", str(R), "--out", str(tmp_path / "o.zip"), "-q")
    assert res.returncode == 0, res.stderr
    assert f"1 images at {R}px, 1 of 2 skipped (1 smaller than {R}px)" in res.stdout
