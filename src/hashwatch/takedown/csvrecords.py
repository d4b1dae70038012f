"""The records of a small CSV file given as text (the takedown URL and host files)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator


class CsvLineError(ValueError):
    """Text that is not CSV; ``line`` is where the reader stopped."""

    def __init__(self, line: int, reason: str):
        super().__init__(reason)
        self.line, self.reason = line, reason


def records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each record, leaving out blank records and ``#`` comments
    (a UTF-8 byte-order mark at the start is dropped); raises :class:`CsvLineError`."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        for cells in reader:
            if any(c.strip() for c in cells) and not cells[0].lstrip().startswith("#"):
                yield reader.line_num, cells
    except csv.Error as e:
        raise CsvLineError(reader.line_num, str(e)) from None
