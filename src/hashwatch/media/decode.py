"""Decoding images for PDQ, fast and within limits.

PDQ reduces every picture to 64x64 luminance before its DCT, so decoding a 24-megapixel JPEG
in full is wasted work. JPEG decoders can scale by 1/2, 1/4 or 1/8 inside the inverse DCT
(Pillow's ``draft``); we ask for the smallest scale that keeps both sides at least
``DecodeLimits.min_side`` pixels, a size at which the hash stays faithful to the full decode
(measured in ``bench/bench_hash.py --fidelity``, figures in the README). Other large images
are box-reduced by a whole factor to the same bound before hashing: pdqhash's own work (a
float64 luminance copy and two box-filter passes over every pixel) costs twice the decode
of a 16-megapixel WebP otherwise.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile

# A truncated file is an error, not a half-grey picture hashed as if it were whole.
ImageFile.LOAD_TRUNCATED_IMAGES = False

_heif_registered = False


class DecodeError(Exception):
    """The content could not be decoded as an image; the message says why."""


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    #: Smallest side, in pixels, a JPEG is decoded at (before PDQ's own 64x64 reduction).
    min_side: int = 768
    #: Smallest side other large images are box-reduced to (whole factors only). Box
    #: reduction tracks PDQ less closely than DCT scaling, so it stops at a larger size.
    reduce_min_side: int = 1536
    #: Pillow's decompression-bomb guard: images declaring more pixels than this are refused.
    max_pixels: int = 178_956_970


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError as e:  # pragma: no cover - dependency is required
            raise DecodeError("HEIF support needs the pillow-heif package") from e
        _heif_registered = True


def decode_for_pdq(data: bytes, mime: str, limits: DecodeLimits = DecodeLimits()) -> np.ndarray:
    """Decode image bytes into an RGB ``uint8`` array of shape (H, W, 3), suitably reduced.

    Raises :class:`DecodeError` for corrupt, truncated, unsupported or over-limit images.
    """
    if mime in ("image/heif", "image/avif"):
        _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = limits.max_pixels // 2
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                if w < 1 or h < 1:
                    raise DecodeError(f"image has no pixels ({w}x{h})")
                if w * h > limits.max_pixels:
                    raise DecodeError(
                        f"image of {w}x{h} pixels is over the decompression-bomb limit "
                        f"of {limits.max_pixels} pixels"
                    )
                if im.format == "JPEG" and min(w, h) > 2 * limits.min_side:
                    im.draft("RGB", (limits.min_side, limits.min_side))
                rgb = im.convert("RGB")
                # other formats cannot decode at a reduced scale: reduce by whole-pixel box
                # averaging instead (JPEGs already reduced stay under this bound)
                k = min(rgb.size) // limits.reduce_min_side
                if k >= 2:
                    rgb = rgb.reduce(k)
                arr = np.asarray(rgb)
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DecodeError(f"decompression-bomb guard: {e}") from e
    except MemoryError as e:
        raise DecodeError("image too large to decode in memory") from e
    except Exception as e:  # Pillow raises many types for broken input
        msg = str(e) or type(e).__name__
        raise DecodeError(f"cannot decode {mime}: {msg}") from e
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DecodeError(f"decoded image has unexpected shape {arr.shape}")
    return np.ascontiguousarray(arr)
