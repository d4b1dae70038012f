"""Single compressed streams: gzip, bzip2, xz. A compressed tar is read as a tar.

The one member is named as gzip's header names it, else after the container without its
compression suffix (``photo.jpg.gz`` holds ``photo.jpg``).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import struct
from collections.abc import Callable, Iterator
from typing import BinaryIO

from . import tar
from .base import Budget, ContainerError, Member

_OPENERS: dict[str, tuple[Callable[[BinaryIO], BinaryIO], tuple[str, ...]]] = {
    "application/gzip": (lambda f: gzip.GzipFile(fileobj=f, mode="rb"), (".gz", ".tgz", ".z")),
    "application/x-bzip2": (lambda f: bz2.BZ2File(f, "rb"), (".bz2", ".tbz", ".tbz2")),
    "application/x-xz": (lambda f: lzma.LZMAFile(f, "rb"), (".xz", ".txz")),
}
_TAR_SUFFIX = {".tgz", ".tbz", ".tbz2", ".txz"}


def _gzip_name(source: BinaryIO) -> str | None:
    """The original file name stored in a gzip header (FNAME), if any."""
    source.seek(0)
    head = source.read(10)
    if len(head) < 10 or not head[3] & 0x08:
        return None
    flags = head[3]
    if flags & 0x04:  # FEXTRA
        (xlen,) = struct.unpack("<H", source.read(2))
        source.seek(xlen, 1)
    raw = bytearray()
    while len(raw) < 1024 and (c := source.read(1)) not in (b"", b"\x00"):
        raw += c
    name = os.path.basename(raw.decode("latin-1").replace("\\", "/"))
    return name or None


def _inner_name(name: str, suffixes: tuple[str, ...]) -> str:
    base = os.path.basename(name)
    low = base.lower()
    for s in suffixes:
        if low.endswith(s) and len(base) > len(s):
            return base[: -len(s)] + (".tar" if s in _TAR_SUFFIX else "")
    return base + ".out" if base else "content"


def members(source: BinaryIO, budget: Budget, name: str, mime: str) -> Iterator[Member]:
    open_stream, suffixes = _OPENERS[mime]
    try:
        inner = (_gzip_name(source) if mime == "application/gzip" else None) or _inner_name(
            name, suffixes
        )
        source.seek(0)
        stream = open_stream(source)
        head = stream.read(512)
    except (OSError, EOFError, lzma.LZMAError, ValueError, struct.error) as e:
        raise ContainerError(f"corrupt {mime.split('/')[-1]} stream: {e}") from e
    if len(head) >= 262 and head[257:262] == b"ustar":
        source.seek(0)
        yield from tar.members(source, budget, name)
        return

    def opener() -> BinaryIO:
        source.seek(0)
        return open_stream(source)

    source.seek(0, 2)
    yield Member(inner, None, opener, packed=source.tell())


def reader_for(mime: str):
    def read(source: BinaryIO, budget: Budget, name: str) -> Iterator[Member]:
        return members(source, budget, name, mime)

    return read
