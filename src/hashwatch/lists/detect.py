"""Telling a hash list's format from its first bytes (never from its file name)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..signals import resolve
from .model import ListFormatError
from .readers import Reader, clamav, csvlist, hexlist, te, vics
from .textio import decode_head, is_utf16

TRIED = (
    "ThreatExchange lines (<signal_type> <hash>), "
    "CSV with a signal_type and signal (or signal_str) header or hash columns (md5, sha1, ...), "
    "Project VIC VICS JSON, "
    "ClamAV .hdb/.hsb lines (hash:size:name), "
    "bare hex hashes one per line"
)

_VICS_KEY = re.compile(r'"(?:odata\.metadata|@odata\.context)"\s*:')
_VICS_FIELDS = ('"MediaID"', '"MD5"', '"SHA1"', '"Media"')
_NEWLINE = re.compile(r"\r\n|\r|\n")
_CLAMAV = re.compile(r"^[0-9A-Fa-f]+:(?:\d+|\*):")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
#: python-threatexchange signal types that are not file hashes: a file of them is still a
#: ThreatExchange file (its reader names the type, or skips it when asked to).
_PYTX_OTHER = frozenset({"url", "url_md5", "raw_text", "trend_query"})


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """A format added from outside (the signed bundle, say): checked before the built-ins.

    ``sniff`` gets the file's first bytes; ``read`` is the reader (see ``readers``); its
    result's ``declared_name`` becomes the list's name when the caller passes none.
    """

    name: str
    label: str
    sniff: Callable[[bytes], bool]
    read: Reader


_REGISTERED: dict[str, FormatSpec] = {}


def register_format(spec: FormatSpec) -> FormatSpec:
    _REGISTERED[spec.name] = spec
    return spec


def registered_formats() -> dict[str, FormatSpec]:
    return dict(_REGISTERED)


def detect_format(head_bytes: bytes, path: str | Path = "<data>") -> str:
    """The format name of a list that starts with ``head_bytes``.

    Raises :class:`ListFormatError` (naming ``path``) for empty, binary or unrecognised
    input; the message lists the formats tried.
    """
    for spec in _REGISTERED.values():
        if spec.sniff(head_bytes):
            return spec.name
    if not is_utf16(head_bytes) and b"\x00" in head_bytes:
        line = head_bytes.count(b"\n", 0, head_bytes.index(b"\x00")) + 1
        raise ListFormatError(path, "binary data (NUL bytes), not a hash list", line)
    text, bad_line = decode_head(head_bytes)
    if bad_line is not None:
        raise ListFormatError(path, "not UTF-8 text: binary data or another encoding", bad_line)
    if not text.strip():
        raise ListFormatError(path, "no entries (the file is empty)")
    start = text.lstrip()
    if start.startswith(("{", "[")):
        if _VICS_KEY.search(text) or _vics_shape(text):
            return vics.FORMAT
        raise ListFormatError(
            path, "JSON, but not Project VIC VICS (no odata.metadata or @odata.context key)"
        )

    lines = _meaningful_lines(text)
    if not lines:
        raise ListFormatError(path, "no entries (only blank lines and comments)")
    number, first = lines[0]
    if csvlist.parse_header(first) is not None:
        return csvlist.FORMAT
    if _CLAMAV.match(first) or clamav.SECTION_LINE.match(first):
        return clamav.FORMAT
    if _HEX.fullmatch(first):
        return hexlist.FORMAT
    words = first.split(None, 1)
    if len(words) == 2 and _WORD.fullmatch(words[0]):
        if any(_te_word(line.split(None, 1)[0]) for _, line in lines):
            return te.FORMAT
        raise ListFormatError(
            path,
            f"unrecognised format: {words[0][:40]!r} is not a known signal type, and the line "
            f"is none of: {TRIED}",
            number,
        )
    shown = first if len(first) <= 60 else first[:60] + "..."
    raise ListFormatError(path, f"unrecognised format: {shown!r} is none of: {TRIED}", number)


def _vics_shape(text: str) -> bool:
    """A ``value`` list of VICS media without the OData header."""
    return '"value"' in text and any(field in text for field in _VICS_FIELDS)


def _te_word(word: str) -> bool:
    return resolve(word) is not None or word.lower() in _PYTX_OTHER


def _meaningful_lines(text: str, limit: int = 50) -> list[tuple[int, str]]:
    raw = _NEWLINE.split(text)
    out: list[tuple[int, str]] = []
    for number, line in enumerate(raw, start=1):
        s = line.strip()
        if s and not s.startswith("#"):
            out.append((number, s))
            if len(out) >= limit:
                break
    cut = not text.endswith(("\n", "\r"))  # the last line may go on past the head
    if cut and len(out) > 1 and out[-1][0] == len(raw):
        out.pop()
    return out
