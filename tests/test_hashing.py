"""Hashing: one read feeds every hasher; PDQ agrees with Meta's reference values."""

import csv
import hashlib
import os

import pytest

from hashwatch.hashing import HashOptions, ReadError, hash_bytes, hash_file
from hashwatch.media import DecodeLimits
from hashwatch.signals import pdq_distance
from tests.conftest import PDQ_REF, encode, photo

EXPECTED = list(csv.DictReader(open(PDQ_REF / "expected.tsv"), delimiter="\t"))


@pytest.mark.parametrize("row", EXPECTED, ids=[r["path"] for r in EXPECTED])
def test_reference_images_within_meta_tolerance(row):
    h = hash_file(PDQ_REF / row["path"])
    assert h.pdq is not None
    assert pdq_distance(h.pdq, row["pdq"]) <= 16


def test_exact_hashes_of_bytes(tmp_path):
    data = b"not an image at all\n" * 1000
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    h = hash_file(p)
    assert (h.md5, h.sha1, h.sha256) == (
        hashlib.md5(data).hexdigest(),
        hashlib.sha1(data).hexdigest(),
        hashlib.sha256(data).hexdigest(),
    )
    assert h.media == "application/octet-stream" and h.pdq is None and h.size == len(data)


def test_content_not_name_decides(tmp_path):
    p = tmp_path / "holiday.txt"
    p.write_bytes(encode(photo(3), "PNG"))
    h = hash_file(p)
    assert h.media == "image/png" and h.pdq and h.pdq_quality >= 50
    q = tmp_path / "fake.jpg"
    q.write_bytes(b"just text")
    assert hash_file(q).pdq is None


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_formats_hash_like_the_jpeg(fmt):
    img = photo(5, (800, 600))
    ref = hash_bytes(encode(img, "JPEG", quality=95))
    other = hash_bytes(encode(img, fmt))
    assert other.pdq and pdq_distance(ref.pdq, other.pdq) <= 31


def test_heif(tmp_path):
    import pillow_heif

    pillow_heif.register_heif_opener()
    img = photo(6, (640, 480))
    h = hash_bytes(encode(img, "HEIF", quality=90))
    assert h.media == "image/heif"
    assert pdq_distance(h.pdq, hash_bytes(encode(img, "PNG")).pdq) <= 31


def test_draft_decode_is_faithful_to_full_decode():
    img = photo(7, (3000, 2000))
    data = encode(img, "JPEG", quality=90)
    fast = hash_bytes(data)
    full = hash_bytes(data, HashOptions(decode=DecodeLimits(min_side=10**6, reduce_min_side=10**6)))
    assert pdq_distance(fast.pdq, full.pdq) <= 10


def test_truncated_image_gets_exact_hashes_and_a_reason():
    data = encode(photo(8), "JPEG")[:3000]
    h = hash_bytes(data)
    assert h.md5 == hashlib.md5(data).hexdigest()
    assert h.pdq is None and "cannot decode" in h.pdq_error


def test_decompression_bomb_refused():
    # a PNG declaring 20000x20000 pixels, tiny on disk
    from PIL import Image

    data = encode(Image.new("L", (20000, 20000)), "PNG", optimize=True)
    assert len(data) < 1_000_000
    h = hash_bytes(data, HashOptions(decode=DecodeLimits(max_pixels=50_000_000)))
    assert h.pdq is None and "decompression-bomb" in h.pdq_error


def test_dihedral_variants():
    h = hash_bytes(encode(photo(9), "PNG"), HashOptions(dihedral=True))
    assert len(h.pdq_dihedral) == 8 and h.pdq_dihedral[0] == h.pdq


def test_large_files_are_streamed(tmp_path):
    p = tmp_path / "big.bin"
    data = os.urandom(3 << 20)
    p.write_bytes(data)
    h = hash_file(p, HashOptions(max_in_memory=1 << 20))
    assert h.sha256 == hashlib.sha256(data).hexdigest() and h.size == len(data)


def test_non_regular_and_missing(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ReadError, match="not a regular file"):
        hash_file(fifo)
    with pytest.raises(ReadError, match="cannot open"):
        hash_file(tmp_path / "missing")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "pipe")
    with pytest.raises(ReadError):
        hash_file(link)


def test_read_error_is_reported():
    # /proc/self/mem is a regular file whose read fails (EIO) for anyone, root included
    with pytest.raises(ReadError, match="read failed: Input/output error"):
        hash_file("/proc/self/mem")
