"""Project VIC / VICS JSON (OData), versions 1.x and 2.0.

The outline (from the VICS exporters and importers of forensic tools):

* 1.x: ``{"odata.metadata": ".../ProjectVic/DataModels/1.3.xml#Cases", "value": [...]}``;
  2.0: ``{"@odata.context": ".../VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media",
  "value": [...]}``.
* ``value`` holds either media records directly (a hash set, ``#Media``) or cases
  (``#Cases``), each with its media under ``Media``.
* A media record has ``MediaID``, ``Category`` (0-5, a name, or null), ``MediaSize`` and its
  hashes in ``MD5`` / ``SHA1`` (``SHA256`` if present), in ``AlternativeHashes``
  (``[{"HashName": "SHA1", "HashValue": ...}]``) and in ``MediaFiles`` (``[{"MD5": ...}]``).
  Hash names hashwatch does not use (PhotoDNA, ...) are skipped and counted.

Each distinct hash of a record becomes an entry with the record's ``MediaID`` as its id
(else the record's line). The file is streamed: memory holds one record at a time, not the
document.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import BinaryIO

from ...signals import SignalType, get, resolve
from ..jsonstream import JsonStream, JsonStreamError
from ..model import ListFormatError
from ..textio import text_stream
from .common import Collector, ReadOptions, ReadResult, clean

FORMAT = "vics"
_VERSION = re.compile(r"DataModels/(\d+(?:\.\d+)*)", re.IGNORECASE)
_DIRECT_KEYS = ("md5", "sha1", "sha256")
_DIRECT = [(key, key.upper(), get(key)) for key in _DIRECT_KEYS]
_LOOKAHEAD = 64 * 1024


class _Vics:
    def __init__(self, out: Collector):
        self.out = out
        self.records = 0
        self.skipped_hashes: Counter[str] = Counter()

    def record(self, rec: object, line: int, where: str) -> None:
        """Turn one media record into entries (or raise naming it)."""
        out = self.out
        if not isinstance(rec, dict):
            raise out.error(f"{where} is not an object", line)
        self.records += 1
        fields = {str(k).lower(): v for k, v in rec.items()}
        media_id = _text(fields.get("mediaid"))
        if media_id is not None:
            where = f"{where} (MediaID {media_id[:40]})"
        where += ": "
        category = _category(out, fields.get("category"), line, where)
        size = _size(fields.get("mediasize"))
        hashes: dict[tuple[str, str], tuple[SignalType, str]] = {}

        def take(st: SignalType, value: object, label: str) -> None:
            if value is None or value == "":
                return
            if not isinstance(value, str):
                raise out.error(f"{where}{label} must be text", line)
            signal = out.parse(st, value, line, f"{where}{label}: ")
            hashes.setdefault((st.name, signal), (st, signal))

        for key, label, st in _DIRECT:
            take(st, fields.get(key), label)
        for alt in _list(out, fields.get("alternativehashes"), line, where, "AlternativeHashes"):
            alt_fields = {str(k).lower(): v for k, v in alt.items()}
            name = alt_fields.get("hashname")
            st = resolve(name) if isinstance(name, str) else None
            if st is None:
                self.skipped_hashes[str(name)] += 1
                continue
            take(st, alt_fields.get("hashvalue"), f"AlternativeHashes {name}")
        for mf in _list(out, fields.get("mediafiles"), line, where, "MediaFiles"):
            mf_fields = {str(k).lower(): v for k, v in mf.items()}
            for key, label, st in _DIRECT:
                take(st, mf_fields.get(key), f"MediaFiles {label}")
        if not hashes:
            raise out.error(f"{where}no MD5, SHA1 or SHA256 hash", line)
        entry_id = media_id or str(line)
        for st, signal in hashes.values():
            out.add_canonical(st.name, signal, entry_id, category, (), size)


def read(path: str | Path, fh: BinaryIO, options: ReadOptions) -> ReadResult:
    out = Collector(path, options)
    vics = _Vics(out)
    text = text_stream(path, fh)
    try:
        return _read(path, text, out, vics)
    finally:
        text.detach()  # the caller owns (and closes) the binary file


def _read(path: str | Path, text, out: Collector, vics: _Vics) -> ReadResult:
    stream = JsonStream(text)
    header: dict[str, str] = {}
    try:
        if stream.peek() != "{":
            raise stream.error("VICS JSON must be an object with a 'value' list")
        seen_value = False
        for key in stream.members():
            low = key.lower()
            if low == "value":
                seen_value = True
                _value_list(stream, vics)
            elif low in ("odata.metadata", "@odata.context"):
                text = stream.value()
                header[low] = text if isinstance(text, str) else ""
            else:
                stream.value()
        stream.end()
    except JsonStreamError as e:
        raise out.error(e.reason, e.line) from None
    if not seen_value:
        raise out.error("VICS JSON has no 'value' list")
    meta = {"vics_version": _version(header), "vics_records": str(vics.records)}
    if "@odata.context" in header or "odata.metadata" in header:
        meta["vics_context"] = header.get("@odata.context") or header.get("odata.metadata", "")
    if vics.skipped_hashes:
        meta["skipped_hashes"] = ", ".join(
            f"{k}={v}" for k, v in sorted(vics.skipped_hashes.items())
        )
    return out.finish(FORMAT, meta)


def _value_list(stream: JsonStream, vics: _Vics) -> None:
    if stream.peek() != "[":
        raise stream.error("'value' must be a list")
    for index in stream.items():
        where = f"value[{index}]"
        if stream.peek() != "{":
            raise stream.error(f"{where} is not an object")
        line = stream.line()
        ok, obj = stream.try_value(_LOOKAHEAD)
        if not ok:
            _walk_element(stream, vics, where, line)
            continue
        try:
            _decoded_element(obj, vics, where, line)
        except ListFormatError as first:
            # Walk the element again token by token (its text is still in the buffer) to
            # report the line of the bad record itself rather than of the element.
            stream.pos = stream.last_start
            _walk_element(stream, vics, where, line)
            raise first from None


def _decoded_element(obj: object, vics: _Vics, where: str, line: int) -> None:
    assert isinstance(obj, dict)
    media = next((v for k, v in obj.items() if k.lower() == "media"), None)
    if media is None:
        vics.record(obj, line, where)
        return
    if not isinstance(media, list):
        raise vics.out.error(f"{where}.Media must be a list", line)
    for i, rec in enumerate(media):
        vics.record(rec, line, f"{where}.Media[{i}]")


def _walk_element(stream: JsonStream, vics: _Vics, where: str, line: int) -> None:
    """A case (with a ``Media`` list, streamed record by record) or a large media record."""
    fields: dict[str, object] = {}
    is_case = False
    for key in stream.members():
        if key.lower() == "media" and stream.peek() == "[":
            is_case = True
            for i in stream.items():
                stream.peek()  # to the record's first character
                rec_line = stream.line()
                vics.record(stream.value(), rec_line, f"{where}.Media[{i}]")
        else:
            fields[key] = stream.value()
    if not is_case:
        vics.record(fields, line, where)


def _version(header: dict[str, str]) -> str:
    context = header.get("@odata.context") or header.get("odata.metadata") or ""
    m = _VERSION.search(context)
    if m:
        return m.group(1)
    if "@odata.context" in header:
        return "2"
    return "1" if "odata.metadata" in header else ""


def _text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return clean(str(value))


def _category(out: Collector, value: object, line: int, where: str) -> str | None:
    if isinstance(value, dict | list):
        raise out.error(f"{where}Category must be a number or text", line)
    if isinstance(value, bool):
        return str(value).lower()
    return _text(value)


def _size(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _list(out: Collector, value: object, line: int, where: str, label: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise out.error(f"{where}{label} must be a list of objects", line)
    return value
