"""Hash-list failure paths: every bad input is a ListFormatError naming the file (and line)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from hashwatch.lists import ListFormatError, detect_format, load_list
from hashwatch.lists.textio import MAX_LINE_BYTES

_RNG = random.Random(7)


def hx(digits: int) -> str:
    return f"{_RNG.getrandbits(digits * 4):0{digits}x}"


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return p


def fails(path: Path, *needles: str, line: int | None = None, **kw) -> ListFormatError:
    with pytest.raises(ListFormatError) as info:
        load_list(path, **kw)
    err = info.value
    msg = str(err)
    assert path.name in msg, msg
    assert err.path == str(path)
    for needle in needles:
        assert needle in msg, msg
    if line is not None:
        assert err.line == line, msg
        assert f"{path.name}:{line}:" in msg
    return err


# --------------------------------------------------------------------------- the file itself
def test_missing_file(tmp_path):
    fails(tmp_path / "nope.csv", "no such file")


def test_directory(tmp_path):
    d = tmp_path / "lists.csv"
    d.mkdir()
    fails(d, "is a directory")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="the OS has no named pipes (Windows)")
def test_fifo_is_refused_without_blocking(tmp_path):
    p = tmp_path / "pipe.txt"
    os.mkfifo(p)
    fails(p, "not a regular file")


@pytest.mark.parametrize(
    "content,needle",
    [
        ("", "no entries (the file is empty)"),
        ("\n  \n\t\n", "no entries (the file is empty)"),
        ("# only\n# comments\n\n", "no entries (only blank lines and comments)"),
    ],
)
def test_empty(tmp_path, content, needle):
    fails(write(tmp_path, "empty.txt", content), needle)


def test_header_only_csv_has_no_entries(tmp_path):
    fails(write(tmp_path, "h.csv", "signal_type,signal,id\n"), "no entries")


def test_all_types_skipped_is_no_entries(tmp_path):
    p = write(tmp_path, "u.te", "url https://example.invalid/\nraw_text hello\n")
    fails(p, "no entries of a known signal type", "raw_text=1", "url=1", skip_unknown_types=True)


# --------------------------------------------------------------------------- not text
def test_binary_garbage(tmp_path):
    data = bytes(random.Random(1).getrandbits(8) for _ in range(5000)) + b"\x00"
    fails(write(tmp_path, "garbage.bin", data))


def test_binary_with_nul_says_so(tmp_path):
    fails(write(tmp_path, "img.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"), "binary data")


def test_invalid_utf8_at_start(tmp_path):
    fails(write(tmp_path, "latin.txt", b"\x80\x81\x82 hello\n"), "not UTF-8 text", line=1)


def test_invalid_utf8_far_down_names_its_line(tmp_path):
    lines = [hx(32).encode() for _ in range(5000)]
    lines[4321] = b"\xe9" + lines[4321][1:]
    fails(write(tmp_path, "late.txt", b"\n".join(lines) + b"\n"), "not UTF-8", line=4322)


def test_nul_far_down_names_its_line(tmp_path):
    lines = [hx(32).encode() for _ in range(5000)]
    lines[4999] = lines[4999][:10] + b"\x00" + lines[4999][11:]
    fails(write(tmp_path, "nul.txt", b"\n".join(lines)), "NUL", line=5000)


def test_huge_single_line_of_hex(tmp_path):
    p = write(tmp_path, "huge.txt", b"a" * (MAX_LINE_BYTES + 10))
    fails(p, "longer than 4 MiB", line=1)


def test_huge_single_line_of_text(tmp_path):
    fails(write(tmp_path, "huge2.txt", b"x" * (MAX_LINE_BYTES + 10)), "unrecognised format")


def test_huge_line_after_good_ones(tmp_path):
    data = (hx(32) + "\n").encode() * 3 + b"b" * (MAX_LINE_BYTES + 1) + b"\n"
    fails(write(tmp_path, "huge3.txt", data), "longer than", line=4)


# --------------------------------------------------------------------------- unrecognised
def test_unrecognised_lists_what_was_tried(tmp_path):
    err = fails(write(tmp_path, "notes.txt", "Dear team,\nplease find attached\n"), line=1)
    for tried in ("ThreatExchange", "CSV", "VICS", "ClamAV", "bare hex"):
        assert tried in str(err)


def test_unknown_first_word(tmp_path):
    fails(write(tmp_path, "w.txt", "hello world\n"), "'hello' is not a known signal type")


def test_csv_without_known_columns(tmp_path):
    fails(write(tmp_path, "x.csv", "name,value\na,b\n"), "unrecognised format", line=1)


def test_detect_format_without_path_names_data():
    with pytest.raises(ListFormatError, match="<data>"):
        detect_format(b"what is this")


# --------------------------------------------------------------------------- bad lines
def test_te_bad_hash_names_line(tmp_path):
    lines = [f"sha1 {hx(40)}" for _ in range(16)] + [f"sha1 {hx(39)}"]
    p = write(tmp_path, "te.txt", "\n".join(lines) + "\n")
    fails(p, "sha1 must be 40 hex digits, got 39 characters", line=17)


def test_te_one_word_line(tmp_path):
    fails(
        write(tmp_path, "te.txt", f"md5 {hx(32)}\nmd5\n"), "expected '<signal_type> <hash>'", line=2
    )


def test_te_non_hex(tmp_path):
    fails(write(tmp_path, "te.txt", f"pdq {hx(63)}g\n"), "non-hex character 'g'", line=1)


def test_bare_hex_bad_length_without_context(tmp_path):
    fails(write(tmp_path, "h.txt", "abc123\n"), "32, 40 or 64 hex digits, got 6", line=1)


def test_bare_hex_garbage_line(tmp_path):
    fails(write(tmp_path, "h.txt", f"{hx(32)}\n{hx(32)}\nnot a hash\n"), "md5", line=3)


def test_csv_unknown_type_and_empty_cells(tmp_path):
    head = "signal_type,signal,id\n"
    fails(
        write(tmp_path, "a.csv", head + f"md5,{hx(32)},1\nphotodna,AAAA,2\n"),
        "unknown signal type 'photodna'",
        line=3,
    )
    fails(
        write(tmp_path, "b.csv", head + f"md5,{hx(32)},1\n,{hx(32)},2\n"),
        "empty signal_type",
        line=3,
    )
    fails(write(tmp_path, "c.csv", head + "md5,,1\n"), "empty signal", line=2)
    fails(
        write(tmp_path, "d.csv", head + f"md5,{hx(30)},1\n"),
        "md5 must be 32 hex digits, got 30",
        line=2,
    )


def test_csv_per_type_bad_cell(tmp_path):
    p = write(tmp_path, "c.csv", f"id,md5,sha1\n1,{hx(32)},{hx(40)}\n2,{hx(32)},{hx(41)}\n")
    fails(p, "sha1 column: sha1 must be 40 hex digits, got 41", line=3)


def test_csv_unterminated_quote(tmp_path):
    text = f'signal_type,signal,id\nmd5,{hx(32)},"open\nmd5,{hx(32)},2\n'
    fails(write(tmp_path, "q.csv", text), "bad CSV", "row from line 2", line=3)


def test_csv_bad_size(tmp_path):
    fails(
        write(tmp_path, "s.csv", f"signal_type,signal,size\nmd5,{hx(32)},big\n"),
        "size must be a whole number",
        line=2,
    )


@pytest.mark.parametrize(
    "line,needle",
    [
        (f"{'0' * 32}:abc:Name", "size must be a number or '*'"),
        (f"{'0' * 32}:12:", "empty signature name"),
        (f"{'0' * 33}:12:Name", "32 (md5), 40 (sha1) or 64 (sha256) hex digits, got 33"),
        (f"{'0' * 32}:12:Name:x", "functionality level"),
        (f"{'0' * 32}:1:a:2:3:4", "expected hash:size:name, got 6 fields"),
    ],
)
def test_clamav_bad_lines(tmp_path, line, needle):
    good = f"{hx(32)}:10:Good\n"
    fails(write(tmp_path, "x.hdb", good + line + "\n"), needle, line=2)


# --------------------------------------------------------------------------- JSON
VICS = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media"


def vics(records) -> str:
    return json.dumps({"@odata.context": VICS, "value": records})


def test_json_not_vics(tmp_path):
    fails(write(tmp_path, "x.json", '{"hashes": ["abc"]}'), "JSON, but not Project VIC VICS")


def test_deeply_nested_json_array(tmp_path):
    fails(write(tmp_path, "bomb.json", "[" * 200_000 + "]" * 200_000), "not Project VIC")


def test_deep_nesting_inside_a_vics_record(tmp_path):
    bomb = "[" * 200_000 + "]" * 200_000
    text = '{"@odata.context": "x", "value": [{"MediaID": 1, "Exifs": ' + bomb + "}]}"
    fails(write(tmp_path, "bomb2.json", text), "nested too deeply", line=1)


def test_deep_nesting_as_a_vics_element(tmp_path):
    text = '{"@odata.context": "x", "value": [' + "[" * 100_000
    fails(write(tmp_path, "bomb3.json", text), "value[0] is not an object", line=1)


def test_vics_truncated(tmp_path):
    full = vics([{"MediaID": i, "MD5": hx(32)} for i in range(50)])
    fails(write(tmp_path, "cut.json", full[: len(full) // 2]), "malformed JSON")


def test_vics_truncated_between_records(tmp_path):
    full = vics([{"MediaID": i, "MD5": hx(32)} for i in range(3)])
    cut = full[: full.index("}, {") + 1]
    fails(write(tmp_path, "cut2.json", cut), "ends inside an array")


def test_vics_trailing_data(tmp_path):
    fails(write(tmp_path, "t.json", vics([{"MD5": hx(32)}]) + "\n{}"), "after the end", line=2)


def test_vics_without_value(tmp_path):
    fails(write(tmp_path, "nv.json", '{"@odata.context": "x"}'), "no 'value' list")


def test_vics_value_not_a_list(tmp_path):
    fails(
        write(tmp_path, "nl.json", '{"@odata.context": "x", "value": {}}'), "'value' must be a list"
    )


def test_vics_record_without_hashes(tmp_path):
    p = write(tmp_path, "nh.json", vics([{"MediaID": 1, "MD5": hx(32)}, {"MediaID": 2}]))
    fails(p, "value[1] (MediaID 2): no MD5, SHA1 or SHA256 hash", line=1)


def test_vics_hash_not_text(tmp_path):
    fails(write(tmp_path, "nt.json", vics([{"MediaID": 1, "MD5": 12345}])), "MD5 must be text")


def test_vics_bad_alternative_hash(tmp_path):
    rec = {
        "MediaID": 9,
        "MD5": hx(32),
        "AlternativeHashes": [{"HashName": "SHA1", "HashValue": hx(40)[:-1] + "z"}],
    }
    fails(
        write(tmp_path, "ah.json", vics([rec])),
        "(MediaID 9): AlternativeHashes SHA1: sha1 contains a non-hex character 'z'",
    )


def test_vics_empty_value_has_no_entries(tmp_path):
    fails(write(tmp_path, "e.json", vics([])), "no entries")


def test_vics_oversized_value(tmp_path, monkeypatch):
    from hashwatch.lists import jsonstream

    original = jsonstream.JsonStream.__init__

    def small(self, stream, **kw):
        original(self, stream, chunk=1024, max_value=64 * 1024)

    monkeypatch.setattr(jsonstream.JsonStream, "__init__", small)
    text = '{"@odata.context": "x", "value": [{"MD5": "' + "a" * 200_000 + '"}]}'
    fails(write(tmp_path, "big.json", text), "larger than")


def test_nothing_is_loaded_half_way(tmp_path):
    # A bad last line fails the whole list: the caller gets an error, never a partial list.
    good = "".join(f"md5 {hx(32)}\n" for _ in range(1000))
    p = write(tmp_path, "late.te", good + "md5 nothex\n")
    fails(p, line=1001)


def test_huge_line_after_a_blank_line(tmp_path):
    fails(write(tmp_path, "huge4.txt", b"\n" + b"c" * (MAX_LINE_BYTES + 1)), "longer than", line=2)
