"""Database engines and sessions: SQLite (one file, WAL) by default, PostgreSQL via psycopg 3."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


class DatabaseError(RuntimeError):
    """The database cannot be used (bad URL, not reachable, schema out of date)."""


def utcnow() -> datetime:
    """Now in UTC without a zone: how every time is stored."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(dt: datetime) -> datetime:
    """``dt`` as stored: UTC without a zone (an aware time is converted, a naive one is
    taken to be UTC already)."""
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo is not None else dt


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` (psycopg 3 is used) and plain SQLite paths."""
    if "://" not in url:
        return f"sqlite:///{Path(url).resolve()}"
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+psycopg")
    elif u.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise DatabaseError(
            f"unsupported database {u.drivername!r}: use a SQLite file or postgresql://..."
        )
    return u.render_as_string(hide_password=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, pool_size: int = 10, auto_checkpoint: bool = True) -> Engine:
    """An engine with the project's settings for the database behind ``url``.

    ``auto_checkpoint=False`` (SQLite): commits never copy the WAL back into the database
    file (with its fsync) themselves; the owner must run ``Database.start_checkpointer``.
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, pool_size=pool_size, max_overflow=20, connect_args={"timeout": 30}
        )
        _sqlite_setup(engine, auto_checkpoint)
    else:
        # no pre-ping (a round trip per checkout): a connection lost to a database restart
        # is detected on use and the pool is refreshed (SQLAlchemy's optimistic handling)
        engine = create_engine(url, pool_size=pool_size, max_overflow=20, pool_recycle=3600)
    return engine


def _sqlite_setup(engine: Engine, auto_checkpoint: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        if not auto_checkpoint:
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        # A writing transaction takes the write lock at the start: it can never fail half-way
        # on a stale snapshot (SQLite's BUSY_SNAPSHOT), it waits its turn. Readers (sessions
        # from ``Database.read``) do not wait for writers (WAL).
        if conn.get_execution_options().get("readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


class Database:
    """An engine with two session factories: ``write`` (the default) and ``read`` (for
    requests that only read; on SQLite they do not queue behind writers)."""

    def __init__(self, url: str, *, pool_size: int = 10, background_checkpoint: bool = False):
        self.engine = make_engine(
            url, pool_size=pool_size, auto_checkpoint=not background_checkpoint
        )
        self._checkpointer: threading.Thread | None = None
        self._stop = threading.Event()
        self.write = session_factory(self.engine)
        self.read = session_factory(self.engine.execution_options(readonly=True))
        # SQLite has one writer at a time, and a thread that finds the write lock taken
        # sleeps in SQLite's busy handler with growing naps (up to 100 ms): under load that
        # wastes most of the time. Writers of this process queue on a Python lock instead
        # and reach SQLite one by one (other processes still meet the busy handler).
        self._writer = threading.Lock() if is_sqlite(self.engine) else nullcontext()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._writer, self.write() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self.read() as session, session.begin():
            yield session

    def start_checkpointer(self, interval: float = 1.0) -> None:
        """SQLite: copy the WAL into the database file from a thread of its own, so no
        request waits for a checkpoint's writes and fsync (a one-second stall on a busy
        disk). PASSIVE checkpoints never block readers or writers."""
        if not is_sqlite(self.engine) or self._checkpointer is not None:
            return

        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    raw = self.engine.raw_connection()  # no BEGIN: autocommit driver mode
                    try:
                        raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    finally:
                        raw.close()
                except Exception:  # noqa: BLE001 - e.g. database busy: try again next time
                    pass

        self._checkpointer = threading.Thread(target=run, name="sqlite-checkpoint", daemon=True)
        self._checkpointer.start()

    def dispose(self) -> None:
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=10)
            self._checkpointer = None
        self.engine.dispose()


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed at the end, or rolled back on error."""
    with factory() as session, session.begin():
        yield session


def check_connection(engine: Engine) -> None:
    try:
        with engine.connect() as c:
            c.execute(text("SELECT 1"))
    except Exception as e:  # noqa: BLE001 - any driver error means the same to the user
        raise DatabaseError(f"cannot connect to the database: {e}") from None
