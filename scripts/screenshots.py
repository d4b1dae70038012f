#!/usr/bin/env python3
"""Screenshots of the dashboard's main pages for the README, taken with Debian's chromium
through Playwright from a demo server (synthetic organisation; no image content exists).

Usage: .venv/bin/python scripts/screenshots.py [OUTDIR]     (default docs/screenshots)
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

PAGES = [
    ("incidents", "/incidents"),
    ("incident", None),  # the first incident of the queue
    ("fleet", "/fleet"),
    ("lists", "/lists/hashwatch-testkit"),
    ("analytics", "/analytics?weeks=8"),
    ("settings", "/settings"),
]


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hw-shots-"))
    data = work / "server"
    hw = [sys.executable, "-m", "hashwatch", "server"]
    subprocess.run([*hw, "demo", "-d", str(data), "--seed-only"], check=True)
    creds = json.loads((data / "demo-credentials.json").read_text())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [*hw, "run", "-d", str(data), "--port", str(port), "--log-level", "warning"]
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/api/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=shutil.which("chromium"), args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1440, "height": 960})
            page.goto(f"{base}/login")
            page.fill("#username", "admin")
            page.fill("#password", creds["admin"])
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            for name, path in PAGES:
                if path is None:
                    page.goto(f"{base}/incidents")
                    page.locator("#queue tbody tr a").first.click()
                else:
                    page.goto(base + path)
                page.wait_for_load_state("networkidle")
                if name == "analytics":
                    page.wait_for_function(
                        "document.querySelectorAll('canvas[data-drawn]').length === 4"
                    )
                page.screenshot(path=str(out / f"{name}.png"), full_page=name == "analytics")
                print(out / f"{name}.png")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
