"""The agent's own state in one SQLite file (WAL) in its state directory: settings it
learned, the outbox of incidents, what was already reported, the journal and the progress
of full scans. (The scan cache is the engine's file beside it; lists are signed bundles
in ``lists/``.)

Every write is one short transaction: a process killed at any moment leaves either the
old state or the new one. One connection, used under a lock, serves every thread.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 2

_REPORTED = """
CREATE TABLE IF NOT EXISTS reported (
    path TEXT NOT NULL, sha256 TEXT NOT NULL, list TEXT NOT NULL, signal TEXT NOT NULL,
    dir TEXT NOT NULL, signal_type TEXT NOT NULL, distance INTEGER NOT NULL,
    entry_id TEXT NOT NULL, incident_id TEXT NOT NULL, at REAL NOT NULL,
    inner TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (path, inner, sha256, list, signal)
);
"""

_SCHEMA = (
    _REPORTED
    + """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_at REAL,
    rejected TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE delivered_at IS NULL
    AND rejected IS NULL;
CREATE INDEX IF NOT EXISTS reported_dir ON reported (dir);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    shipped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS full_scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,
    finished_at REAL,
    roots TEXT NOT NULL,
    done_roots TEXT NOT NULL DEFAULT '[]',
    files INTEGER NOT NULL DEFAULT 0,
    hashed INTEGER NOT NULL DEFAULT 0
);
"""
)


class StateError(Exception):
    """The state directory cannot be used; the message names the file."""


@dataclass(slots=True)
class OutboxItem:
    seq: int
    id: str
    created_at: float
    body: dict
    attempts: int


@dataclass(slots=True)
class Reported:
    """One (file, list entry) pair that already raised an incident."""

    path: str
    sha256: str
    list: str
    signal: str
    signal_type: str
    distance: int
    entry_id: str
    incident_id: str
    #: The chain inside the file (``a.zip!b.jpg``), "" for the file itself.
    inner: str = ""


@dataclass(slots=True)
class FullScan:
    id: int
    started_at: float
    finished_at: float | None
    roots: list[str]
    done_roots: list[str]


class State:
    def __init__(self, state_dir: str | os.PathLike):
        self.dir = Path(state_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as e:
            raise StateError(
                f"{self.dir}: cannot create the state directory: {e.strerror}"
            ) from None
        self.path = self.dir / "agent.sqlite"
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # an incident survives power loss
            self._migrate()
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise StateError(f"{self.path}: not a usable agent state file ({e})") from None
        self.set("schema_version", str(SCHEMA_VERSION))

    def _migrate(self) -> None:
        """Bring a state file made by an older agent up to this layout, keeping its data."""
        db = self._db
        cols = [r[1] for r in db.execute("PRAGMA table_info(reported)")]
        if cols and "inner" not in cols:
            # version 1 -> 2: items inside containers are reported apart from their file
            db.execute("BEGIN IMMEDIATE")
            db.execute("ALTER TABLE reported RENAME TO reported_v1")
            db.execute(_REPORTED)
            db.execute(
                "INSERT INTO reported (path, sha256, list, signal, dir, signal_type, distance,"
                " entry_id, incident_id, at) SELECT path, sha256, list, signal, dir,"
                " signal_type, distance, entry_id, incident_id, at FROM reported_v1"
            )
            db.execute("DROP TABLE reported_v1")
            db.execute("COMMIT")

    @property
    def cache_path(self) -> Path:
        return self.dir / "scan-cache.sqlite"

    @property
    def lists_dir(self) -> Path:
        return self.dir / "lists"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _all(self, sql: str, args: Sequence = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- meta ----------------------------------------------------------------------------

    def get(self, key: str, default: str | None = None) -> str | None:
        rows = self._all("SELECT value FROM meta WHERE key=?", (key,))
        return rows[0][0] if rows else default

    def get_json(self, key: str, default=None):
        v = self.get(key)
        return default if v is None else json.loads(v)

    def set(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def set_json(self, key: str, value) -> None:
        self.set(key, json.dumps(value))

    def set_default(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))

    def delete(self, key: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM meta WHERE key=?", (key,))

    # -- incidents -----------------------------------------------------------------------

    def already_reported(
        self, path: str, sha256: str, lst: str, signal: str, inner: str = ""
    ) -> bool:
        return bool(
            self._all(
                "SELECT 1 FROM reported WHERE path=? AND inner=? AND sha256=? AND list=?"
                " AND signal=?",
                (path, inner, sha256, lst, signal),
            )
        )

    def reported_in_dir(self, directory: str, limit: int = 100) -> list[Reported]:
        rows = self._all(
            "SELECT path, sha256, list, signal, signal_type, distance, entry_id, incident_id,"
            " inner FROM reported WHERE dir=? ORDER BY at LIMIT ?",
            (directory, limit),
        )
        return [Reported(*r) for r in rows]

    def add_incident(self, body: dict, reported: Reported) -> bool:
        """Put an incident in the outbox and remember what it reports, atomically. False
        (nothing stored) if that file and entry were reported already."""
        with self._tx() as db:
            try:
                db.execute(
                    "INSERT INTO reported VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        reported.path,
                        reported.sha256,
                        reported.list,
                        reported.signal,
                        os.path.dirname(reported.path),
                        reported.signal_type,
                        reported.distance,
                        reported.entry_id,
                        reported.incident_id,
                        time.time(),
                        reported.inner,
                    ),
                )
            except sqlite3.IntegrityError:
                return False
            db.execute(
                "INSERT INTO outbox (id, created_at, body) VALUES (?, ?, ?)",
                (body["id"], time.time(), json.dumps(body, separators=(",", ":"))),
            )
        return True

    def pending(self, limit: int = 500) -> list[OutboxItem]:
        """The oldest undelivered incidents, in the order they were found."""
        rows = self._all(
            "SELECT seq, id, created_at, body, attempts FROM outbox"
            " WHERE delivered_at IS NULL AND rejected IS NULL ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [OutboxItem(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

    def queue_depth(self) -> int:
        return self._all(
            "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND rejected IS NULL"
        )[0][0]

    def mark_delivered(self, seqs: Sequence[int]) -> None:
        now = time.time()
        with self._tx() as db:
            db.executemany(
                "UPDATE outbox SET delivered_at=?, attempts=attempts+1, last_error=NULL"
                " WHERE seq=?",
                [(now, s) for s in seqs],
            )

    def mark_failed(self, seqs: Sequence[int], error: str) -> None:
        with self._tx() as db:
            db.executemany(
                "UPDATE outbox SET attempts=attempts+1, last_error=? WHERE seq=?",
                [(error[:500], s) for s in seqs],
            )

    def mark_rejected(self, seq: int, reason: str) -> None:
        """The server refused this incident as invalid: kept (never deleted), set aside so
        it does not block the queue, and shown by ``agent status``."""
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET rejected=?, attempts=attempts+1 WHERE seq=?",
                (reason[:1000], seq),
            )

    def rejected(self) -> list[tuple[str, str]]:
        return self._all("SELECT id, rejected FROM outbox WHERE rejected IS NOT NULL ORDER BY seq")

    def outbox_counts(self) -> dict[str, int]:
        row = self._all(
            "SELECT count(*) FILTER (WHERE delivered_at IS NULL AND rejected IS NULL),"
            " count(delivered_at), count(rejected) FROM outbox"
        )[0]
        return {"waiting": row[0], "delivered": row[1], "rejected": row[2]}

    def last_delivery_error(self) -> str | None:
        rows = self._all(
            "SELECT last_error FROM outbox WHERE delivered_at IS NULL AND rejected IS NULL"
            " AND last_error IS NOT NULL ORDER BY seq LIMIT 1"
        )
        return rows[0][0] if rows else None

    def prune_delivered(self, older_than_days: float = 90) -> int:
        cutoff = time.time() - older_than_days * 86400
        with self._tx() as db:
            return db.execute(
                "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?",
                (cutoff,),
            ).rowcount

    # -- journal -------------------------------------------------------------------------

    def journal(self, kind: str, at: str, **detail) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO journal (at, kind, detail) VALUES (?, ?, ?)",
                (at, kind, json.dumps(detail, default=str)[:4000]),
            )

    def unshipped_events(self, limit: int = 100) -> list[tuple[int, str, str, dict]]:
        rows = self._all(
            "SELECT seq, at, kind, detail FROM journal WHERE shipped=0 ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def mark_shipped(self, seqs: Sequence[int]) -> None:
        with self._tx() as db:
            db.executemany("UPDATE journal SET shipped=1 WHERE seq=?", [(s,) for s in seqs])

    def recent_events(self, limit: int = 20) -> list[tuple[str, str, dict]]:
        rows = self._all("SELECT at, kind, detail FROM journal ORDER BY seq DESC LIMIT ?", (limit,))
        return [(r[0], r[1], json.loads(r[2])) for r in reversed(rows)]

    # -- full scans ----------------------------------------------------------------------

    def unfinished_scan(self) -> FullScan | None:
        rows = self._all(
            "SELECT id, started_at, finished_at, roots, done_roots FROM full_scans"
            " WHERE finished_at IS NULL ORDER BY id DESC LIMIT 1"
        )
        return _scan(rows[0]) if rows else None

    def last_finished_scan(self) -> FullScan | None:
        rows = self._all(
            "SELECT id, started_at, finished_at, roots, done_roots FROM full_scans"
            " WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1"
        )
        return _scan(rows[0]) if rows else None

    def start_scan(self, roots: list[str]) -> FullScan:
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO full_scans (started_at, roots) VALUES (?, ?)", (now, json.dumps(roots))
            )
        return FullScan(cur.lastrowid, now, None, roots, [])

    def root_done(self, scan: FullScan, root: str, files: int, hashed: int) -> None:
        scan.done_roots.append(root)
        with self._tx() as db:
            db.execute(
                "UPDATE full_scans SET done_roots=?, files=files+?, hashed=hashed+? WHERE id=?",
                (json.dumps(scan.done_roots), files, hashed, scan.id),
            )

    def finish_scan(self, scan: FullScan) -> None:
        scan.finished_at = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE full_scans SET finished_at=? WHERE id=?", (scan.finished_at, scan.id)
            )


def _scan(r: tuple) -> FullScan:
    return FullScan(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4]))
