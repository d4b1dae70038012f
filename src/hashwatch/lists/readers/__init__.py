"""One module per hash-list file format; each has ``FORMAT`` and ``read(path, fh, options)``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from . import clamav, csvlist, hexlist, te, vics
from .common import ReadOptions, ReadResult

Reader = Callable[[str | Path, BinaryIO, ReadOptions], ReadResult]

#: Built-in readers by format name.
BUILTIN: dict[str, Reader] = {
    te.FORMAT: te.read,
    csvlist.FORMAT: csvlist.read,
    vics.FORMAT: vics.read,
    clamav.FORMAT: clamav.read,
    hexlist.FORMAT: hexlist.read,
}

__all__ = ["BUILTIN", "ReadOptions", "ReadResult", "Reader"]
