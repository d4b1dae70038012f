"""Browser tests: a real `hashwatch server demo` data directory served by a real server
process on loopback, driven by Playwright through Debian's chromium (Playwright's own browser
download is not used: `.ci/run` installs the `chromium` package)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from ..server.test_server_process import Running

DEVICES, WEEKS = 120, 6


def chromium_path() -> str:
    for name in (os.environ.get("HASHWATCH_CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    pytest.fail(
        "the browser tests need chromium (Debian package `chromium`; scripts/system-deps.sh)"
    )


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory):
    """A seeded demo server process: (base URL, data dir, credentials)."""
    data = tmp_path_factory.mktemp("web") / "server"
    r = subprocess.run(
        [sys.executable, "-m", "hashwatch", "server", "demo", "--data-dir", str(data),
         "--devices", str(DEVICES), "--weeks", str(WEEKS), "--seed-only"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    creds = json.loads((data / "demo-credentials.json").read_text())
    server = Running(data)
    yield server.url, data, creds
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield b
        b.close()


class Session:
    """One person's browser context: signed in through the sign-in page; every request the
    pages make is recorded (to prove nothing leaves the server)."""

    def __init__(self, browser, base: str, user: str, password: str):
        self.base = base
        self.ctx = browser.new_context(
            accept_downloads=True, viewport={"width": 1400, "height": 900}
        )
        self.page = self.ctx.new_page()
        self.requests: list[str] = []
        self.page.on("request", lambda req: self.requests.append(req.url))
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.goto(f"{base}/")
        self.page.fill("#username", user)
        self.page.fill("#password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state("networkidle")

    def goto(self, path: str):
        self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")
        return self.page

    def refused(self, path: str) -> str:
        """Open a page the role may not see: the refusal page's text (its 403 status, which
        the browser logs as a console error, is expected here)."""
        before = len(self.errors)
        page = self.goto(path)
        self.errors[before:] = [e for e in self.errors[before:] if "status of 403" not in e]
        return page.inner_text("#error-message")

    def close(self):
        self.ctx.close()


@pytest.fixture
def as_role(browser, demo_server):
    base, _, creds = demo_server
    opened: list[Session] = []

    def open_as(user: str) -> Session:
        s = Session(browser, base, user, creds[user])
        opened.append(s)
        return s

    yield open_as
    for s in opened:
        s.close()
