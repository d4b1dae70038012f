"""Signed list bundles: a hash list (or the change between two versions) signed with Ed25519.

Layout (bytes)::

    HWBUNDLE1\\n
    <header: one line of JSON>\\n
    <signature: base64 of Ed25519 over the two lines above>\\n
    <payload: gzip of CSV rows op,signal_type,signal,id,category,tags,size>

The header names the list, its version, the kind (``full`` or ``delta`` from
``base_version``), the entry counts and the payload's length and sha256, so the signature
covers everything. A reader verifies the signature against its trusted public keys and the
payload's digest *before* it decompresses or parses anything, and bounds the decompressed
size. ``op`` is ``+`` (entry present / added) or ``-`` (removed, deltas only).
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .keys import key_id, verify
from .model import HashList, ListEntry, ListFormatError
from .readers.common import Collector, ReadOptions, ReadResult, clean, split_tags

MAGIC = b"HWBUNDLE1\n"
FORMAT = "bundle"
_MAX_HEADER = 64 << 10
#: Decompressed payload may be at most this many times the compressed one (gzip of CSV hex
#: compresses about 2x; a bomb compresses 1000x).
_MAX_RATIO = 20


@dataclass(frozen=True, slots=True)
class BundleInfo:
    name: str
    version: int
    kind: str  # "full" or "delta"
    base_version: int | None
    created: str
    key_id: str
    added: int
    removed: int


def sniff(head: bytes) -> bool:
    return head.startswith(MAGIC)


def write_bundle(
    path: str | Path,
    private_key: Ed25519PrivateKey,
    name: str,
    version: int,
    entries: Sequence[ListEntry],
    *,
    removed: Sequence[ListEntry] = (),
    base_version: int | None = None,
) -> BundleInfo:
    """Write a full bundle (``base_version`` None) or a delta (entries added and removed)."""
    if version < 1 or (base_version is not None and not 0 <= base_version < version):
        raise ValueError("version must be >= 1 and base_version lower than version")
    if removed and base_version is None:
        raise ValueError("only a delta bundle (with base_version) can remove entries")
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    for op, group in (("+", entries), ("-", removed)):
        for e in group:
            w.writerow(
                [
                    op,
                    e.signal_type,
                    e.signal,
                    e.entry_id,
                    e.category or "",
                    " ".join(e.tags),
                    "" if e.size is None else e.size,
                ]
            )
    payload = gzip.compress(text.getvalue().encode(), compresslevel=6, mtime=0)
    header = {
        "format": "hashwatch-bundle",
        "format_version": 1,
        "name": name,
        "version": version,
        "kind": "full" if base_version is None else "delta",
        "base_version": base_version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "key_id": key_id(private_key.public_key()),
        "added": len(entries),
        "removed": len(removed),
        "payload_bytes": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
    }
    signed = MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n"
    signature = base64.b64encode(private_key.sign(signed)) + b"\n"
    Path(path).write_bytes(signed + signature + payload)
    return _info(header)


def _info(h: dict) -> BundleInfo:
    return BundleInfo(
        h["name"],
        h["version"],
        h["kind"],
        h["base_version"],
        h["created"],
        h["key_id"],
        h["added"],
        h["removed"],
    )


def read_bundle(
    path: str | Path, fh: BinaryIO, trusted: Sequence[Ed25519PublicKey], options: ReadOptions
) -> tuple[BundleInfo, list[ListEntry], list[ListEntry]]:
    """Verify and read a bundle: (info, entries present/added, entries removed)."""

    def fail(reason: str, line: int | None = None) -> ListFormatError:
        return ListFormatError(path, reason, line)

    if fh.read(len(MAGIC)) != MAGIC:
        raise fail("not a hashwatch bundle (bad magic)")
    header_line = fh.readline(_MAX_HEADER + 1)
    sig_line = fh.readline(200)
    if not header_line.endswith(b"\n") or not sig_line.endswith(b"\n"):
        raise fail("bundle header or signature is missing or too long")
    try:
        header = json.loads(header_line)
        signature = base64.b64decode(sig_line.strip(), validate=True)
        info = _info(header)
        size, digest = int(header["payload_bytes"]), str(header["payload_sha256"])
    except (ValueError, KeyError, TypeError) as e:
        raise fail(f"bundle header is malformed ({e})", 2) from None
    if not trusted:
        raise fail(
            f"signed bundle {info.name!r} (key {info.key_id}) cannot be verified: "
            "no trusted public key given (--trusted-key)"
        )
    if not any(verify(k, signature, MAGIC + header_line) for k in trusted):
        raise fail(
            f"bundle signature does not verify with any trusted key (signed by "
            f"key {info.key_id}); refusing the list"
        )
    payload = fh.read(size + 1)
    if len(payload) != size or hashlib.sha256(payload).hexdigest() != digest:
        raise fail(
            "bundle payload does not match its signed length and digest (truncated or altered)"
        )
    try:
        d = zlib.decompressobj(wbits=31)
        raw = d.decompress(payload, _MAX_RATIO * size + (1 << 20))
        if d.unconsumed_tail or not d.eof:
            raise fail("bundle payload decompresses to more than allowed (bomb?)")
    except zlib.error as e:
        raise fail(f"bundle payload is not valid gzip ({e})") from None
    added = Collector(path, options)
    removed = Collector(path, options)
    try:
        rows = csv.reader(io.StringIO(raw.decode("utf-8")))
        for n, row in enumerate(rows, start=1):
            where = f"payload row {n}: "
            if len(row) != 7 or row[0] not in "+-" or not row[0]:
                raise fail(f"{where}expected 7 fields starting with + or -")
            op, st_name, signal, entry_id, category, tags, size_s = row
            st = added.signal_type(st_name, None, where)
            if st is None:
                continue
            target = added if op == "+" else removed
            target.add(
                st,
                signal,
                entry_id,
                None,
                category=clean(category),
                tags=split_tags(tags),
                size=int(size_s) if size_s else None,
                where=where,
            )
    except UnicodeDecodeError as e:
        raise fail(f"bundle payload is not UTF-8 ({e.reason})") from None
    except ValueError as e:
        if isinstance(e, ListFormatError):
            raise
        raise fail(f"bundle payload is malformed ({e})") from None
    if (len(added.entries) + added.duplicates, len(removed.entries) + removed.duplicates) != (
        info.added,
        info.removed,
    ):
        raise fail("bundle payload does not hold the entry counts its header declares")
    return info, added.entries, removed.entries


def make_reader(trusted: Sequence[Ed25519PublicKey]):
    """A list reader (for ``load_list``) that accepts full bundles verified by ``trusted``."""

    def read(path: str | Path, fh: BinaryIO, options: ReadOptions) -> ReadResult:
        info, entries, removed = read_bundle(path, fh, trusted, options)
        if info.kind != "full":
            raise ListFormatError(
                path,
                f"delta bundle ({info.name} version {info.base_version} -> "
                f"{info.version}) cannot be used alone: apply it to version {info.base_version}",
            )
        if not entries:
            raise ListFormatError(path, "no entries")
        meta = {
            "version": str(info.version),
            "key_id": info.key_id,
            "created": info.created,
            "duplicates": "0",
        }
        return ReadResult(entries, FORMAT, meta, declared_name=info.name)

    return read


def apply_delta(
    base: HashList,
    delta_entries: Sequence[ListEntry],
    removed: Sequence[ListEntry],
    info: BundleInfo,
) -> HashList:
    """The list a delta bundle turns ``base`` (at ``info.base_version``) into."""
    if base.version != info.base_version:
        raise ValueError(f"delta applies to version {info.base_version}, not {base.version}")
    gone = {(e.signal_type, e.signal) for e in removed}
    kept = [e for e in base.entries if (e.signal_type, e.signal) not in gone]
    have = {(e.signal_type, e.signal) for e in kept}
    kept.extend(e for e in delta_entries if (e.signal_type, e.signal) not in have)
    return HashList(
        base.name,
        kept,
        base.source,
        FORMAT,
        info.version,
        base.pdq_threshold,
        dict(base.metadata, version=str(info.version)),
    )
