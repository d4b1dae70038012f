"""The altered copies a perceptual matcher is expected to catch, and fixed-setting encoders."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, features

#: Alteration names, in the order :func:`alterations` returns them:
#:
#: - ``resized-50``, ``resized-25``: Lanczos down to 50% / 25% of each side;
#: - ``jpeg-q50``: re-encoded as JPEG quality 50 (returned decoded);
#: - ``crop-2``: 2% cut off each of the four sides;
#: - ``recolor``: gamma 0.8 (mid-tones brighter) and saturation x1.2;
#: - ``grayscale``: luma only (returned as RGB; the kit writes a one-channel JPEG);
#: - ``brightness+15``: +15 added to every channel value (of 255), clipped;
#: - ``watermark``: a solid logo (1/5 x 1/10 of the short side) in a seed-chosen corner.
ALTERATIONS = (
    "resized-50",
    "resized-25",
    "jpeg-q50",
    "crop-2",
    "recolor",
    "grayscale",
    "brightness+15",
    "watermark",
)


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    """Encode with fixed settings and no metadata (Pillow adds no timestamps to these)."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def encode_jpeg(img: Image.Image, quality: int) -> bytes:
    """Baseline JPEG, 4:2:0, no EXIF/ICC/comment: the same bytes for the same pixels."""
    return encode(img.convert("RGB"), "JPEG", quality=quality, subsampling=2, optimize=False)


def decode(data: bytes) -> Image.Image:
    """Encoded bytes to an RGB image (fully loaded)."""
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


def _resize(img: Image.Image, percent: int) -> Image.Image:
    w, h = img.size
    size = (max(1, w * percent // 100), max(1, h * percent // 100))
    return img.resize(size, Image.Resampling.LANCZOS)


def _crop(img: Image.Image, percent: int) -> Image.Image:
    w, h = img.size
    dx, dy = w * percent // 100, h * percent // 100
    return img.crop((dx, dy, w - dx, h - dy))


def _recolor(img: Image.Image) -> Image.Image:
    """Gamma 0.8 (brightens mid-tones) and a 20% saturation boost."""
    lut = [round(255 * (i / 255) ** 0.8) for i in range(256)]
    return ImageEnhance.Color(img.point(lut * 3)).enhance(1.2)


def _brightness(img: Image.Image, delta: int) -> Image.Image:
    """Add ``delta`` to every channel (clipped at 255)."""
    lut = [min(255, i + delta) for i in range(256)]
    return img.point(lut * 3)


def _watermark(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A small solid 'logo' (plate with a disc and a bar) in a random corner."""
    out = img.copy()
    w, h = out.size
    side = min(w, h)
    bw, bh = max(10, side // 5), max(5, side // 10)
    pad = max(2, side // 40)
    corner = int(rng.integers(0, 4))
    x0 = pad if corner in (0, 2) else w - pad - bw
    y0 = pad if corner in (0, 1) else h - pad - bh
    draw = ImageDraw.Draw(out)
    draw.rectangle((x0, y0, x0 + bw, y0 + bh), fill=(245, 245, 240))
    m = bh // 5
    draw.ellipse((x0 + m, y0 + m, x0 + bh - m, y0 + bh - m), fill=(200, 30, 40))
    draw.rectangle((x0 + bh, y0 + 2 * m, x0 + bw - m, y0 + bh - 2 * m), fill=(40, 40, 60))
    return out


def alterations(img: Image.Image, seed: int) -> list[tuple[str, Image.Image]]:
    """The altered copies of ``img``, named as in :data:`ALTERATIONS`, all RGB.

    ``jpeg-q50`` is returned decoded (the pixels of the q=50 file);
    ``encode_jpeg(img, 50)`` gives the exact bytes :func:`hashwatch.testkit.write_kit` writes.
    ``seed`` only picks the watermark's corner.
    """
    rgb = img.convert("RGB")
    rng = np.random.default_rng(seed)
    return [
        ("resized-50", _resize(rgb, 50)),
        ("resized-25", _resize(rgb, 25)),
        ("jpeg-q50", decode(encode_jpeg(rgb, 50))),
        ("crop-2", _crop(rgb, 2)),
        ("recolor", _recolor(rgb)),
        ("grayscale", rgb.convert("L").convert("RGB")),
        ("brightness+15", _brightness(rgb, 15)),
        ("watermark", _watermark(rgb, rng)),
    ]


def _gif(img: Image.Image, adaptive: bool) -> bytes:
    """GIF with a 256-colour median-cut palette, or the fixed web palette with dithering."""
    pal = img.quantize(256, method=Image.Quantize.MEDIANCUT) if adaptive else img.convert("P")
    return encode(pal, "GIF")


def _heic(img: Image.Image) -> bytes | None:
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - optional at run time
        return None
    buf = io.BytesIO()
    pillow_heif.from_pillow(img).save(buf, format="HEIF", quality=90, save_nclx_profile=False)
    return buf.getvalue()


def _avif(img: Image.Image) -> bytes | None:
    if not features.check("avif"):  # pragma: no cover - depends on the Pillow build
        return None
    return encode(img, "AVIF", quality=90, speed=6, max_threads=1)


Encoder = Callable[[Image.Image], bytes | None]

#: Container variants per slot (the kit writes two originals): ``(label, extension, encoder)``.
#: Slot 0 uses the common settings, slot 1 the less common ones (alpha, palette, lossless, deflate).
FORMATS: tuple[tuple[tuple[str, str, Encoder], ...], ...] = (
    (
        ("png", "png", lambda im: encode(im, "PNG", compress_level=6)),
        ("webp-lossy", "webp", lambda im: encode(im, "WEBP", quality=90, method=4)),
        ("bmp-24bit", "bmp", lambda im: encode(im, "BMP")),
        ("tiff-raw", "tif", lambda im: encode(im, "TIFF")),
        ("gif-adaptive", "gif", lambda im: _gif(im, adaptive=True)),
        ("heic", "heic", _heic),
        ("avif", "avif", _avif),
    ),
    (
        ("png-rgba", "png", lambda im: encode(im.convert("RGBA"), "PNG", compress_level=6)),
        ("webp-lossless", "webp", lambda im: encode(im, "WEBP", lossless=True, method=2)),
        ("bmp-palette", "bmp", lambda im: encode(im.quantize(256), "BMP")),
        ("tiff-deflate", "tiff", lambda im: encode(im, "TIFF", compression="tiff_adobe_deflate")),
        ("gif-web-dithered", "gif", lambda im: _gif(im, adaptive=False)),
        ("heic", "heif", _heic),
        ("avif", "avif", _avif),
    ),
)


def format_variants(img: Image.Image, slot: int) -> list[tuple[str, str, bytes]]:
    """``img`` re-saved in every still-image container the engine reads: ``(label, ext, bytes)``.

    Lossless variants keep the pixels (same PDQ hash); WebP-lossy, GIF (256 colours), HEIC
    and AVIF are lossy. HEIC needs ``pillow_heif``, AVIF a Pillow built with libavif; either
    is skipped when missing.
    """
    out = []
    for label, ext, enc in FORMATS[slot % len(FORMATS)]:
        data = enc(img.convert("RGB"))
        if data is not None:
            out.append((label, ext, data))
    return out
