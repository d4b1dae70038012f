"""Integer-only drawing primitives for the test kit.

Everything here is integer arithmetic, a fixed sine table, IEEE square roots and Pillow's own
drawing, so a given seed gives the same pixels on every machine with the same Pillow. (numpy's
float ``sin``/``exp`` are CPU-dispatched and may differ in the last bit; we avoid them.)
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

#: Entries in one period of the sine table (a power of two, so phases wrap with a mask).
PERIOD = 4096
#: Amplitude of the sine table.
AMP = 1024

# Rounded to integers, so a last-bit difference in the platform's ``math.sin`` cannot change it.
_SIN = np.array([round(math.sin(2 * math.pi * k / PERIOD) * AMP) for k in range(PERIOD)], np.int64)

Field = np.ndarray  # 2-D int64 array, shape (height, width)


def sine(phase: np.ndarray) -> np.ndarray:
    """``AMP * sin(2π * phase / PERIOD)`` for integer phases (any range)."""
    return _SIN[phase & (PERIOD - 1)]


def grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Broadcastable integer coordinates ``(ys, xs)`` of shapes ``(h, 1)`` and ``(1, w)``."""
    return (
        np.arange(height, dtype=np.int64)[:, None],
        np.arange(width, dtype=np.int64)[None, :],
    )


def cosine_basis(n: int, count: int) -> np.ndarray:
    """``AMP * cos(pi * i * (x + 1/2) / n)``, ``i = 1..count``: PDQ's DCT rows stretched to n."""
    i = np.arange(1, count + 1, dtype=np.int64)[:, None]
    x = np.arange(n, dtype=np.int64)[None, :]
    return sine(i * (2 * x + 1) * PERIOD // (4 * n) + PERIOD // 4)


def carrier(rng: np.random.Generator, width: int, height: int, top: int = 16) -> Field:
    """A field whose ``top x top`` lowest DCT coefficients are all large, with random signs.

    PDQ hashes exactly these coefficients (of a 64x64 grey thumbnail) against their median.
    When every one is far from the median, small edits (crop, resize, watermark, re-encode)
    flip few bits; random signs make different pictures' hashes unrelated. Amplitudes fall as
    ``1 / f``, the spectrum of natural photos. Exact integer product of separable cosine bases.
    """
    f = np.arange(1, top + 1, dtype=np.int64)
    f2 = (f[:, None] ** 2 + f[None, :] ** 2).astype(np.float64)
    mag = (1 << 22) // np.sqrt(f2 * 4096).astype(np.int64)  # IEEE sqrt: same on every machine
    # exactly half positive: PDQ thresholds at the median, which then falls in the gap between
    # the smallest positive and negative coefficients instead of on one of them
    n = top * top
    signs = rng.permutation(np.where(np.arange(n) < n // 2, -1, 1)).reshape(top, top)
    coef = signs * mag  # rows: vertical frequency, columns: horizontal
    by = cosine_basis(height, top)  # (top, h)
    bx = cosine_basis(width, top)  # (top, w)
    return by.T @ ((coef @ bx) // AMP)


def normalize(field: Field, levels: int = 256) -> np.ndarray:
    """Stretch an integer field linearly onto ``0 .. levels-1`` (uint8 when levels <= 256)."""
    lo = int(field.min())
    span = max(int(field.max()) - lo, 1)
    return ((field - lo) * (levels - 1) // span).astype(np.uint8 if levels <= 256 else np.int64)


def palette(rng: np.random.Generator, stops: int = 4, chroma: int = 150) -> np.ndarray:
    """A ``(256, 3)`` uint8 colour ramp through random hues whose luma rises linearly, 16 to 240.

    Each stop is a grey of the target luma plus a random colour offset of zero luma, so the
    ramp's luma is (to rounding) a straight line: PDQ, which hashes luma, sees the tone field
    undistorted whatever the colours, and a grayscale copy keeps the picture's structure.
    """
    ramp = np.zeros((256, 3), np.int64)
    pos = [255 * i // (stops - 1) for i in range(stops)]
    cols = []
    for i in range(stops):
        target = 16 + 224 * i // (stops - 1)
        d = rng.integers(-chroma, chroma + 1, size=3)
        d = d - (299 * d[0] + 587 * d[1] + 114 * d[2]) // 1000  # remove the offset's luma
        scale = 16
        while scale and not np.all(
            (target + d * scale // 16 >= 0) & (target + d * scale // 16 < 256)
        ):
            scale -= 1  # shrink the colour offset until the stop fits in 0..255
        cols.append(target + d * scale // 16)
    for a in range(stops - 1):
        x0, x1 = pos[a], pos[a + 1]
        t = np.arange(x1 - x0 + 1, dtype=np.int64)[:, None]
        ramp[x0 : x1 + 1] = cols[a] + (cols[a + 1] - cols[a]) * t // (x1 - x0)
    return ramp.astype(np.uint8)


def colourize(levels: np.ndarray, ramp: np.ndarray) -> Image.Image:
    """Map a uint8 field through a ``(256, 3)`` ramp to an RGB image."""
    return Image.fromarray(ramp[levels], "RGB")


def random_polygon(
    rng: np.random.Generator, cx: int, cy: int, radius: int, corners: int
) -> list[tuple[int, int]]:
    """A star-shaped polygon around ``(cx, cy)`` with ``corners`` vertices in angle order."""
    steps = np.sort(rng.integers(0, PERIOD, size=corners))
    radii = rng.integers(radius // 2, radius + 1, size=corners)
    return [
        (
            cx + int(r * _SIN[(int(s) + PERIOD // 4) % PERIOD] // AMP),
            cy + int(r * _SIN[int(s)] // AMP),
        )
        for s, r in zip(steps, radii, strict=True)
    ]


def draw_shape(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    cx: int,
    cy: int,
    size: int,
    fill: tuple[int, int, int],
) -> None:
    """One random ellipse, rectangle or polygon about ``size`` pixels across at ``(cx, cy)``."""
    kind = int(rng.integers(0, 3))
    rx = int(rng.integers(size // 3, size + 1)) // 2 + 1
    ry = int(rng.integers(size // 3, size + 1)) // 2 + 1
    if kind == 0:
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill)
    elif kind == 1:
        draw.rectangle((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill)
    else:
        pts = random_polygon(rng, cx, cy, max(rx, ry), int(rng.integers(3, 9)))
        draw.polygon(pts, fill=fill)


def jittered_cells(
    rng: np.random.Generator, width: int, height: int, cell: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voronoi cells of one random seed per ``cell``-sized grid square.

    Returns ``(owner, seed_x, seed_y)``: for each pixel the flat index of its nearest seed, and
    the seeds' coordinates (flat arrays indexed by ``owner``).
    """
    gw, gh = -(-width // cell), -(-height // cell)
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.int64)
    sx = np.minimum(gx * cell + rng.integers(0, cell, size=(gh, gw)), width - 1).ravel()
    sy = np.minimum(gy * cell + rng.integers(0, cell, size=(gh, gw)), height - 1).ravel()
    ys, xs = grid(width, height)
    cy, cx = ys // cell, xs // cell
    best = np.full((height, width), np.iinfo(np.int64).max, np.int64)
    owner = np.zeros((height, width), np.int64)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            k = np.clip(cy + dy, 0, gh - 1) * gw + np.clip(cx + dx, 0, gw - 1)
            d = (xs - sx[k]) ** 2 + (ys - sy[k]) ** 2
            closer = d < best
            best = np.where(closer, d, best)
            owner = np.where(closer, k, owner)
    return owner, sx, sy
