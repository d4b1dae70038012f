"""Hash-list entries and lists, and the error raised for bad list input."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


class ListFormatError(ValueError):
    """A hash list that cannot be loaded. Names the file, the line (if any) and the reason."""

    def __init__(self, path: str | Path, reason: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One hash of a list.

    ``signal`` is canonical (lowercase hex, or the canonical vpdq text); ``entry_id`` is the
    list's own id for the entry (CSV ``id``, VICS ``MediaID``, ClamAV name), else the line
    number as text. ``derived_from`` is set on hashes the product made from an imported one
    (never on what was imported).
    """

    signal_type: str
    signal: str
    entry_id: str
    category: str | None = None
    tags: tuple[str, ...] = ()
    size: int | None = None
    derived_from: str | None = None


@dataclass(slots=True)
class HashList:
    """A loaded hash list: a name, where it came from, its entries and its matching settings."""

    name: str
    entries: list[ListEntry]
    source: str = ""
    format: str = ""
    version: int | None = None
    pdq_threshold: int | None = None  # None: the matcher's default
    metadata: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)

    def counts(self) -> dict[str, int]:
        """Number of entries per signal type."""
        return dict(Counter(e.signal_type for e in self.entries))

    def categories(self) -> dict[str, int]:
        return dict(Counter(e.category or "" for e in self.entries))
