"""Content type by magic bytes, never by file name."""

from __future__ import annotations

#: MIME types of the still images the engine decodes and hashes with PDQ.
IMAGE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/bmp",
        "image/tiff",
        "image/heif",
        "image/avif",
    }
)

#: How many leading bytes :func:`sniff` needs.
SNIFF_BYTES = 512

_HEIF_BRANDS = {
    b"heic",
    b"heix",
    b"hevc",
    b"hevx",
    b"heim",
    b"heis",
    b"hevm",
    b"hevs",
    b"mif1",
    b"msf1",
}
_AVIF_BRANDS = {b"avif", b"avis"}
_VIDEO_BRANDS = {
    b"isom",
    b"iso2",
    b"iso4",
    b"iso5",
    b"iso6",
    b"mp41",
    b"mp42",
    b"avc1",
    b"M4V ",
    b"dash",
    b"mmp4",
    b"MSNV",
    b"3gp4",
    b"3gp5",
    b"3g2a",
    b"f4v ",
}


def sniff(head: bytes) -> str:
    """The MIME type of content starting with ``head`` (its first SNIFF_BYTES)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if (
        head[:2] == b"BM"
        and len(head) >= 18
        and int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 64, 108, 124)
    ):
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image/tiff"
    if head[4:8] == b"ftyp":
        brands = {head[8:12]} | {head[i : i + 4] for i in range(16, min(len(head), 40), 4)}
        if head[8:12] in _AVIF_BRANDS:
            return "image/avif"
        if brands & _HEIF_BRANDS:
            return "image/heif"
        if head[8:12] == b"qt  ":
            return "video/quicktime"
        if head[8:12] in _VIDEO_BRANDS or brands & _VIDEO_BRANDS:
            return "video/mp4"
        return "video/mp4" if head[8:11] == b"3gp" else "application/octet-stream"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/x-matroska"  # WebM included
    if head.startswith(b"FLV\x01"):
        return "video/x-flv"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "video/x-ms-asf"  # WMV
    if head.startswith(b"\x00\x00\x01\xba"):
        return "video/mpeg"  # MPEG program stream (.mpg, .vob)
    if len(head) >= 377 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return "video/mp2t"  # MPEG transport stream (.ts, .m2ts without timecodes)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "application/zip"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "application/x-7z-compressed"
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    if head.startswith(b"BZh"):
        return "application/x-bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "application/x-xz"
    if head.startswith(b"Rar!\x1a\x07"):
        return "application/vnd.rar"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "application/x-tar"
    return "application/octet-stream"


def is_image(mime: str) -> bool:
    return mime in IMAGE_TYPES
