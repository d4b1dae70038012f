"""Hash-list formats: realistic samples of each (made-up hashes only), detection, round trips."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest

from hashwatch.lists import (
    HashList,
    ListEntry,
    ListFormatError,
    detect_format,
    load_list,
    read_clamav,
    read_csv,
    read_hex,
    read_threatexchange,
    read_vics,
    write_csv,
)

_RNG = random.Random(20240611)


def hx(digits: int) -> str:
    """A made-up hash: random hex, never a real list's value."""
    return f"{_RNG.getrandbits(digits * 4):0{digits}x}"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8", newline="")
    return p


VICS2_CONTEXT = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media"
VICS2_CASES = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/UK/$metadata#Cases"
VICS1_META = "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Cases"


# --------------------------------------------------------------------------- ThreatExchange
def test_threatexchange_lines(tmp_path):
    pdq, vmd5, sha1 = hx(64), hx(32), hx(40)
    p = write(
        tmp_path,
        "te-export.txt",
        f"# exported 2024-06-01\n\npdq {pdq}\nvideo_md5 {vmd5.upper()}\n  photo_pdq\t{hx(64)}\n"
        f"sha1 {sha1}\n",
    )
    hl = load_list(p)
    assert hl.name == "te-export"
    assert hl.format == "threatexchange"
    assert [(e.signal_type, e.entry_id) for e in hl.entries] == [
        ("pdq", "3"),
        ("md5", "4"),
        ("pdq", "5"),
        ("sha1", "6"),
    ]
    assert hl.entries[1].signal == vmd5  # lowercased, alias resolved
    assert hl.entries[0].signal == pdq
    assert read_threatexchange(p).entries == hl.entries


def test_threatexchange_vpdq_line(tmp_path):
    frames = ";".join(f"{i},100,{hx(64)},{i}.000" for i in range(3))
    hl = load_list(write(tmp_path, "v.te", f"vpdq {frames}\n"))
    assert hl.entries[0].signal_type == "vpdq"
    assert hl.entries[0].signal == frames


def test_threatexchange_unknown_type_is_named(tmp_path):
    p = write(tmp_path, "mixed.txt", f"pdq {hx(64)}\nurl https://example.invalid/x\n")
    with pytest.raises(ListFormatError) as e:
        load_list(p)
    assert e.value.line == 2
    assert "mixed.txt:2:" in str(e.value)
    assert "unknown signal type 'url'" in str(e.value)
    hl = load_list(p, skip_unknown_types=True)
    assert len(hl) == 1
    assert hl.metadata["skipped_unknown_types"] == "url=1"


# --------------------------------------------------------------------------- CSV
def test_pytx_dataset_csv(tmp_path):
    # The header and tag joining of `threatexchange dataset -P --csv`.
    pdq, md5 = hx(64), hx(32)
    p = write(
        tmp_path,
        "collab.csv",
        "collab,signal_type,signal_str,category,tags\r\n"
        f"Sample Signals,pdq,{pdq},WORTH_INVESTIGATING,media_priority_s1 csam\r\n"
        f"Sample Signals,video_md5,{md5},,\r\n",
    )
    hl = load_list(p)
    assert hl.format == "csv"
    assert hl.metadata["csv_shape"] == "signal"
    a, b = hl.entries
    assert (a.signal_type, a.signal, a.entry_id) == ("pdq", pdq, "2")
    assert a.category == "WORTH_INVESTIGATING"
    assert a.tags == ("media_priority_s1", "csam")
    assert (b.signal_type, b.signal, b.entry_id, b.category, b.tags) == ("md5", md5, "3", None, ())


def test_csv_header_is_case_insensitive_with_bom_extra_columns_and_tag_separators(tmp_path):
    md5, sha1, sha256 = hx(32), hx(40), hx(64)
    text = (
        "\ufeffNote,Signal_Type, SIGNAL ,ID,Category,Tags,Reviewer\n"
        f'x,md5,{md5},iwf-1,A,"a,b;c d",ann\n'
        f"y,sha1,{sha1},iwf-2,B,,bob\n"
        f"z,sha256,{sha256},iwf-3,,one,carl\n"
    )
    hl = read_csv(write(tmp_path, "hotline.csv", text))
    assert [(e.signal_type, e.entry_id, e.category) for e in hl.entries] == [
        ("md5", "iwf-1", "A"),
        ("sha1", "iwf-2", "B"),
        ("sha256", "iwf-3", None),
    ]
    assert hl.entries[0].tags == ("a", "b", "c", "d")
    assert hl.entries[0].signal == md5


def test_csv_with_semicolons_and_comment_before_header(tmp_path):
    md5 = hx(32)
    p = write(tmp_path, "semi.csv", f"# export\nsignal_type;signal;id\nmd5;{md5};X1\n")
    (e,) = load_list(p).entries
    assert (e.signal_type, e.signal, e.entry_id) == ("md5", md5, "X1")


def test_csv_per_type_columns(tmp_path):
    md5a, sha1a, sha1b, pdq = hx(32), hx(40), hx(40), hx(64)
    text = (
        "ID,MD5 Hash,SHA-1,PDQ,PhotoDNA,Category\n"
        f"101,{md5a.upper()},{sha1a},{pdq},AAAA,1\n"
        f"102,,{sha1b},,BBBB,2\n"
    )
    hl = load_list(write(tmp_path, "hotline-export.csv", text))
    assert hl.metadata["csv_shape"] == "columns"
    assert [(e.signal_type, e.signal, e.entry_id, e.category) for e in hl.entries] == [
        ("md5", md5a, "101", "1"),
        ("sha1", sha1a, "101", "1"),
        ("pdq", pdq, "101", "1"),
        ("sha1", sha1b, "102", "2"),
    ]


def test_csv_single_column_header(tmp_path):
    a, b = hx(32), hx(32)
    hl = load_list(write(tmp_path, "md5s.csv", f"md5\n{a}\n\n{b}\n"))
    assert [(e.signal, e.entry_id) for e in hl.entries] == [(a, "2"), (b, "4")]


def test_csv_row_without_hash_is_an_error(tmp_path):
    p = write(tmp_path, "cols.csv", f"id,md5,sha1\n1,{hx(32)},\n2,,\n")
    with pytest.raises(ListFormatError, match="no hash in any of the columns md5, sha1") as e:
        load_list(p)
    assert e.value.line == 3


# --------------------------------------------------------------------------- VICS
def vics2_hashset(records: list[dict]) -> str:
    return json.dumps({"@odata.context": VICS2_CONTEXT, "value": records})


def test_vics2_hash_set(tmp_path):
    md5, sha1 = hx(32).upper(), hx(40).upper()
    md5b = hx(32).upper()
    records = [
        {
            "MediaID": 1,
            "Category": 0,
            "MD5": md5,
            "SHA1": sha1,
            "MediaSize": 2835,
            "DateUpdated": "2023-06-07T02:31:49.8300Z",
            "IsPrecategorized": "true",
        },
        {"MediaID": 2, "Category": None, "MD5": md5b, "SHA1": "", "MediaSize": "17"},
    ]
    hl = load_list(write(tmp_path, "vics2.json", vics2_hashset(records)))
    assert hl.format == "vics"
    assert hl.metadata["vics_version"] == "2.0"
    assert hl.metadata["vics_records"] == "2"
    assert [(e.signal_type, e.signal, e.entry_id, e.category, e.size) for e in hl.entries] == [
        ("md5", md5.lower(), "1", "0", 2835),
        ("sha1", sha1.lower(), "1", "0", 2835),
        ("md5", md5b.lower(), "2", None, 17),
    ]


def test_vics2_case_with_media_files_and_alternative_hashes(tmp_path):
    md5, sha1, md5b = hx(32), hx(40), hx(32)
    doc = {
        "@odata.context": VICS2_CASES,
        "value": [
            {
                "CaseID": "{00000000-0000-0000-0000-000000000000}",
                "CaseNumber": "T-1",
                "Media": [
                    {
                        "MediaID": 10,
                        "Category": 1,
                        "MD5": md5,
                        "MediaSize": "100",
                        "MediaFiles": [{"FileName": "a.jpg", "FilePath": "/DCIM", "MD5": md5}],
                        "AlternativeHashes": [
                            {"HashName": "SHA1", "HashValue": sha1, "MD5": md5},
                            {"HashName": "PhotoDNA", "HashValue": "AAMANwAB"},
                        ],
                        "Exifs": [],
                    },
                    {"MediaID": 11, "Category": "Category 2", "MediaFiles": [{"MD5": md5b}]},
                ],
                "SourceApplicationName": "test",
            }
        ],
    }
    hl = read_vics(write(tmp_path, "case.json", json.dumps(doc, indent=2)))
    assert [(e.signal_type, e.signal, e.entry_id, e.category) for e in hl.entries] == [
        ("md5", md5, "10", "1"),
        ("sha1", sha1, "10", "1"),
        ("md5", md5b, "11", "Category 2"),
    ]
    assert hl.metadata["skipped_hashes"] == "PhotoDNA=1"
    assert hl.metadata["duplicates"] == "0"  # the MediaFiles copy of an MD5 is not a duplicate


def test_vics1_cases_and_bom(tmp_path):
    md5, sha1 = hx(32), hx(40)
    doc = {
        "odata.metadata": VICS1_META,
        "value": [
            {
                "Media": [
                    {"MediaID": 7, "Category": 3, "MD5": md5, "SHA1": sha1, "MediaSize": "9"}
                ],
                "TotalMediaFiles": "1",
            }
        ],
    }
    p = write(tmp_path, "v1.json", b"\xef\xbb\xbf" + json.dumps(doc).encode())
    hl = load_list(p)
    assert hl.metadata["vics_version"] == "1.3"
    assert [(e.signal_type, e.entry_id, e.category, e.size) for e in hl.entries] == [
        ("md5", "7", "3", 9),
        ("sha1", "7", "3", 9),
    ]


def test_vics_media_without_id_uses_its_line(tmp_path):
    md5 = hx(32)
    text = '{\n "@odata.context": "x",\n "value": [\n  {"MD5": "MD5HERE"}\n ]\n}\n'
    text = text.replace("MD5HERE", md5)
    (e,) = load_list(write(tmp_path, "noid.json", text)).entries
    assert e.entry_id == "4"


def test_vics_streams_records_across_chunks(tmp_path, monkeypatch):
    # Small chunks force records to straddle buffer boundaries on both paths.
    from hashwatch.lists import jsonstream

    original = jsonstream.JsonStream.__init__

    def small(self, stream, **kw):
        original(self, stream, chunk=97, max_value=1 << 20)

    monkeypatch.setattr(jsonstream.JsonStream, "__init__", small)
    media = [{"MediaID": i, "Category": i % 6, "MD5": hx(32), "SHA1": hx(40)} for i in range(300)]
    flat = write(tmp_path, "flat.json", vics2_hashset(media))
    case = write(
        tmp_path,
        "case.json",
        json.dumps({"@odata.context": VICS2_CASES, "value": [{"CaseID": "c", "Media": media}]}),
    )
    for p in (flat, case):
        hl = load_list(p)
        assert len(hl) == 600
        assert [e.entry_id for e in hl.entries[::2]] == [str(i) for i in range(300)]


def test_vics_error_names_record_and_line(tmp_path):
    media = [{"MediaID": i, "MD5": hx(32)} for i in range(5)]
    media[3]["MD5"] = hx(31)
    text = json.dumps({"@odata.context": VICS2_CASES, "value": [{"Media": media}]}, indent=1)
    p = write(tmp_path, "bad.json", text)
    with pytest.raises(ListFormatError) as e:
        load_list(p)
    msg = str(e.value)
    assert "bad.json:" in msg
    assert "Media[3] (MediaID 3)" in msg
    assert "md5 must be 32 hex digits, got 31 characters" in msg
    # the line of the bad record itself, not of the case around it
    lines = text.splitlines()
    id_line = next(i for i, line in enumerate(lines, start=1) if '"MediaID": 3,' in line)
    assert lines[id_line - 2].strip() == "{"
    assert e.value.line == id_line - 1  # where the record's "{" is


# --------------------------------------------------------------------------- ClamAV
def test_clamav_hdb(tmp_path):
    a, b = hx(32), hx(32)
    p = write(tmp_path, "custom.hdb", f"{a}:1024:Win.Test.Made-1\n{b}:77:Win.Test.Made-2:20\n")
    hl = load_list(p)
    assert hl.format == "clamav"
    assert hl.metadata["clamav"] == "hdb"
    assert [(e.signal_type, e.signal, e.entry_id, e.size) for e in hl.entries] == [
        ("md5", a, "Win.Test.Made-1", 1024),
        ("md5", b, "Win.Test.Made-2", 77),
    ]


def test_clamav_hsb(tmp_path):
    s1, s256 = hx(40), hx(64)
    hl = read_clamav(write(tmp_path, "custom.hsb", f"{s1}:*:Sig.One:73\n{s256}:5:Sig.Two\n"))
    assert hl.metadata["clamav"] == "hsb"
    assert [(e.signal_type, e.entry_id, e.size) for e in hl.entries] == [
        ("sha1", "Sig.One", None),
        ("sha256", "Sig.Two", 5),
    ]


def test_clamav_section_hashes_are_refused_clearly(tmp_path):
    p = write(tmp_path, "pe.mdb", f"45056:{hx(32)}:Win.Trojan.Made\n")
    with pytest.raises(ListFormatError, match=r"\.mdb/\.msb PE-section") as e:
        load_list(p)
    assert e.value.line == 1


# --------------------------------------------------------------------------- bare hex
def test_bare_hex(tmp_path):
    md5, sha1, sha256 = hx(32), hx(40), hx(64)
    p = write(tmp_path, "hashes", f"{md5.upper()}\n\n# sha1 next\n{sha1}\r\n{sha256}\n")
    hl = load_list(p)
    assert hl.name == "hashes"
    assert hl.format == "hex"
    assert [(e.signal_type, e.signal, e.entry_id) for e in hl.entries] == [
        ("md5", md5, "1"),
        ("sha1", sha1, "4"),
        ("sha256", sha256, "5"),
    ]


def test_bare_hex_64_as_pdq(tmp_path):
    p = write(tmp_path, "pdqs.txt", f"{hx(64)}\n{hx(64)}\n")
    assert {e.signal_type for e in load_list(p, bare_hex_64="pdq").entries} == {"pdq"}
    assert {e.signal_type for e in read_hex(p).entries} == {"sha256"}
    with pytest.raises(ValueError, match="bare_hex_64"):
        load_list(p, bare_hex_64="md5")


def test_bare_hex_bad_line_uses_the_lists_type(tmp_path):
    lines = [hx(40) for _ in range(16)] + [hx(39)]
    p = write(tmp_path, "sha1s.txt", "\n".join(lines) + "\n")
    with pytest.raises(ListFormatError) as e:
        load_list(p)
    assert e.value.line == 17
    assert str(e.value).endswith("sha1s.txt:17: sha1 must be 40 hex digits, got 39 characters")


# --------------------------------------------------------------------------- common
def test_duplicates_are_dropped_first_wins(tmp_path):
    a, b = hx(32), hx(32)
    text = (
        f"signal_type,signal,id,category\nmd5,{a},first,A\nmd5,{b},x,\nmd5,{a.upper()},second,B\n"
    )
    hl = load_list(write(tmp_path, "dups.csv", text))
    assert [(e.signal, e.entry_id) for e in hl.entries] == [(a, "first"), (b, "x")]
    assert hl.metadata["duplicates"] == "1"
    # the same hash under two types is not a duplicate
    same = hx(64)
    hl2 = load_list(write(tmp_path, "two.te", f"pdq {same}\nsha256 {same}\n"))
    assert len(hl2) == 2
    assert hl2.metadata["duplicates"] == "0"


def test_name_argument_and_default(tmp_path):
    p = write(tmp_path, "ncmec.2024.csv", f"signal_type,signal\nmd5,{hx(32)}\n")
    assert load_list(p).name == "ncmec.2024"
    assert load_list(p, name="NCMEC").name == "NCMEC"
    assert load_list(p).source == str(p)


@pytest.mark.parametrize(
    "head,fmt",
    [
        (b"pdq " + b"0" * 64 + b"\n", "threatexchange"),
        (b"# c\n\nmd5 " + b"0" * 32 + b"\n", "threatexchange"),
        (b"collab,signal_type,signal_str,category,tags\n", "csv"),
        (b"\xef\xbb\xbfSIGNAL_TYPE,SIGNAL\n", "csv"),
        (b"MediaID,MD5,SHA1\n", "csv"),
        (b'{"@odata.context": "x", "value": []}', "vics"),
        (b'  {\r\n "odata.metadata": "x",', "vics"),
        (b"0" * 32 + b":12:Name\n", "clamav"),
        (b"0" * 40 + b":*:Name:73\n", "clamav"),
        (b"0" * 32 + b"\n" + b"1" * 40 + b"\n", "hex"),
        ("pdq ".encode("utf-16") + "0".encode("utf-16-le") * 64, "threatexchange"),
    ],
)
def test_detect_format(head, fmt):
    assert detect_format(head) == fmt


def test_detection_ignores_the_file_name(tmp_path):
    # A CSV called .json, hex called .csv: the content decides.
    md5 = hx(32)
    assert load_list(write(tmp_path, "list.json", f"signal_type,signal\nmd5,{md5}\n")).format == (
        "csv"
    )
    assert load_list(write(tmp_path, "list.csv", f"{md5}\n")).format == "hex"


def test_utf16_csv(tmp_path):
    md5 = hx(32)
    p = tmp_path / "excel.csv"
    p.write_bytes(f"signal_type\tsignal\r\nmd5\t{md5}\r\n".encode("utf-16"))
    (e,) = load_list(p).entries
    assert e.signal == md5


# --------------------------------------------------------------------------- writing
def sample_entries() -> list[ListEntry]:
    frames = ";".join(f"{i},90,{hx(64)},{i}.500" for i in range(2))
    return [
        ListEntry("md5", hx(32), "a-1", "A", ("t1", "t2")),
        ListEntry("sha1", hx(40), "a 2, with comma", None, ()),
        ListEntry("pdq", hx(64), '"quoted"', "Category 1", ("x",)),
        ListEntry("vpdq", frames, "v", None, ()),
    ]


def test_write_csv_round_trip(tmp_path):
    entries = sample_entries()
    p = tmp_path / "out.csv"
    assert write_csv(HashList("x", entries), p) == 4
    text = p.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "signal_type,signal,id,category,tags"
    hl = load_list(p)
    assert hl.entries == entries
    assert hl.format == "csv"


def test_write_csv_keeps_size_when_present(tmp_path):
    src = write(tmp_path, "s.hsb", f"{hx(40)}:10:One\n{hx(64)}:*:Two\n")
    hl = load_list(src)
    out = tmp_path / "s.csv"
    write_csv(hl, out)
    assert out.read_text().splitlines()[0] == "signal_type,signal,id,category,tags,size"
    assert load_list(out).entries == hl.entries


def test_write_csv_to_open_file_and_from_iterable():
    entries = sample_entries()[:2]
    buf = io.StringIO()
    write_csv(iter(entries), buf)
    assert buf.getvalue().count("\n") == 3


@pytest.mark.parametrize(
    "entry,reason",
    [
        (ListEntry("md5", "0" * 32, "id", None, ("has space",)), "tag"),
        (ListEntry("md5", "0" * 32, "id", None, ("a;b",)), "tag"),
        (ListEntry("md5", "0" * 32, " id", None, ()), "surrounding"),
        (ListEntry("md5", "0" * 32, "", None, ()), "empty"),
        (ListEntry("md5", "A" * 32, "id", None, ()), "canonical"),
        (ListEntry("video_md5", "0" * 32, "id", None, ()), "canonical signal type"),
        (ListEntry("md5", "0" * 31, "id", None, ()), "32 hex digits"),
    ],
)
def test_write_csv_refuses_what_would_not_read_back(tmp_path, entry, reason):
    out = tmp_path / "w.csv"
    with pytest.raises(ValueError, match=reason):
        write_csv([entry], out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_pytx_csv_with_non_hash_types(tmp_path):
    md5 = hx(32)
    text = (
        "collab,signal_type,signal_str,category,tags\n"
        "Sample Signals,url,https://example.invalid/a,WORTH_INVESTIGATING,\n"
        f"Sample Signals,video_md5,{md5},WORTH_INVESTIGATING,\n"
        "Sample Signals,raw_text,some words,WORTH_INVESTIGATING,\n"
    )
    p = write(tmp_path, "pytx.csv", text)
    with pytest.raises(ListFormatError, match="unknown signal type 'url'") as e:
        load_list(p)
    assert e.value.line == 2
    hl = load_list(p, skip_unknown_types=True)
    assert [(x.signal_type, x.signal, x.entry_id) for x in hl.entries] == [("md5", md5, "3")]
    assert hl.metadata["skipped_unknown_types"] == "raw_text=1, url=1"


def test_registered_format_is_sniffed_first_and_names_the_list(tmp_path, monkeypatch):
    # The hook the signed-bundle module uses: its own sniffer, reader and declared name.
    from hashwatch.lists import FormatSpec, ReadResult, detect
    from hashwatch.lists.formats import register_format

    md5 = hx(32)

    def read(path, fh, options):
        assert fh.read(6) == b"HWBNDL"
        return ReadResult([ListEntry("md5", md5, "1")], "bundle", {}, declared_name="IWF")

    monkeypatch.setattr(detect, "_REGISTERED", {})
    register_format(FormatSpec("bundle", "hashwatch bundle", lambda h: h[:6] == b"HWBNDL", read))
    p = write(tmp_path, "iwf-2024-06.hwb", b"HWBNDL\x00\x01binary")
    hl = load_list(p)
    assert (hl.name, hl.format, hl.entries[0].signal) == ("IWF", "bundle", md5)
    assert load_list(p, name="mine").name == "mine"


def test_old_mac_line_ends(tmp_path):
    a, b = hx(32), hx(40)
    p = write(tmp_path, "mac.csv", f"ID;MD5;SHA1\r1;{a};\r2;;{b}\r")
    hl = load_list(p)
    assert [(e.signal, e.entry_id) for e in hl.entries] == [(a, "1"), (b, "2")]
    bad = write(tmp_path, "mac.txt", f"{a}\r{hx(31)}\r")
    with pytest.raises(ListFormatError) as e:
        load_list(bad)
    assert e.value.line == 2


def test_write_csv_with_a_name_names_the_list(tmp_path):
    entries = sample_entries()
    p = tmp_path / "whatever-file.csv"
    write_csv(entries, p, name="case-42")
    assert p.read_text().splitlines()[0] == "signal_type,signal,id,category,tags,list"
    hl = load_list(p)
    assert (hl.name, hl.entries) == ("case-42", entries)
    assert load_list(p, name="override").name == "override"
    with pytest.raises(ValueError, match="name"):
        write_csv(entries, tmp_path / "x.csv", name=" spaced ")


def test_csv_list_column_must_agree(tmp_path):
    text = f"signal_type,signal,list\nmd5,{hx(32)},a\nmd5,{hx(32)},\nmd5,{hx(32)},b\n"
    with pytest.raises(ListFormatError, match="one file holds one list") as e:
        load_list(write(tmp_path, "two.csv", text))
    assert e.value.line == 4
