"""Evidence exports: the five files, the zip and its manifest, hostile input, determinism."""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pypdf
import pytest
from fpdf import FPDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashwatch.lists import load_list
from hashwatch.server.export_build import (
    CSV_COLUMNS,
    FILE_NAMES,
    MANIFEST_NAME,
    NO_IMAGES_STATEMENT,
    build_export,
    zip_export,
)

CUSTODY = {
    "export_id": "0b9c6f1e-7d2a-4c55-9a43-2f1d8e6b7c10",
    "exported_at": "2026-11-23T10:00:00Z",
    "exported_by": "alice (investigator)",
    "server": "https://hashwatch.example.org",
    "reason": "police referral 2026/123",
    "case": "case 7",
}
INCIDENT = {
    "id": "5f0e8a52-1c3b-4d7e-8f90-a1b2c3d4e5f6",
    "device": {
        "id": "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
        "hostname": "LAPTOP-0042",
        "site": "London",
    },
    "os_user": "jdoe",
    "detected_at": "2026-11-21T22:14:05Z",
    "detected_local": "2026-11-21T23:14:05+01:00",
    "received_at": "2026-11-22T08:01:00Z",
    "delivery_delay_seconds": 35215,
    "trigger": "removable",
    "status": "escalated",
    "resolution": None,
    "file": {
        "path": "/media/jdoe/STICK/a/b.jpg",
        "inner": None,
        "size": 123456,
        "sha256": "a" * 64,
        "md5": "b" * 32,
        "sha1": "c" * 40,
        "pdq": "d" * 64,
        "mtime": "2026-11-20T10:00:00Z",
        "ctime": "2026-11-20T10:00:01Z",
        "volume": {
            "kind": "removable",
            "label": "STICK",
            "serial": "1234-ABCD",
            "mount": "/media/jdoe/STICK",
        },
    },
    "match": {
        "signal_type": "pdq",
        "signal": "e" * 64,
        "distance": 4,
        "list": "iwf-2026-11",
        "list_version": 12,
        "entry_id": "A-991",
        "category": "A",
    },
    "context": {
        "online": False,
        "on_org_network": False,
        "addresses": ["192.168.1.20"],
        "network_name": None,
    },
    "derived": {
        "outside_hours": True,
        "off_network": True,
        "removable_media": True,
        "group": "9a8b7c6d/2026-11-21",
    },
    "origin_url": "https://example.invalid/x",
    "trail": [
        {
            "path": "/media/jdoe/STICK/a.zip",
            "inner": "b.jpg",
            "signal_type": "md5",
            "distance": 0,
            "list": "iwf-2026-11",
            "entry_id": "A-17",
        }
    ],
    "history": [
        {
            "at": "2026-11-22T09:00:00Z",
            "by": "alice",
            "from": "new",
            "to": "in_review",
            "note": "checked device owner",
        }
    ],
}


def incident(n: int = 0, **changes: object) -> dict:
    """The sample incident with distinct id and hashes for ``n``, and top-level changes."""
    inc = copy.deepcopy(INCIDENT)
    digit = f"{n:x}"
    inc["id"] = f"5f0e8a52-1c3b-4d7e-8f90-a1b2c3d4e5f{digit}"
    inc["file"].update(sha256=digit * 64, md5=(digit + "b") * 16, sha1=(digit + "c") * 20)
    inc.update(changes)
    return inc


def with_file(inc: dict, **changes: object) -> dict:
    inc["file"].update(changes)
    return inc


def with_match(inc: dict, **changes: object) -> dict:
    inc["match"].update(changes)
    return inc


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def csv_rows(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the files -------------------------------------------------------------------------------


def test_files_are_the_five_named():
    files = build_export([incident()], CUSTODY)
    assert list(files) == list(FILE_NAMES)
    assert all(isinstance(data, bytes) and data for data in files.values())


def test_incidents_json_holds_export_record_and_incidents():
    incs = [incident(1), incident(2)]
    doc = json.loads(build_export(incs, CUSTODY)["incidents.json"])
    assert doc["incidents"] == incs
    export = doc["export"]
    assert "files" not in export
    assert {k: export[k] for k in CUSTODY} == CUSTODY
    assert export["incidents"] == [incs[0]["id"], incs[1]["id"]]
    assert export["list_versions"] == [["iwf-2026-11", 12]]


def test_incidents_json_is_ascii_pretty_and_sorted():
    data = build_export([incident(os_user="\u202eevil")], CUSTODY)["incidents.json"]
    data.decode("ascii")  # bidi and other non-ASCII characters stay escaped
    assert b"\\u202e" in data
    assert data.startswith(b'{\n  "export": {\n    "case":')


def test_custody_json_has_file_hashes_ids_and_list_versions():
    incs = [
        incident(1),
        with_match(incident(2), list="iwf-2026-11", list_version=11),
        with_match(incident(3), list="aaa", list_version=None),
        with_match(incident(4), list="iwf-2026-11", list_version=12),
        incident(5, match=None),
    ]
    files = build_export(incs, CUSTODY)
    doc = json.loads(files["custody.json"])
    assert {k: doc[k] for k in CUSTODY} == CUSTODY
    assert doc["incidents"] == [inc["id"] for inc in incs]
    assert doc["files"] == {
        name: sha256(files[name]) for name in FILE_NAMES if name != "custody.json"
    }
    assert doc["list_versions"] == [["aaa", None], ["iwf-2026-11", 11], ["iwf-2026-11", 12]]


def test_csv_has_the_columns_and_one_row_per_incident():
    files = build_export([incident(1), incident(2)], CUSTODY)
    rows = csv_rows(files["incidents.csv"])
    assert list(rows[0]) == [name for name, _ in CSV_COLUMNS]
    assert [r["id"] for r in rows] == [incident(1)["id"], incident(2)["id"]]
    row = rows[0]
    assert row["hostname"] == "LAPTOP-0042"
    assert row["path"] == "/media/jdoe/STICK/a/b.jpg"
    assert row["inner"] == ""
    assert row["size"] == "123456"
    assert row["sha256"] == incident(1)["file"]["sha256"]
    assert row["volume_serial"] == "1234-ABCD"
    assert row["list_version"] == "12"
    assert row["outside_hours"] == "true"
    assert row["origin_url"] == "https://example.invalid/x"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "\uff1d"])
def test_csv_defuses_formulas_from_endpoints(start):
    hostile = f'{start}HYPERLINK("http://evil.invalid","x")'
    inc = with_file(incident(device={"hostname": hostile}), path=start + "cmd|' /C calc'!A0")
    row = csv_rows(build_export([inc], CUSTODY)["incidents.csv"])[0]
    assert row["hostname"] == "'" + hostile
    assert row["path"].startswith("'" + start)
    assert row["site"] == ""


def test_csv_keeps_safe_cells_as_they_are():
    inc = incident(device={"hostname": "a=b", "site": " =x"})
    row = csv_rows(build_export([inc], CUSTODY)["incidents.csv"])[0]
    assert (row["hostname"], row["site"]) == ("a=b", " =x")


def test_vics_reads_back_with_the_engine_reader(tmp_path: Path):
    incs = [
        with_match(incident(1), category="1"),
        with_match(incident(2), category="A"),
        with_file(with_match(incident(3), category=None), pdq=None, size=None),
    ]
    data = build_export(incs, CUSTODY)["vics.json"]
    doc = json.loads(data)
    assert doc["@odata.context"].endswith(
        "/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media"
    )
    assert [r["Category"] for r in doc["value"]] == [1, None, None]
    assert [r["MediaSize"] for r in doc["value"]] == [123456, 123456, None]
    path = tmp_path / "vics.json"
    path.write_bytes(data)
    hashlist = load_list(path)
    assert hashlist.format == "vics"
    assert hashlist.metadata["vics_version"] == "2.0"
    got = {(e.signal_type, e.signal): e for e in hashlist.entries}
    for inc in incs:
        for kind in ("md5", "sha1", "sha256"):
            entry = got[(kind, inc["file"][kind])]
            assert entry.entry_id == inc["id"]
    assert got[("md5", incs[0]["file"]["md5"])].category == "1"
    assert got[("md5", incs[1]["file"]["md5"])].category is None
    assert got[("pdq", "d" * 64)].entry_id == incs[0]["id"]
    assert got[("sha1", incs[0]["file"]["sha1"])].size == 123456


def test_vics_leaves_out_malformed_hashes_and_hashless_incidents(tmp_path: Path):
    incs = [
        with_file(incident(1), md5="not-a-hash", sha1=None, pdq="zz"),
        with_file(incident(2), md5=None, sha1=None, sha256="=1+1"),
        incident(3, file=None),
    ]
    data = build_export(incs, CUSTODY)["vics.json"]
    records = json.loads(data)["value"]
    assert records == [
        {
            "Category": None,
            "MediaID": incs[0]["id"],
            "MediaSize": 123456,
            "SHA256": incs[0]["file"]["sha256"],
        }
    ]
    path = tmp_path / "vics.json"
    path.write_bytes(data)
    assert [(e.signal_type, e.entry_id) for e in load_list(path).entries] == [
        ("sha256", incs[0]["id"])
    ]


def test_vics_hashes_are_lowercased():
    inc = with_file(incident(), md5="ABCDEF" + "0" * 26, sha1=None, sha256=None)
    (record,) = json.loads(build_export([inc], CUSTODY)["vics.json"])["value"]
    assert record["MD5"] == "abcdef" + "0" * 26


# --- the PDF -----------------------------------------------------------------------------------


def assert_no_images(data: bytes) -> None:
    reader = pypdf.PdfReader(io.BytesIO(data))
    for page in reader.pages:
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources else None
        for ref in (xobjects.get_object() if xobjects else {}).values():
            assert ref.get_object().get("/Subtype") != "/Image"
    for number in range(1, int(reader.trailer["/Size"])):
        obj = reader.get_object(number)
        if isinstance(obj, dict):
            assert obj.get("/Subtype") != "/Image"
            assert obj.get("/Type") != "/XObject"
    assert b"/Subtype /Image" not in data


def test_pdf_shows_the_custody_incident_and_hashes():
    inc = incident(1)
    text = pdf_text(build_export([inc], CUSTODY)["summary.pdf"])
    for expected in (
        "hashwatch evidence summary",
        CUSTODY["export_id"],
        CUSTODY["exported_by"],
        CUSTODY["reason"],
        CUSTODY["server"],
        NO_IMAGES_STATEMENT,
        inc["id"],
        inc["file"]["sha256"],
        inc["file"]["md5"],
        inc["file"]["sha1"],
        "d" * 64,
        "LAPTOP-0042",
        "2026-11-21T23:14:05+01:00",
        "iwf-2026-11",
        "A-991",
        "/media/jdoe/STICK/a.zip :: b.jpg",
        "new -> in_review - checked device owner",
        "page 1 of 2",
        "page 2 of 2",
    ):
        assert expected in text, expected


def test_pdf_has_no_images():
    files = build_export([incident(1), incident(2)], CUSTODY)
    assert_no_images(files["summary.pdf"])


def test_pdf_caps_the_trail():
    trail = [{"path": f"/t/{i}", "signal_type": "md5", "distance": 0} for i in range(75)]
    text = pdf_text(build_export([incident(trail=trail)], CUSTODY)["summary.pdf"])
    assert "Trail (75 entries)" in text
    assert "50. /t/49" in text
    assert "/t/50 " not in text and "51. " not in text
    assert "... and 25 more (see incidents.json)" in text


def test_pdf_escapes_what_core_fonts_cannot_show():
    inc = incident(device={"hostname": "PC-\u202eexe.jpg-\U0001f600-\u0416\x07", "site": "Zürich"})
    text = pdf_text(build_export([inc], CUSTODY)["summary.pdf"])
    assert "PC-\\u202eexe.jpg-\\U0001f600-\\u0416\\x07" in text
    assert "Zürich" in text


def test_pdf_page_count_placeholder_is_not_taken_from_input():
    inc = incident(device={"hostname": "HOST-{nb}"})
    text = pdf_text(build_export([inc], CUSTODY)["summary.pdf"])
    assert "HOST-{nb}" in text


_TEXT_OP = re.compile(rb"BT ([\d.]+) [\d.]+ Td \((.*?)(?<!\\)\) Tj ET")
_FONT_OP = re.compile(rb"BT /(\w+) ([\d.]+) Tf ET")
_BASE_FONTS = {"/Helvetica": ("Helvetica", ""), "/Helvetica-Bold": ("Helvetica", "B")}
_BASE_FONTS |= {"/Helvetica-Oblique": ("Helvetica", "I"), "/Courier": ("Courier", "")}


def text_right_edges(data: bytes) -> tuple[float, list[float]]:
    """The page width and where each line of text ends (pt), measured with the fonts' metrics."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    measure = FPDF(unit="pt")
    edges: list[float] = []
    for page in reader.pages:
        fonts = page["/Resources"]["/Font"]
        for op in re.finditer(rb"BT .*? ET", page.get_contents().get_data()):
            if m := _FONT_OP.fullmatch(op.group()):
                family, style = _BASE_FONTS[fonts["/" + m.group(1).decode()]["/BaseFont"]]
                measure.set_font(family, style, float(m.group(2)))
            elif m := _TEXT_OP.fullmatch(op.group()):
                raw = re.sub(rb"\\(.)", rb"\1", m.group(2)).decode("latin-1")
                edges.append(float(m.group(1)) + measure.get_string_width(raw))
    return float(reader.pages[0].mediabox.width), edges


def test_pdf_wraps_long_paths_within_the_page():
    path = "/" + "/".join(f"dir{i:04d}" for i in range(1200))  # ~10k characters
    unbroken = "x" * 10_000
    files = build_export([with_file(incident(), path=path, inner=unbroken)], CUSTODY)
    width, edges = text_right_edges(files["summary.pdf"])
    assert len(edges) > 200
    assert max(edges) <= width - 40  # inside the right margin (15 mm = 42.5 pt)
    text = "".join(pdf_text(files["summary.pdf"]).split())
    assert text.count("dir1199") == 1
    assert sum(len(run) for run in re.findall(r"x{50,}", text)) == 10_000  # across pages


# --- the zip -----------------------------------------------------------------------------------


def test_zip_holds_the_files_and_a_verifiable_manifest():
    files = build_export([incident(1), incident(2)], CUSTODY)
    data = zip_export(files, CUSTODY)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == [*sorted(FILE_NAMES), MANIFEST_NAME]
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert info.date_time == (2026, 11, 23, 10, 0, 0)
        manifest = zf.read(MANIFEST_NAME).decode()
        for name in FILE_NAMES:
            assert zf.read(name) == files[name]
        assert zf.comment == f"hashwatch export {CUSTODY['export_id']}".encode()
    lines = manifest.splitlines()
    assert lines == [f"{sha256(files[name])}  {name}" for name in sorted(FILE_NAMES)]
    assert manifest.endswith("\n")


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs sha256sum")
def test_zip_manifest_passes_sha256sum(tmp_path: Path):
    data = zip_export(build_export([incident()], CUSTODY), CUSTODY)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(tmp_path)
    result = subprocess.run(
        ["sha256sum", "-c", MANIFEST_NAME], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == len(FILE_NAMES)


def test_same_input_same_bytes():
    incs = [incident(1), incident(2, trail=[])]
    first = zip_export(build_export(incs, CUSTODY), CUSTODY)
    second = zip_export(build_export(copy.deepcopy(incs), dict(CUSTODY)), dict(CUSTODY))
    assert first == second


def test_pdf_creation_date_comes_from_the_export_time():
    files = build_export([incident()], CUSTODY)
    info = pypdf.PdfReader(io.BytesIO(files["summary.pdf"])).metadata
    assert info.creation_date.isoformat().startswith("2026-11-23T10:00:00")
    assert info.title == "hashwatch evidence summary"


@pytest.mark.parametrize(
    "name", ["", "../x", "a/b", "a\\b", ".hidden", "x\ny", MANIFEST_NAME, "é.json"]
)
def test_zip_refuses_unsafe_names(name):
    with pytest.raises(ValueError, match="file name"):
        zip_export({name: b"x"}, CUSTODY)


@pytest.mark.parametrize("when", [None, "yesterday", "1970-01-01T00:00:00Z", 5])
def test_bad_export_time_is_refused(when):
    custody = {**CUSTODY, "exported_at": when}
    with pytest.raises(ValueError, match="exported_at"):
        zip_export(build_export([incident()], custody), custody)


def test_export_time_with_offset_is_converted_to_utc():
    custody = {**CUSTODY, "exported_at": "2026-11-23T11:30:00+01:00"}
    files = build_export([incident()], custody)
    assert "Exported at (UTC) 2026-11-23T10:30:00Z" in pdf_text(files["summary.pdf"])
    with zipfile.ZipFile(io.BytesIO(zip_export(files, custody))) as zf:
        assert zf.infolist()[0].date_time == (2026, 11, 23, 10, 30, 0)


# --- hostile and partial input -----------------------------------------------------------------

LONG = "/very/long/" + "x" * 10_000
NASTY = "\x00\x1b[31m\r\n\t\u202e\u2066gpj.exe\U0001f600\u0627\u0644\u0639\u0631\u0628\u064a\u0629"
ALL_NONE = {key: None for key in INCIDENT}


def _nested_none() -> dict:
    inc = copy.deepcopy(INCIDENT)
    for key in ("device", "file", "match", "context", "derived"):
        inc[key] = {k: None for k in inc[key]}
    inc["file"]["volume"] = {"kind": None, "label": None, "serial": None, "mount": None}
    inc["trail"] = [{"path": None, "inner": None}]
    inc["history"] = [{"at": None, "by": None, "from": None, "to": None, "note": None}]
    return inc


HOSTILE = {
    "long path": with_file(incident(), path=LONG, inner=LONG),
    "long hostname": incident(device={"hostname": "H" * 10_000, "site": NASTY}),
    "control and bidi": with_file(incident(os_user=NASTY), path=NASTY, inner=NASTY),
    "emoji everywhere": incident(
        device={"hostname": "\U0001f600" * 500}, os_user="\u05e9\u05dc\u05d5\u05dd"
    ),
    "lone surrogate": with_file(incident(os_user="\udcff"), path="/x/\udc80\udcff.jpg"),
    "all none": ALL_NONE,
    "nested none": _nested_none(),
    "empty": {},
    "wrong types": {
        "id": 7,
        "device": "LAPTOP",
        "file": {"path": ["a"], "size": "big", "sha256": 5, "md5": True, "volume": []},
        "match": {"list": 3, "list_version": "v2", "category": 9, "distance": -1},
        "context": {"addresses": "1.2.3.4"},
        "derived": [],
        "trail": "oops",
        "history": [None, "x", {"at": 1}],
        "delivery_delay_seconds": -5,
    },
    "huge trail": incident(
        trail=[{"path": LONG[:300]}] * 500, history=[INCIDENT["history"][0]] * 30
    ),
}


def check_export(incidents: list[dict], custody: dict = CUSTODY) -> dict[str, bytes]:
    files = build_export(incidents, custody)
    data = zip_export(files, custody)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
    for name in ("incidents.json", "vics.json", "custody.json"):
        json.loads(files[name])
    assert len(csv_rows(files["incidents.csv"])) == len(incidents)
    text = pdf_text(files["summary.pdf"])
    assert NO_IMAGES_STATEMENT in text
    assert_no_images(files["summary.pdf"])
    return files


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_incident_does_not_break_the_export(name):
    files = check_export([HOSTILE[name]])
    assert json.loads(files["incidents.json"])["incidents"] == [HOSTILE[name]]


def test_hostile_case_in_one_export():
    check_export(list(HOSTILE.values()))


def test_no_incidents():
    files = check_export([])
    assert json.loads(files["custody.json"])["incidents"] == []
    assert json.loads(files["vics.json"])["value"] == []


def test_pdf_cuts_enormous_values_and_says_so():
    inc = with_file(incident(), path="\U0001f600" * 10_000)  # 100k characters escaped
    text = " ".join(pdf_text(build_export([inc], CUSTODY)["summary.pdf"]).split())
    assert "[... cut; all 10000 characters are in incidents.json]" in text


def test_custody_with_nones_and_unicode():
    custody = {**CUSTODY, "reason": None, "case": None, "exported_by": "\u0416\U0001f600 (x)"}
    text = pdf_text(check_export([incident()], custody)["summary.pdf"])
    assert "\\u0416\\U0001f600 (x)" in text


_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.text(max_size=300),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Cs", "Lo", "So", "Zs"]), max_size=40),
    st.sampled_from(["=cmd", "+1", "-", "@x", "\t", "{nb}", "\u202e", "a" * 64, "0", "5"]),
)
_section = st.dictionaries(
    st.sampled_from(
        [
            "id",
            "hostname",
            "site",
            "path",
            "inner",
            "size",
            "sha256",
            "md5",
            "sha1",
            "pdq",
            "kind",
            "label",
            "serial",
            "list",
            "list_version",
            "category",
            "distance",
            "signal",
            "signal_type",
            "entry_id",
            "outside_hours",
            "addresses",
            "volume",
        ]
    ),
    _leaf,
)
_incident = st.fixed_dictionaries(
    {},
    optional={
        "id": _leaf,
        "device": st.one_of(_leaf, _section),
        "os_user": _leaf,
        "detected_at": _leaf,
        "detected_local": _leaf,
        "delivery_delay_seconds": _leaf,
        "file": st.one_of(_leaf, _section),
        "match": st.one_of(_leaf, _section),
        "context": st.one_of(_leaf, _section),
        "derived": st.one_of(_leaf, _section),
        "origin_url": _leaf,
        "trail": st.one_of(_leaf, st.lists(st.one_of(_leaf, _section), max_size=5)),
        "history": st.one_of(_leaf, st.lists(st.one_of(_leaf, _section), max_size=5)),
    },
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_incident, max_size=3))
def test_arbitrary_incidents_do_not_break_the_export(incidents):
    files = check_export(incidents)
    assert build_export(incidents, CUSTODY) == files
