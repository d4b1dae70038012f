"""What every container reader shares: the limits, the budget of one outer file, the
members a reader yields and the two ways a walk stops short.

A reader is a function ``members(source, budget, name) -> Iterator[Member]``: ``source`` is a
seekable binary file (in memory or the file on disk), ``name`` the container's own name (for
single-stream formats that name their content after it). It yields the container's items in
their stored order and never extracts anything to disk except into a private temporary
directory it removes itself. It raises :class:`ContainerError` when the container cannot be
(fully) read (corrupt, encrypted, unsupported) and lets :class:`LimitReached` from the
budget propagate.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol


@dataclass(frozen=True, slots=True)
class ContainerLimits:
    """Limits on looking inside one file (the whole tree of containers under it)."""

    #: Containers nested deeper than this are hashed as files but not opened
    #: (the outer file's own items are depth 1).
    max_depth: int = 8
    #: Items (files inside containers, at any depth) per outer file.
    max_items: int = 100_000
    #: Uncompressed bytes read from inside containers, per outer file.
    max_total_bytes: int = 8 << 30
    #: One item larger than this gets exact hashes only (streamed), no decoding.
    max_item_in_memory: int = 256 << 20
    #: Uncompressed/compressed ratio above which an item is treated as a bomb (only checked
    #: for items over ``ratio_min_bytes``: tiny files of zeros compress very well too).
    max_ratio: float = 200.0
    ratio_min_bytes: int = 16 << 20
    #: Wall-clock seconds for one outer file and everything inside it.
    max_seconds: float = 45.0


class LimitReached(Exception):
    """A limit stopped the walk of the whole outer file; the message is the reason."""


class ContainerError(Exception):
    """One container could not be read (fully); the message is the reason. The walk goes on
    with its siblings."""


class EncryptedError(ContainerError):
    """Encrypted content that cannot be read without a password."""


@dataclass(slots=True)
class Budget:
    """What is left of the limits while one outer file is walked."""

    limits: ContainerLimits = field(default_factory=ContainerLimits)
    items: int = 0
    bytes: int = 0
    deadline: float = 0.0
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if not self.deadline:
            self.deadline = self.clock() + self.limits.max_seconds

    def check_time(self) -> None:
        if self.clock() > self.deadline:
            raise LimitReached(f"time limit of {self.limits.max_seconds:g} s reached")

    def take_item(self) -> None:
        self.check_time()
        if self.items >= self.limits.max_items:
            raise LimitReached(f"more than {self.limits.max_items} items inside")
        self.items += 1

    def take_bytes(self, n: int) -> None:
        """Count ``n`` uncompressed bytes read; call it as bytes arrive (per chunk)."""
        self.bytes += n
        if self.bytes > self.limits.max_total_bytes:
            raise LimitReached(f"more than {self.limits.max_total_bytes} uncompressed bytes inside")
        self.check_time()


@dataclass(slots=True)
class Member:
    """One item inside a container.

    ``name`` is its path inside the container (``/``-separated, as stored). ``size`` is its
    declared uncompressed size if the format says (None if not); ``packed`` its compressed
    size if known (for the ratio check). ``open()`` gives a binary stream of its content;
    the walker reads it in chunks and counts every byte against the budget, so a member
    whose real size differs from the declared one is still bounded.
    """

    name: str
    size: int | None
    open: Callable[[], BinaryIO]
    packed: int | None = None
    #: Set when the member cannot be read (e.g. encrypted, an unsupported method): the
    #: walker lists it as not scanned with this reason and does not call ``open``.
    skip: str | None = None


class Reader(Protocol):
    def __call__(self, source: BinaryIO, budget: Budget, name: str) -> Iterator[Member]: ...


class MemberStream(io.RawIOBase):
    """Base of the readers' member streams: a subclass implements ``_read(size)`` for a
    positive ``size`` (returning b"" at the end); reading all and ``readinto`` come from
    here."""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        return self._read(size)

    def _read(self, size: int) -> bytes:
        raise NotImplementedError
