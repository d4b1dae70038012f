"""Deterministic abstract test pictures (no people, no text): fields, shapes, stripes, cells.

Each picture is drawn from a seeded :class:`numpy.random.Generator` with integer arithmetic and
Pillow, so the same seed gives byte-identical pixels on every machine with the same Pillow.

Design for PDQ. PDQ thresholds the 16x16 lowest DCT coefficients of a 64x64 grey thumbnail at
their median; a bit flips under an edit when its coefficient sits near that median. So every
picture starts from a *tone field* (:func:`patterns.carrier`) whose 256 coefficients are all
large, half positive and half negative, mapped through a colour ramp whose luma is linear; the
painters then only style it (contours, leaves, mosaic cells, tiles, fine stripes or rings) in
ways that keep its coarse luma. Resizing, re-encoding, recolouring, a 2% crop or a corner logo
then move a few bits at most, and random signs keep different pictures ~128 bits apart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pdqhash
from PIL import Image, ImageDraw

from . import patterns as pt

Painter = Callable[[np.random.Generator, int, int], Image.Image]


def _base(rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """The picture's coarse tone (``carrier`` stretched to 0..255) and a colour ramp for it."""
    tone = pt.normalize(pt.carrier(rng, w, h))
    return tone, pt.palette(rng, int(rng.integers(3, 6)))


def _marble(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """The tone field itself on a colour ramp, sometimes posterized into contour bands."""
    tone, ramp = _base(rng, w, h)
    bands = int(rng.integers(0, 3)) * 4
    if bands:
        tone = (tone.astype(np.int64) * bands // 256 * 255 // (bands - 1)).astype(np.uint8)
    return pt.colourize(tone, ramp)


def _jitter(rng: np.random.Generator, colour: np.ndarray, spread: int) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in np.clip(colour + rng.integers(-spread, spread + 1, 3), 0, 255))
    return r, g, b


def _log_sizes(rng: np.random.Generator, n: int, smallest: int, largest: int) -> np.ndarray:
    """``n`` sizes with density ~ 1/size^2 (many small, few large), largest first."""
    one = 1 << 30
    lo, hi = one // largest, one // max(1, smallest)  # uniform in 1/size
    inv = lo + rng.integers(0, 1 << 20, size=n) * (hi - lo) // (1 << 20)
    return np.sort(one // inv)[::-1]


def _leaves(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """'Dead leaves': overlapping shapes of power-law sizes, each taking the tone beneath it."""
    tone, ramp = _base(rng, w, h)
    colours = ramp[tone]
    img = Image.fromarray(colours, "RGB")
    draw = ImageDraw.Draw(img)
    side = min(w, h)
    for size in _log_sizes(rng, int(rng.integers(500, 900)), side // 50, side // 7):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        pt.draw_shape(draw, rng, x, y, int(size), _jitter(rng, colours[y, x], 12))
    return img


def _mosaic(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A Voronoi mosaic: each cell one colour, the tone at its seed."""
    tone, ramp = _base(rng, w, h)
    owner, sx, sy = pt.jittered_cells(rng, w, h, max(8, min(w, h) // int(rng.integers(20, 36))))
    shift = rng.integers(-10, 11, size=(len(sx), 3))
    cell_colour = np.clip(ramp[tone[sy, sx]].astype(np.int64) + shift, 0, 255).astype(np.uint8)
    return Image.fromarray(cell_colour[owner], "RGB")


def _stripes(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """Fine stripes whose direction changes from patch to patch, over the tone field."""
    tone, ramp = _base(rng, w, h)
    owner, sx, _ = pt.jittered_cells(rng, w, h, max(40, min(w, h) // int(rng.integers(3, 6))))
    angle = rng.integers(0, pt.PERIOD, size=len(sx))
    cycles = rng.integers(10 * 16, 24 * 16, size=len(sx))  # in 1/16 cycles across the picture
    fx = cycles * pt.sine(angle + pt.PERIOD // 4) // pt.AMP
    fy = cycles * pt.sine(angle) // pt.AMP
    ys, xs = pt.grid(w, h)
    phase = (fx[owner] * xs * (pt.PERIOD // 16)) // w + (fy[owner] * ys * (pt.PERIOD // 16)) // h
    stripe = pt.sine(phase) * 24 // pt.AMP
    levels = np.clip(tone.astype(np.int64) * 3 // 4 + 32 + stripe, 0, 255).astype(np.uint8)
    return pt.colourize(levels, ramp)


def _grid(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """Rectangles from recursive random splits, each filled with the tone at its centre."""
    tone, ramp = _base(rng, w, h)
    img = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(img)
    side = min(w, h)
    boxes = [(0, 0, w, h)]
    while boxes:
        x0, y0, x1, y1 = boxes.pop()
        bw, bh = x1 - x0, y1 - y0
        # (at least 2 px: below that a split makes an empty box and the same box again)
        if max(bw, bh) < max(2, side // 40) or (
            max(bw, bh) < side // 12 and rng.integers(0, 3) == 0
        ):
            c = _jitter(rng, ramp[tone[(y0 + y1) // 2, (x0 + x1) // 2]], 8)
            draw.rectangle((x0, y0, x1, y1), fill=c)
            continue
        if bw >= bh:
            cut = x0 + bw * int(rng.integers(25, 76)) // 100
            boxes += [(x0, y0, cut, y1), (cut, y0, x1, y1)]
        else:
            cut = y0 + bh * int(rng.integers(25, 76)) // 100
            boxes += [(x0, y0, x1, cut), (x0, cut, x1, y1)]
    return img


def _rings(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """Fine interfering ring systems around a few centres, over the tone field."""
    tone, ramp = _base(rng, w, h)
    ys, xs = pt.grid(w, h)
    total = np.zeros((h, w), np.int64)
    side = max(w, h)
    for _ in range(int(rng.integers(2, 4))):
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = np.sqrt(((xs - cx) ** 2 + (ys - cy) ** 2).astype(np.float64)).astype(np.int64)
        cycles = int(rng.integers(16, 32))
        total += pt.sine(r * cycles * pt.PERIOD // side + int(rng.integers(0, pt.PERIOD)))
    levels = tone.astype(np.int64) * 3 // 4 + 32 + total * 24 // (3 * pt.AMP)
    return pt.colourize(np.clip(levels, 0, 255).astype(np.uint8), ramp)


PAINTERS: dict[str, Painter] = {
    "marble": _marble,
    "leaves": _leaves,
    "mosaic": _mosaic,
    "stripes": _stripes,
    "grid": _grid,
    "rings": _rings,
}


#: Painter order: picture ``i`` of a kit uses ``KINDS[i % len(KINDS)]``.
KINDS = tuple(PAINTERS)


def random_size(rng: np.random.Generator) -> tuple[int, int]:
    """A picture size with sides of 400 to 1600 px, landscape or portrait, mostly small."""
    u = int(rng.integers(0, 1001))
    long_side = 480 + 1120 * u * u // 1_000_000
    short_side = max(400, long_side * int(rng.integers(55, 101)) // 100)
    return (long_side, short_side) if rng.integers(0, 2) else (short_side, long_side)


def paint(rng: np.random.Generator, kind: str, size: tuple[int, int] | None = None) -> Image.Image:
    """One picture of the given kind, at ``size`` or a random one."""
    w, h = size or random_size(rng)
    return PAINTERS[kind](rng, w, h)


def pdq_bits(img: Image.Image) -> tuple[np.ndarray, float]:
    """PDQ hash bits (256 x 0/1, uint8) and quality of a picture."""
    bits, quality = pdqhash.compute(np.asarray(img.convert("RGB")))
    return np.asarray(bits, np.uint8), float(quality)


#: Sizes that are not left to chance: picture 0 is big enough (both sides > 1536) that the
#: engine decodes it at reduced JPEG scale, picture 1 is a long thin portrait.
FIXED_SIZES: dict[int, tuple[int, int]] = {0: (1600, 1568), 1: (400, 1600)}

#: A new picture must be at least this far (PDQ bits) from every earlier one and its mirror.
MIN_SEPARATION = 100
#: ... and have at least this PDQ quality.
MIN_QUALITY = 90


def _distinct(
    rng_key: list[int], kind: str, taken: list[np.ndarray], size: tuple[int, int] | None = None
) -> tuple[Image.Image, list[np.ndarray]]:
    """Paint until the picture is far from ``taken``; return it and its (plain, mirror) bits."""
    for attempt in range(100):
        img = paint(np.random.default_rng([*rng_key, attempt]), kind, size)
        bits, quality = pdq_bits(img)
        mirror, _ = pdq_bits(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
        if quality >= MIN_QUALITY and all(
            int(np.count_nonzero(b != t)) >= MIN_SEPARATION for t in taken for b in (bits, mirror)
        ):
            return img, [bits, mirror]
    raise RuntimeError(f"no distinct {kind} picture for {rng_key}")  # pragma: no cover


def generate_originals(n: int = 24, seed: int = 2026) -> list[tuple[str, Image.Image]]:
    """``n`` deterministic abstract RGB pictures named ``hw-test-000``...

    Picture ``i`` depends only on ``seed`` and ``i`` (and, in the rare case a candidate lands
    too near an earlier picture, on the earlier ones), so a smaller ``n`` gives a prefix of a
    larger one. Every picture has PDQ quality >= :data:`MIN_QUALITY` and lies at least
    :data:`MIN_SEPARATION` bits from every other picture and their mirror images.
    """
    out: list[tuple[str, Image.Image]] = []
    taken: list[np.ndarray] = []
    for i in range(n):
        img, bits = _distinct([seed, i], KINDS[i % len(KINDS)], taken, FIXED_SIZES.get(i))
        taken += bits
        out.append((f"hw-test-{i:03d}", img))
    return out


def generate_clean(
    originals: list[tuple[str, Image.Image]], n: int = 6, seed: int = 2026
) -> list[tuple[str, Image.Image]]:
    """``n`` pictures in the same styles that match none of ``originals`` (nor their mirrors).

    They are what a scan must *not* report: each is at least :data:`MIN_SEPARATION` PDQ bits
    from every original, plain or mirrored.
    """
    taken: list[np.ndarray] = []
    for _, img in originals:
        taken.append(pdq_bits(img)[0])
        taken.append(pdq_bits(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT))[0])
    out: list[tuple[str, Image.Image]] = []
    for i in range(n):
        rng = np.random.default_rng([seed, 1_000_000 + i])
        size = (int(rng.integers(400, 801)), int(rng.integers(400, 801)))
        img, bits = _distinct([seed, 1_000_000 + i], KINDS[(i + 3) % len(KINDS)], taken, size)
        taken += bits
        out.append((f"hw-clean-{i:03d}", img))
    return out
