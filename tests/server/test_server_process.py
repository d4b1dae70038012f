"""The server as a newcomer runs it: `hashwatch server init`, `server token`, `server run`
(a real uvicorn process on loopback, plain and with TLS), an agent enrolling over HTTP and
an incident arriving — on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .conftest import PASSWORD, make_incident


def hw(*args: str, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("timeout", 120)
    return subprocess.run(
        [sys.executable, "-m", "hashwatch", *args], capture_output=True, text=True, **kw
    )


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    def __init__(self, data: Path, *extra: str, scheme: str = "http", port: int | None = None):
        self.port = port or _port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hashwatch",
                "server",
                "run",
                "--data-dir",
                str(data),
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if (
                    httpx.get(f"{self.url}/api/v1/health", verify=False, timeout=1).status_code
                    == 200
                ):
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
            if self.proc.poll() is not None:
                break
        self.stop()
        raise AssertionError(f"server did not start: {self.proc.stdout.read()}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _init(tmp_path: Path, database: str | None) -> Path:
    data = tmp_path / "srv"
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    args = ["server", "init", "--data-dir", str(data), "--admin-password-file", str(pw)]
    if database:
        args += ["--database", database]
    r = hw(*args)
    assert r.returncode == 0, r.stderr
    assert "schema up to date" in r.stderr and PASSWORD not in r.stderr
    return data


def _walkthrough(base: str, data: Path, verify=True):
    token = hw("server", "token", "--data-dir", str(data), "--uses", "2", "--expires", "1h")
    assert token.returncode == 0, token.stderr
    with httpx.Client(base_url=base, verify=verify, timeout=10) as c:
        r = c.post(
            "/api/v1/agent/enroll", json={"token": token.stdout.strip(), "hostname": "LAPTOP-7"}
        )
        assert r.status_code == 201, r.text
        agent = {"Authorization": f"Bearer {r.json()['token']}"}
        assert (
            c.post("/api/v1/agent/heartbeat", json={"queue_depth": 1}, headers=agent).status_code
            == 200
        )
        inc = make_incident()
        for _ in range(2):  # a retry after a lost answer
            r = c.post("/api/v1/agent/incidents", json={"incidents": [inc]}, headers=agent)
            assert r.status_code == 200
        assert r.json()["duplicates"] == [inc["id"]]
        login = c.post("/api/v1/session", json={"username": "admin", "password": PASSWORD})
        assert login.status_code == 200
        queue = c.get("/api/v1/incidents").json()
        assert queue["total"] == 1 and queue["incidents"][0]["id"] == inc["id"]
        assert c.get("/openapi.json").json()["info"]["title"] == "hashwatch management server"
        return login


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_init_run_enrol_and_see_an_incident(tmp_path, backend, request):
    database = (
        request.getfixturevalue("postgres").create_database() if backend == "postgresql" else None
    )
    data = _init(tmp_path, database)
    key = data / "list-signing.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    server = Running(data)
    try:
        login = _walkthrough(server.url, data)
        assert "secure" not in login.headers["set-cookie"].lower()  # plain HTTP on loopback
    finally:
        server.stop()
    # init again is harmless: no second admin, key kept, schema current
    before = key.read_bytes()
    r = hw("server", "init", "--data-dir", str(data))
    assert r.returncode == 0 and "password" not in r.stderr and key.read_bytes() == before
    assert hw("server", "audit", "verify", "--data-dir", str(data)).returncode == 0


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    c, k = tmp_path / "cert.pem", tmp_path / "key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return c, k


def test_tls_directly(tmp_path):
    data = _init(tmp_path, None)
    cert, key = _self_signed(tmp_path)
    server = Running(data, "--ssl-certfile", str(cert), "--ssl-keyfile", str(key), scheme="https")
    try:
        import ssl

        ctx = ssl.create_default_context(cafile=str(cert))
        login = _walkthrough(server.url, data, verify=ctx)
        assert "secure" in login.headers["set-cookie"].lower()  # cookies only over HTTPS
    finally:
        server.stop()


def test_cli_errors_are_clear(tmp_path):
    r = hw("server", "run", "--data-dir", str(tmp_path / "none"))
    assert r.returncode == 2 and "server init" in r.stderr
    data = _init(tmp_path, None)
    r = hw("server", "token", "--data-dir", str(data), "--expires", "soon")
    assert r.returncode == 2 and "duration" in r.stderr
    r = hw("server", "api-token", "--data-dir", str(data), "--user", "ghost")
    assert r.returncode == 2 and "ghost" in r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("signal_type,signal\nmd5,xyz\n")
    r = hw("server", "lists", "import", str(bad), "--name", "x", "--data-dir", str(data))
    assert r.returncode == 2 and "bad.csv:2" in r.stderr
    good = tmp_path / "good.txt"
    good.write_text("md5 " + "a" * 32 + "\n")
    r = hw("server", "lists", "import", str(good), "--name", "x", "--data-dir", str(data))
    assert r.returncode == 0 and '"version": 1' in r.stdout
    r = hw(
        "server",
        "init",
        "--data-dir",
        str(tmp_path / "pgbad"),
        "--database",
        "postgresql://nobody@127.0.0.1:1/none",
        "--admin-password-file",
        str(tmp_path / "pw"),
    )
    assert r.returncode == 2 and "cannot connect" in r.stderr


def test_curl_walkthrough_script(tmp_path):
    """scripts/server-walkthrough.sh: what docs/server.md shows, with real curl."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "server-walkthrough.sh"
    r = subprocess.run([str(script), str(_port())], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "walkthrough OK" in r.stdout
    assert '"duplicates":["' in r.stdout.replace(" ", "")
