"""Walking inside a file: every item of every container, nested, within limits.

:func:`walk_inside` yields each item found inside a container file (an item that is itself
a container is yielded, then its own items) with its chain (``photos/2019.7z!img_004.jpg``)
and its content: the bytes when they fit in memory, else digests computed while streaming.
Whatever stopped the walk short (a limit, an encrypted or corrupt container, an unreadable
item) is collected in :attr:`Walk.incomplete`: such a file is *not fully scanned*, never
clean.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ..sniff import SNIFF_BYTES, sniff
from . import compressed, tar, zip
from .base import Budget, ContainerError, ContainerLimits, LimitReached, Member

_CHUNK = 1 << 20


def _lazy(module: str) -> Callable:
    """Readers with heavier dependencies are imported when first needed."""

    def read(source: BinaryIO, budget: Budget, name: str) -> Iterator[Member]:
        import importlib

        return importlib.import_module(f"{__package__}.{module}").members(source, budget, name)

    return read


READERS: dict[str, Callable] = {
    "application/zip": zip.members,
    "application/x-tar": tar.members,
    "application/gzip": compressed.reader_for("application/gzip"),
    "application/x-bzip2": compressed.reader_for("application/x-bzip2"),
    "application/x-xz": compressed.reader_for("application/x-xz"),
    "application/x-7z-compressed": _lazy("sevenzip"),
    "application/vnd.rar": _lazy("rar"),
    "application/pdf": _lazy("pdf"),
}

#: Content types the engine looks inside.
CONTAINER_TYPES = frozenset(READERS)


def is_container(mime: str) -> bool:
    return mime in READERS


@dataclass(slots=True)
class InnerItem:
    """One item inside a container. ``data`` holds its content when it fit in memory; a
    larger item has ``digests`` (md5, sha1, sha256) computed while it streamed past.
    ``error`` says why it could not be read (it is then listed with no content)."""

    inner: str
    depth: int
    size: int = 0
    data: bytes | None = None
    digests: tuple[str, str, str] | None = None
    head: bytes = b""
    error: str | None = None

    @property
    def media(self) -> str:
        return sniff(self.head)


@dataclass(slots=True)
class Walk:
    """One walk inside one outer file; iterate it for the items."""

    source: bytes | str | os.PathLike
    mime: str
    name: str
    limits: ContainerLimits = field(default_factory=ContainerLimits)
    #: sha256 of the outer file, if known (a container holding itself is then caught at once)
    sha256: str | None = None
    budget: Budget | None = None
    #: Why the file is not fully scanned, one reason per place (``chain: reason``).
    incomplete: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[InnerItem]:
        budget = self.budget or Budget(self.limits)
        self.budget = budget
        ancestors = {self.sha256} if self.sha256 else set()
        try:
            if isinstance(self.source, bytes | bytearray | memoryview):
                yield from self._container(
                    io.BytesIO(self.source), self.mime, self.name, "", 0, ancestors, budget
                )
            else:
                with open(self.source, "rb") as f:
                    yield from self._container(f, self.mime, self.name, "", 0, ancestors, budget)
        except LimitReached as e:
            self.incomplete.append(f"stopped: {e}")
        except OSError as e:
            self.incomplete.append(f"cannot read: {e.strerror or e}")

    def _note(self, chain: str, reason: str) -> None:
        if len(self.incomplete) < 1000:
            self.incomplete.append(f"{chain}: {reason}" if chain else reason)

    def _container(
        self,
        source: BinaryIO,
        mime: str,
        name: str,
        chain: str,
        depth: int,
        ancestors: set[str],
        budget: Budget,
    ) -> Iterator[InnerItem]:
        reader = READERS[mime]
        prefix = f"{chain}!" if chain else ""
        try:
            for m in reader(source, budget, name):
                item_chain = prefix + _clean_name(m.name)
                budget.take_item()
                if m.skip:
                    self._note(item_chain, m.skip)
                    yield InnerItem(item_chain, depth + 1, m.size or 0, error=m.skip)
                    continue
                item = self._read(m, item_chain, depth + 1, budget)
                yield item
                if item.data is None or not is_container(item.media):
                    if item.digests is not None and is_container(item.media):
                        self._note(item_chain, "container too large to open in memory")
                    continue
                if depth + 1 >= self.limits.max_depth:
                    self._note(
                        item_chain, f"nested deeper than {self.limits.max_depth} levels; not opened"
                    )
                    continue
                digest = hashlib.sha256(item.data).hexdigest()
                if digest in ancestors:
                    self._note(item_chain, "container holds a copy of itself (quine); not opened")
                    continue
                yield from self._container(
                    io.BytesIO(item.data),
                    item.media,
                    m.name,
                    item_chain,
                    depth + 1,
                    ancestors | {digest},
                    budget,
                )
        except ContainerError as e:
            self._note(chain or name, str(e))

    def _read(self, m: Member, chain: str, depth: int, budget: Budget) -> InnerItem:
        limits = self.limits
        item = InnerItem(chain, depth)
        try:
            stream = m.open()
        except ContainerError as e:
            item.error = str(e)
        except LimitReached:
            raise
        except Exception as e:  # libraries raise assorted types on hostile members
            item.error = f"cannot read: {_why(e)}"
        if item.error:
            self._note(chain, item.error)
            return item
        buf = bytearray()
        hashers = None
        size = 0
        try:
            with stream:
                while chunk := stream.read(_CHUNK):
                    budget.take_bytes(len(chunk))
                    size += len(chunk)
                    if (
                        m.packed is not None
                        and size > limits.ratio_min_bytes
                        and size > limits.max_ratio * max(m.packed, 1)
                    ):
                        raise ContainerError(
                            f"compression ratio over {limits.max_ratio:g}:1 (a bomb?); "
                            f"stopped after {size} bytes"
                        )
                    if hashers is None:
                        buf += chunk
                        if len(buf) > limits.max_item_in_memory:
                            hashers = [hashlib.md5(), hashlib.sha1(), hashlib.sha256()]
                            for h in hashers:
                                h.update(buf)
                            item.head = bytes(buf[:SNIFF_BYTES])
                            buf = bytearray()
                    else:
                        for h in hashers:
                            h.update(chunk)
        except LimitReached:
            raise
        except ContainerError as e:
            item.error = str(e)
        except Exception as e:
            item.error = f"cannot read: {_why(e)}"
        item.size = size
        if item.error:
            self._note(chain, item.error)
            return item
        if hashers is None:
            item.data = bytes(buf)
            item.head = item.data[:SNIFF_BYTES]
        else:
            item.digests = (hashers[0].hexdigest(), hashers[1].hexdigest(), hashers[2].hexdigest())
        return item


def _why(e: Exception) -> str:
    return str(e) or type(e).__name__


def _clean_name(name: str) -> str:
    """A member name as shown in a chain: ``/`` separators, no leading ``/`` or ``./``,
    no control characters (a name is data from the archive, never trusted)."""
    name = name.replace("\\", "/")
    while name.startswith(("./", "/")):
        name = name[2:] if name.startswith("./") else name[1:]
    name = "".join(c if c.isprintable() else "?" for c in name)
    return name[:1024] or "?"


def walk_inside(
    source: bytes | str | os.PathLike,
    mime: str,
    name: str,
    limits: ContainerLimits | None = None,
    sha256: str | None = None,
) -> Walk:
    """A walk of ``source`` (the content, or the path of a file too big to hold in memory),
    a container of type ``mime`` named ``name``. Iterate it; then read ``incomplete``."""
    return Walk(source, mime, name, limits or ContainerLimits(), sha256)
