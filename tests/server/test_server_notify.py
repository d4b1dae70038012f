"""Notifications on new incidents, through the outbox: delivered by e-mail (a real local SMTP
server), webhook and JSON lines; a failing target is retried and visible, and never loses
or holds up the incident."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from sqlalchemy import update

from hashwatch.server.notify import deliver_due
from hashwatch.store.models import Notification

from .conftest import make_incident


class _Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.messages.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_new_incident_is_mailed_posted_and_logged(srv, tmp_path):
    sink = _Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    got = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    web = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        admin = srv.person("admin")
        targets = [
            {
                "name": "team",
                "kind": "email",
                "config": {
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "sender": "hashwatch@example.org",
                    "recipients": ["safeguarding@example.org"],
                },
            },
            {
                "name": "soar",
                "kind": "webhook",
                "config": {"url": f"http://127.0.0.1:{web.server_port}/hook", "secret": "s3cret"},
            },
            {"name": "siem", "kind": "jsonl", "config": {"path": str(tmp_path / "siem.jsonl")}},
        ]
        for t in targets:
            r = admin.post("/api/v1/notification-targets", json=t)
            assert r.status_code == 201, r.text
        listed = admin.get("/api/v1/notification-targets").json()["targets"]
        assert "s3cret" not in json.dumps(listed)  # secrets are not shown back
        agent, _ = srv.agent()
        inc = make_incident()
        agent.post("/api/v1/agent/incidents", json={"incidents": [inc]})
        assert deliver_due(srv.db, srv.cfg.public_url) == 3
        assert len(sink.messages) == 1
        mail = sink.messages[0].content.decode()
        assert "LAPTOP-0042" in mail and inc["id"] in mail
        assert "/media/jdoe" not in mail  # no file path leaves the server by e-mail
        assert got[0]["incident"]["id"] == inc["id"] and got[0]["event"] == "incident.new"
        line = json.loads((tmp_path / "siem.jsonl").read_text().splitlines()[0])
        assert line["incident"]["removable_media"] is True
        outbox = admin.get("/api/v1/notifications").json()["notifications"]
        assert {n["status"] for n in outbox} == {"sent"}
        assert deliver_due(srv.db, srv.cfg.public_url) == 0  # sent once only
    finally:
        smtp.stop()
        web.shutdown()


def test_failing_target_is_retried_and_visible(srv):
    admin = srv.person("admin")
    dead = _free_port()  # nothing listens here
    r = admin.post(
        "/api/v1/notification-targets",
        json={
            "name": "down",
            "kind": "webhook",
            "config": {"url": f"http://127.0.0.1:{dead}/x", "timeout": 1},
        },
    )
    assert r.status_code == 201
    agent, _ = srv.agent()
    inc = make_incident()
    assert agent.post("/api/v1/agent/incidents", json={"incidents": [inc]}).json()["stored"]
    assert deliver_due(srv.db, srv.cfg.public_url) == 0
    n = admin.get("/api/v1/notifications").json()["notifications"][0]
    assert n["status"] == "pending" and n["attempts"] == 1 and "127.0.0.1" in n["last_error"]
    # not due again yet (backoff) ...
    assert deliver_due(srv.db, srv.cfg.public_url) == 0
    assert admin.get("/api/v1/notifications").json()["notifications"][0]["attempts"] == 1
    # ... the target comes back; when the retry is due it is delivered
    got = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            got.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    web = ThreadingHTTPServer(("127.0.0.1", dead), Hook)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        with srv.db.transaction() as s:
            s.execute(update(Notification).values(next_attempt_at=Notification.created_at))
        assert deliver_due(srv.db, srv.cfg.public_url) == 1
        n = admin.get("/api/v1/notifications").json()["notifications"][0]
        assert n["status"] == "sent" and n["attempts"] == 2 and len(got) == 1
    finally:
        web.shutdown()
    # the incident itself was there all along
    assert srv.person("investigator").get(f"/api/v1/incidents/{inc['id']}").status_code == 200


def test_background_worker_delivers_without_being_asked(srv, tmp_path):
    from hashwatch.server.notify import Notifier

    admin = srv.person("admin")
    admin.post(
        "/api/v1/notification-targets",
        json={"name": "siem", "kind": "jsonl", "config": {"path": str(tmp_path / "s.jsonl")}},
    )
    worker = Notifier(srv.db, srv.cfg.public_url, interval=0.1)
    worker.start()
    try:
        agent, _ = srv.agent()
        agent.post("/api/v1/agent/incidents", json={"incidents": [make_incident()]})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (tmp_path / "s.jsonl").exists():
            time.sleep(0.05)
        assert (tmp_path / "s.jsonl").exists()
    finally:
        worker.stop()


def test_bad_target_config_names_the_field(srv):
    admin = srv.person("admin")
    r = admin.post(
        "/api/v1/notification-targets",
        json={
            "name": "x",
            "kind": "email",
            "config": {"host": "h", "port": 99999, "sender": "a@b", "recipients": ["c@d"]},
        },
    )
    assert r.status_code == 422 and "port" in r.json()["detail"]


def test_two_workers_never_send_the_same_notification_twice(srv, tmp_path):
    """Several server workers each run a notifier: a notification is claimed before it is
    sent, so each is delivered once."""
    admin = srv.person("admin")
    admin.post(
        "/api/v1/notification-targets",
        json={"name": "siem", "kind": "jsonl", "config": {"path": str(tmp_path / "s.jsonl")}},
    )
    agent, _ = srv.agent()
    incs = [make_incident() for _ in range(30)]
    agent.post("/api/v1/agent/incidents", json={"incidents": incs})
    sent = []
    threads = [
        threading.Thread(target=lambda: sent.append(deliver_due(srv.db, srv.cfg.public_url)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    assert sum(sent) == 30 and len(lines) == 30
    assert sorted(json.loads(x)["incident"]["id"] for x in lines) == sorted(i["id"] for i in incs)
