"""ClamAV hash signatures: ``.hdb`` (``md5:size:name``) and ``.hsb`` (``sha1|sha256:size:name``).

A line may carry ClamAV's functionality levels after the name (``:min[:max]``); a size of
``*`` means "any size". The entry id is the signature name; the size is kept.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO

from ..textio import iter_lines
from .common import Collector, ReadOptions, ReadResult, hex_type, is_meaningful

FORMAT = "clamav"
#: ``size:hash:name``: ClamAV's PE-section hashes (.mdb/.msb), not whole-file hashes.
SECTION_LINE = re.compile(r"^\s*(\d+|\*):[0-9A-Fa-f]{32,64}:")


def read(path: str | Path, fh: BinaryIO, options: ReadOptions) -> ReadResult:
    out = Collector(path, options)
    kinds: set[str] = set()
    for number, text in iter_lines(path, fh):
        if not is_meaningful(text):
            continue
        line = text.strip()
        if SECTION_LINE.match(line):
            raise out.error(
                "this is a ClamAV .mdb/.msb PE-section signature (size:hash:name); only "
                ".hdb/.hsb whole-file hashes (hash:size:name) can be used",
                number,
            )
        fields = line.split(":")
        if not 3 <= len(fields) <= 5:
            raise out.error(f"expected hash:size:name, got {len(fields)} fields", number)
        digest, size_text, name = fields[0].strip(), fields[1].strip(), fields[2].strip()
        st = hex_type(len(digest), "sha256")
        if st is None:
            raise out.error(
                f"hash must be 32 (md5), 40 (sha1) or 64 (sha256) hex digits, "
                f"got {len(digest)} characters",
                number,
            )
        if size_text == "*":
            size = None
        elif size_text.isdigit():
            size = int(size_text)
        else:
            raise out.error(f"size must be a number or '*', got {size_text[:40]!r}", number)
        if not name:
            raise out.error("empty signature name", number)
        for level in fields[3:]:
            if level.strip() and not level.strip().isdigit():
                raise out.error(f"functionality level must be a number, got {level!r}", number)
        out.add(st, digest, name, number, size=size)
        kinds.add("hdb" if st.name == "md5" else "hsb")
    return out.finish(FORMAT, {"clamav": "+".join(sorted(kinds))})
