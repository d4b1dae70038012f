"""Opening hash-list files safely and reading them as lines with limits.

Every failure becomes a :class:`ListFormatError` naming the file (and the line when there is
one): a missing file, a directory, a pipe or device (which could block forever), bytes that
are not text, a line too long to be a hash-list line.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from .model import ListFormatError

#: How much of the start of a file format detection looks at.
HEAD_BYTES = 64 * 1024
#: The longest line a line-based list may have (a long vPDQ signal fits comfortably).
MAX_LINE_BYTES = 4 * 1024 * 1024

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def open_binary(path: str | Path) -> BinaryIO:
    """Open a regular file for reading, or raise :class:`ListFormatError` saying why not."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ListFormatError(path, "no such file") from None
    except PermissionError:
        raise ListFormatError(path, "permission denied") from None
    except OSError as e:
        raise ListFormatError(path, f"cannot read the file: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ListFormatError(path, "is a directory, not a hash-list file")
    if not stat.S_ISREG(st.st_mode):
        raise ListFormatError(path, "is not a regular file (a device, pipe or socket)")
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except PermissionError:
        raise ListFormatError(path, "permission denied") from None
    except OSError as e:
        raise ListFormatError(path, f"cannot read the file: {e.strerror or e}") from None


def read_head(path: str | Path, size: int = HEAD_BYTES) -> bytes:
    with open_binary(path) as fh:
        try:
            return fh.read(size)
        except OSError as e:
            raise ListFormatError(path, f"cannot read the file: {e.strerror or e}") from None


def is_utf16(head: bytes) -> bool:
    return head.startswith(_UTF16_BOMS)


def text_stream(path: str | Path, fh: BinaryIO) -> TextIO:
    """The file as text (UTF-8 with or without BOM, or UTF-16 with BOM), strict decoding."""
    head = fh.peek(4)[:4] if hasattr(fh, "peek") else b""
    encoding = "utf-16" if is_utf16(head) else "utf-8-sig"
    return io.TextIOWrapper(fh, encoding=encoding, errors="strict", newline="")


def iter_lines(path: str | Path, fh: BinaryIO) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line, line endings kept, numbers from 1.

    Lines are decoded one at a time so a bad byte is reported on its own line. A line longer
    than :data:`MAX_LINE_BYTES` or containing a NUL byte is an error, not a slow read.
    """
    head = fh.peek(HEAD_BYTES)[:HEAD_BYTES] if hasattr(fh, "peek") else b""
    if is_utf16(head):
        yield from _iter_text(path, fh, "utf-16", "")
        return
    if b"\r" in head and b"\n" not in head:  # old Mac line ends (Excel's "CSV (Macintosh)")
        yield from _iter_text(path, fh, "utf-8-sig", None)
        return
    number = 0
    while True:
        try:
            raw = fh.readline(MAX_LINE_BYTES + 1)
        except OSError as e:
            raise ListFormatError(path, f"read error: {e.strerror or e}", number + 1) from None
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise ListFormatError(
                path, f"line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB", number
            )
        if number == 1 and raw.startswith(_UTF8_BOM):
            raw = raw[len(_UTF8_BOM) :]
        if b"\x00" in raw:
            raise ListFormatError(path, "contains NUL bytes: binary data, not a hash list", number)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ListFormatError(
                path,
                f"not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})",
                number,
            ) from None
        yield number, text


def _iter_text(
    path: str | Path, fh: BinaryIO, encoding: str, newline: str | None
) -> Iterator[tuple[int, str]]:
    stream = io.TextIOWrapper(fh, encoding=encoding, errors="strict", newline=newline)
    number = 0
    limit = MAX_LINE_BYTES // 2
    while True:
        try:
            text = stream.readline(limit + 1)
        except UnicodeDecodeError:
            name = "UTF-16" if encoding == "utf-16" else "UTF-8"
            raise ListFormatError(path, f"not valid {name} text", number + 1) from None
        except OSError as e:
            raise ListFormatError(path, f"read error: {e.strerror or e}", number + 1) from None
        if not text:
            return
        number += 1
        if len(text) > limit:
            raise ListFormatError(
                path, f"line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB", number
            )
        if "\x00" in text:
            raise ListFormatError(path, "contains NUL characters: not a hash list", number)
        yield number, text


def decode_head(head: bytes) -> tuple[str, int | None]:
    """Decode a file's first bytes for sniffing.

    Returns the text (BOM removed) and, if the bytes are not text, the 1-based line where
    the first undecodable byte is (a multi-byte character cut off at the end is fine).
    """
    if is_utf16(head):
        body = head[: len(head) - (len(head) % 2)]
        return body.decode("utf-16", errors="replace"), None
    if head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM) :]
    try:
        return head.decode("utf-8"), None
    except UnicodeDecodeError as e:
        if e.start >= len(head) - 3 and e.reason == "unexpected end of data":
            return head[: e.start].decode("utf-8"), None
        return head.decode("utf-8", errors="replace"), head.count(b"\n", 0, e.start) + 1
