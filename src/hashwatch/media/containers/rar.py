"""RAR archives, read with rarfile.

rarfile lists any RAR 1.5-5 archive and reads members stored uncompressed itself; compressed
members need an external tool (unrar, unar, 7z/7zz or bsdtar; on Debian ``unar`` is the free
one that reads every RAR version). Without one, the stored members are still read and the
compressed ones yielded with ``skip`` set to :data:`NO_TOOL`; an archive with nothing
readable without a tool raises ``ContainerError("RAR archive not opened: " + NO_TOOL)``.
Encrypted members and members split across volumes are yielded with ``skip`` too; an
archive whose headers are encrypted raises ``EncryptedError``.

Tools want a file: when the source is not the real file on disk it is copied once into a
private temporary directory (0700, removed when the walk of this archive ends, even on
error), and rarfile's own temporary files (a one-member archive it builds for the tool) are
put there too. Only this file is read: other volumes of a multi-volume set are not looked
for next to it. A tool still
running when the budget's deadline passes is killed, so a stuck tool cannot hang the scan.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, BinaryIO

import rarfile

from .base import Budget, ContainerError, EncryptedError, LimitReached, Member, MemberStream

NO_TOOL = "no unrar tool installed (install unrar, unar, 7zip or libarchive-tools)"
ENCRYPTED = "encrypted RAR archive (password needed)"
_ENCRYPTED_MEMBER = "encrypted (password needed)"
_SPLIT = rarfile.RAR_FILE_SPLIT_BEFORE | rarfile.RAR_FILE_SPLIT_AFTER
_TMP_LOCK = threading.Lock()  # rarfile.HACK_TMP_DIR is module-wide


def _why(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def have_tool() -> bool:
    """Whether rarfile finds a working tool for compressed members."""
    try:
        rarfile.tool_setup()
    except rarfile.RarCannotExec:
        return False
    except Exception:  # a tool that is there but broken
        return False
    return True


class _Guarded(MemberStream):
    """A rarfile member stream whose errors become ContainerError and whose tool process is
    killed at the deadline or when the stream is closed early."""

    def __init__(self, inner: Any, seconds: float):
        super().__init__()
        self._inner = inner
        self._timer: threading.Timer | None = None
        if getattr(inner, "_proc", None) is not None:
            self._timer = threading.Timer(max(0.0, seconds), self._kill)
            self._timer.daemon = True
            self._timer.start()

    def _kill(self) -> None:
        proc = getattr(self._inner, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()

    def _read(self, size: int) -> bytes:
        try:
            return bytes(self._inner.read(size))
        except Exception as e:
            raise ContainerError(f"not readable: {_why(e)}") from e

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._kill()
        try:
            self._inner.close()
        except Exception:  # noqa: S110 - closing a broken tool pipe
            pass
        super().close()


def _real_path(source: BinaryIO) -> str | None:
    """The path of ``source`` if it is an open regular file that still has that name."""
    path = getattr(source, "name", None)
    if not isinstance(path, str):
        return None
    try:
        st, fst = os.stat(path), os.fstat(source.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None
    same = (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)
    return path if same and os.path.isfile(path) else None


def _copy(source: BinaryIO, path: str, budget: Budget) -> None:
    source.seek(0)
    with open(path, "wb") as out:
        while chunk := source.read(1 << 20):
            budget.check_time()
            out.write(chunk)


def _parse(file: Any) -> tuple[Any, str | None]:
    """Open with strict parsing; on a parse error, reopen leniently to read what can be read
    and return the strict error as the reason the archive is not fully scanned."""
    try:
        return rarfile.RarFile(file, errors="strict", part_only=True), None
    except rarfile.NotRarFile as e:
        raise ContainerError(f"RAR archive not readable: {_why(e)}") from e
    except Exception as e:
        reason = f"corrupt RAR archive: {_why(e)}"
    try:
        if hasattr(file, "seek"):
            file.seek(0)
        return rarfile.RarFile(file, errors="stop", part_only=True), reason
    except Exception as e:
        raise ContainerError(reason) from e


@contextmanager
def _tmp_for_rarfile(tmp: str) -> Iterator[None]:
    with _TMP_LOCK:
        old, rarfile.HACK_TMP_DIR = rarfile.HACK_TMP_DIR, tmp
        try:
            yield
        finally:
            rarfile.HACK_TMP_DIR = old


def members(source: BinaryIO, budget: Budget, name: str) -> Iterator[Member]:
    """The files of a RAR archive, in stored order (directories and links left out)."""
    budget.check_time()
    source.seek(0)
    rf, broken = _parse(source)
    with ExitStack() as stack:
        try:
            infos = [i for i in rf.infolist() if not i.is_dir() and not i.is_symlink()]
            header_encrypted = rf.needs_password() and not infos
        except Exception as e:
            raise ContainerError(f"RAR archive not readable: {_why(e)}") from e
        if header_encrypted:
            raise EncryptedError(ENCRYPTED)
        compressed = any(i.compress_type != rarfile.RAR_M0 for i in infos)
        tool = (compressed or rarfile.FORCE_TOOL) and have_tool()
        tmp = ""
        if tool:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="hw-rar-"))
            path = _real_path(source)
            if path is None:
                path = os.path.join(tmp, "archive.rar")
                _copy(source, path, budget)
            rf, broken = _parse(path)
            infos = [i for i in rf.infolist() if not i.is_dir() and not i.is_symlink()]
        if infos and all(_unreadable(i, tool) == NO_TOOL for i in infos):
            raise ContainerError(f"RAR archive not opened: {NO_TOOL}")
        for info in infos:
            budget.check_time()
            yield _member(rf, info, budget, tmp, _unreadable(info, tool))
        if broken:
            raise ContainerError(broken)


def _unreadable(info: Any, tool: bool) -> str:
    if info.needs_password():
        return _ENCRYPTED_MEMBER
    if info.flags & _SPLIT:
        return "split across volumes (only this volume is read)"
    if info.compress_type != rarfile.RAR_M0 and not tool:
        return NO_TOOL
    return ""


def _member(rf: Any, info: Any, budget: Budget, tmp: str, skip: str) -> Member:
    label = str(info.filename)

    def open_() -> BinaryIO:
        budget.check_time()
        try:
            if tmp:
                with _tmp_for_rarfile(tmp):
                    inner = rf.open(info)
            else:
                inner = rf.open(info)
        except LimitReached:
            raise
        except Exception as e:
            raise ContainerError(f"not readable: {_why(e)}") from e
        seconds = budget.deadline - budget.clock()
        return _Guarded(inner, seconds)  # type: ignore[return-value]

    packed = int(info.compress_size) if info.compress_size is not None else None
    return Member(label, int(info.file_size), open_, packed, skip or None)
