"""Fixtures for the management server's tests: a real server data directory on SQLite or on a
real PostgreSQL server (every test that takes ``srv`` runs on both), people of each role and
enrolled agents."""

from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hashwatch.server import operations
from hashwatch.server.config import load

from ..pgserver import PgUnavailable, start_postgres

warnings.filterwarnings("ignore", message=".*httpx2.*")
from fastapi.testclient import TestClient  # noqa: E402

PASSWORD = "correct horse battery staple"
ROLES = ("admin", "investigator", "auditor", "analyst")


@pytest.fixture(scope="session")
def postgres():
    try:
        server = start_postgres()
    except PgUnavailable as e:
        pytest.fail(f"PostgreSQL is needed for the PostgreSQL tests: {e}")
    yield server
    server.stop()


@dataclass
class Server:
    """A server data directory, its app and helpers to act as people and agents."""

    data_dir: Path
    backend: str
    app: object = None
    clients: list = field(default_factory=list)

    @property
    def cfg(self):
        return self.app.state.cfg

    @property
    def db(self):
        return self.app.state.db

    def client(self) -> TestClient:
        c = TestClient(self.app)
        c.__enter__()
        self.clients.append(c)
        return c

    def person(self, role: str = "admin") -> TestClient:
        """A signed-in client of ``role`` that sends its CSRF token."""
        name = f"{role}1" if role != "admin" else "admin"
        if role != "admin":
            try:
                operations.add_user(self.data_dir, name, role, PASSWORD)
            except LookupError:
                pass
        c = self.client()
        r = c.post("/api/v1/session", json={"username": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    def enroll_token(self, uses: int = 1, expires=timedelta(days=1), site=None) -> str:
        return operations.enroll_token(self.data_dir, uses, expires, site, None)[0]

    def agent(self, hostname: str = "LAPTOP-0042") -> tuple[TestClient, str]:
        """An enrolled agent: a client with its bearer token, and its device id."""
        c = self.client()
        r = c.post(
            "/api/v1/agent/enroll",
            json={"token": self.enroll_token(), "hostname": hostname, "os": "Linux"},
        )
        assert r.status_code == 201, r.text
        c.headers["Authorization"] = f"Bearer {r.json()['token']}"
        return c, r.json()["device_id"]

    def close(self) -> None:
        for c in self.clients:
            c.__exit__(None, None, None)


def make_incident(**over) -> dict:
    inc = {
        "id": str(uuid.uuid4()),
        "detected_at": "2026-11-21T23:14:05+01:00",
        "trigger": "removable",
        "host": {"hostname": "LAPTOP-0042", "os_user": "jdoe"},
        "file": {
            "path": "/media/jdoe/STICK/holiday/img_004.jpg",
            "size": 123456,
            "sha256": "ab" * 32,
            "md5": "cd" * 16,
            "sha1": "ef" * 20,
            "volume": {"kind": "removable", "label": "STICK", "serial": "1234-ABCD"},
        },
        "match": {
            "signal_type": "md5",
            "signal": "cd" * 16,
            "distance": 0,
            "list": "demo",
            "list_version": 1,
            "entry_id": "A-1",
            "category": "A",
        },
        "context": {"online": False, "addresses": []},
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(inc.get(k), dict):
            inc[k] = {**inc[k], **v}
        else:
            inc[k] = v
    return inc


def now_local() -> str:
    return datetime.now(UTC).isoformat()


def _make(tmp_path: Path, backend: str, request) -> Server:
    database = None
    if backend == "postgresql":
        database = request.getfixturevalue("postgres").create_database()
    d = tmp_path / "server"
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD)
    operations.init(
        d, database=database, admin="admin", password=PASSWORD, timezone="Europe/London"
    )
    from hashwatch.server.app import create_app

    return Server(d, backend, create_app(load(d), notifier=False))


@pytest.fixture(params=["sqlite", "postgresql"])
def srv(request, tmp_path):
    s = _make(tmp_path, request.param, request)
    yield s
    s.close()
    s.app.state.db.dispose()


@pytest.fixture
def srv_sqlite(request, tmp_path):
    s = _make(tmp_path, "sqlite", request)
    yield s
    s.close()
    s.app.state.db.dispose()
