"""A throwaway PostgreSQL server for the tests of the PostgreSQL path (a real one, not a mock).

``HASHWATCH_TEST_PG`` (a ``postgresql://`` URL of a server the tests may create databases
on) is used when set. Otherwise a private cluster is made with Debian's ``initdb`` in a
temporary directory, listening on a Unix socket only, and removed at the end. As root the
cluster runs as the ``postgres`` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


class PgUnavailable(RuntimeError):
    pass


def _bindir() -> Path:
    if found := shutil.which("pg_config"):
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True)
        d = Path(out.stdout.strip())
        if (d / "initdb").exists():
            return d
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(d, "initdb").exists():
            return Path(d)
    raise PgUnavailable(
        "PostgreSQL server binaries (initdb) not found: install Debian's postgresql package "
        "(.ci/run does) or set HASHWATCH_TEST_PG"
    )


class PgCluster:
    """A private cluster; ``url(db)`` gives a psycopg URL for one of its databases."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="hw-pg-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.sock.mkdir()
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            os.chmod(self.root, 0o755)
            for p in (self.root, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self.role = self.user or pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def start(self) -> PgCluster:
        r = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "-U",
            self.role,
        )
        if r.returncode:
            raise PgUnavailable(f"initdb failed: {r.stderr.strip()[:500]}")
        opts = (
            f"-k {self.sock} -c listen_addresses='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        r = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            opts,
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        if r.returncode:
            log = (self.root / "log").read_text(errors="replace")[-800:]
            raise PgUnavailable(f"pg_ctl start failed: {r.stderr.strip()[:300]} {log}")
        return self

    def create_database(self) -> str:
        name = "hw_" + uuid.uuid4().hex[:12]
        r = self._run("createdb", "-h", str(self.sock), "-U", self.role, name)
        if r.returncode:
            raise PgUnavailable(f"createdb failed: {r.stderr.strip()}")
        return f"postgresql://{self.role}@/{name}?host={self.sock}"

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class ExternalPg:
    """Databases on a server given by HASHWATCH_TEST_PG."""

    def __init__(self, url: str) -> None:
        self.url = url

    def start(self) -> ExternalPg:
        return self

    def create_database(self) -> str:
        import psycopg

        name = "hw_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        base, _, query = self.url.partition("?")
        base = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
        return f"{base}/{name}" + (f"?{query}" if query else "")

    def stop(self) -> None:
        pass


def start_postgres():
    url = os.environ.get("HASHWATCH_TEST_PG")
    t0 = time.monotonic()
    server = ExternalPg(url).start() if url else PgCluster().start()
    server.startup_seconds = time.monotonic() - t0
    return server
