import pytest

from hashwatch.media import sniff
from tests.conftest import encode, photo


@pytest.mark.parametrize(
    "fmt,mime",
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("GIF", "image/gif"),
        ("WEBP", "image/webp"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
    ],
)
def test_images_recognised_by_content(fmt, mime):
    data = encode(photo(1, (64, 48)), fmt)
    assert sniff(data[:512]) == mime


def test_heif_recognised():
    import pillow_heif

    pillow_heif.register_heif_opener()
    assert sniff(encode(photo(2, (64, 64)), "HEIF")[:512]) == "image/heif"


@pytest.mark.parametrize(
    "head,mime",
    [
        (b"PK\x03\x04rest", "application/zip"),
        (b"%PDF-1.7", "application/pdf"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "video/mp4"),
        (b"\x1a\x45\xdf\xa3", "video/x-matroska"),
        (b"hello world", "application/octet-stream"),
        (b"", "application/octet-stream"),
        (b"BM\x00\x00", "application/octet-stream"),  # too short to be a BMP header
        (b"\xff\xd8", "application/octet-stream"),  # truncated JPEG marker
    ],
)
def test_other_content(head, mime):
    assert sniff(head) == mime
