"""Sampling video frames for vPDQ with PyAV (FFmpeg's libraries from the ``av`` wheel).

Which frames: Meta's vpdq hashes frame ``n`` (``n`` counting decoded frames from 0) when
``n % int(seconds_per_hash * fps) == 0``, ``fps`` being the stream's average frame rate, and
stamps it ``n / fps``. The *naive* path does exactly that: it decodes every frame and
converts each sampled one to full-size RGB, as vpdq does.

The *fast* path (the default) picks the same frames in a constant-frame-rate video but
decodes far fewer. A frame's number comes from its presentation time (``round(t * fps)``,
which is the decode count when the rate is constant), and the first frame at or after each
sampling target is taken. Before a packet goes to the decoder we know its presentation
time, so:

- a packet that shows before the next target is sent with ``skip_frame=NONREF``: if no
  other frame refers to it the decoder drops it, and nothing else changes;
- such packets are held back, and when a keyframe that shows at or before the target
  arrives first and decoding can restart there cleanly (an IDR picture in H.264/HEVC, any
  keyframe of VP8/VP9/AV1/MJPEG or of a stream without reordering), the held packets are
  dropped unsent. Frames shown before that keyframe are never sampled, so nothing hashed
  depends on what was dropped. (At an open-GOP I picture the H.264 decoder loses frames
  and order when what precedes it is missing, so those are not restart points; and should
  the decoder's output ever go out of order, dropping stops for the rest of the video.)

Every frame that is hashed is therefore decoded from the same packets as in the naive path,
bit for bit (``bench/bench_video.py`` measures it: all sampled hashes equal), and converted
to full-size RGB as vpdq does. Shortcuts measured and left out because they move hashes:
downscaling before PDQ (PDQ's own box filter aliases differently at other sizes: 10-60 bits
on the reference videos at 512 or 256 px), hashing the Y plane instead of RGB luma (up to 8
bits on saturated colours, where RGB clips), and skipping H.264's deblocking filter (drift
of up to 26 bits within a GOP). Frames are hashed by
:func:`hashwatch.hashing.vpdq.pdq_of_rgb`, which gives pdqhash's result 20-50 times faster.

Limits: a wall-clock budget, a cap on sampled frames and on frame size; broken input gives
:class:`VideoDecodeError`, or a partial result with the reason when some frames were read.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .decode import DecodeError

#: MIME types (from :func:`hashwatch.media.sniff`) decoded as video.
VIDEO_TYPES = frozenset(
    {
        "video/mp4",
        "video/quicktime",
        "video/x-matroska",
        "video/x-msvideo",
        "video/x-flv",
        "video/x-ms-asf",
        "video/mpeg",
        "video/mp2t",
    }
)

#: Smallest frame side PDQ hashes (vpdq refuses smaller frames too).
MIN_SIDE = 5


class VideoDecodeError(DecodeError):
    """The content could not be decoded as a video; the message says why."""


@dataclass(frozen=True, slots=True)
class VideoLimits:
    #: Seconds between sampled frames (vpdq's ``seconds_per_hash``); 0 samples every frame.
    seconds_per_hash: float = 1.0
    #: Most frames sampled from one video (10 hours at one a second).
    max_frames: int = 36_000
    #: Wall-clock budget for one video; when it is spent, what was sampled is returned with
    #: the reason.
    max_seconds: float = 45.0
    #: Frames with more pixels than this are refused (8K UHD is 33 megapixels).
    max_pixels: int = 40_000_000
    #: Decoder threads. Scans run one worker process per core, so 1 (measured in the bench).
    threads: int = 1
    #: Packets the decoder may reject before the video counts as broken.
    max_decode_errors: int = 50
    #: Compressed bytes the fast path may hold back waiting for a keyframe.
    max_held_bytes: int = 64 << 20


DEFAULT_LIMITS = VideoLimits()


@dataclass(frozen=True, slots=True)
class SampledFrame:
    """One sampled frame: its number (vpdq's frame number), its time in seconds and its
    pixels, ``(H, W, 3)`` RGB ``uint8`` at full size."""

    number: int
    timestamp: float
    image: np.ndarray


@dataclass(frozen=True, slots=True)
class VideoInfo:
    width: int
    height: int
    fps: float | None
    duration: float | None
    codec: str
    #: Frame count the container declares (0 when unknown).
    frames: int


def _open(source: str | os.PathLike | bytes, what: str):
    import av

    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise VideoDecodeError(f"{what} is empty (0 bytes)")
        src: object = io.BytesIO(source)
    else:
        src = os.fspath(source)
        if os.path.isfile(src) and os.path.getsize(src) == 0:
            raise VideoDecodeError(f"{what} is empty (0 bytes)")
    try:
        return av.open(src, "r")
    except av.FFmpegError as e:
        raise VideoDecodeError(f"cannot open {what}: {_msg(e)}") from e
    except (OSError, ValueError, MemoryError) as e:
        raise VideoDecodeError(f"cannot open {what}: {e}") from e


def _msg(e: BaseException) -> str:
    s = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return s.rstrip(".")


def _pick_stream(container):
    """The first video stream that is not cover art (vpdq takes the first video stream)."""
    streams = list(container.streams.video)
    for s in streams:
        if not (int(s.disposition) & 0x400):  # AV_DISPOSITION_ATTACHED_PIC
            return s
    return streams[0] if streams else None


class VideoSampler:
    """Frames of one video, sampled as vpdq does; see the module docstring.

    Use as a context manager and iterate; after iteration :attr:`incomplete` says why
    sampling stopped early (None if it read the whole video) and :attr:`decoded` counts the
    frames the decoder produced.
    """

    def __init__(
        self,
        source: str | os.PathLike | bytes,
        limits: VideoLimits = DEFAULT_LIMITS,
        *,
        naive: bool = False,
    ) -> None:
        self.limits = limits
        self.naive = naive
        self.incomplete: str | None = None
        self.decoded = 0
        self.decode_errors = 0
        self._started = time.monotonic()
        self._container = _open(source, "video")
        try:
            self._setup()
        except VideoDecodeError:
            self.close()
            raise
        except Exception as e:  # PyAV on hostile input: say so, do not crash the scan
            self.close()
            raise VideoDecodeError(f"cannot read video: {type(e).__name__}: {e}") from e

    def _setup(self) -> None:
        stream = _pick_stream(self._container)
        if stream is None:
            raise VideoDecodeError("no video stream in the file")
        cc = stream.codec_context
        if cc is None:
            raise VideoDecodeError("no decoder for the video stream's codec")
        w, h = int(cc.width or 0), int(cc.height or 0)
        if w * h > self.limits.max_pixels:
            raise VideoDecodeError(
                f"video frames of {w}x{h} pixels are over the limit of "
                f"{self.limits.max_pixels} pixels"
            )
        if (w or h) and min(w, h) < MIN_SIDE:
            raise VideoDecodeError(f"video frames of {w}x{h} are too small to hash")
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        fps = float(rate) if rate else None
        if fps is not None and not 0.01 <= fps <= 10_000:
            fps = None
        threads = max(1, int(self.limits.threads))
        cc.thread_count = threads
        cc.thread_type = "AUTO" if threads > 1 else "SLICE"
        self.stream = stream
        self.info = VideoInfo(w, h, fps, self._duration(stream), cc.name, int(stream.frames or 0))
        # vpdq's rule: every int(seconds_per_hash * fps)-th frame, at least every frame
        step = int(self.limits.seconds_per_hash * (fps or 25.0))
        self._step = max(1, step)

    def _duration(self, stream) -> float | None:
        if stream.duration and stream.time_base:
            self._own_duration = True
            return float(stream.duration * stream.time_base)
        if self._container.duration:  # of the longest stream: maybe not the video's
            return self._container.duration / 1_000_000
        return None

    _own_duration = False

    # -- context manager

    def __enter__(self) -> VideoSampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        c, self._container = getattr(self, "_container", None), None
        if c is not None:
            c.close()

    # -- sampling

    def __iter__(self) -> Iterator[SampledFrame]:
        if self._container is None:
            raise VideoDecodeError("video is closed")
        if self.naive:
            yield from self._sample(self._naive_packets(), self._naive_frames)
        else:
            yield from self._sample(self._fast_packets(), self._fast_frames)

    def _sample(self, decoded, select) -> Iterator[SampledFrame]:
        sampled = 0
        try:
            for frame in decoded:
                out = select(frame)
                if out is None:
                    continue
                yield out
                sampled += 1
                if sampled >= self.limits.max_frames:
                    raise _Stop(self._where(f"stopped after {sampled} sampled frames (the limit)"))
        except _Stop as s:
            self.incomplete = s.reason
        if not sampled:
            raise VideoDecodeError(
                f"no frame could be decoded ({self.incomplete or self._read_error or 'empty'})"
            )
        self._check_complete()

    def _check_complete(self) -> None:
        if self.incomplete is not None:
            self.incomplete += "; vPDQ covers the part before"
            return
        if self._read_error:
            self.incomplete = self._where(f"the file is broken ({self._read_error})")
            return
        d, t = self.info.duration, self._last_time
        # a file cut short often still declares its video's full length: say so
        slack = max(3.0, 2 * self.limits.seconds_per_hash)
        if self._own_duration and d and t is not None and t < d - slack:
            self.incomplete = f"frames end at {t:.1f} s of the {d:.1f} s declared (truncated?)"

    def _where(self, reason: str) -> str:
        t = self._last_time
        of = f" of {self.info.duration:.1f} s" if self.info.duration else ""
        return f"{reason} at {t:.1f} s{of}" if t is not None else reason

    _last_time: float | None = None
    _read_error: str | None = None

    # -- decoding

    def _check_time(self) -> None:
        if time.monotonic() - self._started > self.limits.max_seconds:
            raise _Stop(self._where(f"time budget of {self.limits.max_seconds:g} s spent"))

    def _decode(self, packet, skip: str = "DEFAULT"):
        """Frames from one packet (None: flush), within the limits."""
        import av

        self._check_time()
        cc = self.stream.codec_context
        if cc.skip_frame != skip:
            cc.skip_frame = skip
        try:
            frames = cc.decode(packet)
        except av.FFmpegError as e:
            if packet is None:
                return []
            self.decode_errors += 1
            if self.decode_errors > self.limits.max_decode_errors:
                raise _Stop(self._where(f"too many decoding errors ({_msg(e)})")) from None
            return []
        for f in frames:
            self.decoded += 1
            if f.width * f.height > self.limits.max_pixels:
                raise _Stop(self._where(f"a frame of {f.width}x{f.height} is over the limit"))
            if min(f.width, f.height) < MIN_SIDE:
                raise _Stop(self._where(f"a frame of {f.width}x{f.height} is too small"))
        return frames

    def _demux(self):
        import av

        try:
            for packet in self._container.demux(self.stream):
                self._check_time()
                if packet.size == 0:
                    continue  # PyAV's end-of-stream marker: flushed below
                yield packet
        except av.FFmpegError as e:
            self._read_error = _msg(e)

    def _naive_packets(self):
        for packet in self._demux():
            yield from self._decode(packet)
        yield from self._decode(None)

    def _naive_frames(self, frame) -> SampledFrame | None:
        n = self._count = self._count + 1
        fps = self.info.fps or 25.0
        self._last_time = n / fps
        if n % self._step:
            return None
        return SampledFrame(n, round(n / fps, 3), _rgb(frame))

    _count = -1

    # -- the fast path

    def _index(self, pts: int | None) -> int | None:
        if pts is None or self._origin is None:
            return None
        return round((pts - self._origin) * self._tb * (self.info.fps or 25.0))

    _origin: int | None = None
    _target = 0
    _last_index = -1
    #: Packets may be dropped before keyframes (cleared if the decoder's output ever goes
    #: out of order, which a restart at an open-GOP keyframe can cause).
    _may_drop = True

    def _fast_packets(self):
        self._tb = float(self.stream.time_base or 0) or 1 / 90000
        restarts = _RestartTest(self.stream.codec_context)
        held: list = []
        held_bytes = 0
        for packet in self._demux():
            idx = self._index(packet.pts)
            if (
                held
                and self._may_drop
                and idx is not None
                and idx <= self._target
                and packet.is_keyframe
                and restarts.clean(packet)
            ):
                # decoding restarts cleanly here, and nothing held is shown at or after the
                # target: the held packets are not needed
                held.clear()
                held_bytes = 0
                self.dropped_runs += 1
            if idx is not None and idx < self._target:
                held.append(packet)
                held_bytes += packet.size
                if held_bytes <= self.limits.max_held_bytes:
                    continue
            for p in held:
                yield from self._decode(p, "NONREF")
            held.clear()
            held_bytes = 0
            if idx is None or idx >= self._target:
                yield from self._decode(packet)
        yield from self._decode(None)

    dropped_runs = 0

    def _fast_frames(self, frame) -> SampledFrame | None:
        if frame.pts is None:
            idx = self._last_index + 1
        else:
            if self._origin is None:
                self._origin = frame.pts
            idx = self._index(frame.pts)
        if idx < self._last_index:
            self._may_drop = False  # out of order: stop dropping packets (see _may_drop)
        self._last_index = max(idx, self._last_index)
        t = max(0.0, idx / (self.info.fps or 25.0))
        if frame.pts is not None and self._origin is not None:
            t = max(0.0, (frame.pts - self._origin) * self._tb)
        self._last_time = t
        if idx < self._target:
            return None
        self._target = (idx // self._step + 1) * self._step
        return SampledFrame(idx, round(t, 3), _rgb(frame))


class _RestartTest:
    """Whether decoding can restart at a keyframe packet with nothing before it: at an IDR
    picture in H.264 and HEVC (not at an open-GOP I picture, whose neighbours refer back),
    at any keyframe of the codecs without such pictures, and of streams that do not reorder
    frames."""

    _INDEPENDENT = frozenset({"vp8", "vp9", "av1", "libdav1d", "mjpeg", "theora", "ffv1"})
    _IDR = {"h264": frozenset({5}), "hevc": frozenset({19, 20})}

    def __init__(self, cc) -> None:
        self.codec = cc.name
        self.reorders = bool(cc.has_b_frames)
        extra = bytes(cc.extradata or b"")
        self.length_size = 0  # 0: Annex B start codes; else AVCC/HVCC length prefixes
        if self.codec == "h264" and len(extra) > 4 and extra[0] == 1:
            self.length_size = (extra[4] & 3) + 1
        elif self.codec == "hevc" and len(extra) > 21 and extra[0] == 1:
            self.length_size = (extra[21] & 3) + 1

    def clean(self, packet) -> bool:
        idr = self._IDR.get(self.codec)
        if idr is None:
            return self.codec in self._INDEPENDENT or not self.reorders
        return not idr.isdisjoint(self._nal_types(bytes(packet)))

    def _nal_types(self, data: bytes) -> set[int]:
        heads: list[int] = []
        if self.length_size:
            i, n = 0, self.length_size
            while i + n < len(data) and len(heads) < 64:
                size = int.from_bytes(data[i : i + n], "big")
                heads.append(data[i + n])
                i += n + size
        else:
            i = data.find(b"\x00\x00\x01")
            while i != -1 and i + 3 < len(data) and len(heads) < 64:
                heads.append(data[i + 3])
                i = data.find(b"\x00\x00\x01", i + 3)
        if self.codec == "h264":
            return {h & 0x1F for h in heads}
        return {(h >> 1) & 0x3F for h in heads}


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _rgb(frame) -> np.ndarray:
    """Full-size RGB, as vpdq converts (swscale, BT.601 unless the stream says otherwise)."""
    return frame.to_ndarray(format="rgb24", threads=1)
