"""Bare hex hashes, one per line: 32 digits = md5, 40 = sha1, 64 = sha256 (or pdq if asked).

Blank lines and ``#`` comments are allowed; the entry id is the line number.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from ...signals import SignalType
from ..textio import iter_lines
from .common import Collector, ReadOptions, ReadResult, hex_type, is_meaningful

FORMAT = "hex"


def read(path: str | Path, fh: BinaryIO, options: ReadOptions) -> ReadResult:
    out = Collector(path, options)
    first: SignalType | None = None  # the first line's type explains a later odd line
    by_length = {n: hex_type(n, options.bare_hex_64) for n in (32, 40, 64)}
    for number, text in iter_lines(path, fh):
        if not is_meaningful(text):
            continue
        value = text.strip()
        st = by_length.get(len(value))
        if st is None:
            if first is not None:
                out.parse(first, value, number)  # raises with "<type> must be N hex digits"
            raise out.error(
                f"a bare hex hash must be 32, 40 or 64 hex digits, got {len(value)} characters",
                number,
            )
        first = first or st
        out.add(st, value, str(number), number)
    return out.finish(FORMAT, {"bare_hex_64": options.bare_hex_64})
