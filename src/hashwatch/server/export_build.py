"""Evidence exports: the files handed over for one incident or a case, for police or legal use.

:func:`build_export` turns incidents (as the server's API returns them) and a custody record
into five files; :func:`zip_export` packs them with a ``MANIFEST.sha256`` a recipient checks
with ``sha256sum -c``.

==================  ==========================================================================
``incidents.json``  ``{"export": <custody, incident ids, list versions>, "incidents": [...]}``,
                    the authoritative data (ASCII, so bidi and control characters stay escaped)
``incidents.csv``   one row per incident, flattened; UTF-8 with a BOM (for spreadsheets) and
                    cells that a spreadsheet would run as formulas prefixed with ``'``
``summary.pdf``     a human-readable summary (core fonts: text outside Latin-1 and control
                    characters are shown as ``\\uXXXX`` escapes; very long values are cut)
``vics.json``       the matched media hashes as Project VIC VICS 2.0 (``MediaID`` = incident id)
``custody.json``    the custody record, incident ids, list versions and the SHA-256 of the
                    four other files
==================  ==========================================================================

Exports carry metadata and hashes only: never an image, a thumbnail or a link to one (the
server has none). The same input always gives the same bytes: the PDF's creation date and
the zip's timestamps come from ``custody["exported_at"]``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

__all__ = [
    "CSV_COLUMNS",
    "FILE_NAMES",
    "MANIFEST_NAME",
    "NO_IMAGES_STATEMENT",
    "build_export",
    "zip_export",
]

FILE_NAMES = ("incidents.json", "incidents.csv", "summary.pdf", "vics.json", "custody.json")
MANIFEST_NAME = "MANIFEST.sha256"
NO_IMAGES_STATEMENT = "This document contains no images or previews of the matched content."
PDF_TITLE = "hashwatch evidence summary"
VICS_CONTEXT = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media"

#: CSV column -> path of keys in an incident.
CSV_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("id", ("id",)),
    ("hostname", ("device", "hostname")),
    ("site", ("device", "site")),
    ("os_user", ("os_user",)),
    ("detected_at", ("detected_at",)),
    ("detected_local", ("detected_local",)),
    ("received_at", ("received_at",)),
    ("trigger", ("trigger",)),
    ("status", ("status",)),
    ("resolution", ("resolution",)),
    ("path", ("file", "path")),
    ("inner", ("file", "inner")),
    ("size", ("file", "size")),
    ("sha256", ("file", "sha256")),
    ("md5", ("file", "md5")),
    ("sha1", ("file", "sha1")),
    ("pdq", ("file", "pdq")),
    ("volume_kind", ("file", "volume", "kind")),
    ("volume_label", ("file", "volume", "label")),
    ("volume_serial", ("file", "volume", "serial")),
    ("signal_type", ("match", "signal_type")),
    ("distance", ("match", "distance")),
    ("list", ("match", "list")),
    ("list_version", ("match", "list_version")),
    ("entry_id", ("match", "entry_id")),
    ("category", ("match", "category")),
    ("outside_hours", ("derived", "outside_hours")),
    ("off_network", ("derived", "off_network")),
    ("removable_media", ("derived", "removable_media")),
    ("origin_url", ("origin_url",)),
)

# A cell starting with one of these is a formula (or becomes one) in Excel / LibreOffice;
# the full-width forms are included because some spreadsheet locales normalise them.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}
_HEX = re.compile(r"[0-9a-fA-F]+")

# PDF: everything outside printable Latin-1 (controls, C1, soft hyphen, non-Latin-1, lone
# surrogates) is shown escaped; that also neutralises bidi overrides (U+202E...).
_PDF_UNSAFE = re.compile(r"[^\x20-\x7e\xa0-\xac\xae-\xff]")
_PDF_MAX_CHARS = 20_000  # per value, after escaping; incidents.json has the full value
_PDF_TRAIL_MAX = 50
# Total-pages placeholder: holds a control character, which _pdf_text always escapes, so no
# value from an endpoint can contain it (unlike fpdf2's default "{nb}").
_NB_ALIAS = "\x01nb\x01"
_LABEL_W = 40.0
_LINE_H = 4.2
_FONT = "Helvetica"
_MONO = "Courier"
_SIZE = 8.5


# --- building --------------------------------------------------------------------------------


def build_export(incidents: list[dict], custody: dict) -> dict[str, bytes]:
    """The export files for ``incidents`` (one, or a case's) under the ``custody`` record.

    Returns ``incidents.json``, ``incidents.csv``, ``summary.pdf``, ``vics.json`` and
    ``custody.json`` (in that order). Incident values may be missing or None anywhere
    except where noted in the module docstring; ``custody["exported_at"]`` must be an ISO
    8601 time. Raises ValueError for a bad ``exported_at``.
    """
    incidents = list(incidents)
    exported_at = _parse_time(custody.get("exported_at"))
    export = _export_record(incidents, custody)
    files: dict[str, bytes] = {
        "incidents.json": _json_bytes({"export": export, "incidents": incidents}),
        "incidents.csv": _incidents_csv(incidents),
        "vics.json": _vics_json(incidents),
    }
    data_hashes = {name: _sha256(data) for name, data in files.items()}
    files["summary.pdf"] = _summary_pdf(incidents, export, data_hashes, exported_at)
    others = [name for name in FILE_NAMES if name != "custody.json"]
    files["custody.json"] = _json_bytes(
        {**export, "files": {name: _sha256(files[name]) for name in others}}
    )
    return {name: files[name] for name in FILE_NAMES}


def _export_record(incidents: list[dict], custody: Mapping[str, Any]) -> dict[str, Any]:
    """The custody record plus the incident ids and the (list, version) pairs matched."""
    record = {k: v for k, v in custody.items() if k != "files"}
    record["incidents"] = [_get(inc, "id") for inc in incidents]
    record["list_versions"] = _list_versions(incidents)
    return record


def _list_versions(incidents: Iterable[object]) -> list[list[Any]]:
    pairs: set[tuple[str, int | str | None]] = set()
    for inc in incidents:
        name = _get(inc, "match", "list")
        if name is None:
            continue
        version = _get(inc, "match", "list_version")
        if not _is_int(version) and version is not None:
            version = _text(version)
        pairs.add((_text(name), version))
    return [list(p) for p in sorted(pairs, key=_version_key)]


def _version_key(pair: tuple[str, int | str | None]) -> tuple[str, int, int, str]:
    name, version = pair
    if version is None:
        return (name, 2, 0, "")
    if isinstance(version, int):
        return (name, 0, version, "")
    return (name, 1, 0, version)


# --- small helpers ----------------------------------------------------------------------------


def _get(obj: object, *keys: str) -> Any:
    """``obj[k1][k2]...``, or None where a level is missing or not a dict."""
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _dicts(value: object) -> list[Mapping[str, Any]]:
    """The dict items of a list (anything else: none)."""
    if not isinstance(value, list | tuple):
        return []
    return [v for v in value if isinstance(v, Mapping)]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _iso(value: datetime | date) -> str:
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None).isoformat() + "Z"
    return value.isoformat()


def _text(value: object) -> str:
    """A value as text: "" for None, true/false, ISO times, compact JSON for containers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, datetime | date):
        return _iso(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, ensure_ascii=True, default=_json_default)
    return str(value)


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return _iso(value)
    return str(value)  # UUID, Decimal, ...


def _json_bytes(obj: object) -> bytes:
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=True, default=_json_default)
    return (text + "\n").encode("ascii")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _parse_time(value: object) -> datetime:
    """An aware UTC datetime from an ISO 8601 text (``Z`` accepted) or a datetime."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"custody exported_at is not an ISO 8601 time: {value!r}") from None
    else:
        raise ValueError(f"custody exported_at must be an ISO 8601 time, not {value!r}")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _hex(value: object, kind: str) -> str | None:
    """``value`` as lowercase hex when it is a well-formed hash of ``kind``, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if len(value) != _HEX_LENGTHS[kind] or not _HEX.fullmatch(value):
        return None
    return value.lower()


# --- CSV --------------------------------------------------------------------------------------


def _csv_cell(value: object) -> str:
    """The cell text; one a spreadsheet would run as a formula gets a leading apostrophe."""
    text = _text(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _incidents_csv(incidents: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([name for name, _ in CSV_COLUMNS])
    for inc in incidents:
        writer.writerow([_csv_cell(_get(inc, *path)) for _, path in CSV_COLUMNS])
    # utf-8-sig: spreadsheets then read UTF-8; lone surrogates cannot be UTF-8: escaped.
    return out.getvalue().encode("utf-8-sig", errors="backslashreplace")


# --- VICS -------------------------------------------------------------------------------------


def _vics_json(incidents: list[dict]) -> bytes:
    records = [rec for rec in map(_vics_record, incidents) if rec is not None]
    return _json_bytes({"@odata.context": VICS_CONTEXT, "value": records})


def _vics_record(incident: object) -> dict[str, Any] | None:
    """One VICS media record, or None when the incident has no well-formed MD5/SHA1/SHA256
    (a VICS reader rejects a record without one). Malformed hashes are left out."""
    file = _get(incident, "file")
    hashes = {kind: _hex(_get(file, kind), kind) for kind in ("md5", "sha1", "sha256")}
    if not any(hashes.values()):
        return None
    record: dict[str, Any] = {
        "Category": _vics_category(_get(incident, "match", "category")),
        "MediaSize": _get(file, "size") if _is_nonneg_int(_get(file, "size")) else None,
    }
    incident_id = _get(incident, "id")
    if incident_id is not None:
        record["MediaID"] = _text(incident_id)
    for kind, value in hashes.items():
        if value:
            record[kind.upper()] = value
    pdq = _hex(_get(file, "pdq"), "pdq")
    if pdq:
        record["AlternativeHashes"] = [{"HashName": "PDQ", "HashValue": pdq}]
    return record


def _is_nonneg_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _vics_category(value: object) -> int | None:
    """VICS categories are 0-5; a list's own category names (``A``, ...) do not map."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 5:
        return value
    if isinstance(value, str) and len(value.strip()) == 1 and value.strip() in "012345":
        return int(value.strip())
    return None


# --- PDF --------------------------------------------------------------------------------------


class _SummaryPDF(FPDF):
    """A4 pages whose footer names the export and numbers the page."""

    def __init__(self, export_id: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.export_id = export_id

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(_FONT, "", 7)
        text = f"hashwatch export {self.export_id}   |   page {self.page_no()} of {_NB_ALIAS}"
        self.cell(0, 5, text, align="C")


def _pdf_text(value: object, *, limit: int = _PDF_MAX_CHARS) -> str:
    """Text that core fonts can show: unsafe characters escaped, long values cut."""
    raw = _text(value)
    text = _PDF_UNSAFE.sub(_escape_char, raw)
    if not text:
        return "-"
    if len(text) > limit:
        text = text[:limit] + f" [... cut; all {len(raw)} characters are in incidents.json]"
    return text


def _escape_char(m: re.Match[str]) -> str:
    code = ord(m.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _yes_no(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return _text(value)


def _delay(value: object) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        return _text(value)
    seconds = value
    minutes, secs = divmod(abs(seconds), 60)
    hours, mins = divmod(minutes, 60)
    sign = "-" if seconds < 0 else ""
    return f"{seconds} s ({sign}{hours} h {mins} min {secs} s)"


def _new_pdf(export_id: str, exported_at: datetime) -> _SummaryPDF:
    pdf = _SummaryPDF(_pdf_text(export_id, limit=80))
    pdf.alias_nb_pages(_NB_ALIAS)
    pdf.set_creation_date(exported_at)
    pdf.set_title(PDF_TITLE)
    pdf.set_subject(f"hashwatch export {_pdf_text(export_id, limit=80)}")
    pdf.set_creator("hashwatch")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=18)
    return pdf


def _summary_pdf(
    incidents: list[dict],
    export: Mapping[str, Any],
    data_hashes: Mapping[str, str],
    exported_at: datetime,
) -> bytes:
    pdf = _new_pdf(_text(export.get("export_id")), exported_at)
    pdf.add_page()
    pdf.set_font(_FONT, "B", 16)
    pdf.cell(0, 9, PDF_TITLE, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _pdf_custody(pdf, export, exported_at, data_hashes, len(incidents))
    for number, incident in enumerate(incidents, 1):
        pdf.add_page()
        _pdf_incident(pdf, incident, number, len(incidents))
    return bytes(pdf.output())


def _heading(pdf: FPDF, text: str, size: float = 11) -> None:
    pdf.ln(2)
    pdf.set_font(_FONT, "B", size)
    pdf.multi_cell(0, size * 0.5, _pdf_text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)


def _paragraph(pdf: FPDF, text: str, style: str = "") -> None:
    pdf.set_font(_FONT, style, _SIZE)
    pdf.multi_cell(0, _LINE_H, _pdf_text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")


def _row(pdf: FPDF, label: str, value: object, mono: bool = False) -> None:
    """A label and its value; the value wraps within its column (long words too)."""
    pdf.set_font(_FONT, "B", _SIZE)
    pdf.cell(_LABEL_W, _LINE_H, label)
    pdf.set_font(_MONO if mono else _FONT, "", _SIZE)
    pdf.multi_cell(0, _LINE_H, _pdf_text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT, align="L")


def _pdf_custody(
    pdf: FPDF,
    export: Mapping[str, Any],
    exported_at: datetime,
    data_hashes: Mapping[str, str],
    count: int,
) -> None:
    _heading(pdf, "Export")
    _row(pdf, "Export id", export.get("export_id"), mono=True)
    _row(pdf, "Exported at (UTC)", _iso(exported_at))
    _row(pdf, "Exported by", export.get("exported_by"))
    _row(pdf, "Reason", export.get("reason"))
    _row(pdf, "Case", export.get("case"))
    _row(pdf, "Server", export.get("server"))
    _row(pdf, "Incidents", count)
    versions = export.get("list_versions") or []
    lists = ", ".join(f"{name} (version {_text(v) or '-'})" for name, v in versions)
    _row(pdf, "Hash lists", lists)
    pdf.ln(3)
    _paragraph(pdf, NO_IMAGES_STATEMENT, "B")
    pdf.ln(2)
    _paragraph(
        pdf,
        "incidents.json holds the complete data; this summary shows characters outside "
        "Latin-1 and control characters as \\xNN / \\uNNNN escapes and may shorten very long "
        "values. Each file's SHA-256 is listed in custody.json and MANIFEST.sha256.",
    )
    _heading(pdf, "Accompanying files (SHA-256)")
    for name, digest in data_hashes.items():
        _row(pdf, name, digest, mono=True)


def _pdf_incident(pdf: FPDF, incident: object, number: int, total: int) -> None:
    _heading(pdf, f"Incident {number} of {total}", 13)
    for section, rows in _incident_sections(incident):
        _heading(pdf, section, 10)
        for label, value, mono in rows:
            _row(pdf, label, value, mono)
    _pdf_trail(pdf, _get(incident, "trail"))
    _pdf_history(pdf, _get(incident, "history"))


# How a value is shown: "text", "mono" (hashes, ids), "flag" (yes/no), "delay" (seconds),
# "list" (joined with commas).
_SECTIONS: tuple[tuple[str, tuple[tuple[str, tuple[str, ...], str], ...]], ...] = (
    (
        "Incident",
        (
            ("Incident id", ("id",), "mono"),
            ("Device", ("device", "hostname"), "text"),
            ("Device id", ("device", "id"), "mono"),
            ("Site", ("device", "site"), "text"),
            ("User", ("os_user",), "text"),
            ("Detected (UTC)", ("detected_at",), "text"),
            ("Detected (local)", ("detected_local",), "text"),
            ("Received (UTC)", ("received_at",), "text"),
            ("Delivery delay", ("delivery_delay_seconds",), "delay"),
            ("Trigger", ("trigger",), "text"),
            ("Status", ("status",), "text"),
            ("Resolution", ("resolution",), "text"),
        ),
    ),
    (
        "File",
        (
            ("Path", ("file", "path"), "text"),
            ("Inner (archive)", ("file", "inner"), "text"),
            ("Size (bytes)", ("file", "size"), "text"),
            ("Modified (UTC)", ("file", "mtime"), "text"),
            ("Changed (UTC)", ("file", "ctime"), "text"),
            ("Volume kind", ("file", "volume", "kind"), "text"),
            ("Volume label", ("file", "volume", "label"), "text"),
            ("Volume serial", ("file", "volume", "serial"), "mono"),
            ("Volume mount", ("file", "volume", "mount"), "text"),
        ),
    ),
    (
        "Hashes",
        (
            ("SHA-256", ("file", "sha256"), "mono"),
            ("MD5", ("file", "md5"), "mono"),
            ("SHA-1", ("file", "sha1"), "mono"),
            ("PDQ", ("file", "pdq"), "mono"),
        ),
    ),
    (
        "Match",
        (
            ("List", ("match", "list"), "text"),
            ("List version", ("match", "list_version"), "text"),
            ("Entry id", ("match", "entry_id"), "text"),
            ("Category", ("match", "category"), "text"),
            ("Signal type", ("match", "signal_type"), "text"),
            ("Distance", ("match", "distance"), "text"),
            ("Matched signal", ("match", "signal"), "mono"),
        ),
    ),
    (
        "Circumstances",
        (
            ("Outside hours", ("derived", "outside_hours"), "flag"),
            ("Off network", ("derived", "off_network"), "flag"),
            ("Removable media", ("derived", "removable_media"), "flag"),
            ("Group", ("derived", "group"), "text"),
            ("Online", ("context", "online"), "flag"),
            ("On org network", ("context", "on_org_network"), "flag"),
            ("Addresses", ("context", "addresses"), "list"),
            ("Network name", ("context", "network_name"), "text"),
            ("Origin URL", ("origin_url",), "text"),
        ),
    ),
)


def _incident_sections(inc: object) -> list[tuple[str, list[tuple[str, object, bool]]]]:
    """The incident's fields, grouped, as (label, value, monospace) rows."""
    return [
        (
            title,
            [(label, _shown(_get(inc, *path), how), how == "mono") for label, path, how in rows],
        )
        for title, rows in _SECTIONS
    ]


def _shown(value: object, how: str) -> object:
    if how == "flag":
        return _yes_no(value)
    if how == "delay":
        return _delay(value)
    if how == "list" and isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    return value


def _pdf_trail(pdf: FPDF, trail: object) -> None:
    steps = list(trail) if isinstance(trail, list | tuple) else []
    count = len(steps)
    _heading(pdf, f"Trail ({count} {'entry' if count == 1 else 'entries'})", 10)
    if not count:
        _paragraph(pdf, "-")
        return
    for i, step in enumerate(steps[:_PDF_TRAIL_MAX], 1):
        _paragraph(pdf, f"{i}. {_trail_line(step)}")
    if count > _PDF_TRAIL_MAX:
        _paragraph(pdf, f"... and {count - _PDF_TRAIL_MAX} more (see incidents.json)", "I")


def _trail_line(step: object) -> str:
    if not isinstance(step, Mapping):
        return _text(step)
    where = _text(step.get("path")) or "-"
    if step.get("inner") is not None:
        where += f" :: {_text(step.get('inner'))}"
    how = ", ".join(
        f"{label} {_text(step.get(key))}"
        for label, key in (
            ("signal", "signal_type"),
            ("distance", "distance"),
            ("list", "list"),
            ("entry", "entry_id"),
        )
        if step.get(key) is not None
    )
    return f"{where} [{how}]" if how else where


def _pdf_history(pdf: FPDF, history: object) -> None:
    entries = _dicts(history)
    _heading(pdf, f"Status history ({len(entries)})", 10)
    if not entries:
        _paragraph(pdf, "-")
    for entry in entries:
        line = (
            f"{_text(entry.get('at')) or '-'}  {_text(entry.get('by')) or '-'}: "
            f"{_text(entry.get('from')) or '-'} -> {_text(entry.get('to')) or '-'}"
        )
        if entry.get("note") not in (None, ""):
            line += f" - {_text(entry.get('note'))}"
        _paragraph(pdf, line)


# --- zip --------------------------------------------------------------------------------------


def zip_export(files: dict[str, bytes], custody: dict) -> bytes:
    """The files in a deflated zip with ``MANIFEST.sha256`` (``sha256sum -c`` format).

    Entries are in name order (the manifest last), all stamped with
    ``custody["exported_at"]`` (UTC), so the same input gives the same bytes. Raises
    ValueError for a bad ``exported_at`` or a file name unsafe in a zip or a manifest line.
    """
    when = _parse_time(custody.get("exported_at"))
    if when.year < 1980:
        raise ValueError(f"custody exported_at is before 1980, which zip cannot store: {when}")
    stamp = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    names = sorted(files)
    for name in names:
        _check_name(name)
    manifest = "".join(f"{_sha256(files[name])}  {name}\n" for name in names).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in [*((n, files[n]) for n in names), (MANIFEST_NAME, manifest)]:
            zf.writestr(_zip_info(name, stamp), data, compresslevel=9)
        export_id = _text(custody.get("export_id"))
        zf.comment = f"hashwatch export {export_id}".encode("ascii", "replace")[:1000]
    return buf.getvalue()


def _zip_info(name: str, stamp: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, whatever the platform: the bytes must not depend on it
    info.external_attr = 0o100644 << 16
    return info


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or name == MANIFEST_NAME:
        raise ValueError(f"unsafe or reserved export file name: {name!r}")
