"""The scan cache: every file's signals, keyed by file identity, in SQLite (WAL).

A file whose (device, inode, size, mtime_ns, ctime_ns) are unchanged is never read again: its
stored signals are matched instead. The verdict (the matches) is stored with the fingerprint
of the lists and settings that produced it, so an unchanged tree scanned with unchanged lists
costs one ``stat`` and one lookup per file, and with a new list only a re-match.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..hashing import ContentHashes, InnerHashes

SCHEMA_VERSION = 3

_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
# A container's items are kept beside it (``items``), so an unchanged archive is never
# opened again and a new list re-matches what is inside it from the stored signals.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    path TEXT NOT NULL, media TEXT NOT NULL,
    md5 BLOB NOT NULL, sha1 BLOB NOT NULL, sha256 BLOB NOT NULL,
    pdq BLOB, pdq_quality INTEGER, pdq_dihedral BLOB, pdq_error TEXT, vpdq TEXT,
    pdq_views BLOB, incomplete TEXT, n_items INTEGER NOT NULL,
    verdict_key TEXT, verdict TEXT,
    scanned_at REAL NOT NULL,
    PRIMARY KEY (dev, ino)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS items (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, seq INTEGER NOT NULL,
    inner TEXT NOT NULL, error TEXT, size INTEGER, media TEXT,
    md5 BLOB, sha1 BLOB, sha256 BLOB,
    pdq BLOB, pdq_quality INTEGER, pdq_dihedral BLOB, pdq_error TEXT, vpdq TEXT,
    pdq_views BLOB,
    PRIMARY KEY (dev, ino, seq)
) WITHOUT ROWID;
"""
_HASH_COLS = (
    "size, media, md5, sha1, sha256, pdq, pdq_quality, pdq_dihedral, pdq_error, vpdq, pdq_views"
)


def _hashes(r, dihedral: bool) -> ContentHashes:
    """ContentHashes from the eleven columns of ``_HASH_COLS``."""
    variants = r[7]
    out = ContentHashes(
        size=r[0],
        media=r[1],
        md5=r[2].hex(),
        sha1=r[3].hex(),
        sha256=r[4].hex(),
        pdq=r[5].hex() if r[5] is not None else None,
        pdq_quality=r[6],
        pdq_dihedral=[variants[i : i + 32].hex() for i in range(0, len(variants), 32)]
        if dihedral and variants
        else None,
        pdq_error=r[8],
        vpdq=r[9],
    )
    if r[10]:
        out.pdq_views, out.pdq_regions, out.pdq_center = _unpack_views(r[10])
    return out


def _item_values(it: InnerHashes) -> tuple:
    return _hash_values(it.hashes) if it.hashes is not None else (None,) * 11


def _hash_values(h: ContentHashes) -> tuple:
    return (
        h.size,
        h.media,
        bytes.fromhex(h.md5),
        bytes.fromhex(h.sha1),
        bytes.fromhex(h.sha256),
        bytes.fromhex(h.pdq) if h.pdq else None,
        h.pdq_quality,
        bytes.fromhex("".join(h.pdq_dihedral)) if h.pdq_dihedral else None,
        h.pdq_error,
        h.vpdq,
        _pack_views(h),
    )


def _pack_views(h: ContentHashes) -> bytes | None:
    """Views, regions and centre hash in one blob: three counts, then the hashes."""
    views, regions = h.pdq_views or [], h.pdq_regions or []
    if not (views or regions or h.pdq_center):
        return None
    n = (len(views), len(regions), 1 if h.pdq_center else 0)
    return bytes(n) + bytes.fromhex("".join(views + regions + ([h.pdq_center] * n[2])))


def _unpack_views(blob: bytes) -> tuple[list[str], list[str], str | None]:
    nv, nr, nc = blob[0], blob[1], blob[2]
    hashes = [blob[i : i + 32].hex() for i in range(3, 3 + 32 * (nv + nr + nc), 32)]
    return hashes[:nv], hashes[nv : nv + nr], hashes[-1] if nc else None


@dataclass(slots=True)
class CachedFile:
    hashes: ContentHashes
    verdict_key: str | None
    #: the stored matches as JSON text (parsed only if the verdict is reused)
    verdict: str | None


@dataclass(slots=True)
class StoredFile:
    """A file as the cache last saw it."""

    path: str
    dev: int
    ino: int
    mtime_ns: int
    hashes: ContentHashes
    scanned_at: float


def default_cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hashwatch" / "scan-cache.sqlite"


class ScanCache:
    """One SQLite file. ``hash_config`` names the hashing settings; rows made under other
    settings are discarded when the cache is opened."""

    def __init__(self, path: str | os.PathLike, hash_config: str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_META)
            row = self._db.execute("SELECT value FROM meta WHERE key='config'").fetchone()
            config = f"schema={SCHEMA_VERSION};{hash_config}"
            if row is None or row[0] != config:
                # other settings or an older layout: start again
                self._db.execute("BEGIN")
                self._db.execute("DROP TABLE IF EXISTS files")
                self._db.execute("DROP TABLE IF EXISTS items")
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('config', ?)", (config,))
                self._db.execute("COMMIT")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise CacheError(f"{self.path}: not a usable scan cache ({e})") from e
        self._index: dict[tuple[int, int], tuple] | None = None
        self._pending: list[tuple] = []
        #: a file's items, replaced whole if the file is put again before a flush
        self._pending_items: dict[tuple[int, int], list[tuple]] = {}
        self._verdicts: list[tuple] = []
        self._last_flush = time.monotonic()

    def preload(self, max_rows: int = 3_000_000) -> bool:
        """Load every row's identity and verdict into memory (one query instead of one per
        file) unless the cache holds more than ``max_rows`` files. Returns True if loaded."""
        if len(self) > max_rows:
            return False
        self._index = {
            (r[0], r[1]): r[2:]
            for r in self._db.execute(
                "SELECT dev, ino, size, mtime_ns, ctime_ns, verdict_key, verdict,"
                " coalesce(incomplete, pdq_error) FROM files"
            )
        }
        return True

    def stored_verdict(self, st: os.stat_result, key: str) -> tuple[str, str | None] | None:
        """For an unchanged file whose verdict was made under ``key`` (lists + settings):
        (verdict JSON, reason it was not fully scanned or None). Else None. Needs
        :meth:`preload`; answers None (look further) without it."""
        if self._index is None:
            return None
        row = self._index.get((st.st_dev, st.st_ino))
        if (
            row is None
            or row[0] != st.st_size
            or row[1] != st.st_mtime_ns
            or row[2] != st.st_ctime_ns
            or row[3] != key
            or row[4] is None
        ):
            return None
        return row[4], row[5]

    def get(self, st: os.stat_result, dihedral: bool = True) -> CachedFile | None:
        """The stored signals of an unchanged file (the 8 dihedral PDQs only if asked), with
        the items inside it if it is a container."""
        row = self._db.execute(
            f"SELECT mtime_ns, ctime_ns, {_HASH_COLS}, incomplete, n_items, verdict_key,"
            " verdict FROM files WHERE dev=? AND ino=?",
            (st.st_dev, st.st_ino),
        ).fetchone()
        if (
            row is None
            or row[2] != st.st_size
            or row[0] != st.st_mtime_ns
            or row[1] != st.st_ctime_ns
        ):
            return None
        hashes = _hashes(row[2:13], dihedral)
        hashes.incomplete = row[13]
        if row[14]:
            hashes.items = self._items(st.st_dev, st.st_ino, dihedral)
        return CachedFile(hashes, row[15], row[16])

    def _items(self, dev: int, ino: int, dihedral: bool) -> list[InnerHashes]:
        return [
            InnerHashes(r[0], _hashes(r[2:], dihedral) if r[2] is not None else None, r[1])
            for r in self._db.execute(
                f"SELECT inner, error, {_HASH_COLS} FROM items WHERE dev=? AND ino=? ORDER BY seq",
                (dev, ino),
            )
        ]

    def iter_stored(self, batch: int = 2048, dihedral: bool = True) -> Iterator[list[StoredFile]]:
        """Every stored file's signals (and its items'), in batches, for re-matching them
        against a new list without reading any file again."""
        self.flush()
        last = (-1, -1)
        while True:
            # one query per batch (keyed paging): the caller may write verdicts in between
            rows = self._db.execute(
                f"SELECT dev, ino, path, mtime_ns, scanned_at, {_HASH_COLS}, incomplete,"
                " n_items FROM files WHERE (dev, ino) > (?, ?) ORDER BY dev, ino LIMIT ?",
                (*last, batch),
            ).fetchall()
            if not rows:
                return
            last = (rows[-1][0], rows[-1][1])
            out = []
            for r in rows:
                h = _hashes(r[5:16], dihedral)
                h.incomplete = r[16]
                if r[17]:
                    h.items = self._items(r[0], r[1], dihedral)
                out.append(StoredFile(r[2], r[0], r[1], r[3], h, r[4]))
            yield out

    def put(
        self,
        path: str,
        st: os.stat_result,
        h: ContentHashes,
        verdict_key: str | None,
        verdict: list[dict] | None,
    ) -> None:
        values = _hash_values(h)
        items = h.items or []
        self._pending.append(
            (
                st.st_dev,
                st.st_ino,
                st.st_size,
                st.st_mtime_ns,
                st.st_ctime_ns,
                path,
                *values[1:],
                h.incomplete,
                len(items),
                verdict_key,
                json.dumps(verdict) if verdict is not None else None,
                time.time(),
            )
        )
        key = (st.st_dev, st.st_ino)
        self._pending_items.pop(key, None)
        if items:
            self._pending_items[key] = [
                (*key, seq, it.inner, it.error, *_item_values(it)) for seq, it in enumerate(items)
            ]
        self._maybe_flush()

    def put_verdict(self, st: os.stat_result, verdict_key: str, verdict: list[dict]) -> None:
        self.put_verdict_id(st.st_dev, st.st_ino, verdict_key, verdict)

    def put_verdict_id(self, dev: int, ino: int, verdict_key: str, verdict: list[dict]) -> None:
        text = json.dumps(verdict) if verdict else "[]"
        self._verdicts.append((verdict_key, text, dev, ino))
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if len(self._pending) + len(self._verdicts) >= 2000 or (
            time.monotonic() - self._last_flush > 2.0
        ):
            self.flush()

    def flush(self) -> None:
        if not self._pending and not self._verdicts:
            return
        db = self._db
        db.execute("BEGIN")
        try:
            if self._pending:
                db.executemany(
                    "DELETE FROM items WHERE dev=? AND ino=?", [p[:2] for p in self._pending]
                )
                db.executemany(
                    f"INSERT OR REPLACE INTO files VALUES ({','.join('?' * 21)})",
                    self._pending,
                )
            if self._pending_items:
                db.executemany(
                    f"INSERT OR REPLACE INTO items VALUES ({','.join('?' * 16)})",
                    [row for rows in self._pending_items.values() for row in rows],
                )
            if self._verdicts:
                db.executemany(
                    "UPDATE files SET verdict_key=?, verdict=? WHERE dev=? AND ino=?",
                    self._verdicts,
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._pending.clear()
        self._pending_items.clear()
        self._verdicts.clear()
        self._last_flush = time.monotonic()

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM files").fetchone()[0]

    def close(self) -> None:
        self.flush()
        self._db.close()


class CacheError(Exception):
    """The scan cache file exists but cannot be used."""
