"""The 7z, RAR and PDF readers, called directly with a Budget (no walker).

Every archive and PDF is made here from harmless generated pictures (hashwatch.testkit).
RAR archives cannot be written with a free tool, so a tiny RAR 4.x writer below makes
archives of *stored* members (the format's marker, archive, file and end blocks).
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import py7zr
import pytest
import rarfile
from fpdf import FPDF
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
)

from hashwatch.media.containers import pdf, rar, sevenzip
from hashwatch.media.containers.base import (
    Budget,
    ContainerError,
    ContainerLimits,
    EncryptedError,
    LimitReached,
    Member,
)
from hashwatch.testkit.images import paint


def picture(seed: int, kind: str = "marble", size: tuple[int, int] = (240, 160)) -> Image.Image:
    return paint(np.random.default_rng(seed), kind, size)


def encoded(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def read_all(m: Member, budget: Budget | None = None, chunk: int = 64 << 10) -> bytes:
    """Read a member in chunks, as the walker does (counting bytes if given a budget)."""
    out = bytearray()
    with m.open() as stream:
        while data := stream.read(chunk):
            if budget is not None:
                budget.take_bytes(len(data))
            out += data
    return bytes(out)


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


# --- 7z --------------------------------------------------------------------------------


def make_7z(files: dict[str, bytes], **kw: object) -> bytes:
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", **kw) as z:
        for name, data in files.items():
            z.writestr(data, name)
    return buf.getvalue()


@pytest.fixture(scope="module")
def kit_files() -> dict[str, bytes]:
    return {
        "holiday/day1/img_001.jpg": encoded(picture(1), "JPEG", quality=90),
        "holiday/day2/img_002.png": encoded(picture(2, "grid"), "PNG"),
        "notes.txt": b"nothing to see",
        "holiday/empty.dat": b"",
        "img_003.jpg": encoded(picture(3, "mosaic"), "JPEG"),
    }


def test_7z_members_in_order_with_nested_names(kit_files):
    budget = Budget()
    got = {
        m.name: (m, read_all(m))
        for m in sevenzip.members(io.BytesIO(make_7z(kit_files)), budget, "a.7z")
    }
    assert list(got) == list(kit_files)
    for name, (m, data) in got.items():
        assert data == kit_files[name]
        assert m.size == len(kit_files[name])
        assert m.packed is not None and m.packed <= max(1, m.size)
    assert budget.bytes == 0  # members read in order: nothing decompressed twice


def test_7z_directories_left_out(tmp_path: Path):
    (tmp_path / "src" / "a" / "b").mkdir(parents=True)
    (tmp_path / "src" / "a" / "b" / "pic.png").write_bytes(encoded(picture(4), "PNG"))
    arc = tmp_path / "d.7z"
    with py7zr.SevenZipFile(arc, "w") as z:
        z.writeall(tmp_path / "src", "top")
    with open(arc, "rb") as f:
        names = [m.name for m in sevenzip.members(f, Budget(), "d.7z")]
    assert names == ["top/a/b/pic.png"]


def test_7z_members_out_of_order_and_unread(kit_files):
    """A stream opened after later members, or after members never read, is still right."""
    src = io.BytesIO(make_7z(kit_files))
    ms = list(sevenzip.members(src, Budget(), "a.7z"))
    for m in reversed(ms):
        assert read_all(m) == kit_files[m.name]
    budget = Budget()
    for i, m in enumerate(sevenzip.members(src, budget, "a.7z")):
        if i % 2:
            assert read_all(m) == kit_files[m.name]
    assert budget.bytes > 0  # the unread ones were decompressed to reach the next, and counted


@pytest.mark.parametrize("header_encryption", [False, True])
def test_7z_encrypted(kit_files, header_encryption):
    data = make_7z(kit_files, password="secret", header_encryption=header_encryption)
    with pytest.raises(EncryptedError, match="password"):
        list(sevenzip.members(io.BytesIO(data), Budget(), "e.7z"))


def test_7z_corrupt(kit_files):
    data = make_7z(kit_files)
    for broken in (data[: len(data) // 2], data[:40], b"7z\xbc\xaf\x27\x1c" + b"\0" * 50):
        with pytest.raises(ContainerError):
            for m in sevenzip.members(io.BytesIO(broken), Budget(), "t.7z"):
                read_all(m)
    # a damaged byte in the compressed data: caught on reading (LZMA error or CRC mismatch)
    damaged = bytearray(data)
    damaged[32 + 200] ^= 0xFF
    with pytest.raises(ContainerError):
        for m in sevenzip.members(io.BytesIO(bytes(damaged)), Budget(), "t.7z"):
            read_all(m)


BEFORE, AFTER = encoded(picture(11), "PNG"), encoded(picture(12, "grid"), "JPEG")


@pytest.fixture(scope="module")
def zeros_7z(tmp_path_factory) -> bytes:
    """A solid 7z (a few KB) of a picture, a 200 MB file of zeros (from a sparse file) and
    another picture."""
    tmp = tmp_path_factory.mktemp("bomb")
    zeros = tmp / "zeros.bin"
    with open(zeros, "wb") as f:
        f.truncate(200 << 20)
    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w") as z:
        z.writestr(BEFORE, "before.png")
        z.write(zeros, "zeros.bin")
        z.writestr(AFTER, "after.jpg")
    return out.getvalue()


def test_7z_bomb_declared_size_refused_up_front(zeros_7z):
    assert len(zeros_7z) < 100_000
    budget = Budget(ContainerLimits(max_total_bytes=64 << 20))
    tracemalloc.start()
    try:
        before, zeros, after = sevenzip.members(io.BytesIO(zeros_7z), budget, "bomb.7z")
        assert read_all(before, budget) == BEFORE
        with pytest.raises(ContainerError, match="reaching it means decompressing 209715200"):
            read_all(after, budget)  # in the same solid block, behind the zeros
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert zeros.skip and zeros.skip.startswith("declares 209715200 bytes")
    assert peak < 40 << 20  # the LZMA dictionary (16 MB here), no 200 MB anywhere
    assert budget.bytes == len(BEFORE)


def test_7z_bomb_streams_in_bounded_memory_and_stops_at_limit(zeros_7z):
    limits = ContainerLimits()
    before, zeros, after = sevenzip.members(io.BytesIO(zeros_7z), Budget(limits), "bomb.7z")
    assert zeros.size == 200 << 20 and zeros.skip is None
    assert zeros.packed and zeros.size > limits.max_ratio * zeros.packed  # walker's ratio check
    # read all of it: memory stays at about one chunk (and the LZMA dictionary)
    tracemalloc.start()
    try:
        n = 0
        with zeros.open() as s:
            while chunk := s.read(1 << 20):
                assert not chunk.count(1)
                n += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n == 200 << 20
    assert peak < 48 << 20
    assert read_all(after) == AFTER
    # a budget running out of time stops decompression part-way
    ticks = iter(range(10**6))
    budget = Budget(limits, clock=lambda: float(next(ticks)))
    budget.deadline = 30.0
    _, zeros, _ = sevenzip.members(io.BytesIO(zeros_7z), budget, "bomb.7z")
    with pytest.raises(LimitReached, match="time limit"):
        read_all(zeros, budget)
    assert budget.bytes < 100 << 20


# --- RAR -------------------------------------------------------------------------------


def _block(htype: int, flags: int, body: bytes, data: bytes = b"") -> bytes:
    """One RAR 4.x block: HEAD_CRC (low 16 bits of the CRC32 of the rest of the header),
    HEAD_TYPE, HEAD_FLAGS, HEAD_SIZE, the type's fields, then its data."""
    head = struct.pack("<BHH", htype, flags, 7 + len(body)) + body
    return struct.pack("<H", zlib.crc32(head) & 0xFFFF) + head + data


def make_rar4(
    files: dict[str, bytes],
    *,
    method: dict[str, int] | None = None,
    encrypted: tuple[str, ...] = (),
    header_encrypted: bool = False,
) -> bytes:
    """A RAR 4.x archive. Members are stored (method 0x30) unless ``method`` says otherwise
    (the data is then not really compressed: only a tool would notice)."""
    out = b"Rar!\x1a\x07\x00"  # marker block
    out += _block(0x73, 0x0080 if header_encrypted else 0, b"\0" * 6)  # archive header
    for name, data in files.items():
        raw = name.replace("/", "\\").encode()
        flags = 0x8000 | (0x0004 if name in encrypted else 0)  # LONG_BLOCK, PASSWORD
        body = struct.pack(
            "<IIBIIBBHI",
            len(data),  # PACK_SIZE
            len(data),  # UNP_SIZE
            2,  # HOST_OS: Windows
            zlib.crc32(data),  # FILE_CRC
            0x5A8E3100,  # FTIME (DOS)
            20,  # UNP_VER
            (method or {}).get(name, 0x30),  # METHOD
            len(raw),  # NAME_SIZE
            0x20,  # ATTR
        )
        out += _block(0x74, flags, body + raw, data)
    return out + _block(0x7B, 0x4000, b"")  # end of archive


@pytest.fixture
def rar_files() -> dict[str, bytes]:
    return {
        "trip/img_001.jpg": encoded(picture(5), "JPEG"),
        "trip/sub/img_002.png": encoded(picture(6, "stripes"), "PNG"),
    }


@pytest.fixture
def no_tool(monkeypatch, tmp_path):
    """No unrar/unar/7z/bsdtar on PATH, and rarfile's cached tool choice forgotten."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(rarfile, "CURRENT_SETUP", None)
    assert not rar.have_tool()


@pytest.fixture
def private_tmp(monkeypatch, tmp_path) -> Path:
    """Temporary files go here, so a test can see they are all removed."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


needs_tool = pytest.mark.skipif(not rar.have_tool(), reason="no RAR tool (apt-get install unar)")


def test_rar_stored_members_read_without_tool(no_tool, rar_files):
    ms = list(rar.members(io.BytesIO(make_rar4(rar_files)), Budget(), "a.rar"))
    assert [m.name for m in ms] == list(rar_files)
    for m in ms:
        assert m.skip is None and m.size == len(rar_files[m.name])
        assert read_all(m) == rar_files[m.name]


def test_rar_compressed_members_without_tool(no_tool, rar_files):
    mixed = make_rar4({**rar_files, "packed.bin": b"x" * 100}, method={"packed.bin": 0x33})
    ms = list(rar.members(io.BytesIO(mixed), Budget(), "m.rar"))
    assert [read_all(m) for m in ms if m.skip is None] == list(rar_files.values())
    (packed,) = [m for m in ms if m.skip]
    assert packed.name == "packed.bin" and packed.skip == rar.NO_TOOL
    only_packed = make_rar4(rar_files, method=dict.fromkeys(rar_files, 0x33))
    with pytest.raises(ContainerError) as e:
        list(rar.members(io.BytesIO(only_packed), Budget(), "p.rar"))
    assert str(e.value) == (
        "RAR archive not opened: no unrar tool installed "
        "(install unrar, unar, 7zip or libarchive-tools)"
    )


@needs_tool
def test_rar_read_through_tool(monkeypatch, private_tmp, rar_files, tmp_path):
    """With rarfile told to use the tool even for stored members, the tool path is used:
    from memory (copied into a private temporary directory) and from a real file."""
    monkeypatch.setattr(rarfile, "FORCE_TOOL", True)
    data = make_rar4(rar_files)
    on_disk = tmp_path / "a.rar"
    on_disk.write_bytes(data)
    for source in (io.BytesIO(data), open(on_disk, "rb")):
        with source:
            got = {m.name: read_all(m) for m in rar.members(source, Budget(), "a.rar")}
        assert got == rar_files
        assert os.listdir(private_tmp) == []


@needs_tool
def test_rar_broken_compressed_member_with_tool(private_tmp, rar_files):
    data = make_rar4({**rar_files, "packed.bin": b"not rar data" * 10}, method={"packed.bin": 0x33})
    ms = rar.members(io.BytesIO(data), Budget(), "m.rar")
    for m in ms:
        assert m.skip is None
        if m.name in rar_files:
            assert read_all(m) == rar_files[m.name]
        else:
            with pytest.raises(ContainerError, match="not readable"):
                read_all(m)
    ms.close()
    assert os.listdir(private_tmp) == []


def test_rar_encrypted(rar_files):
    data = make_rar4(rar_files, encrypted=("trip/img_001.jpg",))
    ms = list(rar.members(io.BytesIO(data), Budget(), "e.rar"))
    assert [(m.name, m.skip) for m in ms] == [
        ("trip/img_001.jpg", "encrypted (password needed)"),
        ("trip/sub/img_002.png", None),
    ]
    assert read_all(ms[1]) == rar_files["trip/sub/img_002.png"]
    with pytest.raises(EncryptedError, match="password"):
        list(
            rar.members(io.BytesIO(make_rar4(rar_files, header_encrypted=True)), Budget(), "h.rar")
        )


def test_rar_corrupt(rar_files):
    data = make_rar4(rar_files)
    with pytest.raises(ContainerError):
        list(rar.members(io.BytesIO(b"Rar!\x1a\x07\x00" + b"\xff" * 40), Budget(), "c.rar"))
    with pytest.raises(ContainerError):
        list(rar.members(io.BytesIO(b"not a rar at all"), Budget(), "c.rar"))
    # truncated in the second member's header, or in its data: the first is read, the
    # second reported
    second = data.index(b"trip\\sub")
    for cut in (data[: second - 10], data[: second + 40]):
        ms = rar.members(io.BytesIO(cut), Budget(), "c.rar")
        assert read_all(next(ms)) == rar_files["trip/img_001.jpg"]
        with pytest.raises(ContainerError):
            for m in ms:
                read_all(m)
    # a damaged byte in a stored member: its CRC does not match
    damaged = bytearray(data)
    damaged[len(data) - 30] ^= 0xFF
    with pytest.raises(ContainerError):
        for m in rar.members(io.BytesIO(bytes(damaged)), Budget(), "c.rar"):
            read_all(m)


# --- PDF -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kit_pdf() -> tuple[bytes, bytes, Image.Image, bytes]:
    """A PDF (fpdf2) with a test-kit JPEG and PNG on page 1, the same JPEG again on page 2,
    a document attachment and a page attachment; returns (pdf, jpeg, png picture, attachment)."""
    jpeg = encoded(picture(7), "JPEG", quality=90)
    png_img = picture(8, "leaves")
    attached = encoded(picture(9, "rings"), "PNG")
    doc = FPDF()
    doc.add_page()
    doc.image(io.BytesIO(jpeg), x=10, y=10, w=60)
    doc.image(io.BytesIO(encoded(png_img, "PNG")), x=10, y=100, w=60)
    doc.add_page()
    doc.image(io.BytesIO(jpeg), x=10, y=10, w=60)
    doc.embed_file(basename="holiday.png", bytes=attached)
    return bytes(doc.output()), jpeg, png_img, attached


def test_pdf_images_and_attachments(kit_pdf):
    data, jpeg, png_img, attached = kit_pdf
    ms = list(pdf.members(io.BytesIO(data), Budget(), "doc.pdf"))
    names = [m.name for m in ms]
    assert names == ["page-1/I1.jpg", "page-1/I2.png", "attachments/holiday.png"]
    got = {m.name: read_all(m) for m in ms}
    assert got["page-1/I1.jpg"] == jpeg  # embedded verbatim: same md5/sha256 as the file
    assert np.array_equal(pixels(got["page-1/I2.png"]), np.asarray(png_img))
    assert got["attachments/holiday.png"] == attached


def test_pdf_page_attachment(tmp_path):
    payload = encoded(picture(10), "JPEG")
    path = tmp_path / "beach.jpg"
    path.write_bytes(payload)
    doc = FPDF()
    doc.add_page()
    doc.file_attachment_annotation(path, x=10, y=10)
    ms = list(pdf.members(io.BytesIO(bytes(doc.output())), Budget(), "a.pdf"))
    assert [m.name for m in ms] == ["page-1/attachment/beach.jpg"]
    assert read_all(ms[0]) == payload


def _encrypt(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(data))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_encrypted(kit_pdf):
    data, jpeg, _, attached = kit_pdf
    with pytest.raises(EncryptedError, match="password"):
        list(pdf.members(io.BytesIO(_encrypt(data, "secret")), Budget(), "e.pdf"))
    # an empty user password (opens without asking): read as usual
    ms = list(pdf.members(io.BytesIO(_encrypt(data, "")), Budget(), "o.pdf"))
    got = {m.name: read_all(m) for m in ms}
    assert got["page-1/I1.jpg"] == jpeg
    assert got["attachments/holiday.png"] == attached


def test_pdf_broken(kit_pdf):
    data = kit_pdf[0]
    for broken in (b"%PDF-1.7\nnothing else", b"not a pdf", data[: len(data) // 3]):
        with pytest.raises(ContainerError):
            for m in pdf.members(io.BytesIO(broken), Budget(), "b.pdf"):
                read_all(m)


def pdf_with_image(
    width: int, height: int, data: bytes, filters: str = "/FlateDecode", inline: bytes = b""
) -> bytes:
    """A one-page PDF with one grey image XObject /Im9 declaring ``width`` x ``height``, and
    a form XObject /Fm0 that uses the same image and itself (a reference loop)."""
    writer = PdfWriter()
    page = writer.add_blank_page(200, 200)
    img = DecodedStreamObject()
    img.set_data(data)
    img.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Image"),
            NameObject("/Width"): NumberObject(width),
            NameObject("/Height"): NumberObject(height),
            NameObject("/ColorSpace"): NameObject("/DeviceGray"),
            NameObject("/BitsPerComponent"): NumberObject(8),
            NameObject("/Filter"): NameObject(filters),
        }
    )
    img_ref = writer._add_object(img)
    form = DecodedStreamObject()
    form.set_data(b"/Im9 Do")
    form_ref = writer._add_object(form)
    form.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/BBox"): ArrayObject([NumberObject(0)] * 4),
            NameObject("/Resources"): DictionaryObject(
                {
                    NameObject("/XObject"): DictionaryObject(
                        {NameObject("/Im9"): img_ref, NameObject("/Fm0"): form_ref}
                    )
                }
            ),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {
            NameObject("/XObject"): DictionaryObject(
                {NameObject("/Fm0"): form_ref, NameObject("/Im9"): img_ref}
            )
        }
    )
    content = DecodedStreamObject()
    content.set_data(b"q /Fm0 Do Q\n" + inline)
    page[NameObject("/Contents")] = writer._add_object(content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_form_loop_and_shared_image():
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    data = pdf_with_image(8, 8, zlib.compress(grey.tobytes()))
    ms = list(pdf.members(io.BytesIO(data), Budget(), "f.pdf"))
    assert [m.name for m in ms] == ["page-1/Fm0/Im9.png"]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(read_all(ms[0])))), grey)


def test_pdf_inline_image():
    grey = bytes(range(0, 256, 16))
    inline = b"BI /W 4 /H 4 /CS /G /BPC 8 ID " + grey + b"\nEI\n"
    data = pdf_with_image(8, 8, zlib.compress(bytes(64)), inline=inline)
    ms = list(pdf.members(io.BytesIO(data), Budget(), "i.pdf"))
    assert [m.name for m in ms] == ["page-1/Fm0/Im9.png", "page-1/inline-0.png"]
    img = Image.open(io.BytesIO(read_all(ms[1])))
    assert img.size == (4, 4) and img.convert("L").tobytes() == grey


def test_pdf_huge_declared_image_refused_before_decoding():
    data = pdf_with_image(100_000, 100_000, zlib.compress(bytes(100_000)))
    tracemalloc.start()
    try:
        ms = pdf.members(io.BytesIO(data), Budget(), "h.pdf")
        (m,) = list(ms)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert m.skip and "100000x100000" in m.skip
    assert peak < 8 << 20


def test_pdf_flate_bomb_stopped_at_declared_size():
    """A 1000x1000 grey image whose Flate data inflates to 200 MB: decoding stops at the
    ~1 MB its declared size needs."""
    z = zlib.compressobj(9)
    bomb = b"".join(z.compress(bytes(1 << 20)) for _ in range(200)) + z.flush()
    data = pdf_with_image(1000, 1000, bomb)
    tracemalloc.start()
    try:
        (m,) = list(pdf.members(io.BytesIO(data), Budget(), "b.pdf"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert m.skip and "Limit" in m.skip
    assert peak < 16 << 20


def test_pdf_flate_bomb_attachment_is_streamed():
    """An attachment inflating to 200 MB is streamed (bounded memory); its packed size lets
    the walker's ratio check stop it."""
    doc = FPDF()
    doc.add_page()
    doc.embed_file(basename="zeros.bin", bytes=bytes(200 << 20), compress=True)
    data = bytes(doc.output())
    assert len(data) < 1 << 20
    limits = ContainerLimits()
    tracemalloc.start()
    try:
        (m,) = list(pdf.members(io.BytesIO(data), Budget(limits), "z.pdf"))
        n = 0
        with m.open() as s:
            while chunk := s.read(1 << 20):
                n += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert m.name == "attachments/zeros.bin" and n == 200 << 20
    assert m.packed and n > limits.max_ratio * m.packed
    assert peak < 24 << 20
