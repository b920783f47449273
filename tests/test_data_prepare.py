"""data.prepare's happy paths: a folder of mixed modes, sizes and formats (and a corrupt, a
tiny and a text file, skipped), the recipe it records, centre crop and Lanczos resize equal to
PIL's, a zip source equal to the folder with a hash that tracks the content, --max-images and
worker counts; and images converted on purpose: EXIF orientation applied, wide pixel types
scaled by their range (or skipped), undecodable file names and the skip summary."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data.dataset import read_recipe
from data.prepare import crop_resize, prepare, to_rgb
from tests.helpers import leftovers, noise_pixels, prepare_cli

R = 32


def _save(img: Image.Image, path: Path, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format=fmt)


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """Seven usable images of mixed modes/sizes/formats plus one corrupt, one tiny, one text file."""
    rng = np.random.default_rng(0)
    src = tmp_path / "src"
    _save(Image.fromarray(noise_pixels(rng, 40, 60)), src / "a_rgb.jpg")
    _save(Image.fromarray(noise_pixels(rng, 48, 48, 1), "L"), src / "b_gray.png")
    rgba = np.zeros((40, 64, 4), np.uint8)
    rgba[..., 0] = 255  # red, but fully transparent -> black after compositing
    _save(Image.fromarray(rgba, "RGBA"), src / "c_rgba.png")
    _save(Image.fromarray(noise_pixels(rng, 50, 50)).convert("P"), src / "sub" / "d_pal.png")
    _save(Image.fromarray(noise_pixels(rng, 64, 96)), src / "sub" / "e_wide.webp")
    _save(Image.fromarray(noise_pixels(rng, 33, 33)), src / "f_gif.gif")
    _save(Image.fromarray(noise_pixels(rng, 32, 32)), src / "g_exact.bmp")
    good = io.BytesIO()
    Image.fromarray(noise_pixels(rng, 64, 64)).save(good, format="PNG")
    (src / "x_truncated.png").write_bytes(good.getvalue()[:200])
    _save(Image.fromarray(noise_pixels(rng, 8, 8)), src / "y_tiny.png")
    (src / "notes.txt").write_text("not an image")
    return src


def _members(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return sorted(zf.namelist())


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
    assert leftovers(out.parent) == ["mixed.zip"]
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
    img = Image.fromarray(noise_pixels(rng, 64, 100))
    expected = img.crop((18, 0, 82, 64)).resize((R, R), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(crop_resize(img, R)), np.asarray(expected))
    tall = Image.fromarray(noise_pixels(rng, 101, 64))  # odd margin: floor on top
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
    res = prepare_cli(
        "--source", str(src), "--resolution", str(R), "--out", str(tmp_path / "o.zip"), "-q"
    )
    assert res.returncode == 0, res.stderr
    assert f"1 images at {R}px, 1 of 2 skipped (1 smaller than {R}px)" in res.stdout
