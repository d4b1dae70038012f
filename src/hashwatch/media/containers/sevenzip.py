"""7z archives, read with py7zr one member at a time as the walker asks for it.

py7zr's ``read()`` keeps every member in memory and its ``extract(factory=...)`` decompresses
in chunks of up to 128 MB and runs to the end of the archive inside one call, so neither
bounds memory nor lets a generator hand members out one by one. Instead this reader drives
py7zr's per-folder decompressor (what its own ``Worker`` does) in 1 MiB steps: a member's
``open()`` gives a stream that decompresses as it is read, so memory stays at about one chunk
whatever the member's size, the walker counts every byte against the budget, and a limit
stops decompression at the next chunk. In a solid block, reaching a member means
decompressing the ones before it: a stream that ends hands its position on to the next
member's, so reading members in order decompresses each block once; reaching one out of
order (or after an unread one) decompresses what lies between, counted against the budget.

Declared sizes are checked up front: a member declaring more bytes than the budget has left
is yielded with ``skip`` set (not decompressed), so a header that lies (or a real bomb)
neither wastes the budget nor stops the walk of the outer file. Each member's ``packed`` is
its share of its block's compressed size, for the walker's ratio check.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import py7zr
import py7zr.exceptions

from .base import Budget, ContainerError, EncryptedError, LimitReached, Member, MemberStream

CHUNK = 1 << 20
ENCRYPTED = "encrypted 7z archive (password needed)"


@dataclass(slots=True)
class _Cursor:
    """A decompressor part-way through one block."""

    dec: Any
    pos: int  # where its next packed byte is in the source
    out: int = 0  # bytes of the block's output produced so far


class _Block:
    """One 7z folder (a compressed block holding one or, when solid, several members)."""

    def __init__(self, fp: BinaryIO, folder: Any, start: int, packsize: int, budget: Budget):
        self.fp, self.folder, self.start, self.packsize = fp, folder, start, packsize
        self.budget = budget
        self.spare: _Cursor | None = None
        self._problem: str | None = None

    def _decompressor(self) -> Any:
        try:
            return self.folder.get_decompressor(self.packsize, reset=True)
        except py7zr.exceptions.PasswordRequired as e:
            raise EncryptedError(ENCRYPTED) from e
        except Exception as e:  # an unsupported method (BCJ2...), bad coder properties
            why = e.args[-1] if e.args and isinstance(e.args[-1], str) else _why(e)
            raise ContainerError(f"7z compression not supported: {why.split('. ')[0]}") from e

    def problem(self) -> str | None:
        """Why this block cannot be decompressed at all, if so (checked once)."""
        if self._problem is None:
            try:
                self._decompressor()
                self._problem = ""
            except ContainerError as e:
                self._problem = str(e)
        return self._problem or None

    def cursor_at(self, offset: int) -> _Cursor:
        cur, self.spare = self.spare, None
        if cur is None or cur.out > offset:
            cur = _Cursor(self._decompressor(), self.start)
        gap = offset - cur.out
        left = self.budget.limits.max_total_bytes - self.budget.bytes
        if gap > left:
            raise ContainerError(
                f"reaching it means decompressing {gap} bytes of its solid block, "
                f"more than the {left} bytes left of the limit"
            )
        while cur.out < offset:
            self.budget.take_bytes(len(self.read(cur, min(CHUNK, offset - cur.out))))
        return cur

    def read(self, cur: _Cursor, n: int) -> bytes:
        """Up to ``n`` more bytes of the block (at least one unless it is broken)."""
        while True:
            self.budget.check_time()
            try:
                self.fp.seek(cur.pos)
                data = bytes(cur.dec.decompress(self.fp, n))
                pos = self.fp.tell()
            except LimitReached:
                raise
            except Exception as e:
                raise ContainerError(f"corrupt 7z data: {_why(e)}") from e
            if not data and pos == cur.pos:
                raise ContainerError("corrupt 7z data: compressed data ends early")
            cur.pos = pos
            cur.out += len(data)
            if data:
                return data


class _MemberStream(MemberStream):
    """A member's content, decompressed as it is read; its CRC is checked at the end."""

    def __init__(self, block: _Block, offset: int, size: int, crc: int | None):
        super().__init__()
        self._block, self._offset, self._left = block, offset, size
        self._want, self._crc = crc, 0
        self._cur: _Cursor | None = None

    def _read(self, size: int) -> bytes:
        if self._left <= 0 or size == 0:
            return b""
        if self._cur is None:
            self._cur = self._block.cursor_at(self._offset)
        data = self._block.read(self._cur, min(size, self._left, CHUNK))
        self._left -= len(data)
        self._crc = zlib.crc32(data, self._crc)
        if self._left <= 0:
            self._give_back()
            if self._want is not None and self._crc != self._want:
                raise ContainerError("CRC mismatch (corrupt 7z archive)")
        return data

    def _give_back(self) -> None:
        if self._cur is not None:
            self._block.spare, self._cur = self._cur, None

    def close(self) -> None:
        self._give_back()
        super().close()


def _refused() -> BinaryIO:
    raise ContainerError("not readable")


def _why(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _open(source: BinaryIO) -> Any:
    try:
        source.seek(0)
        archive = py7zr.SevenZipFile(source, mode="r")
    except py7zr.exceptions.PasswordRequired as e:
        raise EncryptedError(ENCRYPTED) from e
    except Exception as e:  # Bad7zFile, struct/EOF/Memory/Recursion errors on hostile headers
        raise ContainerError(f"7z archive not readable: {_why(e)}") from e
    if archive.needs_password():
        raise EncryptedError(ENCRYPTED)
    return archive


def _blocks(archive: Any, fp: BinaryIO, budget: Budget) -> dict[int, _Block]:
    streams = getattr(archive.header, "main_streams", None)
    if streams is None:
        return {}
    positions = streams.packinfo.packpositions
    blocks = {}
    for i, folder in enumerate(streams.unpackinfo.folders):
        start = archive.afterheader + positions[i]
        blocks[id(folder)] = _Block(fp, folder, start, positions[i + 1] - positions[i], budget)
    return blocks


def members(source: BinaryIO, budget: Budget, name: str) -> Iterator[Member]:
    """The files of a 7z archive, in stored order (directories and links left out)."""
    budget.check_time()
    archive = _open(source)
    try:
        try:
            blocks = _blocks(archive, source, budget)
            files = list(archive.files)
        except Exception as e:
            raise ContainerError(f"7z archive not readable: {_why(e)}") from e
        offsets: dict[int, int] = {}
        for f in files:
            budget.check_time()
            if f.is_directory or f.is_symlink or f.is_socket:
                continue
            label, size, folder = str(f.filename), int(f.uncompressed or 0), f.folder
            if f.emptystream or folder is None or size == 0:
                yield Member(label, 0, lambda: io.BytesIO(b""), 0)
                continue
            block = blocks.get(id(folder))
            if block is None:
                raise ContainerError(f"{label}: 7z header names no block for it")
            offset = offsets.get(id(folder), 0)
            offsets[id(folder)] = offset + size
            left = budget.limits.max_total_bytes - budget.bytes
            why = block.problem()
            if why is None and size > left:
                why = f"declares {size} bytes, more than the {left} bytes left of the limit"
            if why:
                yield Member(label, size, _refused, skip=why)
                continue
            total = max(1, int(folder.get_unpack_size() or 0))
            packed = max(1, block.packsize * size // total)

            def open_(b: _Block = block, o: int = offset, s: int = size, f: Any = f) -> BinaryIO:
                return _MemberStream(b, o, s, f.crc32)  # type: ignore[return-value]

            yield Member(label, size, open_, packed)
    finally:
        _close(archive)


def _close(archive: Any) -> None:
    try:
        archive.close()
    except Exception:  # noqa: S110 - nothing left to release that matters
        pass
