"""Frames of animated GIF, WebP and PNG (APNG) images, sampled like a video (Pillow).

A frame is shown from the sum of the durations before it; the frame on screen at
``0, s, 2s, ...`` seconds (``s`` = ``VideoLimits.seconds_per_hash``; 0 takes every frame) is
sampled, once however many of those instants it covers. Durations of 10 ms or less count as
100 ms, as browsers show them. Frames are composited as Pillow shows them (disposal and
blending applied) and converted to RGB. A still image gives None: it keeps its plain PDQ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
from PIL import Image

from .decode import DecodeError
from .video import DEFAULT_LIMITS, MIN_SIDE, SampledFrame, VideoLimits

#: MIME types that may hold an animation.
ANIMATED_TYPES = frozenset({"image/gif", "image/webp", "image/png"})
_FORMATS = {"image/gif": "GIF", "image/webp": "WEBP", "image/png": "PNG"}
#: Most frames walked through in one animation (sampled or not).
MAX_ANIMATION_FRAMES = 100_000


class AnimationError(DecodeError):
    """An animated image whose first frame cannot be read; the message says why."""


@dataclass(slots=True)
class Animation:
    frames: list[SampledFrame] = field(default_factory=list)
    #: Seconds (sum of the frame durations walked through).
    duration: float = 0.0
    #: Why only the first frames were sampled (limits, damage); None if all were.
    incomplete: str | None = None


def _looks_animated(head: bytes, mime: str) -> bool:
    """Cheap test on the bytes, so still images cost nothing more."""
    if mime == "image/png":
        idat = head.find(b"IDAT")
        actl = head.find(b"acTL")
        return actl != -1 and (idat == -1 or actl < idat)
    if mime == "image/webp":
        # VP8X header with the animation flag (bit 1 of the flags byte)
        return len(head) > 20 and head[12:16] == b"VP8X" and bool(head[20] & 0x02)
    return mime == "image/gif"


def sample_animation(
    fp: BinaryIO, mime: str, limits: VideoLimits = DEFAULT_LIMITS
) -> Animation | None:
    """Sampled frames of an animation, or None for a still image or a type not animated.

    Raises :class:`AnimationError` when an animated image's first frame cannot be read.
    """
    if mime not in ANIMATED_TYPES:
        return None
    head = fp.read(1 << 16)
    fp.seek(0)
    if not _looks_animated(head, mime):
        return None
    try:
        im = Image.open(fp, formats=[_FORMATS[mime]])
    except Exception:  # Pillow raises many types for broken input
        return None  # not readable as an image at all: the still-image path says why
    with im:
        try:
            animated = bool(getattr(im, "is_animated", False))  # GIF: looks for a 2nd frame
        except Exception:
            animated = False
        if not animated:
            return None
        w, h = im.size
        if w * h > limits.max_pixels:
            raise AnimationError(
                f"animation of {w}x{h} pixels is over the limit of {limits.max_pixels} pixels"
            )
        if min(w, h) < MIN_SIDE:
            return None  # too small for PDQ: no vPDQ (vpdq refuses such frames too)
        return _walk(im, limits)


def _walk(im: Image.Image, limits: VideoLimits) -> Animation:
    out = Animation()
    started = time.monotonic()
    step = max(0.0, float(limits.seconds_per_hash))
    next_t = 0.0
    t = 0.0
    n = 0
    try:
        while True:
            if n:
                im.seek(n)  # raises EOFError after the last frame
            im.load()  # some formats (WebP) set the frame's duration when it is loaded
            duration = _duration(im)
            if t + duration > next_t or step == 0.0:  # on screen at the next instant
                out.frames.append(SampledFrame(n, round(t, 3), _rgb(im)))
                if len(out.frames) >= limits.max_frames:
                    out.incomplete = f"stopped after {len(out.frames)} sampled frames (the limit)"
                    t += duration
                    break
                if step:
                    next_t = (int((t + duration) / step - 1e-9) + 1) * step
            t += duration
            n += 1
            if n >= MAX_ANIMATION_FRAMES:
                out.incomplete = f"stopped after {n} frames (the limit)"
                break
            if time.monotonic() - started > limits.max_seconds:
                out.incomplete = f"time budget of {limits.max_seconds:g} s spent at frame {n}"
                break
    except EOFError:
        pass
    except Exception as e:  # Pillow raises many types for broken input
        if not out.frames:
            raise AnimationError(f"cannot decode the animation: {e}") from e
        out.incomplete = f"animation broken at frame {n}: {e}"
    out.duration = round(t, 3)
    return out


def _duration(im: Image.Image) -> float:
    ms = im.info.get("duration", 0) or 0
    try:
        ms = float(ms)
    except (TypeError, ValueError):
        ms = 0.0
    return (ms if ms > 10 else 100.0) / 1000.0


def _rgb(im: Image.Image) -> np.ndarray:
    # as the still-image decoder does (and as vpdq's RGB conversion does): alpha is dropped
    return np.asarray(im.convert("RGB"))
