"""The per-image work of data.prepare (pure functions; they run in worker processes): decode,
orient, map to 8-bit RGB, centre-crop, resize, encode. Kept apart from the writer so the policy
for each kind of pixel is one short file to read."""

from __future__ import annotations

import hashlib
import io
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps

PNG_COMPRESS_LEVEL = 1  # lossless either way; 1 encodes ~2x faster than 6 for ~1.5x size


class RangeError(ValueError):
    """An image whose values cannot be mapped to 8 bits without guessing (skipped, counted)."""


def _to_8bit(img: Image.Image) -> Image.Image:
    """Single-channel images wider than 8 bits, scaled by their type's real range, never
    clipped (a float image in 0..1 read as 0..255 would be black, a 32-bit one white):
    16-bit (I;16*) and 32-bit integers holding up to 16 bits >> 8; 32-bit integers in 0..255
    as they are; floats in 0..1 × 255, floats in 0..255 as they are. Anything else
    (negative values, floats above 255, integers above 16 bits) is a RangeError."""
    if img.mode.startswith("I;16"):
        arr = np.asarray(img, dtype=np.uint16) >> 8
    elif img.mode in ("I", "F"):
        arr = np.asarray(img)
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        if not np.isfinite([lo, hi]).all() or lo < 0:
            raise RangeError(f"{img.mode} values {lo:g}..{hi:g} are not a known pixel range")
        if img.mode == "F" and hi <= 1.0:
            arr = np.rint(arr * 255.0)
        elif img.mode == "I" and hi > 255:
            if hi > 65535:
                raise RangeError(f"32-bit integer values up to {hi:g} are not a known pixel range")
            arr = arr >> 8
        elif hi > 255:
            raise RangeError(f"float values up to {hi:g} are not a known pixel range")
    else:
        return img
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB. Transparency is composited on black; 16-bit, 32-bit and float
    images are scaled by their real range (_to_8bit), never clipped."""
    img = _to_8bit(img)
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return img.convert("RGB")


def crop_resize(img: Image.Image, resolution: int) -> Image.Image:
    """Centre square crop (shorter side), then PIL Lanczos to resolution; caller checks size."""
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    if (w, h) != (side, side):
        img = img.crop((left, top, left + side, top + side))
    if side != resolution:
        img = img.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return img


class Result(NamedTuple):
    status: str  # "ok" | "corrupt" | "too_small"
    png: bytes | None
    pixel_digest: bytes | None
    source_line: str | None  # "name\tsize\tsha256" for the source-list hash
    detail: str | None


def _encode(img: Image.Image) -> tuple[bytes, bytes]:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue(), hashlib.sha256(img.tobytes()).digest()


def convert_bytes(item: tuple[str, bytes], resolution: int) -> Result:
    name, data = item
    line = f"{name}\t{len(data)}\t{hashlib.sha256(data).hexdigest()}"
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            rotated = ImageOps.exif_transpose(img)  # as a viewer shows it; None-safe copy
            img = to_rgb(rotated if rotated is not None else img)
    except RangeError as exc:
        return Result("bad_range", None, None, line, str(exc))
    except Exception as exc:  # Pillow raises many types for bad files; all mean "unreadable"
        return Result("corrupt", None, None, line, f"{type(exc).__name__}: {exc}")
    if min(img.size) < resolution:
        return Result("too_small", None, None, line, f"{img.size[0]}x{img.size[1]}")
    png, digest = _encode(crop_resize(img, resolution))
    return Result("ok", png, digest, line, None)


def convert_array(item: tuple[str, np.ndarray]) -> Result:
    png, digest = _encode(Image.fromarray(item[1], "RGB"))
    return Result("ok", png, digest, None, None)
