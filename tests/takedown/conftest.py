"""Fixtures for the takedown tests: a loopback HTTP site with routes set per test, and
harmless test-kit pictures (abstract generated images) with their hashes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from hashwatch.hashing import hash_bytes
from hashwatch.takedown import HostRateLimiter, RecheckPolicy
from hashwatch.testkit.alter import alterations, encode_jpeg
from hashwatch.testkit.images import paint

Handler = Callable[[BaseHTTPRequestHandler], None]

#: Loopback only; short timeouts keep the failure tests quick.
LOOPBACK = ("127.0.0.1/32",)


def make_policy(**changes) -> RecheckPolicy:
    base = dict(
        connect_timeout=0.5,
        read_timeout=0.5,
        deadline=5.0,
        min_interval=0.0,
        allowed_private=LOOPBACK,
    )
    return RecheckPolicy(**{**base, **changes})


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def send(h: BaseHTTPRequestHandler, status: int, body: bytes = b"", **headers: str) -> None:
    """A whole response with Content-Length (header names with _ for -)."""
    h.send_response(status)
    for name, value in headers.items():
        h.send_header(name.replace("_", "-"), value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def redirect(location: str, status: int = 302) -> Handler:
    return lambda h: send(h, status, Location=location)


class Site:
    """A ThreadingHTTPServer on 127.0.0.1 serving ``routes`` (path -> handler); records the
    path and headers of every request. ``stop`` is set at teardown (slow handlers wait on
    it, so no thread outlives the test for long)."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.stop = threading.Event()
        site = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                site.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                self.close_connection = True
                route = site.routes.get(self.path)
                try:
                    if route is None:
                        send(self, 404)
                    else:
                        route(self)
                except OSError:  # the client went away (as the size and time limits do)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    s.thread.start()
    yield s
    s.stop.set()
    s.server.shutdown()
    s.server.server_close()


@dataclass(frozen=True)
class Pictures:
    """The reported picture (JPEG bytes and the report's hashes), an altered copy of it and
    an unrelated picture -- all abstract test-kit images."""

    listed: bytes
    hashes: tuple[tuple[str, str], ...]
    listed_pdq: str
    copy: bytes  # cropped by 2%, resized to half and re-encoded at another quality
    copy_pdq: str
    other: bytes


@pytest.fixture(scope="session")
def pictures() -> Pictures:
    rng = np.random.default_rng([2026, 7])
    img = paint(rng, "leaves", (640, 480))
    listed = encode_jpeg(img, 90)
    cropped = dict(alterations(img, seed=7))["crop-2"]
    copy = encode_jpeg(cropped.resize((cropped.width // 2, cropped.height // 2)), 60)
    other = encode_jpeg(paint(np.random.default_rng([2026, 8]), "mosaic", (640, 480)), 90)
    h, c = hash_bytes(listed), hash_bytes(copy)
    assert h.pdq and c.pdq
    hashes = (("md5", h.md5), ("sha1", h.sha1), ("sha256", h.sha256), ("pdq", h.pdq))
    return Pictures(listed, hashes, h.pdq, copy, c.pdq, other)


@pytest.fixture
def limiter() -> HostRateLimiter:
    """A fresh limiter per test (the process-wide one would carry over between tests)."""
    return HostRateLimiter(0.0)
