"""ZIP archives (and everything built on them: OOXML, ODF, EPUB, JAR, APK).

Python's zipfile (before 3.12) does not notice entries whose data overlap, the trick of
non-recursive zip bombs (many central-directory entries pointing at one compressed
kernel); we check the layout ourselves before reading anything.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Iterator
from typing import BinaryIO

from .base import Budget, ContainerError, Member

_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name length, extra length
_METHODS = {0: "stored", 8: "deflate", 12: "bzip2", 14: "lzma"}


def _check_layout(source: BinaryIO, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse archives whose entries overlap or point outside the file."""
    source.seek(0, 2)
    end = source.tell()
    spans = []
    for info in infos:
        off = info.header_offset
        if off < 0 or off + _LOCAL_HEADER.size > end:
            raise ContainerError(f"entry {info.filename!r} points outside the archive")
        source.seek(off)
        sig, name_len, extra_len = _LOCAL_HEADER.unpack(source.read(_LOCAL_HEADER.size))
        if sig != b"PK\x03\x04":
            raise ContainerError(f"entry {info.filename!r} has no local header (corrupt)")
        stop = off + _LOCAL_HEADER.size + name_len + extra_len + info.compress_size
        if stop > end:
            raise ContainerError(f"entry {info.filename!r} runs past the end of the archive")
        spans.append((off, stop, info.filename))
    spans.sort()
    for (_, stop, name), (start, _, nxt) in zip(spans, spans[1:], strict=False):
        if start < stop:
            raise ContainerError(
                f"entries {name!r} and {nxt!r} overlap (a zip-bomb technique); not opened"
            )


def members(source: BinaryIO, budget: Budget, name: str) -> Iterator[Member]:
    try:
        zf = zipfile.ZipFile(source)
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise ContainerError(f"corrupt zip archive: {e}") from e
    except Exception as e:  # zipfile raises assorted errors on hostile headers
        raise ContainerError(f"corrupt zip archive: {type(e).__name__}: {e}") from e
    _check_layout(source, infos)
    with zf:
        for info in infos:
            if info.is_dir():
                continue
            budget.check_time()
            skip = None
            if info.flag_bits & 0x1:
                skip = "encrypted (password needed)"
            elif info.compress_type not in _METHODS:
                skip = f"compression method {info.compress_type} not supported"

            def opener(info: zipfile.ZipInfo = info) -> BinaryIO:
                return zf.open(info)

            yield Member(info.filename, info.file_size, opener, info.compress_size, skip)
