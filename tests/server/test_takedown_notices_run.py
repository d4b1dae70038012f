"""Notices from the server, end to end: the SMTP server of an e-mail target (a real local
aiosmtpd), the takedown settings, the API's "send due notices now", the schedule with a
controllable clock, replies and templates, and the pages that show them."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes

from aiosmtpd.controller import Controller

from hashwatch.server.takedown_run import NoticesOff, run_notices
from hashwatch.store.db import utcnow

from .test_server_notify import _free_port, _Sink


def _setup(srv, smtp_port: int):
    admin = srv.person("admin")
    r = admin.post(
        "/api/v1/notification-targets",
        json={
            "name": "mail",
            "kind": "email",
            "config": {
                "host": "127.0.0.1",
                "port": smtp_port,
                "sender": "hashwatch@hotline.example",
                "recipients": ["team@hotline.example"],
            },
        },
    )
    assert r.status_code == 201, r.text
    r = admin.put(
        "/api/v1/settings",
        json={
            "takedown_mail_target": "mail",
            "takedown_sender": "notices@hotline.example",
            "takedown_escalate_after": 2,
            "takedown_escalation_cc": ["partner@hotline-partner.example"],
        },
    )
    assert r.status_code == 200, r.text
    r = admin.put(
        "/api/v1/takedown/hosts",
        json={
            "hosts": [
                {
                    "pattern": "hoster.example",
                    "provider": "Hoster BV",
                    "abuse_email": "abuse@hoster.example",
                    "country": "NL",
                }
            ]
        },
    )
    assert r.status_code == 200
    return admin


def test_notices_go_out_by_smtp_on_schedule_and_escalate(srv):
    sink = _Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    try:
        admin = _setup(srv, smtp.port)
        analyst = srv.person("analyst")
        r = analyst.post(
            "/api/v1/takedown/urls",
            json={
                "urls": [
                    {"url": "https://cdn.hoster.example/a.jpg"},
                    {"url": "https://cdn.hoster.example/b.jpg"},
                    {"url": "https://unknown.example/c.jpg"},
                ]
            },
        )
        ids = r.json()["created"]
        # now: one notice to the attributed host, naming both its URLs
        r = analyst.post("/api/v1/takedown/notices/run")
        assert r.status_code == 200 and [n["status"] for n in r.json()["notices"]] == ["sent"]
        assert len(sink.messages) == 1
        env = sink.messages[0]
        assert env.rcpt_tos == ["abuse@hoster.example"]
        mail = message_from_bytes(env.content)
        assert mail["From"] == "notices@hotline.example"
        body = mail.get_payload(decode=True).decode()
        assert "https://cdn.hoster.example/a.jpg" in body and "b.jpg" in body
        assert "unknown.example" not in body
        d = analyst.get(f"/api/v1/takedown/urls/{ids[0]}").json()
        assert d["status"] == "notice_sent" and d["notices"] == 1
        # nothing more until 24 h have passed; then again, and from the 3rd an escalation
        now = utcnow()
        assert run_notices(srv.db, now + timedelta(hours=23)) == []
        assert [n["kind"] for n in run_notices(srv.db, now + timedelta(hours=24, minutes=1))] == [
            "notice"
        ]
        analyst.post(f"/api/v1/takedown/urls/{ids[1]}/status", json={"status": "removed"})
        third = run_notices(srv.db, now + timedelta(hours=48, minutes=2))
        assert [n["kind"] for n in third] == ["escalation"]
        esc = message_from_bytes(sink.messages[-1].content)
        assert sorted(sink.messages[-1].rcpt_tos) == [
            "abuse@hoster.example",
            "partner@hotline-partner.example",
        ]
        text = esc.get_payload(decode=True).decode()
        assert "a.jpg" in text and "b.jpg" not in text  # the removed one is left out
        listed = analyst.get("/api/v1/takedown/notices").json()["notices"]
        assert [n["sequence"] for n in listed] == [3, 2, 1]
        # a reply is recorded against the notice
        r = analyst.post(
            "/api/v1/takedown/replies",
            json={
                "host": "cdn.hoster.example",
                "notice_id": listed[0]["id"],
                "summary": "removed today",
            },
        )
        assert r.status_code == 201
        assert (
            analyst.get("/api/v1/takedown/notices").json()["replies"][0]["summary"]
            == "removed today"
        )
        page = analyst.get("/takedown/notices").text
        assert "removed today" in page and "Hoster BV" in page
        # templates: the admin edits; a bad placeholder is refused by name
        r = admin.put(
            "/api/v1/takedown/templates/notice",
            json={"subject": "Takedown: $host", "body": "Dear $customer"},
        )
        assert r.status_code == 422 and "$customer" in r.json()["detail"]
        r = admin.put(
            "/api/v1/takedown/templates/notice",
            json={"subject": "Takedown: $host ($count)", "body": "Please remove:\n$urls\n"},
        )
        assert r.status_code == 200
        assert (
            analyst.put(
                "/api/v1/takedown/templates/notice", json={"subject": "x", "body": "y"}
            ).status_code
            == 403
        )
        analyst.post(
            "/api/v1/takedown/urls", json={"urls": [{"url": "https://hoster.example/new"}]}
        )
        run_notices(srv.db, now + timedelta(hours=48, minutes=3))
        last = message_from_bytes(sink.messages[-1].content)
        assert last["Subject"] == "Takedown: hoster.example (1)"
    finally:
        smtp.stop()


def test_without_a_mail_target_notices_are_off_and_say_why(srv):
    analyst = srv.person("analyst")
    r = analyst.post("/api/v1/takedown/notices/run")
    assert r.status_code == 409 and "takedown_mail_target" in r.json()["detail"]
    try:
        run_notices(srv.db)
    except NoticesOff as e:
        assert "no mail target" in str(e)
    else:
        raise AssertionError("expected NoticesOff")
    assert "Notices are not sent" in analyst.get("/takedown/notices").text


def test_a_failing_smtp_server_is_recorded_and_nothing_moves(srv):
    _setup(srv, _free_port())  # nothing listens there
    analyst = srv.person("analyst")
    uid = analyst.post(
        "/api/v1/takedown/urls", json={"urls": [{"url": "https://hoster.example/z"}]}
    ).json()["created"][0]
    r = analyst.post("/api/v1/takedown/notices/run")
    got = r.json()["notices"]
    assert got[0]["status"] == "failed" and "127.0.0.1" in got[0]["error"]
    assert analyst.get(f"/api/v1/takedown/urls/{uid}").json()["status"] == "reported"
    assert analyst.get("/api/v1/takedown/notices").json()["notices"][0]["status"] == "failed"


def test_two_server_processes_never_send_at_once(tmp_path):
    """The server's worker processes share one lock file: while one sends, the other's tick
    is skipped and a person's "send now" waits, then gives up with a reason."""
    import multiprocessing

    import pytest

    from hashwatch.server.takedown_run import Busy, exclusive

    lock = tmp_path / "takedown.lock"
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(lock, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(Busy):
            with exclusive(lock, wait=0.3):
                pass
    finally:
        release.set()
        holder.join(10)
    with exclusive(lock, wait=1):
        pass


def _hold(lock, ready, release):
    from hashwatch.server.takedown_run import exclusive

    with exclusive(lock):
        ready.set()
        release.wait(10)
