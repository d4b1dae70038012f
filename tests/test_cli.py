"""The hashwatch command as a user runs it: real processes, real files."""

import json

from tests.conftest import encode, photo

HASH_KEYS = {"path", "inner", "size", "media", "md5", "sha1", "sha256", "pdq", "pdq_quality"}
MATCH_KEYS = {"path", "inner", "signal_type", "signal", "distance", "list", "entry_id", "category"}


def _tree(tmp_path):
    d = tmp_path / "disk"
    (d / "usb").mkdir(parents=True)
    img = photo(21, (1000, 750))
    (d / "usb" / "a.jpg").write_bytes(encode(img, "JPEG", quality=90))
    (d / "usb" / "a-small.png").write_bytes(encode(img.resize((300, 225)), "PNG"))
    (d / "b.jpg").write_bytes(encode(photo(22), "JPEG"))
    (d / "readme.txt").write_bytes(b"hello\n")
    return d


def test_hash_prints_every_signal(tmp_path, cli):
    d = _tree(tmp_path)
    r = cli("hash", str(d))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 4 and all(set(x) == HASH_KEYS for x in rows)
    by = {x["path"].rsplit("/", 1)[1]: x for x in rows}
    assert by["a.jpg"]["media"] == "image/jpeg" and by["a.jpg"]["pdq_quality"] >= 50
    assert by["readme.txt"]["pdq"] is None and by["readme.txt"]["size"] == 6
    assert "SCAN SUMMARY" in r.stderr and "Files: 4" in r.stderr


def test_build_check_and_scan(tmp_path, cli):
    d = _tree(tmp_path)
    lst = tmp_path / "known.csv"
    r = cli(
        "lists",
        "build",
        str(d / "usb" / "a.jpg"),
        "--output",
        str(lst),
        "--name",
        "case-42",
        "--category",
        "A",
    )
    assert r.returncode == 0, r.stderr
    r = cli("lists", "check", str(lst))
    assert r.returncode == 0, r.stderr
    assert "5 entries" in r.stdout and "pdq: 1" in r.stdout and "md5: 1" in r.stdout
    assert "pdq_center80: 1" in r.stdout  # derived: the central 80%, for cropped copies

    r = cli("scan", "--json", "--list", str(lst), str(d))
    assert r.returncode == 1, r.stderr
    found = [json.loads(line) for line in r.stdout.splitlines()]
    assert all(set(m) == MATCH_KEYS for m in found)
    assert {m["path"].rsplit("/", 1)[1] for m in found} == {"a.jpg", "a-small.png"}
    assert {m["list"] for m in found} == {"case-42"} and {m["category"] for m in found} == {"A"}
    small = [m for m in found if m["path"].endswith("a-small.png")]
    assert [m["signal_type"] for m in small] == ["pdq"] and 0 < small[0]["distance"] <= 31
    assert "Matches:" in r.stderr

    # the same scan again is served from the cache and finds the same
    r2 = cli("scan", "--json", "--list", str(lst), str(d))
    assert r2.returncode == 1 and sorted(r2.stdout.splitlines()) == sorted(r.stdout.splitlines())
    assert "0 read and hashed, 4 from the scan cache" in r2.stderr


def test_nothing_found_is_exit_0(tmp_path, cli):
    d = _tree(tmp_path)
    lst = tmp_path / "l.txt"
    lst.write_text("md5 " + "0" * 32 + "\n")
    r = cli("scan", "--list", str(lst), str(d))
    assert r.returncode == 0 and r.stdout == ""


def test_invalid_list_is_exit_2_naming_file_and_line(tmp_path, cli):
    d = _tree(tmp_path)
    lst = tmp_path / "bad.txt"
    lst.write_text("md5 " + "0" * 32 + "\nsha1 abc\n")
    r = cli("scan", "--list", str(lst), str(d))
    assert r.returncode == 2 and r.stdout == ""
    assert "bad.txt" in r.stderr and ":2" in r.stderr and "Traceback" not in r.stderr


def test_bad_arguments_are_exit_2(tmp_path, cli):
    lst = tmp_path / "l.txt"
    lst.write_text("md5 " + "0" * 32 + "\n")
    assert cli("scan", "--list", str(lst), str(tmp_path / "missing")).returncode == 2
    assert cli("scan", str(tmp_path)).returncode == 2  # no --list
    assert cli("scan", "--list", str(tmp_path / "nolist"), str(tmp_path)).returncode == 2
    assert cli("scan", "--jobs", "-1", "--list", str(lst), str(tmp_path)).returncode == 2


def test_bare_pdq_hex_list(tmp_path, cli):
    d = _tree(tmp_path)
    r = cli("hash", str(d / "usb" / "a.jpg"))
    pdq = json.loads(r.stdout)["pdq"]
    lst = tmp_path / "pdq.txt"
    lst.write_text(pdq + "\n")
    r = cli("scan", "--json", "--type", "pdq", "--list", str(lst), str(d))
    assert r.returncode == 1
    assert {json.loads(x)["entry_id"] for x in r.stdout.splitlines()} == {"1"}
    # without --type pdq a 64-digit line is a sha256: nothing matches
    assert cli("scan", "--list", str(lst), str(d)).returncode == 0


def test_unreadable_files_are_counted_and_listed(tmp_path, cli):
    d = _tree(tmp_path)
    (d / "mem").symlink_to("/proc/self/mem")
    lst = tmp_path / "l.txt"
    lst.write_text("md5 " + "0" * 32 + "\n")
    r = cli("scan", "--follow-symlinks", "--list", str(lst), str(d))
    assert r.returncode == 0
    assert "ERROR" in r.stderr and "mem: read failed" in r.stderr and "Errors: 1" in r.stderr


def test_testkit_end_to_end(tmp_path, cli):
    kit = tmp_path / "kit"
    r = cli("testkit", str(kit))
    assert r.returncode == 0, r.stderr
    manifest = json.loads((kit / "manifest.json").read_text())
    r = cli("scan", "--json", "--list", str(kit / "testkit-list.csv"), str(kit))
    assert r.returncode == 1, r.stderr
    hits = {json.loads(x)["path"] for x in r.stdout.splitlines()}
    files = manifest["files"]
    expected = {
        str(kit / f["path"]) for f in files if f["kind"] in ("original", "altered", "format")
    }
    clean = {str(kit / f["path"]) for f in files if f["kind"] == "clean"}
    assert expected <= hits, sorted(expected - hits)
    assert not hits & clean


def test_a_changed_list_file_is_rematched_not_served_from_stale_verdicts(tmp_path, cli):
    d = _tree(tmp_path)
    lst = tmp_path / "l.txt"
    lst.write_text("md5 " + "0" * 32 + "\n")
    assert cli("scan", "--list", str(lst), str(d)).returncode == 0
    import hashlib

    lst.write_text("md5 " + hashlib.md5(b"hello\n").hexdigest() + "\n")  # same name, same size
    r = cli("scan", "--json", "--list", str(lst), str(d))
    assert r.returncode == 1 and "readme.txt" in r.stdout
    assert "0 read and hashed" in r.stderr
