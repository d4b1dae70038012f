"""The altered copies of the detection-quality benchmark, each at fixed, seeded parameters.

These are the edits offenders' copies carry (screenshots, crops, letterboxing, captions,
mirroring), after Thorn's ``perception`` benchmark. :func:`transform` makes one; the seed
picks only what a person would pick (which side is cropped, where a logo goes, the
screenshot's window layout), so a rerun gives the same pixels. ``TRANSFORMS`` names them in
the order the benchmark prints them, with their group.

Parameters (``w``, ``h``: the picture's width and height):

- ``jpeg-q30``: re-encoded as JPEG quality 30; ``resize-25``: Lanczos to 25% of each side;
- ``crop5``, ``crop10``: 5% / 10% of each side cut off each of the four sides;
  ``crop5-one``, ``crop10-one``: 5% / 10% cut off one side (seed-chosen);
- ``pad-{black,white,blur}-{letterbox,pillarbox}``: bars 20% of the picture's height (above
  and below) or width (left and right) added on each side; blurred bars are the picture
  itself stretched over the canvas and blurred (Gaussian, 1/20 of the canvas's short side);
- ``caption``: two lines of white text with a black outline over the bottom of the picture
  (type 1/12 of its height); ``watermark``: a semi-transparent logo (1/4 of the short side)
  in a seed-chosen corner;
- ``gamma-0.6``, ``gamma-1.6``; ``blur``: Gaussian, radius 0.5% of the short side;
  ``noise``: Gaussian, sigma 12 per channel; ``grayscale``;
- ``mirror`` (left-right), ``rotate-90``/``-180``/``-270``; ``rotate-4``: 4 degrees about the
  centre, same size, black corners;
- ``screenshot``: the picture scaled into a window (title bar, toolbar, side panel, status
  bar) on a desktop of 1.2-1.5x its size, saved as PNG;
- ``crop-resize-jpeg``: 5% cut off each side, resized to 50%, JPEG quality 50;
  ``pad-caption``: black letterbox bars 20% high with a caption written in the lower bar.

Every transform returns RGB pixels (the JPEG ones decoded from the encoded bytes).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .alter import decode, encode_jpeg

Transform = Callable[[Image.Image, np.random.Generator], Image.Image]


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    return decode(encode_jpeg(img, quality))


def _resize(img: Image.Image, factor: float) -> Image.Image:
    w, h = img.size
    return img.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.LANCZOS)


def _crop_all(img: Image.Image, share: float) -> Image.Image:
    w, h = img.size
    dx, dy = round(w * share), round(h * share)
    return img.crop((dx, dy, w - dx, h - dy))


def _crop_one(img: Image.Image, share: float, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    side = int(rng.integers(0, 4))
    box = [0, 0, w, h]
    if side == 0:
        box[0] = round(w * share)
    elif side == 1:
        box[2] = w - round(w * share)
    elif side == 2:
        box[1] = round(h * share)
    else:
        box[3] = h - round(h * share)
    return img.crop(tuple(box))


def _pad(img: Image.Image, share: float, fill: str, vertical: bool) -> Image.Image:
    """Bars of ``share`` of the picture's height (letterbox, ``vertical``) or width."""
    w, h = img.size
    bw, bh = (0, round(h * share)) if vertical else (round(w * share), 0)
    cw, ch = w + 2 * bw, h + 2 * bh
    if fill == "blur":
        canvas = img.resize((cw, ch), Image.BILINEAR)
        canvas = canvas.filter(ImageFilter.GaussianBlur(max(2, min(cw, ch) // 20)))
    else:
        canvas = Image.new("RGB", (cw, ch), (0, 0, 0) if fill == "black" else (255, 255, 255))
    canvas.paste(img, (bw, bh))
    return canvas


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=max(8, size))
    except (TypeError, OSError):  # pragma: no cover - Pillow without FreeType
        return ImageFont.load_default()


_WORDS = ("when", "the", "weekend", "finally", "arrives", "and", "nobody", "calls", "me")


def _caption_text(rng: np.random.Generator) -> tuple[str, str]:
    words = [str(w) for w in rng.permutation(_WORDS)]
    return " ".join(words[:4]).upper(), " ".join(words[4:8]).upper()


def _write(draw: ImageDraw.ImageDraw, w: int, y: int, text: str, size: int) -> None:
    font = _font(size)
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    x = max(0, (w - (right - left)) // 2)
    draw.text(
        (x, y),
        text,
        font=font,
        fill=(255, 255, 255),
        stroke_width=max(1, size // 12),
        stroke_fill=(0, 0, 0),
    )


def _caption(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    out = img.copy()
    w, h = out.size
    size = max(10, h // 12)
    draw = ImageDraw.Draw(out)
    one, two = _caption_text(rng)
    _write(draw, w, h - 2 * size - size // 2 - size // 4, one, size)
    _write(draw, w, h - size - size // 2, two, size)
    return out


def _pad_caption(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    out = _pad(img, 0.2, "black", vertical=True)
    w, h = img.size
    bar = round(h * 0.2)
    size = max(10, bar // 4)
    draw = ImageDraw.Draw(out)
    one, two = _caption_text(rng)
    _write(draw, w, bar + h + bar // 2 - size - size // 4, one, size)
    _write(draw, w, bar + h + bar // 2 + size // 8, two, size)
    return out


def _watermark(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    side = max(16, min(w, h) // 4)
    logo = Image.new("RGBA", (side, side // 2), (0, 0, 0, 0))
    d = ImageDraw.Draw(logo)
    d.rounded_rectangle((0, 0, side - 1, side // 2 - 1), radius=side // 10, fill=(20, 90, 200, 150))
    d.ellipse(
        (side // 16, side // 16, side // 2 - side // 16, side // 2 - side // 16),
        fill=(255, 255, 255, 170),
    )
    _write(ImageDraw.Draw(logo), side + side // 4, side // 6, "LOGO", side // 6)
    pad = max(4, min(w, h) // 40)
    corner = int(rng.integers(0, 4))
    x = pad if corner in (0, 2) else w - pad - side
    y = pad if corner in (0, 1) else h - pad - side // 2
    out = img.convert("RGBA")
    out.alpha_composite(logo, (x, y))
    return out.convert("RGB")


def _gamma(img: Image.Image, gamma: float) -> Image.Image:
    lut = [round(255 * (i / 255) ** gamma) for i in range(256)]
    return img.point(lut * 3)


def _blur(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(max(1.0, min(img.size) * 0.005)))


def _noise(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    a = np.asarray(img, dtype=np.int16)
    noisy = a + np.rint(rng.normal(0, 12, a.shape)).astype(np.int16)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def _screenshot(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The picture shown in an image viewer's window on a desktop, captured as PNG."""
    w, h = img.size
    scale = float(rng.uniform(1.2, 1.5))
    cw, ch = round(w * scale), round(h * scale)
    unit = max(8, min(cw, ch) // 40)  # chrome scale: a title bar is about 2 units high
    desktop = tuple(int(v) for v in rng.integers(30, 120, 3))
    shot = Image.new("RGB", (cw, ch), desktop)
    d = ImageDraw.Draw(shot)
    # the window, leaving some desktop around it and a task bar at the bottom
    wx0, wy0 = int(rng.integers(0, unit * 2)), int(rng.integers(0, unit * 2))
    wx1, wy1 = cw - int(rng.integers(0, unit * 2)), ch - 2 * unit
    d.rectangle((0, ch - 2 * unit, cw, ch), fill=(32, 32, 36))
    for i in range(6):
        x = unit + i * 3 * unit
        d.rounded_rectangle(
            (x, ch - 1.7 * unit, x + 2 * unit, ch - 0.3 * unit),
            unit // 3,
            fill=(90 + 20 * i, 120, 160),
        )
    d.rectangle((wx0, wy0, wx1, wy1), fill=(236, 236, 236), outline=(120, 120, 120))
    d.rectangle((wx0, wy0, wx1, wy0 + 2 * unit), fill=(52, 101, 164))
    _write(d, wx1 + wx0, wy0 + unit // 3, "photo.jpg - Image Viewer", unit)
    for i in range(3):  # window buttons
        x = wx1 - (i + 1) * 2 * unit
        d.ellipse(
            (x + unit // 2, wy0 + unit // 2, x + 3 * unit // 2, wy0 + 3 * unit // 2),
            fill=(230, 90, 80) if i == 0 else (240, 240, 240),
        )
    ty = wy0 + 2 * unit
    d.rectangle((wx0, ty, wx1, ty + 2 * unit), fill=(246, 246, 246), outline=(200, 200, 200))
    for i in range(5):  # toolbar icons
        x = wx0 + unit + i * 3 * unit
        d.rectangle(
            (x, ty + unit // 2, x + unit + unit // 2, ty + 3 * unit // 2), fill=(110, 110, 120)
        )
    side = wx0 + int(rng.integers(0, 2)) * 6 * unit  # an optional side panel of thumbnails
    if side > wx0:
        for i in range(8):
            y = ty + 3 * unit + i * 3 * unit
            d.rectangle((wx0 + unit, y, side - unit, y + 2 * unit), fill=(200, 200, 210))
    status = wy1 - unit - unit // 2
    d.rectangle((wx0, status, wx1, wy1), fill=(246, 246, 246))
    d.text(
        (wx0 + unit, status + unit // 4), f"{w} x {h}   100%", fill=(60, 60, 60), font=_font(unit)
    )
    # the picture, scaled to fit the viewing area (never up), centred
    ax0, ay0, ax1, ay1 = side + unit // 2, ty + 2 * unit + unit // 2, wx1 - unit // 2, status
    fit = min((ax1 - ax0) / w, (ay1 - ay0) / h, 1.0)
    shown = img.resize((max(1, round(w * fit)), max(1, round(h * fit))), Image.LANCZOS)
    px = ax0 + (ax1 - ax0 - shown.width) // 2
    py = ay0 + (ay1 - ay0 - shown.height) // 2
    shot.paste(shown, (px, py))
    return shot


def _rotate(img: Image.Image, degrees: float) -> Image.Image:
    return img.rotate(degrees, resample=Image.BICUBIC, expand=False, fillcolor=(0, 0, 0))


def _grayscale(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return img.convert("L").convert("RGB")


#: ``(name, group, transform)`` in the order the benchmark reports them.
TRANSFORMS: tuple[tuple[str, str, Transform], ...] = (
    ("jpeg-q30", "encoding", lambda im, r: _jpeg(im, 30)),
    ("resize-25", "encoding", lambda im, r: _resize(im, 0.25)),
    ("crop5", "crop 5%", lambda im, r: _crop_all(im, 0.05)),
    ("crop5-one", "crop 5%", lambda im, r: _crop_one(im, 0.05, r)),
    ("crop10", "crop 10%", lambda im, r: _crop_all(im, 0.10)),
    ("crop10-one", "crop 10%", lambda im, r: _crop_one(im, 0.10, r)),
    ("pad-black-letterbox", "pad 20%", lambda im, r: _pad(im, 0.2, "black", True)),
    ("pad-black-pillarbox", "pad 20%", lambda im, r: _pad(im, 0.2, "black", False)),
    ("pad-white-letterbox", "pad 20%", lambda im, r: _pad(im, 0.2, "white", True)),
    ("pad-white-pillarbox", "pad 20%", lambda im, r: _pad(im, 0.2, "white", False)),
    ("pad-blur-letterbox", "pad 20%", lambda im, r: _pad(im, 0.2, "blur", True)),
    ("pad-blur-pillarbox", "pad 20%", lambda im, r: _pad(im, 0.2, "blur", False)),
    ("caption", "overlay", _caption),
    ("watermark", "overlay", _watermark),
    ("gamma-0.6", "colour", lambda im, r: _gamma(im, 0.6)),
    ("gamma-1.6", "colour", lambda im, r: _gamma(im, 1.6)),
    ("grayscale", "colour", _grayscale),
    ("blur", "filter", _blur),
    ("noise", "filter", _noise),
    ("mirror", "mirror/rotate", lambda im, r: im.transpose(Image.FLIP_LEFT_RIGHT)),
    ("rotate-90", "mirror/rotate", lambda im, r: im.transpose(Image.ROTATE_90)),
    ("rotate-180", "mirror/rotate", lambda im, r: im.transpose(Image.ROTATE_180)),
    ("rotate-270", "mirror/rotate", lambda im, r: im.transpose(Image.ROTATE_270)),
    ("rotate-4", "rotate 4°", lambda im, r: _rotate(im, 4.0)),
    ("screenshot", "screenshot", _screenshot),
    ("crop-resize-jpeg", "combined", lambda im, r: _jpeg(_resize(_crop_all(im, 0.05), 0.5), 50)),
    ("pad-caption", "combined", _pad_caption),
)

TRANSFORM_NAMES = tuple(name for name, _, _ in TRANSFORMS)
_BY_NAME = {name: fn for name, _, fn in TRANSFORMS}


def transform(img: Image.Image, name: str, seed: int) -> Image.Image:
    """The copy of ``img`` altered by the transform ``name``; ``seed`` fixes its choices."""
    try:
        fn = _BY_NAME[name]
    except KeyError:
        known = ", ".join(TRANSFORM_NAMES)
        raise ValueError(f"unknown transform {name!r}; known: {known}") from None
    return fn(img.convert("RGB"), np.random.default_rng([seed, TRANSFORM_NAMES.index(name)]))
