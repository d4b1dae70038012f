"""CSV hash lists, in two shapes told apart by the header.

* **signal rows**: a ``signal_type`` column and a ``signal`` column (python-threatexchange's
  ``threatexchange dataset -P --csv`` writes ``collab,signal_type,signal_str,category,tags``,
  tags joined by spaces). Optional ``id``, ``category``, ``tags``, ``size``, and ``list``: the
  list's own name (``hashwatch lists build --name``), the same on every row.
* **per-type columns**: one column per hash type (``md5``, ``sha1``, ``sha256``, ``pdq``...;
  ``MD5 Hash`` or ``SHA-1`` spelt loosely), as hotline exports have; a row with several
  hashes gives one entry per hash, all with the row's id.

Headers are matched case-insensitively; a UTF-8 BOM, ``#`` comment lines before the header,
``,`` ``;`` or tab delimiters and extra columns are all fine. Without an ``id`` column the
entry id is the row's line number.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ...signals import SignalType, resolve
from ..textio import MAX_LINE_BYTES, iter_lines
from .common import Collector, ReadOptions, ReadResult, clean, is_meaningful, split_tags

FORMAT = "csv"
DELIMITERS = (",", ";", "\t", "|")
MAX_COLUMNS = 10_000

# A field may be as long as a line (long vPDQ signals); only ever raised, never lowered.
if csv.field_size_limit() < MAX_LINE_BYTES:
    csv.field_size_limit(MAX_LINE_BYTES)

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_ROLES = {
    "signaltype": "signal_type",
    "signal": "signal",
    "signalstr": "signal_str",
    "id": "id",
    "entryid": "id",
    "mediaid": "id",
    "category": "category",
    "tags": "tags",
    "size": "size",
    "list": "list",
    "listname": "list",
}


@dataclass(frozen=True, slots=True)
class Header:
    """Where each known column is, found in a header row."""

    delimiter: str
    roles: dict[str, int]  # role -> column index
    type_columns: list[tuple[int, SignalType]]  # per-type shape: column index, its type

    @property
    def signal_rows(self) -> bool:
        return "signal_type" in self.roles and (
            "signal" in self.roles or "signal_str" in self.roles
        )

    @property
    def usable(self) -> bool:
        return self.signal_rows or bool(self.type_columns)


def column_type(name: str) -> SignalType | None:
    """The signal type a per-type column holds (``md5``, ``SHA-1``, ``MD5 Hash``...)."""
    low = name.strip().lower()
    squashed = _NON_ALNUM.sub("", low)
    for candidate in (low, squashed, squashed.removesuffix("hash"), squashed.removeprefix("hash")):
        if candidate and candidate not in _ROLES:
            st = resolve(candidate)
            if st is not None:
                return st
    return None


def parse_header(line: str) -> Header | None:
    """The header a CSV line would be, or None if no delimiter gives a usable one."""
    best: Header | None = None
    for delimiter in DELIMITERS:
        if delimiter not in line and delimiter != ",":
            continue
        try:
            cells = next(csv.reader([line], delimiter=delimiter), [])
        except csv.Error:
            continue
        roles: dict[str, int] = {}
        types: list[tuple[int, SignalType]] = []
        for i, cell in enumerate(cells):
            key = _NON_ALNUM.sub("", cell.replace("\ufeff", "").lower())
            role = _ROLES.get(key)
            if role is not None:
                roles.setdefault(role, i)
            elif (st := column_type(cell)) is not None:
                types.append((i, st))
        header = Header(delimiter, roles, types)
        if header.signal_rows:
            return header
        if header.usable and best is None:
            best = header
    return best


def read(path: str | Path, fh: BinaryIO, options: ReadOptions) -> ReadResult:
    out = Collector(path, options)
    lines = iter_lines(path, fh)
    header_line = 0
    header: Header | None = None
    for number, text in lines:
        if is_meaningful(text):
            header_line, header = number, parse_header(text.strip())
            if header is None:
                raise out.error(
                    "CSV header must name signal_type and signal (or signal_str) columns, "
                    "or hash columns such as md5, sha1, sha256, pdq",
                    number,
                )
            break
    if header is None:
        raise out.error("no entries")

    rows = csv.reader(_texts(lines), delimiter=header.delimiter, strict=True)
    offset = header_line  # reader.line_num counts lines after the header
    list_name: str | None = None  # a "list" column names the list (hashwatch lists build)
    list_index = header.roles.get("list")
    while True:
        start = offset + rows.line_num + 1
        try:
            row = next(rows, None)
        except csv.Error as e:
            where = "" if offset + rows.line_num == start else f" (in the row from line {start})"
            raise out.error(f"bad CSV: {e}{where}", offset + rows.line_num) from None
        if row is None:
            break
        number = offset + rows.line_num
        if len(row) > MAX_COLUMNS:
            raise out.error(f"more than {MAX_COLUMNS} columns", number)
        if not any(cell.strip() for cell in row):
            continue
        if list_index is not None and (here := clean(_cell(row, list_index))):
            if list_name is None:
                list_name = here
            elif here != list_name:
                raise out.error(
                    f"the list column says {here[:40]!r} but earlier rows say "
                    f"{list_name[:40]!r}: one file holds one list",
                    number,
                )
        _row(out, header, row, number)
    shape = "signal" if header.signal_rows else "columns"
    result = out.finish(FORMAT, {"csv_shape": shape})
    result.declared_name = list_name
    return result


def _texts(lines: Iterator[tuple[int, str]]) -> Iterator[str]:
    return (text for _, text in lines)


def _cell(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index]


def _row(out: Collector, header: Header, row: list[str], number: int) -> None:
    roles = header.roles
    entry_id = clean(_cell(row, roles.get("id"))) or str(number)
    category = clean(_cell(row, roles.get("category")))
    tags = split_tags(_cell(row, roles.get("tags")))
    size_text = _cell(row, roles.get("size")).strip()
    if size_text and not size_text.isdigit():
        raise out.error(f"size must be a whole number, got {size_text[:40]!r}", number)
    size = int(size_text) if size_text else None

    if header.signal_rows:
        type_name = _cell(row, roles.get("signal_type")).strip()
        signal_index = roles.get("signal", roles.get("signal_str"))
        signal = _cell(row, signal_index)
        if not type_name:
            raise out.error("empty signal_type", number)
        st = out.signal_type(type_name, number)
        if st is None:
            return
        if not signal.strip():
            raise out.error("empty signal", number)
        out.add(st, signal, entry_id, number, category=category, tags=tags, size=size)
        return

    found = False
    for index, st in header.type_columns:
        value = _cell(row, index)
        if value.strip():
            found = True
            out.add(
                st,
                value,
                entry_id,
                number,
                category=category,
                tags=tags,
                size=size,
                where=f"{st.name} column: ",
            )
    if not found:
        names = ", ".join(dict.fromkeys(st.name for _, st in header.type_columns))
        raise out.error(f"no hash in any of the columns {names}", number)


def sniff(first_line: str) -> bool:
    return parse_header(first_line) is not None
