"""The HTTP recheck against a real loopback server: outcomes, limits, rate limiting, and that
the served body stays in memory. Every picture is an abstract test-kit image."""

from __future__ import annotations

import gzip
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime

import pytest

from hashwatch.signals import pdq_distance
from hashwatch.takedown import HostRateLimiter, RecheckPolicy, RecheckResult, recheck
from tests.takedown.conftest import FakeClock, Pictures, Site, make_policy, redirect, send


def check(site: Site, path: str, pictures: Pictures, limiter: HostRateLimiter, **policy):
    return recheck(site.url(path), pictures.hashes, make_policy(**policy), limiter=limiter)


def timed(fn, *args, **kw) -> tuple[RecheckResult, float]:
    start = time.monotonic()
    result = fn(*args, **kw)
    return result, time.monotonic() - start


# --------------------------------------------------------------------------- outcomes


@pytest.mark.parametrize(("status", "phrase"), [(404, "404 Not Found"), (410, "410 Gone")])
def test_not_found_and_gone_are_removed(site, pictures, limiter, status, phrase):
    site.routes["/img"] = lambda h: send(h, status, b"<html>gone</html>")
    r = check(site, "/img", pictures, limiter)
    assert (r.outcome, r.status, r.reason) == ("removed", status, f"HTTP {phrase}")
    assert r.final_url == r.url == site.url("/img")
    assert r.matches == () and r.size is None


def test_listed_picture_is_a_live_match(site, pictures, limiter):
    site.routes["/img.jpg"] = lambda h: send(h, 200, pictures.listed, Content_Type="image/jpeg")
    clock = lambda: datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # noqa: E731
    r = recheck(site.url("/img.jpg"), pictures.hashes, make_policy(), clock=clock, limiter=limiter)
    assert r.outcome == "live_match"
    assert r.status == 200
    assert r.checked_at == clock()
    assert {(m.signal_type, m.distance) for m in r.matches} == {
        ("md5", 0),
        ("sha1", 0),
        ("sha256", 0),
        ("pdq", 0),
    }
    assert {(m.signal_type, m.signal) for m in r.matches} == set(pictures.hashes)
    assert r.reason == "served content matches the reported md5 hash"
    assert (r.size, r.media) == (len(pictures.listed), "image/jpeg")
    assert site.requests[0][1]["user-agent"].startswith("hashwatch-recheck/")


def test_altered_copy_matches_by_pdq_only(site, pictures, limiter):
    site.routes["/copy.jpg"] = lambda h: send(h, 200, pictures.copy)
    r = check(site, "/copy.jpg", pictures, limiter)
    expected = pdq_distance(pictures.listed_pdq, pictures.copy_pdq)
    assert 0 < expected <= 31
    assert r.outcome == "live_match"
    assert [(m.signal_type, m.signal, m.distance) for m in r.matches] == [
        ("pdq", pictures.listed_pdq, expected)
    ]
    assert r.reason == f"served content matches the reported pdq hash (distance {expected})"


def test_pdq_threshold_comes_from_the_policy(site, pictures, limiter):
    distance = pdq_distance(pictures.listed_pdq, pictures.copy_pdq)
    assert distance > 0
    site.routes["/copy.jpg"] = lambda h: send(h, 200, pictures.copy)
    r = check(site, "/copy.jpg", pictures, limiter, pdq_threshold=distance - 1)
    assert r.outcome == "live_no_match"


def test_other_picture_is_live_no_match(site, pictures, limiter):
    site.routes["/img.jpg"] = lambda h: send(h, 200, pictures.other)
    r = check(site, "/img.jpg", pictures, limiter)
    assert (r.outcome, r.status, r.matches) == ("live_no_match", 200, ())
    assert r.reason == f"served image/jpeg ({len(pictures.other)} bytes) matches no reported hash"


def test_page_that_is_not_a_picture_is_live_no_match(site, pictures, limiter):
    site.routes["/img.jpg"] = lambda h: send(h, 200, b"<html><p>Removed by host</p></html>")
    r = check(site, "/img.jpg", pictures, limiter)
    assert r.outcome == "live_no_match"
    assert r.size == 35


def test_empty_body_is_live_no_match(site, pictures, limiter):
    site.routes["/img.jpg"] = lambda h: send(h, 200, b"")
    r = check(site, "/img.jpg", pictures, limiter)
    assert (r.outcome, r.size) == ("live_no_match", 0)


@pytest.mark.parametrize(
    ("status", "phrase"),
    [
        (500, "500 Internal Server Error"),
        (403, "403 Forbidden"),
        (451, "451 Unavailable For Legal Reasons"),  # maybe geo-blocked: not removed
        (503, "503 Service Unavailable"),
        (204, "204 No Content"),
        (304, "304 Not Modified"),
        (599, "599"),
    ],
)
def test_other_statuses_are_inconclusive(site, pictures, limiter, status, phrase):
    site.routes["/img"] = lambda h: send(h, status, b"")
    r = check(site, "/img", pictures, limiter)
    assert (r.outcome, r.status) == ("error", status)
    assert r.reason == f"HTTP {phrase} (inconclusive)"


def test_chunked_and_close_delimited_bodies(site, pictures, limiter):
    data = pictures.listed

    def chunked(h):
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for i in range(0, len(data), 7000):
            part = data[i : i + 7000]
            h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        h.wfile.write(b"0\r\n\r\n")

    def until_close(h):
        h.send_response(200)
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(data)

    site.routes.update({"/chunked": chunked, "/close": until_close})
    for path in ("/chunked", "/close"):
        r = check(site, path, pictures, limiter)
        assert (r.outcome, r.size) == ("live_match", len(data)), path


def test_gzip_content_encoding_is_decoded(site, pictures, limiter):
    body = gzip.compress(pictures.listed)
    site.routes["/gz"] = lambda h: send(h, 200, body, Content_Encoding="gzip")
    r = check(site, "/gz", pictures, limiter)
    assert r.outcome == "live_match" and "md5" in {m.signal_type for m in r.matches}
    assert r.size == len(pictures.listed)
    assert site.requests[0][1]["accept-encoding"] == "identity"


def test_unknown_content_encoding_is_inconclusive(site, pictures, limiter):
    site.routes["/br"] = lambda h: send(h, 200, b"xx", Content_Encoding="br")
    r = check(site, "/br", pictures, limiter)
    assert (r.outcome, r.reason) == ("error", "unsupported Content-Encoding 'br'")


def test_broken_gzip_is_inconclusive(site, pictures, limiter):
    body = gzip.compress(pictures.listed)[:-500]
    site.routes["/gz"] = lambda h: send(h, 200, body, Content_Encoding="gzip")
    r = check(site, "/gz", pictures, limiter)
    assert r.outcome == "error" and "compressed body" in r.reason


def test_truncated_body_is_inconclusive(site, pictures, limiter):
    def short(h):
        h.send_response(200)
        h.send_header("Content-Length", str(len(pictures.listed)))
        h.end_headers()
        h.wfile.write(pictures.listed[:1000])

    site.routes["/img"] = short
    r = check(site, "/img", pictures, limiter)
    assert r.outcome == "error"
    assert r.reason == "connection closed before the whole body arrived reading the body"


def test_connection_refused_is_inconclusive(pictures, limiter):
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens once closed
    r = recheck(f"http://127.0.0.1:{port}/", pictures.hashes, make_policy(), limiter=limiter)
    assert r.outcome == "error"
    assert r.reason == f"connection refused connecting to 127.0.0.1:{port}"


def test_garbage_response_is_inconclusive(site, pictures, limiter):
    def garbage(h):
        h.wfile.write(b"NOT HTTP AT ALL\r\n\r\n")

    site.routes["/x"] = garbage
    r = check(site, "/x", pictures, limiter)
    assert r.outcome == "error" and "invalid HTTP response" in r.reason


def test_invalid_url_is_an_error_result(pictures, limiter):
    r = recheck("ftp://example.com/x", pictures.hashes, make_policy(), limiter=limiter)
    assert (r.outcome, r.final_url, r.chain) == ("error", None, ())
    assert r.reason == "invalid URL: unsupported scheme 'ftp' (http and https only)"


@pytest.mark.parametrize(
    ("hashes", "message"),
    [
        ([], "no reported hashes"),
        ([("md5", "xyz")], "reported hash 1: md5 must be 32 hex digits"),
        ([("tlsh", "ab" * 35)], "unknown signal type 'tlsh'"),
        ([("sha256", "0" * 64), ("pdq", "0" * 63)], "reported hash 2: pdq must be 64 hex"),
    ],
)
def test_bad_report_hashes_raise(hashes, message, limiter):
    with pytest.raises(ValueError, match=message):
        recheck("http://example.com/", hashes, make_policy(), limiter=limiter)


def test_hash_aliases_and_case_are_accepted(site, pictures, limiter):
    site.routes["/img"] = lambda h: send(h, 200, pictures.listed)
    md5 = dict(pictures.hashes)["md5"]
    r = recheck(site.url("/img"), [("photo_md5", md5.upper())], make_policy(), limiter=limiter)
    assert [(m.signal_type, m.signal) for m in r.matches] == [("md5", md5)]


# --------------------------------------------------------------------------- time limits


def test_slow_server_times_out_within_the_read_timeout(site, pictures, limiter):
    site.routes["/slow"] = lambda h: site.stop.wait(5)
    r, took = timed(check, site, "/slow", pictures, limiter)
    assert (r.outcome, r.status) == ("error", None)
    assert r.reason == "timed out waiting for the response"
    assert 0.4 <= took < 1.5


def test_drip_fed_body_ends_at_the_deadline(site, pictures, limiter):
    def drip(h):
        h.send_response(200)
        h.send_header("Content-Length", "100000")
        h.end_headers()
        while not site.stop.wait(0.05):
            h.wfile.write(b"x")
            h.wfile.flush()

    site.routes["/drip"] = drip
    r, took = timed(check, site, "/drip", pictures, limiter, deadline=1.0)
    assert (r.outcome, r.status) == ("error", 200)  # it did answer, then too slowly
    assert r.reason.startswith("deadline exceeded (1 s)")
    assert 0.9 <= took < 2.0


def test_drip_fed_headers_end_at_the_deadline(site, pictures, limiter):
    def drip_headers(h):
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        n = 0
        while not site.stop.wait(0.05):
            h.wfile.write(b"X-%d: y\r\n" % n)
            h.wfile.flush()
            n += 1

    site.routes["/drip"] = drip_headers
    r, took = timed(check, site, "/drip", pictures, limiter, deadline=1.0)
    assert r.outcome == "error" and r.reason.startswith("deadline exceeded")
    assert 0.9 <= took < 2.0


def test_deadline_covers_dns(pictures, limiter):
    def slow_resolver(host, port):
        time.sleep(2)
        return ["127.0.0.1"]

    r, took = timed(
        recheck,
        "http://slow-dns.test/",
        pictures.hashes,
        make_policy(deadline=0.5),
        limiter=limiter,
        resolver=slow_resolver,
    )
    assert (r.outcome, r.reason) == ("error", "DNS lookup of slow-dns.test timed out")
    assert 0.4 <= took < 1.5


# --------------------------------------------------------------------------- size limit


def test_declared_oversized_body_is_refused_unread(site, pictures, limiter):
    def huge(h):
        h.send_response(200)
        h.send_header("Content-Length", str(10**12))
        h.end_headers()
        site.stop.wait(5)

    site.routes["/big"] = huge
    policy = dict(max_body_bytes=1 << 20, read_timeout=3.0)
    r, took = timed(check, site, "/big", pictures, limiter, **policy)
    assert (r.outcome, r.status) == ("error", 200)
    assert r.reason == f"too large: Content-Length {10**12} > {1 << 20} bytes"
    assert took < 1.5  # did not wait (3 s) for a body that never comes


def test_absurd_content_length_does_not_break_the_check(site, pictures, limiter):
    def absurd(h):
        h.wfile.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n")
        h.wfile.write(b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n" + pictures.listed)

    site.routes["/img"] = absurd
    r = check(site, "/img", pictures, limiter)
    assert r.outcome == "live_match"  # http.client ignores the value; read until closed


def test_streamed_oversized_body_stops_early(site, pictures, limiter):
    planned = 1 << 30
    sent = []
    finished = threading.Event()

    def stream(h):
        h.send_response(200)
        h.send_header("Connection", "close")
        h.end_headers()
        block, total = b"\0" * 65536, 0
        try:
            while total < planned:
                h.wfile.write(block)
                total += len(block)
        finally:
            sent.append(total)
            finished.set()

    site.routes["/big"] = stream
    r = check(site, "/big", pictures, limiter, max_body_bytes=256 << 10)
    assert (r.outcome, r.status) == ("error", 200)
    assert r.reason == f"too large: more than {256 << 10} bytes (not read further)"
    assert r.size is None
    assert finished.wait(5), "the server kept sending"
    assert sent[0] < 64 << 20  # socket buffers' worth, not the gigabyte


# --------------------------------------------------------------------------- rate limiting


def test_rate_limiter_with_a_fake_clock():
    clock = FakeClock()
    limiter = HostRateLimiter(10.0, clock=clock)
    assert limiter.try_acquire("a.example") == 0.0
    assert limiter.try_acquire("b.example") == 0.0  # other hosts are not held up
    clock.advance(4)
    assert limiter.wait_time("A.Example") == pytest.approx(6.0)
    assert limiter.try_acquire("a.example") == pytest.approx(6.0)
    clock.advance(5.5)
    assert limiter.try_acquire("a.example") == pytest.approx(0.5)  # refusals do not record
    clock.advance(0.5)
    assert limiter.wait_time("a.example") == 0.0
    assert limiter.try_acquire("a.example") == 0.0
    assert limiter.wait_time("a.example") == 10.0


def test_second_recheck_of_a_host_is_rate_limited(site, pictures):
    site.routes["/img"] = lambda h: send(h, 200, pictures.listed)
    clock = FakeClock()
    limiter = HostRateLimiter(10.0, clock=clock)
    policy = make_policy(min_interval=10.0)
    first = recheck(site.url("/img"), pictures.hashes, policy, limiter=limiter)
    clock.advance(3)
    second = recheck(site.url("/img"), pictures.hashes, policy, limiter=limiter)
    assert first.outcome == "live_match"
    assert (second.outcome, second.status) == ("error", None)
    assert second.reason == "rate limited: 127.0.0.1 was requested recently (retry in 7.0 s)"
    assert site.paths == ["/img"]  # the second never reached the server
    clock.advance(7)
    assert recheck(site.url("/img"), pictures.hashes, policy, limiter=limiter).outcome == (
        "live_match"
    )
    assert site.paths == ["/img", "/img"]


def test_redirects_within_one_recheck_are_not_rate_limited(site, pictures):
    site.routes.update(
        {"/a": redirect("/b"), "/b": redirect("/img"), "/img": lambda h: send(h, 200, b"x")}
    )
    limiter = HostRateLimiter(10.0, clock=FakeClock())
    r = check(site, "/a", pictures, limiter, min_interval=10.0)
    assert r.outcome == "live_no_match"
    assert site.paths == ["/a", "/b", "/img"]


def test_without_a_limiter_one_process_wide_limiter_is_shared(site, pictures):
    site.routes["/img"] = lambda h: send(h, 200, b"x")
    resolver = lambda host, port: ["127.0.0.1"]  # noqa: E731
    url = f"http://shared-limiter.test:{site.port}/img"  # a host no other test uses
    policy = make_policy(min_interval=3600.0)
    first = recheck(url, pictures.hashes, policy, resolver=resolver)
    second = recheck(url, pictures.hashes, policy, resolver=resolver)
    assert first.outcome == "live_no_match"
    assert second.outcome == "error" and second.reason.startswith("rate limited")


# --------------------------------------------------------------------------- policy


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"read_timeout": 0}, "read_timeout must be more than 0"),
        ({"deadline": -1}, "deadline must be more than 0"),
        ({"max_body_bytes": 0}, "max_body_bytes"),
        ({"max_redirects": -1}, "max_redirects"),
        ({"user_agent": "x\r\nX-Injected: 1"}, "user_agent must be one line"),
        ({"allowed_private": ("10.0.0.0/33",)}, "allowed_private: invalid network '10.0.0.0/33'"),
        ({"allowed_private": ("10.0.0.1/8",)}, "allowed_private: invalid network"),
    ],
)
def test_policy_is_checked(changes, message):
    with pytest.raises(ValueError, match=message):
        RecheckPolicy(**changes)


def test_default_policy():
    p = RecheckPolicy()
    assert (p.connect_timeout, p.read_timeout, p.max_redirects) == (10.0, 10.0, 5)
    assert (p.max_body_bytes, p.min_interval, p.allowed_private) == (50 << 20, 10.0, ())
    assert p.verify_tls and p.pdq_threshold == 31


# --------------------------------------------------------------------------- nothing kept


def test_body_is_never_written_to_disk_nor_kept(site, pictures, limiter, tmp_path, monkeypatch):
    """Run rechecks with a private TMPDIR and working directory, and an audit hook that
    records every file opened for writing: none may be, and both folders stay empty."""
    body = pictures.listed
    site.routes.update(
        {
            "/img": lambda h: send(h, 200, body),
            "/gz": lambda h: send(h, 200, gzip.compress(body), Content_Encoding="gzip"),
            "/big": lambda h: send(h, 200, body * 4),
        }
    )
    check(site, "/img", pictures, limiter)  # warm up: lazy imports may write .pyc files
    tmp, cwd = tmp_path / "tmp", tmp_path / "cwd"
    tmp.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    monkeypatch.chdir(cwd)
    writes: list[str] = []
    watching = [True]

    def audit(event: str, args: tuple) -> None:
        if not watching[0]:
            return
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            )
            if writing and "__pycache__" not in str(path):
                writes.append(f"open {path} {mode or flags}")
        elif event in ("tempfile.mkstemp", "tempfile.mkdtemp", "os.mkdir", "shutil.copyfile"):
            writes.append(f"{event} {args}")

    sys.addaudithook(audit)  # cannot be removed: switched off by the flag below
    try:
        results = [
            check(site, "/img", pictures, limiter),
            check(site, "/gz", pictures, limiter),
            check(site, "/big", pictures, limiter, max_body_bytes=len(body) * 2),
        ]
    finally:
        watching[0] = False
    assert [r.outcome for r in results] == ["live_match", "live_match", "error"]
    assert writes == []
    assert list(tmp.iterdir()) == [] and list(cwd.iterdir()) == []
    assert tempfile.gettempdir() == str(tmp)
    for r in results:  # the result holds no content
        text = repr(r)
        assert len(text) < 2000 and body[:64].hex() not in text and "\\xff\\xd8" not in text
