#!/usr/bin/env python3
"""Screenshots of the dashboard's main pages for the README, taken with Debian's chromium
through Playwright from a demo server (synthetic organisation; no image content exists).

Usage: .venv/bin/python scripts/screenshots.py [OUTDIR [NAME ...]]
    OUTDIR defaults to docs/screenshots; NAMEs (e.g. takedown weekly) take only those.
"""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from hashwatch.server.demo_takedown import DISRUPTION_WEEKS_BACK

#: (name, path, the demo account that takes it); {disruption} is the Monday of the demo's
#: takedown disruption week
PAGES = [
    ("incidents", "/incidents", "admin"),
    ("incident", None, "admin"),  # the first incident of the queue
    ("fleet", "/fleet", "admin"),
    ("lists", "/lists/hashwatch-testkit", "admin"),
    ("analytics", "/analytics?weeks=8", "admin"),
    ("settings", "/settings", "admin"),
    ("takedown", "/takedown", "analyst"),  # the hotline analyst's queue
    ("weekly", "/reports/weekly?week={disruption}", "admin"),
]
#: pages with charts drawn in the browser (how many, waited for): taken whole
CHARTS = {"analytics": 4, "weekly": 5}


def disruption_week(data: Path) -> date:
    """The demo's disruption week (``demo_takedown``): weeks back from the seeding's Monday."""
    db = sqlite3.connect(f"file:{data / 'server.db'}?mode=ro", uri=True)
    try:
        (mark,) = db.execute("select value from settings where key = 'demo_seeded'").fetchone()
    finally:
        db.close()
    seeded = datetime.fromisoformat(json.loads(mark)["now"].removesuffix("Z")).date()
    return seeded - timedelta(days=seeded.weekday(), weeks=DISRUPTION_WEEKS_BACK)


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    only = set(sys.argv[2:])
    unknown = only - {name for name, _, _ in PAGES}
    if unknown:
        sys.exit(f"no screenshot named {', '.join(sorted(unknown))}")
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
            pages = {}

            def signed_in(user: str):
                """A page of ``user``'s own browser context, signed in once."""
                if user not in pages:
                    page = browser.new_page(viewport={"width": 1440, "height": 960})
                    page.goto(f"{base}/login")
                    page.fill("#username", user)
                    page.fill("#password", creds[user])
                    page.click("button[type=submit]")
                    page.wait_for_load_state("networkidle")
                    pages[user] = page
                return pages[user]

            disruption = disruption_week(data).isoformat()
            for name, path, user in PAGES:
                if only and name not in only:
                    continue
                page = signed_in(user)
                if path is None:
                    page.goto(f"{base}/incidents")
                    page.locator("#queue tbody tr a").first.click()
                else:
                    page.goto(base + path.format(disruption=disruption))
                page.wait_for_load_state("networkidle")
                if name in CHARTS:
                    drawn = "document.querySelectorAll('canvas[data-drawn]').length"
                    page.wait_for_function(f"{drawn} === {CHARTS[name]}")
                page.screenshot(path=str(out / f"{name}.png"), full_page=name in CHARTS)
                print(out / f"{name}.png")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
