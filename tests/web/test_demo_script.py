"""The README's main command, non-interactively: test-kit scan, seeded demo server, pages."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "demo.sh"


def test_demo_script_check(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = subprocess.run(
        [str(SCRIPT), "--check", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PORT": str(port)},
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "demo OK" in r.stdout and "/analytics -> 200" in r.stdout
    assert "seeded a synthetic organisation" in r.stderr
    # sign-in details are kept for the owner only
    creds = tmp_path / "out" / "server" / "demo-credentials.json"
    assert creds.stat().st_mode & 0o777 == 0o600
