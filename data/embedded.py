"""Procedurally generated image families that ship with the code (no download, no third-party content).

Why: the default workflow must run offline on a laptop CPU, and a GAN needs data that is simple
enough to learn in minutes yet structured enough that progress is visible. Each image is drawn
directly at the target resolution with analytic anti-aliasing (coverage from an approximate
signed distance, one-pixel-wide soft edges), fully vectorised over a batch with numpy.

Determinism: image i depends only on (name, seed, i) - parameters are one row of a
`numpy.random.default_rng(seed)` matrix - so a larger `count` only appends images. Per-pixel
maths uses only +, -, *, /, sqrt and clip (IEEE exact-rounded), trigonometry only on per-image
scalars in float64, so bytes do not depend on the CPU's SIMD flavour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

PREFIX = "embedded:"
DEFAULT_NAME = "default"
DEFAULT_COUNT = 2000
DEFAULT_SEED = 0
GENERATOR_VERSION = 1
_PIXELS_PER_BATCH = 1 << 21  # ~8 MB per float32 plane: bounded memory at any resolution

Array = np.ndarray


# ---------------------------------------------------------------------------------------------
# Drawing primitives. Coordinates: x right, y down, both in [-1, 1]; one pixel is 2/R wide.


def _grid(resolution: int) -> tuple[Array, Array]:
    c = ((np.arange(resolution, dtype=np.float32) + 0.5) * (2.0 / resolution) - 1.0).astype(
        np.float32
    )
    return c[None, None, :], c[None, :, None]  # x: (1,1,R), y: (1,R,1)


def _col(v: Array) -> Array:
    """Per-image scalar (B,) -> broadcastable float32 (B,1,1)."""
    return np.asarray(v, dtype=np.float32)[:, None, None]


def _coverage(d: Array, inv_px: float) -> Array:
    """Fraction of a pixel inside a shape whose signed distance (negative inside) is `d`."""
    return np.clip(0.5 - d * inv_px, 0.0, 1.0)


def _ellipse_dist(u: Array, v: Array, a: Array, b: Array) -> Array:
    """Approximate signed distance to an axis-aligned ellipse: implicit value / gradient norm."""
    ua, vb = u / a, v / b
    k = np.sqrt(ua * ua + vb * vb)
    g = np.sqrt((ua / a) ** 2 + (vb / b) ** 2)
    eps = np.float32(1e-4)
    return (k - 1.0) * (k + eps) / (g + eps / np.minimum(a, b))


def _rotate(
    x: Array, y: Array, cx: Array, cy: Array, cos: Array, sin: Array
) -> tuple[Array, Array]:
    dx, dy = x - cx, y - cy
    return cos * dx + sin * dy, cos * dy - sin * dx


def _paint(img: Array, alpha: Array, colour: Array) -> None:
    """In-place 'over' compositing on a planar (B,3,R,R) image; colour is (B,3) or (B,3,R,R).

    Planar layout keeps numpy's inner loops long and contiguous (an RGB-last layout is ~3x slower).
    """
    if colour.ndim == 2:
        colour = colour[:, :, None, None]
    img += alpha[:, None] * (colour - img)


def _hsv_to_rgb(h: Array, s: Array, v: Array) -> Array:
    """Vectorised HSV -> RGB for per-image scalars, all in [0, 1]; returns (B, 3) float32."""
    h6 = (np.asarray(h) % 1.0) * 6.0
    i = np.floor(h6).astype(int) % 6
    f = h6 - np.floor(h6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack(
        [
            np.stack([v, t, p], -1),
            np.stack([q, v, p], -1),
            np.stack([p, v, t], -1),
            np.stack([p, q, v], -1),
            np.stack([t, p, v], -1),
            np.stack([v, p, q], -1),
        ],
        1,
    )
    return table[np.arange(len(i)), i].astype(np.float32)


def _palette(table: list[tuple[float, float, float]], t: Array) -> Array:
    """Piecewise-linear interpolation along a list of RGB colours, t in [0, 1]."""
    pal = np.asarray(table, dtype=np.float64)
    pos = np.asarray(t) * (len(pal) - 1)
    lo = np.minimum(np.floor(pos).astype(int), len(pal) - 2)
    w = (pos - lo)[:, None]
    return (pal[lo] * (1 - w) + pal[lo + 1] * w).astype(np.float32)


def _pick(table: list[tuple[float, float, float]], t: Array) -> Array:
    pal = np.asarray(table, dtype=np.float32)
    return pal[np.minimum((np.asarray(t) * len(pal)).astype(int), len(pal) - 1)]


def _background(p: Array, x: Array, y: Array) -> Array:
    """Two-colour linear gradient in a random direction; uses parameter columns 0..5."""
    c1 = _hsv_to_rgb(p[:, 0], 0.15 + 0.5 * p[:, 1], 0.35 + 0.6 * p[:, 2])
    c2 = _hsv_to_rgb(p[:, 0] + 0.3 * (p[:, 3] - 0.5), 0.15 + 0.5 * p[:, 1], 0.35 + 0.6 * p[:, 4])
    ang = 2 * np.pi * p[:, 5]
    t = np.clip(0.5 + 0.5 * (_col(np.cos(ang)) * x + _col(np.sin(ang)) * y), 0.0, 1.0)
    return c1[:, :, None, None] + t[:, None] * (c2 - c1)[:, :, None, None]


# ---------------------------------------------------------------------------------------------
# Family "default": a centred cartoon face.

_SKIN = [
    (0.98, 0.87, 0.77),
    (0.94, 0.76, 0.62),
    (0.85, 0.64, 0.47),
    (0.69, 0.48, 0.33),
    (0.50, 0.33, 0.22),
    (0.36, 0.24, 0.16),
]
_HAIR = [
    (0.08, 0.07, 0.07),
    (0.25, 0.16, 0.10),
    (0.45, 0.30, 0.17),
    (0.85, 0.72, 0.45),
    (0.65, 0.28, 0.12),
    (0.72, 0.72, 0.74),
]
_IRIS = [(0.35, 0.22, 0.12), (0.25, 0.45, 0.70), (0.30, 0.50, 0.30), (0.12, 0.10, 0.10)]


class _Canvas:
    """A planar image batch plus helpers to draw only inside the union of per-image bounding boxes.

    Small features (eyes, mouth) cover a few percent of the frame; evaluating them on the batch's
    union box instead of the full frame makes 256x256 generation several times faster.
    """

    def __init__(self, img: Array, resolution: int):
        self.img, self.res = img, resolution
        self.x, self.y = _grid(resolution)
        self.inv_px = resolution / 2.0

    def window(self, cx: Array, cy: Array, rx: Array, ry: Array) -> tuple[slice, slice]:
        """Pixel rows/cols covering every image's box [c - r, c + r] (plus a 2-pixel margin)."""
        half = self.res / 2.0

        def span(c: Array, r: Array) -> slice:
            lo = int(np.floor((np.min(c - r) + 1.0) * half)) - 2
            hi = int(np.ceil((np.max(c + r) + 1.0) * half)) + 2
            return slice(max(lo, 0), max(min(hi, self.res), 0))

        return span(cy, ry), span(cx, rx)

    def coords(self, win: tuple[slice, slice]) -> tuple[Array, Array, Array]:
        """(x, y, image view) restricted to a window."""
        rows, cols = win
        return self.x[:, :, cols], self.y[:, rows, :], self.img[:, :, rows, cols]


def _draw_shirt(cv: _Canvas, p: Array, cx: Array, cy: Array, a: Array, b: Array) -> None:
    """A wide ellipse rising from the bottom edge, under the face (drawn first)."""
    shirt = _hsv_to_rgb(p[:, 26], 0.3 + 0.5 * p[:, 27], 0.3 + 0.6 * p[:, 28])
    sy = cy + b + 0.55
    win = cv.window(cx, sy, a * 1.9, np.full_like(a, 0.62))
    xs, ys, view = cv.coords(win)
    d = _ellipse_dist(xs - _col(cx), ys - _col(sy), _col(a * 1.9), _col(np.full_like(a, 0.62)))
    _paint(view, _coverage(d, cv.inv_px), shirt)


def _draw_faces(p: Array, resolution: int) -> Array:
    """Background gradient, shirt, hair, shaded face, fringe, nose, eyes with irises, mouth."""
    x, y = _grid(resolution)
    cv = _Canvas(_background(p, x, y), resolution)
    inv_px = cv.inv_px

    # Face geometry (face-local frame: u right, v down, origin at face centre, tilted by rot).
    cx, cy = 0.16 * (p[:, 6] - 0.5), -0.05 + 0.14 * (p[:, 7] - 0.5)
    a = 0.34 + 0.12 * p[:, 8]
    b = a * (1.15 + 0.25 * p[:, 9])
    rot = 0.7 * (p[:, 10] - 0.5)  # about +-20 degrees
    c64, s64 = np.cos(rot), np.sin(rot)
    cos, sin, CX, CY = _col(c64), _col(s64), _col(cx), _col(cy)

    def local(win: tuple[slice, slice]) -> tuple[Array, Array, Array]:
        xs, ys, view = cv.coords(win)
        u, v = _rotate(xs, ys, CX, CY, cos, sin)
        return u, v, view

    def win_local(fu: Array, fv: Array, r: Array) -> tuple[slice, slice]:
        """Window around a feature centred at face-local (fu, fv) with bounding radius r."""
        return cv.window(cx + c64 * fu - s64 * fv, cy + s64 * fu + c64 * fv, r, r)

    _draw_shirt(cv, p, cx, cy, a, b)

    # Hair: an ellipse behind the head, a bit larger and higher; also used for the fringe.
    vivid = p[:, 17] < 0.1
    hair = np.where(
        vivid[:, None],
        _hsv_to_rgb(p[:, 13], np.full_like(a, 0.7), np.full_like(a, 0.8)),
        _pick(_HAIR, p[:, 13]) * _col(0.85 + 0.3 * p[:, 14])[:, :, 0],
    ).clip(0, 1)
    volume = 1.04 + 0.22 * p[:, 15]
    ha, hb, hc = _col(a * volume), _col(b * volume * 0.98), _col(0.12 * b)
    head_win = win_local(np.zeros_like(a), np.zeros_like(a), b * (volume + 0.12))  # hair + face
    u, v, view = local(head_win)
    hair_cov = _coverage(_ellipse_dist(u, v + hc, ha, hb), inv_px)
    _paint(view, hair_cov, hair)

    # Face with soft radial shading, then the fringe: hair clipped to above a curved forehead line.
    A, B = _col(a), _col(b)
    ua, vb = u / A, v / B
    shade = np.clip(1.06 - 0.16 * (ua * ua + vb * vb), 0.0, 1.2)
    skin = _palette(_SKIN, p[:, 11]) * _col(0.95 + 0.1 * p[:, 12])[:, :, 0]
    face_cov = _coverage(_ellipse_dist(u, v, A, B), inv_px)
    _paint(view, face_cov, skin[:, :, None, None] * shade[:, None])
    line = _col(-b * (0.35 + 0.25 * p[:, 16])) + 0.6 * u * u / A
    _paint(view, hair_cov * _coverage(v - line, inv_px), hair)

    # Nose: a slightly darker small ellipse.
    zero = np.zeros_like(a)
    u, v, view = local(win_local(zero, 0.12 * b, 0.13 * b))
    d = _ellipse_dist(u, v - _col(0.12 * b), _col(0.08 * a), _col(0.13 * b))
    _paint(view, 0.35 * _coverage(d, inv_px), skin * 0.6)

    # Eyes: white ellipse + coloured iris that shares a gaze offset.
    ex, ey = (0.30 + 0.12 * p[:, 18]) * a, (-0.10 - 0.12 * p[:, 19]) * b
    ew = (0.13 + 0.07 * p[:, 20]) * a
    eh = ew * 0.62
    gaze = 0.35 * (p[:, 21] - 0.5) * ew
    iris = _pick(_IRIS, p[:, 22])
    white = np.full((len(p), 3), 0.96, dtype=np.float32)
    for side in (-1.0, 1.0):
        u, v, view = local(win_local(side * ex, ey, ew))
        eu, ev = u - _col(side * ex), v - _col(ey)
        _paint(view, _coverage(_ellipse_dist(eu, ev, _col(ew), _col(eh)), inv_px), white)
        r = _col(eh * 0.95)
        d = _ellipse_dist(eu - _col(gaze), ev, r, r)
        _paint(view, _coverage(d, inv_px), iris)

    # Mouth: flattened ellipse, varying width and openness.
    mw = (0.22 + 0.18 * p[:, 23]) * a
    mh = (0.04 + 0.10 * p[:, 24]) * b
    my = (0.42 + 0.12 * p[:, 25]) * b
    lips = np.stack([0.55 + 0.2 * p[:, 29], 0.16 + 0.08 * p[:, 29], 0.2 + 0.05 * p[:, 30]], 1)
    u, v, view = local(win_local(zero, my, np.maximum(mw, mh)))
    d = _ellipse_dist(u, v - _col(my), _col(mw), _col(mh))
    _paint(view, _coverage(d, inv_px), lips.astype(np.float32))
    return cv.img


# ---------------------------------------------------------------------------------------------
# Family "shapes": one filled circle, square or triangle on a gradient.


def _draw_shapes(p: Array, resolution: int) -> Array:
    x, y = _grid(resolution)
    inv_px = resolution / 2.0
    img = _background(p, x, y)
    kind = np.minimum((p[:, 6] * 3).astype(int), 2)
    cx, cy = 0.5 * (p[:, 7] - 0.5), 0.5 * (p[:, 8] - 0.5)
    size = 0.25 + 0.3 * p[:, 9]
    rot = 2 * np.pi * p[:, 10]
    colour = _hsv_to_rgb(p[:, 11], 0.5 + 0.5 * p[:, 12], 0.5 + 0.5 * p[:, 13])
    for k in range(3):
        idx = np.flatnonzero(kind == k)
        if idx.size == 0:
            continue
        u, v = _rotate(
            x, y, _col(cx[idx]), _col(cy[idx]), _col(np.cos(rot[idx])), _col(np.sin(rot[idx]))
        )
        r = _col(size[idx])
        if k == 0:
            d = np.sqrt(u * u + v * v) - r
        elif k == 1:
            qx, qy = np.abs(u) - r * 0.85, np.abs(v) - r * 0.85
            outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
            d = outside + np.minimum(np.maximum(qx, qy), 0)
        else:
            d = _triangle_dist(u, v, r)
        sub = img[idx]
        _paint(sub, _coverage(d, inv_px), colour[idx])
        img[idx] = sub
    return img


def _triangle_dist(u: Array, v: Array, r: Array) -> Array:
    """Exact signed distance to an equilateral triangle of 'radius' r centred at the origin."""
    s3 = np.float32(np.sqrt(3.0))
    px = np.abs(u) - r
    py = -v + r / s3
    flip = px + s3 * py > 0
    px, py = np.where(flip, (px - s3 * py) / 2, px), np.where(flip, (-s3 * px - py) / 2, py)
    px = px - np.clip(px, -2 * r, 0)
    return -np.sqrt(px * px + py * py) * np.sign(py)


# ---------------------------------------------------------------------------------------------
# Registry and public API.


@dataclass(frozen=True)
class _Family:
    draw: Callable[[Array, int], Array]
    n_params: int
    description: str


_FAMILIES = {
    "default": _Family(
        _draw_faces,
        32,
        "cartoon faces: skin tone, hair colour/volume/fringe, eyes, gaze, mouth, shirt, "
        "gradient background; varied size, offset and +-20 degree tilt",
    ),
    "shapes": _Family(
        _draw_shapes, 16, "one circle, square or triangle; varied colour, size, position, rotation"
    ),
}


def list_embedded() -> list[str]:
    """Names accepted as `embedded:NAME` ('default' first)."""
    return sorted(_FAMILIES, key=lambda n: (n != DEFAULT_NAME, n))


def parse_source(source: str) -> str | None:
    """'embedded:NAME' -> NAME (validated); anything else -> None."""
    if not str(source).startswith(PREFIX):
        return None
    name = str(source)[len(PREFIX) :] or DEFAULT_NAME
    _family(name)
    return name


def _family(name: str) -> _Family:
    try:
        return _FAMILIES[name]
    except KeyError:
        from data._common import DatasetError

        raise DatasetError(
            f"unknown embedded dataset {PREFIX}{name}: choose one of "
            + ", ".join(PREFIX + n for n in list_embedded())
        ) from None


def iter_batches(
    name: str = DEFAULT_NAME,
    count: int = DEFAULT_COUNT,
    resolution: int = 64,
    seed: int = DEFAULT_SEED,
) -> Iterator[Array]:
    """Yield uint8 arrays (b, R, R, 3) that together hold `count` images, in order."""
    fam = _family(name)
    if count < 1 or resolution < 1:
        raise ValueError("count and resolution must be positive")
    params = np.random.default_rng(seed).random((count, fam.n_params))
    batch = max(1, _PIXELS_PER_BATCH // (resolution * resolution))
    for start in range(0, count, batch):
        img = fam.draw(params[start : start + batch], resolution)
        img = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
        yield np.ascontiguousarray(img.transpose(0, 2, 3, 1))


def generate(
    name: str = DEFAULT_NAME,
    count: int = DEFAULT_COUNT,
    resolution: int = 64,
    seed: int = DEFAULT_SEED,
) -> Array:
    """All `count` images as one uint8 array (count, R, R, 3). Deterministic in (name, seed)."""
    return np.concatenate(list(iter_batches(name, count, resolution, seed)), axis=0)
