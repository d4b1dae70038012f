"""vPDQ: PDQ hashes of a video's sampled frames, as Meta's vpdq computes them.

vpdq converts each sampled frame to RGB at full size and hashes it with PDQ's C++
(``fillFloatLumaFromRGB`` then ``pdqHash256FromFloatLuma``): luma ``0.299 R + 0.587 G +
0.114 B``, two passes of a box filter along rows and columns ("Jarosz" filter, window
``ceil(side / 128)``), 64 x 64 samples at ``int((i + 0.5) * side / 64)``, the 16 x 16 lowest
DCT coefficients (DC excluded) thresholded at their median, and a quality from the 64 x 64
samples' gradients.

:func:`pdq_of_luma` (in :mod:`.pdq_plane`) computes the same thing in one pass over a frame's
luma, 20-50 times faster than ``pdqhash.compute`` and equal to it bit for bit but where float
summation order moves a coefficient across the median (``tests/test_video.py`` checks it).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass

from ..media.video import (
    DEFAULT_LIMITS,
    SampledFrame,
    VideoDecodeError,
    VideoLimits,
    VideoSampler,
)
from ..signals.types import VpdqFrame
from .pdq_plane import pdq_of_luma, pdq_of_rgb

__all__ = [
    "VideoHashes",
    "hash_animation",
    "hash_frames",
    "hash_video",
    "pdq_of_luma",
    "pdq_of_rgb",
]


@dataclass(slots=True)
class VideoHashes:
    """The vPDQ of one video or animation."""

    frames: list[VpdqFrame]
    #: Seconds, as the file declares or as far as frames were read; None if unknown.
    duration: float | None
    #: Why the frames cover only part of the content (limits, damage); None if complete.
    incomplete: str | None


def _hasher(reference: bool):
    if reference:
        from .content import pdq_of_array

        return pdq_of_array
    return pdq_of_rgb


def hash_frames(frames: Iterable[SampledFrame], *, reference: bool = False) -> list[VpdqFrame]:
    """vPDQ frames of sampled frames. ``reference``: hash with ``pdqhash`` (Meta's C++,
    20-50 times slower) instead of :func:`pdq_of_rgb`."""
    pdq = _hasher(reference)
    out = []
    for f in frames:
        h, q = pdq(f.image)
        out.append(VpdqFrame(f.number, q, h, f.timestamp))
    return out


# --------------------------------------------------------------------------- videos


def hash_video(
    source: str | os.PathLike | bytes,
    limits: VideoLimits = DEFAULT_LIMITS,
    *,
    naive: bool = False,
) -> VideoHashes:
    """vPDQ of a video file (path) or in-memory video.

    ``naive``: decode every frame and hash full RGB frames with ``pdqhash``, as vpdq does
    (for comparisons; same hashes, slower). Raises
    :class:`~hashwatch.media.video.VideoDecodeError` when no frame can be read; a video read
    only in part (limits, damage) gives the frames read and the reason in ``incomplete``.
    """
    pdq = _hasher(naive)
    frames: list[VpdqFrame] = []
    with VideoSampler(source, limits, naive=naive) as sampler:
        try:
            for f in sampler:
                h, q = pdq(f.image)
                frames.append(VpdqFrame(f.number, q, h, f.timestamp))
        except VideoDecodeError:
            raise
        except Exception as e:  # a decoder or converter failing mid-way: keep what was read
            reason = f"decoding failed ({type(e).__name__}: {e})"
            if not frames:
                raise VideoDecodeError(f"cannot decode video: {reason}") from e
            sampler.incomplete = reason
        duration = sampler.info.duration
        if duration is None and frames:
            duration = frames[-1].timestamp
        return VideoHashes(frames, duration, sampler.incomplete)


def hash_animation(
    data: bytes, mime: str, limits: VideoLimits = DEFAULT_LIMITS
) -> VideoHashes | None:
    """vPDQ of an animated GIF, WebP or PNG (APNG); None for a still image or other types.

    Never raises: a broken animation gives the frames read so far (maybe none) and why.
    """
    from ..media.animated import AnimationError, sample_animation

    try:
        anim = sample_animation(io.BytesIO(data), mime, limits)
        if anim is None:
            return None
        return VideoHashes(hash_frames(anim.frames), anim.duration, anim.incomplete)
    except AnimationError as e:
        return VideoHashes([], None, str(e))
    except Exception as e:  # a decoder bug on hostile input must not end the scan
        return VideoHashes([], None, f"cannot decode the animation ({type(e).__name__}: {e})")
