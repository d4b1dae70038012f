"""Compute every signal of a piece of content in one pass over its bytes."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import asdict, dataclass, field

import numpy as np

from ..media import DecodeError, DecodeLimits, decode_for_pdq, is_image, sniff
from ..media.animated import ANIMATED_TYPES
from ..media.containers import ContainerLimits, is_container
from ..media.sniff import SNIFF_BYTES
from ..media.video import VIDEO_TYPES, VideoLimits
from ..signals.pdq import pdq_from_bits
from ..signals.types import format_vpdq

_CHUNK = 1 << 20


class ReadError(OSError):
    """A file that could not be read whole and unchanged; the message says why."""


@dataclass(frozen=True, slots=True)
class HashOptions:
    decode: DecodeLimits = field(default_factory=DecodeLimits)
    #: Files up to this size are read into memory once and decoded from there; larger ones are
    #: streamed through the exact hashers (and not decoded).
    max_in_memory: int = 256 << 20
    #: Also compute the 8 dihedral PDQ variants (rotations and flips) of images.
    dihedral: bool = False
    #: Also compute the trimmed views, centre regions and ``pdq_center80`` hash of images
    #: (:mod:`.views`), which match copies with bars, in screenshots, cropped or turned.
    views: bool = False
    #: Look inside archives, compressed files and documents.
    look_inside: bool = True
    containers: ContainerLimits = field(default_factory=ContainerLimits)
    #: Videos and animated images: vPDQ sampling and limits.
    video: VideoLimits = field(default_factory=VideoLimits)


@dataclass(slots=True)
class ContentHashes:
    """Every signal of one content item. ``pdq_error`` says why an image got no PDQ."""

    size: int
    media: str
    md5: str
    sha1: str
    sha256: str
    pdq: str | None = None
    pdq_quality: int | None = None
    pdq_dihedral: list[str] | None = None
    #: Trimmed views (content inside bars or a window), matched against listed PDQ hashes.
    pdq_views: list[str] | None = None
    #: Centre regions (cropped or rotated copies), matched against ``pdq_center80`` entries.
    pdq_regions: list[str] | None = None
    #: The ``pdq_center80`` hash (central 80%), which ``lists build`` lists beside the PDQ.
    pdq_center: str | None = None
    #: Why the perceptual signal (PDQ, vPDQ) is missing or partial: not fully scanned.
    pdq_error: str | None = None
    #: Videos and animated images: the canonical vPDQ text (``frame,quality,pdq,seconds;...``).
    vpdq: str | None = None
    #: Containers: every item found inside, at any depth, in walk order.
    items: list[InnerHashes] | None = None
    #: Containers: why what is inside was not fully scanned (limits, encryption, corruption).
    incomplete: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def not_fully_scanned(self) -> str | None:
        """Why this content (or anything inside it) was not fully scanned, else None."""
        return self.incomplete or self.pdq_error


@dataclass(slots=True)
class InnerHashes:
    """One item inside a container: its chain (``a.zip!dir/b.jpg``) and its signals, or why
    it could not be read."""

    inner: str
    hashes: ContentHashes | None
    error: str | None = None


def pdq_of_array(rgb: np.ndarray) -> tuple[str, int]:
    """PDQ hash (hex) and quality of an RGB uint8 array, computed by Meta's C++ (pdqhash)."""
    import pdqhash

    bits, quality = pdqhash.compute(rgb)
    return pdq_from_bits(bits), int(quality)


def pdq_dihedral_of_array(rgb: np.ndarray) -> tuple[list[str], int]:
    """The 8 dihedral PDQ hashes (original, rot90, rot180, rot270, flipx, flipy, flip+1, flip-1)."""
    import pdqhash

    all_bits, quality = pdqhash.compute_dihedral(rgb)
    return [pdq_from_bits(b) for b in all_bits], int(quality)


def hash_bytes(
    data: bytes, options: HashOptions = HashOptions(), name: str = "", *, inside: bool = False
) -> ContentHashes:
    """All signals of in-memory content named ``name`` (a file name, for the formats that
    name their content after it). ``inside``: the content is an item of a container being
    walked already (its own items come from that walk)."""
    media = sniff(data[:SNIFF_BYTES])
    out = ContentHashes(
        size=len(data),
        media=media,
        md5=hashlib.md5(data).hexdigest(),
        sha1=hashlib.sha1(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    _add_perceptual(out, data, options)
    if not inside and options.look_inside and is_container(media):
        _add_items(out, data, name, options)
    return out


def _add_perceptual(out: ContentHashes, source: bytes | str, options: HashOptions) -> None:
    """PDQ of images, vPDQ of videos and animated images (``source``: bytes or a path)."""
    if is_image(out.media):
        if isinstance(source, bytes):
            _add_pdq(out, source, options)
            _add_animation(out, source, options)
        else:
            out.pdq_error = "image larger than the in-memory limit; exact hashes only"
    elif out.media in VIDEO_TYPES:
        from .vpdq import hash_video

        try:
            v = hash_video(source, options.video)
        except DecodeError as e:
            out.pdq_error = str(e)
            return
        if v.frames:
            out.vpdq = format_vpdq(v.frames)
        out.pdq_error = v.incomplete


def _add_animation(out: ContentHashes, data: bytes, options: HashOptions) -> None:
    if out.media not in ANIMATED_TYPES:
        return
    from .vpdq import hash_animation

    v = hash_animation(data, out.media, options.video)
    if v is not None:
        if v.frames:
            out.vpdq = format_vpdq(v.frames)
        if v.incomplete and not out.pdq_error:
            out.pdq_error = v.incomplete


def _add_items(out: ContentHashes, source: bytes | str, name: str, options: HashOptions) -> None:
    from .inside import hash_inside

    out.items, reasons = hash_inside(source, out.media, name, out.sha256, options)
    if reasons:
        out.incomplete = _join_reasons(reasons)


def _join_reasons(reasons: list[str], limit: int = 20) -> str:
    text = "; ".join(reasons[:limit])
    if len(reasons) > limit:
        text += f"; and {len(reasons) - limit} more"
    return text


def _add_pdq(out: ContentHashes, data: bytes, options: HashOptions) -> None:
    try:
        rgb = decode_for_pdq(data, out.media, options.decode)
    except DecodeError as e:
        out.pdq_error = str(e)
        return
    if options.dihedral:
        hashes, out.pdq_quality = pdq_dihedral_of_array(rgb)
        out.pdq, out.pdq_dihedral = hashes[0], hashes
    else:
        out.pdq, out.pdq_quality = pdq_of_array(rgb)
    if options.views:
        from . import views

        out.pdq_views, out.pdq_regions, out.pdq_center = views.views(rgb)


def hash_file(
    path: str | os.PathLike, options: HashOptions = HashOptions(), follow_symlinks: bool = False
) -> ContentHashes:
    """All signals of a regular file, reading it once (a file over the in-memory limit is
    read again by the video decoder or container reader that needs it, through the same
    open descriptor).

    A symlink is opened only with ``follow_symlinks``. Raises :class:`ReadError` if it is not
    a regular file (any more), cannot be read, or changed while it was being read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise ReadError(e.errno, f"cannot open: {e.strerror}") from e
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise ReadError(0, "not a regular file")
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
            if before.st_size <= options.max_in_memory:
                data = _read_all(f, options.max_in_memory)
                if data is not None:
                    result = hash_bytes(data, options, os.path.basename(path))
                    _check_unchanged(fd, before, len(data))
                    return result
                f.seek(0)
            result = _hash_stream(f)
            _check_unchanged(fd, before, result.size)
        # too large to hold in memory: decoders and container readers read the file itself
        # (through this descriptor where the OS names it, so it is the file just hashed)
        proc = f"/proc/self/fd/{fd}"
        source = proc if os.path.exists(proc) else os.fspath(path)
        _add_perceptual(result, source, options)
        if options.look_inside and is_container(result.media):
            _add_items(result, source, os.path.basename(path), options)
        return result
    except OSError as e:
        if isinstance(e, ReadError):
            raise
        raise ReadError(e.errno, f"read failed: {e.strerror or e}") from e
    finally:
        os.close(fd)


def _read_all(f, limit: int) -> bytes | None:
    """The whole file, or None if it grew past ``limit`` meanwhile."""
    data = f.read(limit + 1)
    return None if len(data) > limit else data


def _hash_stream(f) -> ContentHashes:
    md5, sha1, sha256 = hashlib.md5(), hashlib.sha1(), hashlib.sha256()
    head = b""
    size = 0
    while chunk := f.read(_CHUNK):
        if not head:
            head = chunk[:SNIFF_BYTES]
        size += len(chunk)
        md5.update(chunk)
        sha1.update(chunk)
        sha256.update(chunk)
    return ContentHashes(size, sniff(head), md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest())


def _check_unchanged(fd: int, before: os.stat_result, nread: int) -> None:
    after = os.fstat(fd)
    if (
        nread != before.st_size
        or after.st_size != before.st_size
        or after.st_mtime_ns != before.st_mtime_ns
    ):
        raise ReadError(0, "file changed while it was being read")
