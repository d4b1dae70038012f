"""The built-in signal types: md5, sha1, sha256 (exact), pdq, pdq_center80 and vpdq
(perceptual)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from .base import InvalidSignal, SignalType, register
from .pdq import pdq_distance


class _MD5(SignalType):
    name = "md5"
    aliases = ("photo_md5", "video_md5", "hash_md5")
    hex_len = 32


class _SHA1(SignalType):
    name = "sha1"
    aliases = ("hash_sha1",)
    hex_len = 40


class _SHA256(SignalType):
    name = "sha256"
    aliases = ("hash_sha256",)
    hex_len = 64


class _PDQ(SignalType):
    name = "pdq"
    aliases = ("photo_pdq", "hash_pdq", "pdq_ocr")
    exact = False
    hex_len = 64

    def distance(self, a: str, b: str) -> int:
        return pdq_distance(a, b)


class _PDQCenter(_PDQ):
    """PDQ of a picture's central 80% (10% cut from every side), made by ``hashwatch lists
    build`` beside each picture's PDQ so that cropped copies match
    (:mod:`hashwatch.hashing.views`). A derived hash: never what a list imported."""

    name = "pdq_center80"
    aliases = ()


@dataclass(frozen=True, slots=True)
class VpdqFrame:
    """One sampled frame of a video's vPDQ signal."""

    frame: int
    quality: int
    pdq: str
    timestamp: float


def parse_vpdq(text: str) -> list[VpdqFrame]:
    """Parse a vPDQ signal.

    Accepts Meta's vpdq text form (``frame,quality,pdq_hex,timestamp`` per frame, frames
    separated by newlines or ``;``) and the JSON list form (objects with ``pdq_hex`` or
    ``hash``, ``quality``, ``frame_number``, ``timestamp``).
    """
    s = text.strip()
    if not s:
        raise InvalidSignal("vpdq is empty")
    frames: list[VpdqFrame] = []
    if s.startswith("["):
        try:
            items = json.loads(s)
        except json.JSONDecodeError as e:
            raise InvalidSignal(f"vpdq JSON is malformed: {e.msg} at character {e.pos}") from e
        if not isinstance(items, list):
            raise InvalidSignal("vpdq JSON must be a list of frames")
        for i, it in enumerate(items):
            if not isinstance(it, dict):
                raise InvalidSignal(f"vpdq frame {i} is not an object")
            h = it.get("pdq_hex", it.get("hash"))
            if not isinstance(h, str):
                raise InvalidSignal(f"vpdq frame {i} has no pdq_hex")
            frames.append(
                _frame(
                    i,
                    it.get("frame_number", i),
                    it.get("quality", 100),
                    h,
                    it.get("timestamp", 0.0),
                )
            )
    else:
        parts = [p for p in s.replace(";", "\n").splitlines() if p.strip()]
        for i, part in enumerate(parts):
            cols = [c.strip() for c in part.split(",")]
            if len(cols) != 4:
                raise InvalidSignal(
                    f"vpdq frame {i} must be frame,quality,pdq_hex,timestamp "
                    f"(got {len(cols)} fields)"
                )
            frames.append(_frame(i, cols[0], cols[1], cols[2], cols[3]))
    return frames


def _frame(i: int, frame: object, quality: object, h: str, ts: object) -> VpdqFrame:
    try:
        fr, q, t = int(frame), int(quality), float(ts)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise InvalidSignal(f"vpdq frame {i}: frame, quality and timestamp must be numbers") from e
    if not 0 <= q <= 100:
        raise InvalidSignal(f"vpdq frame {i}: quality {q} is outside 0..100")
    if fr < 0 or not math.isfinite(t) or t < 0:
        raise InvalidSignal(f"vpdq frame {i}: negative or non-finite frame number or timestamp")
    try:
        pdq = PDQ.parse(h)
    except InvalidSignal as e:
        raise InvalidSignal(f"vpdq frame {i}: {e}") from e
    return VpdqFrame(fr, q, pdq, t)


def format_vpdq(frames: list[VpdqFrame]) -> str:
    return ";".join(f"{f.frame},{f.quality},{f.pdq},{f.timestamp:.3f}" for f in frames)


class _VPDQ(SignalType):
    name = "vpdq"
    aliases = ("video_vpdq",)
    exact = False

    def parse(self, text: str) -> str:
        return format_vpdq(parse_vpdq(text))


MD5 = register(_MD5())
SHA1 = register(_SHA1())
SHA256 = register(_SHA256())
PDQ = register(_PDQ())
PDQ_CENTER = register(_PDQCenter())
VPDQ = register(_VPDQ())
