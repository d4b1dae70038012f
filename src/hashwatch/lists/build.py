"""Making list entries from hashed content (``hashwatch lists build``)."""

from __future__ import annotations

from collections.abc import Iterable

from ..signals import PDQ_MIN_QUALITY
from ..signals.types import format_vpdq, parse_vpdq
from .model import ListEntry


def entries_for(
    hashes: Iterable[object],
    category: str | None = None,
    ids: Iterable[str] | None = None,
) -> tuple[list[ListEntry], int]:
    """Every signal of every item as list entries, and the number of PDQ hashes left out
    because their quality is too low to ever match. A picture also gets its derived
    ``pdq_center80`` hash (central 80%, when it was hashed with ``views``). Entries of one
    item share an id: the item's from ``ids`` if given, else the first 16 digits of its
    sha256 (stable, and says nothing about the content)."""
    id_iter = iter(ids) if ids is not None else None
    entries: list[ListEntry] = []
    seen: set[tuple[str, str]] = set()
    low = 0
    for h in hashes:
        entry_id = next(id_iter) if id_iter is not None else h.sha256[:16]  # type: ignore[attr-defined]
        signals = [("md5", h.md5), ("sha1", h.sha1), ("sha256", h.sha256)]  # type: ignore[attr-defined]
        pdq, quality = getattr(h, "pdq", None), getattr(h, "pdq_quality", None)
        if pdq:
            if quality is not None and quality >= PDQ_MIN_QUALITY:
                signals.append(("pdq", pdq))
                center = getattr(h, "pdq_center", None)
                if center:  # derived: matches copies cropped by up to ~12%
                    signals.append(("pdq_center80", center))
            else:
                low += 1
        vpdq = getattr(h, "vpdq", None)
        if vpdq:
            signals.append(("vpdq", distinct_frames(vpdq)))
        for st, value in signals:
            if (st, value) not in seen:
                seen.add((st, value))
                entries.append(ListEntry(st, value, entry_id, category))
    return entries, low


def distinct_frames(vpdq: str) -> str:
    """A vPDQ with each distinct frame hash once (its first frame): matching compares
    distinct hashes only, so a list entry loses nothing and a still scene costs one line."""
    seen: set[str] = set()
    keep = []
    for f in parse_vpdq(vpdq):
        if f.pdq not in seen:
            seen.add(f.pdq)
            keep.append(f)
    return format_vpdq(keep)
