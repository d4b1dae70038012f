"""What every reader shares: options, the result, and the collector that validates entries."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ...signals import InvalidSignal, SignalType, known_names, resolve
from ..model import ListEntry, ListFormatError

_TAG_SPLIT = re.compile(r"[\s,;]+")
_HEX = re.compile(r"[0-9a-fA-F]+")
_PLAIN_HEX: dict[str, bool] = {}


def _plain_hex(st: SignalType) -> bool:
    """True for types parsed by the base class as fixed-length hex (md5, sha1, sha256, pdq):
    for those a regular expression gives exactly :meth:`SignalType.parse`'s answer."""
    known = _PLAIN_HEX.get(st.name)
    if known is None:
        known = _PLAIN_HEX[st.name] = type(st).parse is SignalType.parse and st.hex_len > 0
    return known


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """Reader settings.

    ``bare_hex_64`` is the signal type of 64-digit bare hex lines (``sha256`` or ``pdq``).
    ``skip_unknown_types``: drop entries of a signal type hashwatch does not know (pytx
    exports carry ``url``, ``raw_text``...) and count them in the metadata, instead of failing.
    """

    bare_hex_64: str = "sha256"
    skip_unknown_types: bool = False


@dataclass(slots=True)
class ReadResult:
    """What a reader returns. ``declared_name`` is a name the file gives itself (a bundle's),
    which wins over the file name when the caller passes none."""

    entries: list[ListEntry]
    format: str
    metadata: dict[str, str] = field(default_factory=dict)
    declared_name: str | None = None


class Collector:
    """Validates and gathers entries for one file; raises on the first bad one.

    Keeps the first of any repeated ``(signal_type, signal)`` and counts the rest.
    """

    def __init__(self, path: str | Path, options: ReadOptions):
        self.path = path
        self.options = options
        self.entries: list[ListEntry] = []
        self._seen: set[tuple[str, str]] = set()
        self.duplicates = 0
        self.skipped_types: Counter[str] = Counter()

    def error(self, reason: str, line: int | None = None) -> ListFormatError:
        return ListFormatError(self.path, reason, line)

    def signal_type(self, name: str, line: int | None, where: str = "") -> SignalType | None:
        """The signal type called ``name``; None when unknown and unknown types are skipped."""
        st = resolve(name)
        if st is not None:
            return st
        if not name.strip():
            raise self.error(f"{where}empty signal type", line)
        if self.options.skip_unknown_types:
            self.skipped_types[name.strip()] += 1
            return None
        raise self.error(
            f"{where}unknown signal type {name.strip()!r} (known: {', '.join(known_names())})",
            line,
        )

    def parse(self, st: SignalType, text: str, line: int | None, where: str = "") -> str:
        if _plain_hex(st):  # the common case, checked without a method call per hash
            value = text.strip()
            if len(value) == st.hex_len and _HEX.fullmatch(value):
                return value.lower()
        try:
            return st.parse(text)
        except InvalidSignal as e:
            raise self.error(f"{where}{e}", line) from None

    def add(
        self,
        st: SignalType,
        text: str,
        entry_id: str,
        line: int | None,
        *,
        category: str | None = None,
        tags: tuple[str, ...] = (),
        size: int | None = None,
        where: str = "",
    ) -> None:
        self.add_canonical(
            st.name, self.parse(st, text, line, where), entry_id, category, tags, size
        )

    def add_canonical(
        self,
        signal_type: str,
        signal: str,
        entry_id: str,
        category: str | None = None,
        tags: tuple[str, ...] = (),
        size: int | None = None,
    ) -> None:
        """Add an entry whose signal is already parsed (canonical)."""
        key = (signal_type, signal)
        if key in self._seen:
            self.duplicates += 1
            return
        self._seen.add(key)
        self.entries.append(ListEntry(signal_type, signal, entry_id, category, tags, size))

    def finish(self, fmt: str, metadata: dict[str, str] | None = None) -> ReadResult:
        if not self.entries:
            if self.skipped_types:
                raise self.error(f"no entries of a known signal type (skipped {self._skipped()})")
            raise self.error("no entries")
        meta = {"duplicates": str(self.duplicates)}
        if self.skipped_types:
            meta["skipped_unknown_types"] = self._skipped()
        meta.update(metadata or {})
        return ReadResult(self.entries, fmt, meta)

    def _skipped(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.skipped_types.items()))


def split_tags(text: str) -> tuple[str, ...]:
    """Tags in one field, separated by spaces, commas or semicolons (pytx joins with spaces)."""
    return tuple(t for t in _TAG_SPLIT.split(text) if t)


def clean(text: str | None) -> str | None:
    """Stripped text, or None when empty."""
    if text is None:
        return None
    text = text.strip()
    return text or None


def is_meaningful(text: str) -> bool:
    """Not blank and not a ``#`` comment."""
    s = text.strip()
    return bool(s) and not s.startswith("#")


def hex_type(length: int, bare_hex_64: str) -> SignalType | None:
    """The signal type of a bare hex hash of ``length`` digits."""
    name = {32: "md5", 40: "sha1", 64: bare_hex_64}.get(length)
    return resolve(name) if name else None
