"""Inside containers: the walker, its limits and every "not fully scanned" reason, and the
scan pipeline (chains in results, the cache, the CLI). Every archive is made here."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import struct
import tarfile
import zipfile

import pytest

from hashwatch.hashing import HashOptions, hash_bytes
from hashwatch.lists import HashList, ListEntry
from hashwatch.match import Matcher
from hashwatch.media.containers import Budget, ContainerLimits, walk_inside
from hashwatch.media.containers.walk import READERS
from hashwatch.scan import Scanner, ScanOptions
from tests.conftest import encode, photo


def make_zip(files, method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in files:
            zf.writestr(name, data)
    return buf.getvalue()


def make_tar(files, mode="w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def walk(data: bytes, mime: str, name: str = "c", **limits):
    w = walk_inside(data, mime, name, ContainerLimits(**limits))
    items = list(w)
    return {it.inner: it for it in items}, w.incomplete


JPEG = encode(photo(1, (320, 240)), "JPEG")
PNG = encode(photo(2, (300, 200)), "PNG")


# -- formats and chains -------------------------------------------------------------------


def test_nested_zip_tar_gz_chain_and_bytes_are_exact():
    inner = make_tar([("photos/a.jpg", JPEG), ("photos/b.png", PNG)], "w:gz")
    outer = make_zip([("readme.txt", b"hello"), ("stick/holiday.tar.gz", inner)])
    items, incomplete = walk(outer, "application/zip", "outer.zip")
    assert incomplete == []
    assert list(items) == [
        "readme.txt",
        "stick/holiday.tar.gz",
        "stick/holiday.tar.gz!photos/a.jpg",
        "stick/holiday.tar.gz!photos/b.png",
    ]
    assert items["stick/holiday.tar.gz!photos/a.jpg"].data == JPEG
    assert items["stick/holiday.tar.gz!photos/a.jpg"].depth == 2
    assert items["stick/holiday.tar.gz"].data == inner


@pytest.mark.parametrize(
    "mime,compress",
    [
        ("application/gzip", gzip.compress),
        ("application/x-bzip2", bz2.compress),
        ("application/x-xz", lzma.compress),
    ],
)
def test_single_compressed_streams_and_compressed_tars(mime, compress):
    items, incomplete = walk(
        compress(JPEG),
        mime,
        "photo.jpg"
        + {"application/gzip": ".gz", "application/x-bzip2": ".bz2", "application/x-xz": ".xz"}[
            mime
        ],
    )
    assert incomplete == [] and list(items) == ["photo.jpg"]
    assert items["photo.jpg"].data == JPEG
    # a compressed tar is read as the tar (no extra level in the chain)
    items, incomplete = walk(compress(make_tar([("x/y.png", PNG)])), mime, "t.tar.x")
    assert incomplete == [] and list(items) == ["x/y.png"]


def test_gzip_keeps_the_name_in_its_header():
    buf = io.BytesIO()
    with gzip.GzipFile("original-name.jpg", "wb", fileobj=buf) as g:
        g.write(JPEG)
    items, _ = walk(buf.getvalue(), "application/gzip", "renamed.gz")
    assert list(items) == ["original-name.jpg"]


def test_office_documents_are_zips_with_media():
    docx = make_zip(
        [
            ("[Content_Types].xml", b"<Types/>"),
            ("word/document.xml", b"<w:document/>"),
            ("word/media/image1.jpeg", JPEG),
        ]
    )
    h = hash_bytes(docx, HashOptions(), "report.docx")
    by_inner = {it.inner: it.hashes for it in h.items}
    assert by_inner["word/media/image1.jpeg"].pdq == hash_bytes(JPEG).pdq
    assert by_inner["word/media/image1.jpeg"].sha256 == hashlib.sha256(JPEG).hexdigest()
    assert h.incomplete is None


# -- limits and reasons --------------------------------------------------------------------


def test_depth_limit_reports_what_was_not_opened():
    data = b"core"
    for i in range(6):
        data = make_zip([(f"level{i}.zip" if i else "core.txt", data)])
    items, incomplete = walk(data, "application/zip", "deep.zip", max_depth=3)
    assert len(items) == 3
    assert len(incomplete) == 1 and "nested deeper than 3 levels" in incomplete[0]
    assert incomplete[0].startswith("level5.zip!level4.zip!level3.zip:")


def test_item_count_limit():
    data = make_zip([(f"f{i}.txt", b"x") for i in range(50)])
    items, incomplete = walk(data, "application/zip", max_items=10)
    assert len(items) == 10
    assert incomplete == ["stopped: more than 10 items inside"]


def test_total_bytes_limit():
    data = make_zip([(f"f{i}.bin", os.urandom(100_000)) for i in range(5)])
    items, incomplete = walk(data, "application/zip", max_total_bytes=250_000)
    assert len(items) == 2
    assert incomplete == ["stopped: more than 250000 uncompressed bytes inside"]


def test_compression_ratio_bomb_is_stopped_early():
    bomb = make_zip([("zeros.bin", b"\0" * (64 << 20)), ("after.txt", b"ok")])
    assert len(bomb) < 200_000
    items, incomplete = walk(bomb, "application/zip", ratio_min_bytes=1 << 20)
    assert items["zeros.bin"].error.startswith("compression ratio over 200:1")
    assert items["zeros.bin"].size < 64 << 20  # stopped while reading
    assert items["after.txt"].data == b"ok"  # the rest of the archive is still scanned
    assert incomplete[0].startswith("zeros.bin: compression ratio")


def test_bzip2_bomb_bounded_by_ratio():
    bomb = bz2.compress(b"\0" * (200 << 20))
    items, incomplete = walk(bomb, "application/x-bzip2", "b.bz2")
    (item,) = items.values()
    assert item.data is None and "compression ratio" in item.error
    assert len(incomplete) == 1


def test_time_limit():
    ticks = iter(range(0, 10_000))
    budget = Budget(ContainerLimits(max_seconds=5), clock=lambda: next(ticks))
    w = walk_inside(make_zip([(f"f{i}", b"x") for i in range(40)]), "application/zip", "slow.zip")
    w.budget = budget
    items = list(w)
    assert 0 < len(items) < 40
    assert w.incomplete == ["stopped: time limit of 5 s reached"]


def test_large_item_is_streamed_for_exact_hashes():
    blob = os.urandom(3 << 20)
    items, incomplete = walk(
        make_zip([("big.bin", blob)]), "application/zip", max_item_in_memory=1 << 20
    )
    big = items["big.bin"]
    assert big.data is None and big.size == len(blob)
    assert big.digests[2] == hashlib.sha256(blob).hexdigest()
    assert incomplete == []


def _set_zip_flag(data: bytes, name: bytes, bit: int) -> bytes:
    """Set a general-purpose flag bit of ``name`` in both its local and central headers."""
    b = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = 0
        while (i := b.find(sig, i)) >= 0:
            name_at = i + (30 if sig == b"PK\x03\x04" else 46)
            if b[name_at : name_at + len(name)] == name:
                (flags,) = struct.unpack_from("<H", b, i + off)
                struct.pack_into("<H", b, i + off, flags | bit)
            i += 4
    return bytes(b)


def test_encrypted_zip_member_is_not_fully_scanned():
    data = _set_zip_flag(make_zip([("secret.jpg", JPEG), ("open.txt", b"hi")]), b"secret.jpg", 1)
    items, incomplete = walk(data, "application/zip", "locked.zip")
    assert items["secret.jpg"].error == "encrypted (password needed)"
    assert items["open.txt"].data == b"hi"
    assert incomplete == ["secret.jpg: encrypted (password needed)"]


def test_unsupported_compression_method():
    data = bytearray(make_zip([("odd.bin", b"abc" * 100)]))
    for sig, off in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        i = data.find(sig)
        struct.pack_into("<H", data, i + off, 99)
    items, incomplete = walk(bytes(data), "application/zip")
    assert items["odd.bin"].error == "compression method 99 not supported"


def test_overlapping_entries_zip_bomb_refused():
    """Fifield-style bomb: two central-directory entries pointing at one local file."""
    data = make_zip([("a.bin", b"\0" * 100_000)])
    eocd = data.rfind(b"PK\x05\x06")
    cd_size, cd_off = struct.unpack_from("<II", data, eocd + 12)
    central = data[cd_off : cd_off + cd_size]
    dup = central.replace(b"a.bin", b"b.bin")
    new_eocd = bytearray(data[eocd:])
    struct.pack_into("<HH", new_eocd, 8, 2, 2)
    struct.pack_into("<I", new_eocd, 12, 2 * cd_size)
    bomb = data[:cd_off] + central + dup + bytes(new_eocd)
    assert zipfile.ZipFile(io.BytesIO(bomb)).namelist() == ["a.bin", "b.bin"]
    items, incomplete = walk(bomb, "application/zip", "bomb.zip")
    assert items == {}
    assert incomplete == [
        "bomb.zip: entries 'a.bin' and 'b.bin' overlap (a zip-bomb technique); not opened"
    ]


@pytest.mark.parametrize(
    "mime,data,reason",
    [
        ("application/zip", make_zip([("a.jpg", JPEG)])[:300], "corrupt zip archive"),
        ("application/gzip", gzip.compress(JPEG)[:500], "corrupt gzip stream"),
        ("application/gzip", gzip.compress(os.urandom(50_000))[:30_000], "cannot read"),
        ("application/x-tar", b"\x00" * 100 + b"ustar" + b"garbage" * 100, "corrupt tar"),
        ("application/x-xz", b"\xfd7zXZ\x00" + b"\x01" * 64, "corrupt x-xz stream"),
    ],
)
def test_corrupt_containers_are_reported_never_clean(mime, data, reason):
    items, incomplete = walk(data, mime, "broken")
    assert incomplete and reason in incomplete[0], incomplete


def test_container_holding_a_copy_of_itself_is_not_reopened():
    inner = make_zip([("x.txt", b"x")])
    outer = make_zip([("copy.zip", inner)])
    # walking ``inner``'s bytes as if they were the outer file: the copy is caught
    w = walk_inside(outer, "application/zip", "q.zip", sha256=hashlib.sha256(inner).hexdigest())
    assert [it.inner for it in w] == ["copy.zip"]
    assert w.incomplete == ["copy.zip: container holds a copy of itself (quine); not opened"]


def test_hostile_member_names_are_cleaned():
    data = make_zip([("/abs/../x\x1b[31m.txt", b"1"), ("./rel.txt", b"2")])
    items, _ = walk(data, "application/zip")
    assert set(items) == {"abs/../x?[31m.txt", "rel.txt"}


def test_every_reader_is_registered():
    assert {
        "application/zip",
        "application/x-tar",
        "application/gzip",
        "application/x-bzip2",
        "application/x-xz",
        "application/x-7z-compressed",
        "application/vnd.rar",
        "application/pdf",
    } <= set(READERS)


# -- through the scan pipeline --------------------------------------------------------------


def _kit_list(*contents: bytes) -> HashList:
    entries = []
    for i, c in enumerate(contents):
        h = hash_bytes(c)
        entries.append(ListEntry("pdq", h.pdq, f"img{i}", "A1"))
    return HashList("kit", entries)


@pytest.fixture
def stick(tmp_path):
    d = tmp_path / "stick"
    d.mkdir()
    altered = encode(photo(1, (320, 240)).resize((200, 150)), "JPEG", quality=60)
    inner = make_tar([("img_004.jpg", altered), ("notes.txt", b"n")], "w:bz2")
    (d / "holiday.zip").write_bytes(make_zip([("photos/2019.tar.bz2", inner), ("x.txt", b"")]))
    (d / "plain.png").write_bytes(PNG)
    (d / "locked.zip").write_bytes(
        _set_zip_flag(make_zip([("secret.jpg", JPEG)]), b"secret.jpg", 1)
    )
    return d


def _run(matcher, d, cache_path):
    results = []
    opts = ScanOptions(jobs=2, cache_path=cache_path)
    summary = Scanner(matcher, opts).run([str(d)], results.append)
    return summary, {os.path.basename(r.path): r for r in results}


def test_scan_reports_matches_with_their_chain_and_caches_containers(stick, cache_path):
    m = Matcher([_kit_list(JPEG)])
    s1, res = _run(m, stick, cache_path)
    (match,) = res["holiday.zip"].matches
    assert match.inner == "photos/2019.tar.bz2!img_004.jpg" and 0 < match.distance <= 31
    assert not res["plain.png"].matches
    assert s1.items == 5  # tar.bz2, its two items, x.txt, and the locked zip's member
    assert s1.partial == [(str(stick / "locked.zip"), "secret.jpg: encrypted (password needed)")]
    # unchanged containers are not reopened, and the partial state is remembered
    s2, res2 = _run(m, stick, cache_path)
    assert s2.hashed == 0 and s2.from_cache == 3
    assert res2["holiday.zip"].matches == res["holiday.zip"].matches
    assert s2.partial == s1.partial
    # a new list re-matches the stored items without reading the archive
    m2 = Matcher([_kit_list(PNG, JPEG)])
    s3, res3 = _run(m2, stick, cache_path)
    assert s3.hashed == 0
    assert [x.inner for x in res3["holiday.zip"].matches] == ["photos/2019.tar.bz2!img_004.jpg"]
    assert [x.inner for x in res3["plain.png"].matches] == [None]


def test_exact_match_inside_and_the_container_itself(stick, cache_path):
    zip_bytes = (stick / "holiday.zip").read_bytes()
    lst = HashList(
        "exact",
        [
            ListEntry("md5", hashlib.md5(b"n").hexdigest(), "notes"),
            ListEntry("sha256", hashlib.sha256(zip_bytes).hexdigest(), "the-zip"),
        ],
    )
    _, res = _run(Matcher([lst]), stick, None)
    assert sorted((m.entry_id, m.inner) for m in res["holiday.zip"].matches) == [
        ("notes", "photos/2019.tar.bz2!notes.txt"),
        ("the-zip", None),
    ]


def test_cli_hash_and_scan_print_chains_and_extract_nothing(stick, tmp_path, cli):
    before = sorted(p.name for p in stick.iterdir())
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    r = cli(
        "hash", str(stick), env={"TMPDIR": str(private_tmp), "XDG_CACHE_HOME": str(tmp_path / "c")}
    )
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    inners = {(os.path.basename(x["path"]), x["inner"]) for x in recs}
    assert ("holiday.zip", "photos/2019.tar.bz2!img_004.jpg") in inners
    assert ("holiday.zip", None) in inners
    locked = next(x for x in recs if x["path"].endswith("locked.zip") and x["inner"] is None)
    assert locked["not_fully_scanned"] == "secret.jpg: encrypted (password needed)"
    assert "NOT FULLY SCANNED" in r.stderr and "Items inside containers: 5" in r.stderr
    lst = tmp_path / "kit.csv"
    lst.write_text(f"signal_type,signal,id\npdq,{hash_bytes(JPEG).pdq},img0\n")
    r = cli("scan", "--list", str(lst), "--json", str(stick), "--no-cache")
    assert r.returncode == 1, r.stderr
    (found,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert found["inner"] == "photos/2019.tar.bz2!img_004.jpg"
    assert found["path"].endswith("holiday.zip")
    r = cli("scan", "--list", str(lst), str(stick), "--no-cache")
    assert "holiday.zip!photos/2019.tar.bz2!img_004.jpg: FOUND pdq" in r.stdout
    # nothing extracted next to the originals, no temp files left behind
    assert sorted(p.name for p in stick.iterdir()) == before
    assert list(private_tmp.iterdir()) == []


def test_pdf_and_7z_items_match_with_their_chains(tmp_path, cache_path):
    import py7zr
    from fpdf import FPDF

    d = tmp_path / "docs"
    d.mkdir()
    src = tmp_path / "photo.jpg"
    src.write_bytes(JPEG)
    pdf = FPDF()
    pdf.add_page()
    pdf.image(str(src), x=10, y=10, w=100)
    (d / "report.pdf").write_bytes(bytes(pdf.output()))
    with py7zr.SevenZipFile(d / "pack.7z", "w") as z:
        z.writestr(JPEG, "deep/photo.jpg")
    lst = HashList("kit", [ListEntry("md5", hashlib.md5(JPEG).hexdigest(), "p1")])
    _, res = _run(Matcher([lst]), d, cache_path)
    (m,) = res["report.pdf"].matches  # the embedded JPEG, byte for byte
    assert m.inner.startswith("page-1/") and m.inner.endswith(".jpg")
    assert [m.inner for m in res["pack.7z"].matches] == ["deep/photo.jpg"]
