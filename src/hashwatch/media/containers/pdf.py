"""Images and attached files inside a PDF, read with pypdf (BSD licence).

Members, in this order:

* each image XObject of each page, including those inside form XObjects, named
  ``page-3/Im1.jpg`` (or ``page-3/Fm0/Im1.png`` inside a form). An image used on many pages
  (one object) is yielded once, under the first page that uses it. JPEG (``/DCTDecode``) and
  JPEG 2000 (``/JPXDecode``) images are yielded as their encoded bytes, so a JPEG embedded
  as it was (as fpdf2 and most tools do) has the same md5/sha256 as the original file. Other
  images are decoded (pypdf) and yielded as a lossless PNG of their pixels (TIFF for CMYK).
* inline images of a page (``page-3/inline-0.png``), only when the page's content has any;
* files attached to a page (``page-3/attachment/notes.zip``) or to the document
  (``attachments/holiday.zip``).

Bounds: pypdf's own limits (declared stream length, Flate/LZW/... output, image buffers,
filter chains, page tree, reference loops) are lowered to the budget's
``max_item_in_memory`` and never raised for decoded images above pypdf's 75 MB default; an
image declaring more pixels than its buffer limit allows is refused before decoding. At
most :data:`MAX_PAGES` pages and :data:`MAX_IMAGES_PER_PAGE` images per page are read.
An image or file that cannot be read is yielded with ``skip`` set to the reason; pages or
resources that cannot be read are named at the end in one ``ContainerError``. Each member
is decoded when the walk reaches it (one at a time in memory); attached files stored plain
or Flate-compressed are streamed instead.
"""

from __future__ import annotations

import io
import logging
import re
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar

from pypdf import PasswordType, PdfReader, apply_configuration, get_configuration
from pypdf.generic import ArrayObject, DictionaryObject, StreamObject

from .base import Budget, ContainerError, EncryptedError, LimitReached, Member, MemberStream

MAX_PAGES = 10_000
MAX_IMAGES_PER_PAGE = 1_000
MAX_FORM_DEPTH = 8
#: Decoded images are never allowed more than pypdf's default buffers (75 MB).
IMAGE_BYTES = 75_000_000
RAW = {"/DCTDecode": ".jpg", "/JPXDecode": ".jp2"}
PNG_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "I", "I;16"}
ENCRYPTED = "encrypted PDF (password needed)"
_INLINE = re.compile(rb"(?:^|\s)BI\s")
_OUTPUTS = (
    "array_based_stream_maximum_output_length",
    "jbig2_maximum_output_length",
    "lzw_maximum_output_length",
    "run_length_maximum_output_length",
    "zlib_maximum_output_length",
    "brotli_maximum_output_length",
)
_LIMITS = (*_OUTPUTS, "image_maximum_buffer_size", "maximum_declared_stream_length")
#: Colour components per pixel of the simple colour spaces (others: looked up or 4).
_COMPONENTS = {
    "/DeviceGray": 1,
    "/CalGray": 1,
    "/Indexed": 1,
    "/Separation": 1,
    "/Pattern": 1,
    "/DeviceRGB": 3,
    "/CalRGB": 3,
    "/Lab": 3,
    "/DeviceCMYK": 4,
}
T = TypeVar("T")

# pypdf warns (through logging) about every oddity of a damaged file; a scan reports what it
# could not read itself, so only pypdf's errors are let through unless configured otherwise.
if logging.getLogger("pypdf").level == logging.NOTSET:
    logging.getLogger("pypdf").setLevel(logging.ERROR)


def _why(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _call(limit: int, fn: Callable[[], T], stream_limit: int | None = None) -> T:
    """Run pypdf code with its limits lowered to ``limit`` (decoded stream output to
    ``stream_limit`` if given); its errors become ContainerError."""
    base = get_configuration()
    lowered = {k: min(int(getattr(base, k)), limit) for k in _LIMITS if hasattr(base, k)}
    if stream_limit is not None:
        lowered.update({k: min(v, stream_limit) for k, v in lowered.items() if k in _OUTPUTS})
    try:
        with apply_configuration(**lowered):
            return fn()
    except (LimitReached, ContainerError):
        raise
    except Exception as e:  # PdfReadError, LimitReachedError, zlib/PIL/struct errors...
        raise ContainerError(_why(e)) from e


def _oid(obj: Any) -> Any:
    ref = getattr(obj, "indirect_reference", None)
    return (ref.idnum, ref.generation) if ref is not None else id(obj)


def _resolve(obj: Any) -> Any:
    return obj.get_object() if obj is not None and hasattr(obj, "get_object") else obj


def _release(obj: Any) -> None:
    """Drop pypdf's cached decoded copy of a stream."""
    if hasattr(obj, "decoded_self"):
        obj.decoded_self = None


def _open(source: BinaryIO) -> PdfReader:
    source.seek(0)
    reader = PdfReader(source)
    if reader.is_encrypted:
        try:
            ok = reader.decrypt("") != PasswordType.NOT_DECRYPTED
        except Exception as e:  # unsupported security handler, missing crypto provider
            raise EncryptedError(f"{ENCRYPTED}: {_why(e)}") from e
        if not ok:
            raise EncryptedError(ENCRYPTED)
    return reader


def _xobjects(holder: Any, prefix: str, seen: set[Any], depth: int) -> Iterator[tuple[str, Any]]:
    """(name, image stream) for the images a page or form uses, forms walked once each."""
    res = _resolve(holder.get("/Resources"))
    xobjs = _resolve(res.get("/XObject")) if isinstance(res, DictionaryObject) else None
    if not isinstance(xobjs, DictionaryObject):
        return
    for key in list(xobjs.keys()):
        obj = _resolve(xobjs[key])
        if not isinstance(obj, StreamObject) or _oid(obj) in seen:
            continue
        seen.add(_oid(obj))
        label = f"{prefix}/{str(key).lstrip('/').replace('/', '_')}"
        subtype = obj.get("/Subtype")
        if subtype == "/Image":
            yield label, obj
        elif subtype == "/Form" and depth < MAX_FORM_DEPTH:
            yield from _xobjects(obj, label, seen, depth + 1)


def _filters(obj: Any) -> list[str]:
    f = _resolve(obj.get("/Filter"))
    items = f if isinstance(f, ArrayObject | list) else [] if f is None else [f]
    return [str(_resolve(x)) for x in items]


def _components(obj: Any) -> int:
    if obj.get("/ImageMask"):
        return 1
    cs = _resolve(obj.get("/ColorSpace"))
    if isinstance(cs, ArrayObject | list) and cs:
        family = str(_resolve(cs[0]))
        if family == "/ICCBased" and len(cs) > 1:
            n = _resolve(_resolve(cs[1]).get("/N"))
            return n if isinstance(n, int) and 0 < n <= 32 else 4
        if family == "/DeviceN" and len(cs) > 1 and isinstance(_resolve(cs[1]), list):
            return max(1, min(32, len(_resolve(cs[1]))))
        cs = family
    return _COMPONENTS.get(str(cs), 4)


def _decoded_size(obj: Any, limit: int) -> int:
    """Bytes an image's samples take once decoded, from its declared size; refuses (before
    anything is decoded) images declaring more pixels or bytes than ``limit``."""
    w, h = _resolve(obj.get("/Width")), _resolve(obj.get("/Height"))
    bits = _resolve(obj.get("/BitsPerComponent", 8))
    if not all(isinstance(v, int) and v > 0 for v in (w, h, bits)) or bits > 32:
        raise ContainerError(f"image size {w!r}x{h!r}x{bits!r} bits not valid")
    if w * h > limit:
        raise ContainerError(f"declares {w}x{h} pixels, more than the limit of decoded images")
    size = h * ((w * _components(obj) * bits + 7) // 8 + 1)  # + 1: PNG predictor byte per row
    if size > limit:
        raise ContainerError(f"declares {w}x{h} pixels of {size} bytes, more than the limit")
    return size


def _image(obj: Any, limit: int) -> tuple[str, bytes]:
    """(extension, bytes) of an image XObject: JPEG/JPEG 2000 as encoded, others as PNG.
    Decoding a Flate/LZW/... stream stops at the size its declared dimensions need."""
    filters = _filters(obj)
    if filters and filters[-1] in RAW:
        return RAW[filters[-1]], bytes(obj.get_data())
    size = _decoded_size(obj, limit)
    img = _call(limit, obj.decode_as_image, stream_limit=size + 4096)
    if img is None:
        raise ContainerError("image encoding not supported")
    buf = io.BytesIO()
    if img.mode in PNG_MODES:
        img.save(buf, "PNG", compress_level=1)
        return ".png", buf.getvalue()
    img.save(buf, "TIFF")
    return ".tif", buf.getvalue()


def _inline(page: Any) -> list[tuple[str, bytes]]:
    """(extension, bytes) of a page's inline images; the content is parsed only if it has any."""
    content = page.get_contents()
    if content is None or not _INLINE.search(content.get_data()):
        return []
    images = page.images
    return [
        ("." + images[k].name.rsplit(".", 1)[-1], bytes(images[k].data))
        for k in images.keys()
        if isinstance(k, str) and k.startswith("~")
    ]


def _attached(fs: Any) -> tuple[str, Any] | None:
    """(file name, embedded file stream) of a file specification, if it has one."""
    fs = _resolve(fs)
    if not isinstance(fs, DictionaryObject):
        return None
    ef = _resolve(fs.get("/EF"))
    if not isinstance(ef, DictionaryObject):
        return None
    stream = _resolve(ef.get("/UF") or ef.get("/F"))
    if not isinstance(stream, StreamObject):
        return None
    name = str(_resolve(fs.get("/UF") or fs.get("/F") or "attachment"))
    return name.replace("\\", "/").lstrip("/") or "attachment", stream


def _page_files(page: Any) -> list[tuple[str, Any]]:
    annots = _resolve(page.get("/Annots"))
    if not isinstance(annots, ArrayObject | list):
        return []
    out = []
    for a in annots:
        a = _resolve(a)
        if isinstance(a, DictionaryObject) and a.get("/Subtype") == "/FileAttachment":
            found = _attached(a.get("/FS"))
            if found:
                out.append(found)
    return out


def _parms(stream: Any) -> bool:
    """Whether a stream has decode parameters (a predictor) that matter."""
    parms = _resolve(stream.get("/DecodeParms"))
    if isinstance(parms, ArrayObject | list):
        parms = _resolve(parms[0]) if parms else None
    return isinstance(parms, DictionaryObject) and _resolve(parms.get("/Predictor", 1)) != 1


class _Inflate(MemberStream):
    """A Flate stream's content, inflated as it is read (memory: one chunk)."""

    def __init__(self, raw: bytes):
        super().__init__()
        self._tail = raw
        self._z = zlib.decompressobj()

    def _read(self, size: int) -> bytes:
        while size and not self._z.eof:
            try:
                out = self._z.decompress(self._tail, size)
            except zlib.error as e:
                raise ContainerError(f"corrupt Flate data: {e}") from e
            no_input = not self._tail
            self._tail = self._z.unconsumed_tail
            if out:
                return out
            if no_input:
                break  # truncated: what there was has been read
        return b""


def _unread() -> BinaryIO:
    raise ContainerError("not readable")


class _Walk:
    """State of one PDF's walk: what was seen, what was skipped and why."""

    def __init__(self, budget: Budget):
        self.budget = budget
        self.limit = budget.limits.max_item_in_memory
        self.image_limit = min(self.limit, IMAGE_BYTES)
        self.seen: set[Any] = set()
        self.skipped: list[str] = []

    def skip(self, label: str, why: str) -> None:
        self.skipped.append(f"{label}: {why}")

    def member(self, label: str, fn: Callable[[], tuple[str, bytes]], limit: int) -> Member:
        """Decode one item now; one that cannot be read is yielded with ``skip`` set."""
        self.budget.check_time()
        try:
            ext, data = _call(limit, fn)
        except ContainerError as e:
            return Member(label, None, _unread, skip=str(e))
        return Member(label + ext, len(data), lambda d=data: io.BytesIO(d))

    def file(self, label: str, stream: Any) -> Member | None:
        """An attached file: streamed from its raw bytes when stored plain or Flate-compressed
        (so its size is bounded by the walker, not by pypdf's output limit), else decoded."""
        if _oid(stream) in self.seen:
            return None
        self.seen.add(_oid(stream))
        raw, filters = getattr(stream, "_data", None), _filters(stream)
        if isinstance(raw, bytes) and filters in ([], ["/FlateDecode"]) and not _parms(stream):
            size = _resolve(_resolve(stream.get("/Params") or {}).get("/Size"))
            size = size if isinstance(size, int) and size >= 0 else None
            if not filters:
                return Member(label, len(raw), lambda r=raw: io.BytesIO(r), len(raw))
            return Member(label, size, lambda r=raw: _Inflate(r), len(raw))

        def read() -> tuple[str, bytes]:
            try:
                return "", bytes(stream.get_data())
            finally:
                _release(stream)

        return self.member(label, read, self.limit)

    def page(self, n: int, page: Any) -> Iterator[Member]:
        prefix = f"page-{n}"
        try:
            found = _call(self.limit, lambda: list(_xobjects(page, prefix, self.seen, 0)))
        except ContainerError as e:
            self.skip(prefix, f"resources not readable: {e}")
            found = []
        if len(found) > MAX_IMAGES_PER_PAGE:
            self.skip(prefix, f"{len(found) - MAX_IMAGES_PER_PAGE} images over the per-page limit")
        for label, obj in found[:MAX_IMAGES_PER_PAGE]:

            def image(o: Any = obj) -> tuple[str, bytes]:
                try:
                    return _image(o, self.image_limit)
                finally:
                    _release(o)

            yield self.member(label, image, self.image_limit)
        try:
            inline = _call(self.image_limit, lambda: _inline(page))
        except ContainerError as e:
            self.skip(f"{prefix}/inline", str(e))
            inline = []
        for i, (ext, data) in enumerate(inline[:MAX_IMAGES_PER_PAGE]):
            yield Member(f"{prefix}/inline-{i}{ext}", len(data), lambda d=data: io.BytesIO(d))
        try:
            files = _call(self.limit, lambda: _page_files(page))
        except ContainerError as e:
            self.skip(f"{prefix}/attachment", str(e))
            files = []
        for fname, stream in files:
            if m := self.file(f"{prefix}/attachment/{fname}", stream):
                yield m


def members(source: BinaryIO, budget: Budget, name: str) -> Iterator[Member]:
    """The images and attached files of a PDF (see the module's doc for names and order)."""
    budget.check_time()
    walk = _Walk(budget)
    try:
        reader = _call(walk.limit, lambda: _open(source))
        count = _call(walk.limit, lambda: len(reader.pages))
    except EncryptedError:
        raise
    except ContainerError as e:
        raise ContainerError(f"PDF not readable: {e}") from e
    if count > MAX_PAGES:
        walk.skip("pages", f"{count - MAX_PAGES} pages over the limit of {MAX_PAGES}")
    for n in range(1, min(count, MAX_PAGES) + 1):
        budget.check_time()
        try:
            page = _call(walk.limit, lambda n=n: reader.pages[n - 1])
        except ContainerError as e:
            walk.skip(f"page-{n}", f"not readable: {e}")
            continue
        yield from walk.page(n, page)
    try:
        entries = _call(
            walk.limit, lambda: [(e.name, _attached(e.pdf_object)) for e in reader.attachment_list]
        )
    except ContainerError as e:
        walk.skip("attachments", f"not readable: {e}")
        entries = []
    for fname, found in entries:
        if found and (m := walk.file(f"attachments/{fname.lstrip('/')}", found[1])):
            yield m
    if walk.skipped:
        shown = "; ".join(walk.skipped[:5])
        more = f" (and {len(walk.skipped) - 5} more)" if len(walk.skipped) > 5 else ""
        raise ContainerError(f"{len(walk.skipped)} part(s) of the PDF not read: {shown}{more}")
