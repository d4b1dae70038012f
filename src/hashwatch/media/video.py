"""Sampling video frames for vPDQ with PyAV (work in progress)."""

from __future__ import annotations

from dataclasses import dataclass

from .decode import DecodeError

#: MIME types (from :func:`sniff`) decoded as video.
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/x-matroska", "video/x-msvideo"})


@dataclass(frozen=True, slots=True)
class VideoLimits:
    seconds_per_hash: float = 1.0
    max_frames: int = 36_000
    max_seconds: float = 45.0
    max_pixels: int = 8192 * 8192


class VideoDecodeError(DecodeError):
    """The content could not be decoded as a video; the message says why."""
