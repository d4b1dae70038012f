"""Loading hash lists from files in any supported format, detected from content.

Formats (see each module in ``readers`` for the details):

========================  ===========================================================
``threatexchange``        ``<signal_type> <hash>`` lines
``csv``                   header with ``signal_type`` + ``signal``/``signal_str``, or
                          per-type hash columns (``md5``, ``sha1``, ``sha256``, ``pdq``)
``vics``                  Project VIC VICS JSON 1.x (``odata.metadata``) and 2.0
                          (``@odata.context``), hash sets and case exports
``clamav``                ClamAV ``.hdb`` / ``.hsb`` (``hash:size:name``)
``hex``                   bare hex, one per line (32 md5, 40 sha1, 64 sha256 or pdq)
========================  ===========================================================

A list loads completely or not at all: any bad line raises :class:`ListFormatError` naming
the file and line, and no partial list is returned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from .detect import FormatSpec, detect_format, register_format, registered_formats
from .model import HashList, ListFormatError
from .readers import BUILTIN, Reader, ReadOptions, ReadResult
from .textio import open_binary, read_head

__all__ = [
    "FormatSpec",
    "default_name",
    "ReadOptions",
    "ReadResult",
    "detect_format",
    "load_list",
    "read_clamav",
    "read_csv",
    "read_hex",
    "read_threatexchange",
    "read_vics",
    "register_format",
]

_BARE_HEX_64 = ("sha256", "pdq")


def load_list(
    path: str | Path,
    *,
    name: str | None = None,
    bare_hex_64: str = "sha256",
    skip_unknown_types: bool = False,
    trusted_keys: Sequence[object] = (),
) -> HashList:
    """Load the hash list in ``path``, whatever its (supported) format.

    A signed bundle is accepted only if its signature verifies with one of ``trusted_keys``.

    ``name`` defaults to a name the file declares (bundles), else the file name without its
    extension. ``bare_hex_64`` is the type of 64-digit bare hex lines (``"sha256"`` or
    ``"pdq"``). ``skip_unknown_types`` drops, and counts in ``metadata``, entries of signal
    types hashwatch does not know instead of failing on them.

    Raises :class:`ListFormatError` for anything that cannot be loaded in full.
    """
    head = read_head(path)
    options = _options(bare_hex_64, skip_unknown_types)
    if head.startswith(b"HWBUNDLE1\n"):  # signed bundle; cryptography is imported only now
        from . import bundle

        return _load(path, bundle.FORMAT, name, options, bundle.make_reader(trusted_keys))
    return _load(path, detect_format(head, path), name, options)


def read_threatexchange(
    path: str | Path, *, name: str | None = None, skip_unknown_types: bool = False
) -> HashList:
    return _load(path, "threatexchange", name, _options("sha256", skip_unknown_types))


def read_csv(
    path: str | Path, *, name: str | None = None, skip_unknown_types: bool = False
) -> HashList:
    return _load(path, "csv", name, _options("sha256", skip_unknown_types))


def read_vics(path: str | Path, *, name: str | None = None) -> HashList:
    return _load(path, "vics", name, ReadOptions())


def read_clamav(path: str | Path, *, name: str | None = None) -> HashList:
    return _load(path, "clamav", name, ReadOptions())


def read_hex(path: str | Path, *, name: str | None = None, bare_hex_64: str = "sha256") -> HashList:
    return _load(path, "hex", name, _options(bare_hex_64, False))


def _options(bare_hex_64: str, skip_unknown_types: bool) -> ReadOptions:
    if bare_hex_64 not in _BARE_HEX_64:
        raise ValueError(
            f"bare_hex_64 must be one of {', '.join(_BARE_HEX_64)}, not {bare_hex_64!r}"
        )
    return ReadOptions(bare_hex_64=bare_hex_64, skip_unknown_types=skip_unknown_types)


def _reader(fmt: str) -> Reader:
    spec = registered_formats().get(fmt)
    if spec is not None:
        return spec.read
    return BUILTIN[fmt]


def _load(
    path: str | Path, fmt: str, name: str | None, options: ReadOptions, read: Reader | None = None
) -> HashList:
    read = read or _reader(fmt)
    with open_binary(path) as fh:
        try:
            result = read(path, fh, options)
        except OSError as e:
            raise ListFormatError(path, f"read error: {e.strerror or e}") from None
    metadata = dict(result.metadata)
    metadata.setdefault("sha256", _file_sha256(path))
    return HashList(
        name=name or result.declared_name or default_name(path),
        entries=result.entries,
        source=str(path),
        format=result.format,
        version=int(result.metadata["version"]) if "version" in result.metadata else None,
        metadata=metadata,
    )


def _file_sha256(path: str | Path) -> str:
    """Digest of the list file: identifies its content in scan-cache verdicts."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def default_name(path: str | Path) -> str:
    """A list's name from its file: the file name without its extension."""
    p = Path(path)
    return p.stem or p.name
