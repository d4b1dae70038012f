"""Notification delivery against real loopback servers: SMTP, HTTP, files and syslog."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import stat
import threading
import time
from datetime import datetime
from email import message_from_bytes
from email import policy as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from hashwatch.server.notify_send import (
    KINDS,
    DeliveryError,
    deliver,
    render_text,
    validate_target,
)

INCIDENT_ID = "6f1c2a9e-1b7d-4c3e-9a51-0d2f5e8b7c41"
INCIDENT_URL = f"https://hashwatch.example.org/incidents/{INCIDENT_ID}"


def incident_payload(**changes) -> dict:
    incident = {
        "id": INCIDENT_ID,
        "url": INCIDENT_URL,
        "detected_at": "2026-11-21T22:14:05Z",
        "detected_local": "2026-11-21T23:14:05+01:00",
        "received_at": "2026-11-22T08:01:00Z",
        "device": "LAPTOP-0042",
        "site": "London",
        "trigger": "removable",
        "list": "iwf-2026-11",
        "list_version": 12,
        "category": "A",
        "signal_type": "pdq",
        "distance": 4,
        "outside_hours": True,
        "off_network": True,
        "removable_media": True,
        **changes,
    }
    server = "https://hashwatch.example.org"
    return {"event": "incident.new", "server": server, "incident": incident}


TEST_PAYLOAD = {
    "event": "test",
    "server": "https://hashwatch.example.org",
    "requested_by": "admin@example.org",
}


def compact(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def free_port() -> int:
    """A loopback TCP port nobody listens on (closed again before use)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- render_text


def test_render_incident_subject_and_body():
    subject, body = render_text(incident_payload())
    assert subject == "[hashwatch] New incident on LAPTOP-0042 (list iwf-2026-11, category A)"
    for line in (
        "Device:",
        "LAPTOP-0042",
        "London",
        "2026-11-21T22:14:05Z",
        "2026-11-21T23:14:05+01:00",
        "iwf-2026-11 (version 12)",
        "pdq, distance 4",
        INCIDENT_ID,
        INCIDENT_URL,
    ):
        assert line in body
    assert re.search(r"^Outside working hours:\s+yes$", body, re.M)
    assert "content itself is never included" in body


def test_render_test_event_and_other_events():
    subject, body = render_text(TEST_PAYLOAD)
    assert subject == "[hashwatch] test notification"
    assert "admin@example.org" in body and "never included" in body
    subject, body = render_text({"event": "list.updated", "list": {"name": "iwf", "version": 13}})
    assert subject == "[hashwatch] list.updated notification"
    assert re.search(r"^list\.version:\s+13$", body, re.M)


def test_render_neutralises_control_characters_from_devices():
    subject, body = render_text(incident_payload(device="EVIL\r\nBcc: x@example.org\u202e"))
    assert "\n" not in subject and "\r" not in subject and "\u202e" not in subject
    assert not any(line.startswith("Bcc:") for line in body.splitlines())


# --------------------------------------------------------------------------- email


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server():
    def start(**kw):
        mailbox = Mailbox()
        controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **kw)
        controller.start()
        started.append(controller)
        return controller, mailbox

    started: list[Controller] = []
    yield start
    for controller in started:
        controller.stop()


def email_config(port: int, **extra) -> dict:
    return {
        "host": "127.0.0.1",
        "port": port,
        "sender": "hashwatch <hashwatch@example.org>",
        "recipients": ["safeguarding@example.org", "dsl@example.org"],
        "timeout": 5,
        **extra,
    }


def test_email_delivered_with_metadata_only(smtp_server):
    controller, mailbox = smtp_server()
    deliver("email", email_config(controller.port), incident_payload())

    [(mail_from, rcpt_tos, raw)] = mailbox.messages
    assert mail_from == "hashwatch@example.org"
    assert rcpt_tos == ["safeguarding@example.org", "dsl@example.org"]
    msg = message_from_bytes(raw, policy=email_policy.default)
    # the stdlib folds this 80-character header line; its own parser keeps the folding space
    assert msg["Subject"].strip() == (
        "[hashwatch] New incident on LAPTOP-0042 (list iwf-2026-11, category A)"
    )
    assert msg["To"] == "safeguarding@example.org, dsl@example.org"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert not msg.is_multipart() and msg.get_content_type() == "text/plain"
    body = msg.get_content()
    assert "LAPTOP-0042" in body and INCIDENT_URL in body
    assert not re.search(r"[A-Za-z]:\\|/(home|Users|media|mnt|Volumes)/", body)


def test_email_auth(smtp_server):
    seen = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append((auth_data.login, auth_data.password))
        # handled=False: let aiosmtpd send the 535 reply on failure
        return AuthResult(success=auth_data.password == b"s3cret", handled=False)

    controller, mailbox = smtp_server(authenticator=authenticator, auth_require_tls=False)
    good = email_config(controller.port, username="notifier", password="s3cret")
    deliver("email", good, TEST_PAYLOAD)
    assert seen == [(b"notifier", b"s3cret")] and len(mailbox.messages) == 1

    with pytest.raises(DeliveryError, match="authentication failed"):
        deliver("email", {**good, "password": "wrong"}, TEST_PAYLOAD)
    assert len(mailbox.messages) == 1


def test_email_connection_refused_names_host_and_port():
    port = free_port()
    start = time.monotonic()
    with pytest.raises(DeliveryError, match=rf"127\.0\.0\.1:{port}.*refused"):
        deliver("email", email_config(port, timeout=1), incident_payload())
    assert time.monotonic() - start < 2


# --------------------------------------------------------------------------- webhook


class HookHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server hook
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((self.path, dict(self.headers), body))
        if self.path == "/slow":
            time.sleep(1.0)
        status = {"/fail": 500, "/redirect": 302}.get(self.path, 200)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/hook")
        reply = b"boom" if status == 500 else b""
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


class HookServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the slow handler writes to a socket the client already closed


@pytest.fixture
def hook_server():
    server = HookServer(("127.0.0.1", 0), HookHandler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def hook_url(server, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_webhook_posts_signed_json(hook_server):
    payload = incident_payload()
    config = {
        "url": hook_url(hook_server, "/hook"),
        "secret": "shared-secret",
        "headers": {"Authorization": "Bearer token-123"},
    }
    deliver("webhook", config, payload)

    [(path, headers, body)] = hook_server.requests
    assert path == "/hook"
    assert body == compact(payload) and json.loads(body) == payload
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Hashwatch-Event"] == "incident.new"
    assert headers["Authorization"] == "Bearer token-123"
    expected = hmac.new(b"shared-secret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Hashwatch-Signature"], f"sha256={expected}")


def test_webhook_without_secret_is_unsigned(hook_server):
    deliver("webhook", {"url": hook_url(hook_server, "/hook")}, TEST_PAYLOAD)
    [(_, headers, _)] = hook_server.requests
    assert "X-Hashwatch-Signature" not in headers
    assert headers["X-Hashwatch-Event"] == "test"


def test_webhook_server_error_reports_status(hook_server):
    with pytest.raises(DeliveryError, match=r"HTTP 500.*boom"):
        deliver("webhook", {"url": hook_url(hook_server, "/fail")}, incident_payload())


def test_webhook_redirect_is_not_followed(hook_server):
    with pytest.raises(DeliveryError, match=r"HTTP 302.*not followed"):
        deliver("webhook", {"url": hook_url(hook_server, "/redirect")}, incident_payload())
    assert [path for path, _, _ in hook_server.requests] == ["/redirect"]


def test_webhook_timeout(hook_server):
    start = time.monotonic()
    with pytest.raises(DeliveryError, match=r"timed out after 0\.5s"):
        deliver("webhook", {"url": hook_url(hook_server, "/slow"), "timeout": 0.5}, TEST_PAYLOAD)
    assert time.monotonic() - start < 1.0


def test_webhook_unreachable_does_not_reveal_url_path():
    port = free_port()
    url = f"http://127.0.0.1:{port}/services/T000/B000/secret-token"
    with pytest.raises(DeliveryError) as info:
        deliver("webhook", {"url": url, "timeout": 1}, TEST_PAYLOAD)
    message = str(info.value)
    assert f"http://127.0.0.1:{port}" in message and "refused" in message
    assert "secret-token" not in message


# --------------------------------------------------------------------------- jsonl


def test_jsonl_appends_private_lines(tmp_path):
    path = tmp_path / "notifications.jsonl"
    deliver("jsonl", {"path": str(path)}, incident_payload())
    deliver("jsonl", {"path": str(path)}, TEST_PAYLOAD)

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    lines = path.read_bytes().splitlines()
    assert [json.loads(line) for line in lines] == [incident_payload(), TEST_PAYLOAD]
    assert lines[0] == compact(incident_payload())


def test_jsonl_concurrent_writers_keep_lines_whole(tmp_path):
    path = tmp_path / "notifications.jsonl"
    payload = incident_payload(site="x" * 5000)

    def writer():
        for _ in range(20):
            deliver("jsonl", {"path": str(path)}, payload)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 80 and all(json.loads(line) == payload for line in lines)


def test_jsonl_unwritable_path(tmp_path):
    path = tmp_path / "missing-dir" / "n.jsonl"
    with pytest.raises(DeliveryError, match="missing-dir"):
        deliver("jsonl", {"path": str(path)}, TEST_PAYLOAD)


# --------------------------------------------------------------------------- syslog

RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>[\x21-\x7e]+) (?P<app>[\x21-\x7e]{1,48}) - "
    r"(?P<msgid>[\x21-\x7e]{1,32}) - (?P<msg>.*)$",
    re.S,
)


def parse_syslog(raw: bytes) -> re.Match:
    match = RFC5424.match(raw.decode("utf-8"))
    assert match, raw
    assert datetime.fromisoformat(match["ts"]).utcoffset() is not None
    return match


@pytest.mark.parametrize(
    ("payload", "facility", "severity"),
    [(incident_payload(), 13, 4), (incident_payload(), 4, 4), (TEST_PAYLOAD, 13, 6)],
)
def test_syslog_udp(payload, facility, severity):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2)
        config = {"port": sock.getsockname()[1], "facility": facility}
        deliver("syslog", config, payload)
        raw, _ = sock.recvfrom(65535)

    match = parse_syslog(raw)
    assert int(match["pri"]) == facility * 8 + severity
    assert match["app"] == "hashwatch" and match["msgid"] == payload["event"]
    assert json.loads(match["msg"]) == payload


def test_syslog_tcp_octet_counting():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(2)
        config = {"port": server.getsockname()[1], "protocol": "tcp", "app_name": "hw-test"}
        deliver("syslog", config, incident_payload())
        conn, _ = server.accept()
        with conn:
            conn.settimeout(2)
            data = b""
            while chunk := conn.recv(65536):
                data += chunk

    length, _, frame = data.partition(b" ")
    assert int(length) == len(frame)
    match = parse_syslog(frame)
    assert int(match["pri"]) == 13 * 8 + 4 and match["app"] == "hw-test"
    assert json.loads(match["msg"]) == incident_payload()


def test_syslog_tcp_refused():
    port = free_port()
    with pytest.raises(DeliveryError, match=rf"tcp://127\.0\.0\.1:{port}.*refused"):
        deliver("syslog", {"port": port, "protocol": "tcp", "timeout": 1}, TEST_PAYLOAD)


# --------------------------------------------------------------------------- validate_target

MISSING = object()
BASE = {
    "email": {
        "host": "smtp.example.org",
        "sender": "hashwatch@example.org",
        "recipients": ["safeguarding@example.org"],
    },
    "webhook": {"url": "https://hooks.example.org/hashwatch"},
    "jsonl": {"path": "/var/log/hashwatch/notifications.jsonl"},
    "syslog": {},
}


@pytest.mark.parametrize(
    ("kind", "field", "value", "named"),
    [
        ("email", "host", MISSING, "host"),
        ("email", "host", "", "host"),
        ("email", "host", "smtp example", "host"),
        ("email", "port", "25", "port"),
        ("email", "port", 0, "port"),
        ("email", "port", 65536, "port"),
        ("email", "port", True, "port"),
        ("email", "sender", MISSING, "sender"),
        ("email", "sender", "not-an-address", "sender"),
        ("email", "sender", "a@example.org\r\nBcc: b@example.org", "sender"),
        ("email", "recipients", MISSING, "recipients"),
        ("email", "recipients", [], "recipients"),
        ("email", "recipients", "safeguarding@example.org", "recipients"),
        ("email", "recipients", ["ok@example.org", "nope"], "recipients[1]"),
        ("email", "security", "ssl", "security"),
        ("email", "timeout", 0, "timeout"),
        ("email", "timeout", -1, "timeout"),
        ("email", "timeout", "10", "timeout"),
        ("email", "timeout", float("nan"), "timeout"),
        ("email", "username", "notifier", "username"),
        ("email", "password", "s3cret", "password"),
        ("webhook", "url", MISSING, "url"),
        ("webhook", "url", "ftp://example.org/x", "url"),
        ("webhook", "url", "https://", "url"),
        ("webhook", "url", "https://example.org:99999/", "url"),
        ("webhook", "url", "not a url", "url"),
        ("webhook", "secret", "", "secret"),
        ("webhook", "secret", 42, "secret"),
        ("webhook", "timeout", 1000, "timeout"),
        ("webhook", "verify_tls", "yes", "verify_tls"),
        ("webhook", "headers", ["Authorization"], "headers"),
        ("webhook", "headers", {"Bad Name": "x"}, "headers"),
        ("webhook", "headers", {"Content-Type": "text/plain"}, "headers"),
        ("webhook", "headers", {"X-Hashwatch-Signature": "forged"}, "headers"),
        ("webhook", "headers", {"X-Token": "a\r\nb"}, "headers"),
        ("jsonl", "path", MISSING, "path"),
        ("jsonl", "path", "relative/notifications.jsonl", "path"),
        ("jsonl", "path", 5, "path"),
        ("syslog", "host", "", "host"),
        ("syslog", "port", 0, "port"),
        ("syslog", "protocol", "tls", "protocol"),
        ("syslog", "facility", 24, "facility"),
        ("syslog", "facility", -1, "facility"),
        ("syslog", "facility", "13", "facility"),
        ("syslog", "app_name", "has space", "app_name"),
        ("syslog", "app_name", "x" * 49, "app_name"),
        ("syslog", "timeout", 0, "timeout"),
    ],
)
def test_validate_rejects_bad_field(kind, field, value, named):
    config = dict(BASE[kind])
    if value is MISSING:
        config.pop(field)
    else:
        config[field] = value
    with pytest.raises(ValueError, match=re.escape(f"'{named}'")) as info:
        validate_target(kind, config)
    assert str(info.value).startswith(f"{kind} target")


def test_validate_refuses_unknown_fields_and_kinds():
    with pytest.raises(ValueError, match=r"unknown field.*'colour'.*'hots'"):
        validate_target("email", {**BASE["email"], "hots": "x", "colour": "blue"})
    with pytest.raises(ValueError, match=r"'sms'"):
        validate_target("sms", {})
    with pytest.raises(ValueError, match=r"'sms'"):
        deliver("sms", {}, TEST_PAYLOAD)


def test_validate_fills_defaults():
    assert validate_target("email", BASE["email"]) == {
        **BASE["email"],
        "port": 25,
        "security": "none",
        "username": None,
        "password": None,
        "timeout": 10.0,
    }
    webhook = validate_target("webhook", BASE["webhook"])
    assert webhook == {
        **BASE["webhook"],
        "secret": None,
        "timeout": 10.0,
        "verify_tls": True,
        "headers": {},
    }
    webhook["headers"]["X-Mutated"] = "1"
    assert validate_target("webhook", BASE["webhook"])["headers"] == {}
    assert validate_target("jsonl", BASE["jsonl"]) == BASE["jsonl"]
    assert validate_target("syslog", {}) == {
        "host": "127.0.0.1",
        "port": 514,
        "protocol": "udp",
        "facility": 13,
        "app_name": "hashwatch",
        "timeout": 10.0,
    }
    assert set(KINDS) == {"email", "webhook", "jsonl", "syslog"}


def test_validate_returns_a_copy():
    config = {**BASE["email"], "recipients": [" safeguarding@example.org "]}
    normalised = validate_target("email", config)
    assert normalised["recipients"] == ["safeguarding@example.org"]
    assert config["recipients"] == [" safeguarding@example.org "] and "port" not in config
