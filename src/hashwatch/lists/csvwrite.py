"""Writing a hash list as CSV that :func:`load_list` reads back to the same entries.

Columns ``signal_type,signal,id,category,tags`` (tags joined by spaces, as pytx does), plus
``size`` when some entry has one (ClamAV lists) and ``list`` (the list's name, on every row)
when a name is given: :func:`load_list` then names the list by it. ``derived_from`` is not
written: it marks hashes the product made itself, and an imported list never carries it.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from ..signals import InvalidSignal, resolve
from .model import HashList, ListEntry

COLUMNS = ("signal_type", "signal", "id", "category", "tags")
_BAD_TAG = re.compile(r"[\s,;]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def write_csv(
    hashlist_or_entries: HashList | Iterable[ListEntry],
    path_or_file: str | Path | TextIO,
    *,
    name: str | None = None,
) -> int:
    """Write entries as CSV to a path (atomically) or an open text file; returns the count.

    ``name`` is stored in a ``list`` column, so the list keeps its name whatever the file is
    called. Raises ValueError for an entry that would not read back as itself (a tag with a
    space, comma or semicolon; an id or category with surrounding spaces or control
    characters; a signal not in canonical form).
    """
    if isinstance(hashlist_or_entries, HashList):
        entries = list(hashlist_or_entries.entries)
    else:
        entries = list(hashlist_or_entries)
    for i, entry in enumerate(entries):
        _check(i, entry)
    if name is not None:
        _check_text("the list", "name", name, required=True)
    with_size = any(e.size is not None for e in entries)
    if isinstance(path_or_file, str | Path):
        _write_atomic(Path(path_or_file), entries, with_size, name)
    else:
        _write(path_or_file, entries, with_size, name)
    return len(entries)


def _write(out: TextIO, entries: list[ListEntry], with_size: bool, name: str | None) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS + (("size",) if with_size else ()) + (("list",) if name else ()))
    for e in entries:
        row = [e.signal_type, e.signal, e.entry_id, e.category or "", " ".join(e.tags)]
        if with_size:
            row.append("" if e.size is None else str(e.size))
        if name:
            row.append(name)
        writer.writerow(row)


def _write_atomic(path: Path, entries: list[ListEntry], with_size: bool, name: str | None) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            _write(out, entries, with_size, name)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check(i: int, e: ListEntry) -> None:
    where = f"entry {i} ({e.signal_type} {e.signal[:16]})"
    st = resolve(e.signal_type)
    if st is None or st.name != e.signal_type:
        raise ValueError(f"{where}: signal_type must be a canonical signal type name")
    try:
        canonical = st.parse(e.signal)
    except InvalidSignal as err:
        raise ValueError(f"{where}: {err}") from None
    if canonical != e.signal:
        raise ValueError(f"{where}: signal is not in canonical form")
    _check_text(where, "id", e.entry_id, required=True)
    if e.category is not None:
        _check_text(where, "category", e.category, required=True)
    for tag in e.tags:
        if not tag or _BAD_TAG.search(tag) or _CONTROL.search(tag):
            raise ValueError(f"{where}: tag {tag!r} is empty or contains a space, ',' or ';'")
    if e.size is not None and e.size < 0:
        raise ValueError(f"{where}: size must not be negative")


def _check_text(where: str, field: str, value: str, *, required: bool) -> None:
    if required and not value:
        raise ValueError(f"{where}: {field} must not be empty")
    if value != value.strip() or _CONTROL.search(value):
        raise ValueError(f"{where}: {field} {value!r} has surrounding spaces or control chars")
