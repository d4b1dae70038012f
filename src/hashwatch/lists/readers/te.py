"""ThreatExchange signal files: one ``<signal_type> <hash>`` per line.

This is what python-threatexchange's ``threatexchange hash`` prints and what many sharing
tools exchange. Blank lines and ``#`` comments are allowed. The entry id is the line number.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from ..textio import iter_lines
from .common import Collector, ReadOptions, ReadResult, is_meaningful

FORMAT = "threatexchange"


def read(path: str | Path, fh: BinaryIO, options: ReadOptions) -> ReadResult:
    out = Collector(path, options)
    for number, text in iter_lines(path, fh):
        if not is_meaningful(text):
            continue
        parts = text.strip().split(None, 1)
        if len(parts) != 2:
            raise out.error(
                f"expected '<signal_type> <hash>', got one word {parts[0][:40]!r}", number
            )
        st = out.signal_type(parts[0], number)
        if st is not None:
            out.add(st, parts[1], str(number), number)
    return out.finish(FORMAT)
