"""Reported URLs from a CSV file: ``url, reported_at, source, category, hashes``.

The header names the columns (any order; ``url`` is required, the others optional, unknown
ones refused). ``reported_at`` is ISO 8601 (``2026-11-20T14:03:00Z``; a time without a zone
is UTC; empty means "now"); ``hashes`` is ``type:hex`` separated by spaces, commas or
semicolons (see :func:`.service.parse_hashes`). Every problem names the line and field; a
URL that cannot be taken is left to :func:`.service.intake`, which names its line too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..store.db import naive_utc
from .csvrecords import CsvLineError, records
from .service import Report, TakedownError, parse_hashes

COLUMNS = ("url", "reported_at", "source", "category", "hashes")
MAX_ROWS = 100_000
MAX_FIELD = 10_000


@dataclass
class CsvReports:
    """The rows read: ``reports`` with ``where`` ("line N") beside each, and ``errors``
    (line, field, reason) of the rows left out."""

    name: str
    reports: list[Report] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    errors: list[tuple[int, str, str]] = field(default_factory=list)

    def error_texts(self, limit: int = 50) -> list[str]:
        return [f"{self.name}, line {n}, {f}: {r}" for n, f, r in self.errors[:limit]]


def parse_time(text: str, now: datetime) -> datetime:
    """An ISO 8601 time as naive UTC; raises ValueError saying what is wrong."""
    text = text.strip()
    if not text:
        return now
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text[:40]!r} is not an ISO 8601 time (like 2026-11-20T14:03:00Z)"
        ) from None
    return naive_utc(t)


def read_reports_csv(
    data: bytes | str, *, name: str, now: datetime, source: str = "csv"
) -> CsvReports:
    """Read the file; raises :class:`TakedownError` for a file that cannot be read at all
    (not UTF-8, no header, unknown columns, too many rows)."""
    out = CsvReports(name)
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TakedownError(f"{name}: not UTF-8 text (byte {e.start})", "file") from None
    columns: list[str] | None = None
    try:
        for line, cells in records(data):
            if columns is None:
                columns = _header(name, line, cells)
                continue
            if len(out.reports) + len(out.errors) >= MAX_ROWS:
                raise TakedownError(f"{name}: more than {MAX_ROWS} rows: split the file", "file")
            if any(len(c) > MAX_FIELD for c in cells):
                out.errors.append((line, "row", f"a field longer than {MAX_FIELD} characters"))
                continue
            if len(cells) != len(columns):
                out.errors.append(
                    (line, "row", f"{len(cells)} fields where the header has {len(columns)}")
                )
                continue
            row = dict(zip(columns, cells, strict=True))
            try:
                report = _report(row, now, source)
            except _FieldError as e:
                out.errors.append((line, e.field, e.reason))
                continue
            out.reports.append(report)
            out.where.append(f"line {line}")
    except CsvLineError as e:
        raise TakedownError(f"{name}, line {e.line}: {e.reason}", "file") from None
    if columns is None:
        raise TakedownError(f"{name}: empty (expected a header: {', '.join(COLUMNS)})", "file")
    return out


class _FieldError(Exception):
    def __init__(self, field_name: str, reason: str):
        self.field, self.reason = field_name, reason


def _header(name: str, line: int, cells: list[str]) -> list[str]:
    columns = [c.strip().lower() for c in cells]
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise TakedownError(
            f"{name}, line {line}: unknown column(s) {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(COLUMNS)})",
            "header",
        )
    if "url" not in columns:
        raise TakedownError(f"{name}, line {line}: no 'url' column in the header", "header")
    if len(set(columns)) != len(columns):
        raise TakedownError(f"{name}, line {line}: a column is named twice", "header")
    return columns


def _report(row: dict[str, str], now: datetime, source: str) -> Report:
    url = row["url"].strip()
    if not url:
        raise _FieldError("url", "empty")
    try:
        reported_at = parse_time(row.get("reported_at", ""), now)
    except ValueError as e:
        raise _FieldError("reported_at", str(e)) from None
    if reported_at > now:
        raise _FieldError("reported_at", "in the future")
    try:
        hashes = parse_hashes(row.get("hashes", ""), "hashes")
    except TakedownError as e:
        raise _FieldError("hashes", str(e)) from None
    return Report(
        url=url,
        reported_at=reported_at,
        source=(row.get("source") or "").strip() or source,
        category=(row.get("category") or "").strip() or None,
        hashes=hashes,
    )
