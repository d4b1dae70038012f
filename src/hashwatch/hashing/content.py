"""Compute every signal of a piece of content in one pass over its bytes."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import asdict, dataclass, field

import numpy as np

from ..media import DecodeError, DecodeLimits, decode_for_pdq, is_image, sniff
from ..media.sniff import SNIFF_BYTES
from ..signals.pdq import pdq_from_bits

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
    pdq_error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


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


def hash_bytes(data: bytes, options: HashOptions = HashOptions()) -> ContentHashes:
    """All signals of in-memory content."""
    media = sniff(data[:SNIFF_BYTES])
    out = ContentHashes(
        size=len(data),
        media=media,
        md5=hashlib.md5(data).hexdigest(),
        sha1=hashlib.sha1(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    if is_image(media):
        _add_pdq(out, data, options)
    return out


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


def hash_file(
    path: str | os.PathLike, options: HashOptions = HashOptions(), follow_symlinks: bool = False
) -> ContentHashes:
    """All signals of a regular file, reading it exactly once.

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
                    result = hash_bytes(data, options)
                    _check_unchanged(fd, before, len(data))
                    return result
                f.seek(0)
            result = _hash_stream(f)
            _check_unchanged(fd, before, result.size)
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
    media = sniff(head)
    out = ContentHashes(size, media, md5.hexdigest(), sha1.hexdigest(), sha256.hexdigest())
    if is_image(media):
        out.pdq_error = "image larger than the in-memory limit; exact hashes only"
    return out


def _check_unchanged(fd: int, before: os.stat_result, nread: int) -> None:
    after = os.fstat(fd)
    if (
        nread != before.st_size
        or after.st_size != before.st_size
        or after.st_mtime_ns != before.st_mtime_ns
    ):
        raise ReadError(0, "file changed while it was being read")
