"""Agent tests run real processes on loopback: a `hashwatch server run` (SQLite) started in
the test, and `hashwatch agent ...` commands and services against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hashwatch.hashing import hash_bytes
from tests.conftest import encode, photo
from tests.server.conftest import PASSWORD
from tests.server.test_server_process import Running, _port, hw


def wait_for(check, timeout: float = 20.0, every: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class LiveServer:
    """A real server process with an admin API token."""

    def __init__(self, tmp: Path):
        self.data = tmp / "srv"
        pw = tmp / "pw"
        pw.write_text(PASSWORD + "\n")
        r = hw("server", "init", "--data-dir", str(self.data), "--admin-password-file", str(pw))
        assert r.returncode == 0, r.stderr
        r = hw("server", "api-token", "--user", "admin", "--data-dir", str(self.data))
        assert r.returncode == 0, r.stderr
        self.api_token = r.stdout.strip().splitlines()[-1]
        self.port = _port()
        self.proc: Running | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = Running(self.data, "--workers", "1", port=self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def api(self, method: str, path: str, **kw) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.api_token}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kw)

    def enroll_token(self, uses: int = 1) -> str:
        r = hw("server", "token", "--uses", str(uses), "--data-dir", str(self.data))
        assert r.returncode == 0, r.stderr
        return r.stdout.strip().splitlines()[-1]

    def import_list(self, name: str, rows: list[tuple[str, str]]) -> dict:
        text = "signal_type,signal,id,category\n" + "".join(
            f"{t},{v},{name}-{i},test-category\n" for i, (t, v) in enumerate(rows, 1)
        )
        r = self.api(
            "POST",
            f"/api/v1/lists/{name}/import",
            content=text.encode(),
            params={"filename": "l.csv"},
        )
        assert r.status_code == 200, r.text
        return r.json()

    def incidents(self) -> list[dict]:
        r = self.api("GET", "/api/v1/incidents", params={"limit": 500})
        assert r.status_code == 200, r.text
        return r.json()["incidents"]

    def incident(self, incident_id: str) -> dict:
        r = self.api("GET", f"/api/v1/incidents/{incident_id}")
        assert r.status_code == 200, r.text
        return r.json()


class AgentProc:
    """An enrolled agent with its own config and state directory."""

    def __init__(self, tmp: Path, server: LiveServer, paths: list[Path], **sections):
        self.tmp = tmp
        self.state = tmp / "agent-state"
        self.config = tmp / "agent.toml"
        cfg = {
            "state_dir": str(self.state),
            "log_level": "info",
            "server": {"heartbeat_seconds": 1},
            "watch": {"paths": [str(p) for p in paths], "settle_seconds": 0.3},
            "volumes": {"removable_mounts": [str(tmp / "media" / "*")], "poll_seconds": 0.5},
            "schedule": {"enabled": False, "paths": [str(p) for p in paths]},
        }
        for k, v in sections.items():
            cfg.setdefault(k, {}).update(v) if isinstance(v, dict) else cfg.__setitem__(k, v)
        self.config.write_text(_toml(cfg))
        self.proc: subprocess.Popen | None = None
        self.log = tmp / "agent.log"
        r = self.cli("enroll", "--server", server.url, "--token", server.enroll_token())
        assert r.returncode == 0, r.stderr

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return hw("agent", *args, "--config", str(self.config), timeout=timeout)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hashwatch", "agent", "run", "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),
        )

    def status(self) -> dict:
        r = self.cli("status", "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def logs(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def _toml(d: dict, prefix: str = "") -> str:
    top, tables = [], []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append(f"\n[{prefix}{k}]\n" + _toml(v, f"{prefix}{k}."))
        else:
            top.append(f"{k} = {json.dumps(v)}")
    return "\n".join(top) + "\n" + "".join(tables)


@pytest.fixture
def server(tmp_path):
    s = LiveServer(tmp_path)
    yield s
    s.stop()


@pytest.fixture
def agents(tmp_path):
    made: list[AgentProc] = []

    def make(server: LiveServer, paths: list[Path], **sections) -> AgentProc:
        a = AgentProc(tmp_path, server, paths, **sections)
        made.append(a)
        return a

    yield make
    for a in made:
        a.stop(signal.SIGKILL) if a.proc else None


def known_image(seed: int) -> tuple[bytes, str]:
    """A harmless generated photo (JPEG) and its PDQ hash."""
    data = encode(photo(seed, (480, 360)), "JPEG", quality=90)
    return data, hash_bytes(data).pdq


def sha256_of(data: bytes) -> str:
    return hash_bytes(data).sha256


def write_slowly(path: Path, data: bytes) -> None:
    """Write in pieces with pauses, like a browser download."""
    with open(path, "wb") as f:
        for i in range(0, len(data), 4096):
            f.write(data[i : i + 4096])
            f.flush()
            os.fsync(f.fileno())
