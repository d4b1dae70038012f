"""Notices to hosts: grouped per host, re-sent on a schedule (a clock the test moves),
escalated, recorded whether sent or failed; templates; replies; one real SMTP delivery."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from sqlalchemy import select

from hashwatch.store import Database
from hashwatch.store.migrate import upgrade
from hashwatch.store.models import TakedownNoticeUrl, TakedownUrl
from hashwatch.takedown import notices, service
from hashwatch.takedown.hosts import HostRow
from hashwatch.takedown.notices import NoticePolicy
from hashwatch.takedown.service import TakedownError

T0 = datetime(2026, 3, 2, 9, 0)
H = timedelta(hours=1)

A = "host.example"
B = "files.other.test"


class Outbox:
    """A Send that records what it was given; ``fail`` maps a recipient to an error."""

    def __init__(self) -> None:
        self.sent: list[tuple[list[str], list[str], str, str]] = []
        self.fail: dict[str, str] = {}

    def __call__(self, to: list[str], cc: list[str], subject: str, body: str) -> str:
        for a in to:
            if a in self.fail:
                raise ConnectionError(self.fail[a])
        self.sent.append((to, cc, subject, body))
        return f"<{len(self.sent)}@hashwatch.example>"

    def to(self, address: str) -> list[tuple[list[str], list[str], str, str]]:
        return [m for m in self.sent if address in m[0]]


@pytest.fixture
def db(tmp_path):
    db = Database(str(tmp_path / "t.db"))
    upgrade(db.engine)
    with db.transaction() as s:
        service.put_hosts(
            s,
            [
                HostRow(A, "Example Hosting", "abuse@host.example", "NL"),
                HostRow("other.test", "Other Cloud", "abuse@other.test", "DE"),
            ],
            by="admin",
            now=T0 - 100 * H,
        )
    yield db
    db.dispose()


def report(db: Database, *urls: str, at: datetime) -> list[str]:
    with db.transaction() as s:
        r = service.intake(
            s, [service.Report(url=u, reported_at=at) for u in urls], by="analyst", now=at
        )
        assert not r.rejected, r.rejected
        return r.created + r.again


def run(db: Database, now: datetime, outbox: Outbox, policy: NoticePolicy | None = None):
    with db.transaction() as s:
        out = notices.send_due(s, now, policy or NoticePolicy(), outbox)
        return [(n.host, n.status, n.kind, n.sequence) for n in out]


def url_rows(db: Database, host: str | None = None) -> dict[str, TakedownUrl]:
    with db.transaction() as s:
        q = select(TakedownUrl)
        if host:
            q = q.where(TakedownUrl.host == host)
        return {u.url: u for u in s.scalars(q)}


def set_status(db: Database, url: str, to: str, at: datetime) -> None:
    with db.transaction() as s:
        row = s.scalar(select(TakedownUrl).where(TakedownUrl.url == url))
        service.move(s, row, to, by="analyst", at=at)


# --------------------------------------------------------------------------- schedule


def test_first_notice_goes_at_once_one_per_host_naming_all_open_urls(db):
    report(db, f"http://{A}/b.jpg", f"http://{A}/a.jpg", at=T0 - 2 * H)
    report(db, f"https://{B}/x/1.png", at=T0 - H)
    report(db, f"http://{A}/c.jpg", at=T0 - H)
    box = Outbox()
    assert run(db, T0, box) == [(B, "sent", "notice", 1), (A, "sent", "notice", 1)]
    assert len(box.sent) == 2
    to, cc, subject, body = box.to("abuse@host.example")[0]
    assert to == ["abuse@host.example"] and cc == []
    assert A in subject and "3 reported URL(s)" in subject and "\n" not in subject
    lines = [ln for ln in body.splitlines() if ln.startswith("http")]
    assert lines == [
        f"http://{A}/a.jpg  (first reported 2026-03-02 07:00 UTC)",
        f"http://{A}/b.jpg  (first reported 2026-03-02 07:00 UTC)",
        f"http://{A}/c.jpg  (first reported 2026-03-02 08:00 UTC)",
    ]
    assert "Example Hosting" in body and "generated automatically" in body
    assert "reply" in body and "2 hours ago" in body
    (_, _, _, other) = box.to("abuse@other.test")[0]
    assert f"https://{B}/x/1.png" in other and A not in other
    with db.transaction() as s:
        sent = notices.notices_for(s, host=A)
        assert len(sent) == 1 and sent[0].status == "sent" and sent[0].sent_at == T0
        assert sent[0].message_id and sent[0].to_addresses == ["abuse@host.example"]
        assert sent[0].body == body and sent[0].created_by == "notices"
        assert len(notices.notice_urls(s, sent[0].id)) == 3
    for u in url_rows(db).values():
        assert (u.status, u.notices, u.last_notice_at) == ("notice_sent", 1, T0)
    assert run(db, T0, box) == []  # nothing more at the same time


def test_resend_after_24_hours_not_before(db):
    report(db, f"http://{A}/a.jpg", at=T0)
    box = Outbox()
    run(db, T0, box)
    assert run(db, T0 + 23 * H, box) == []
    assert run(db, T0 + 24 * H - timedelta(seconds=1), box) == []
    assert run(db, T0 + 24 * H, box) == [(A, "sent", "notice", 2)]
    assert run(db, T0 + 47 * H, box) == []
    assert run(db, T0 + 48 * H, box) == [(A, "sent", "notice", 3)]
    u = url_rows(db)[f"http://{A}/a.jpg"]
    assert u.notices == 3 and u.last_notice_at == T0 + 48 * H and u.status == "notice_sent"
    assert "(notice 3)" in box.sent[-1][2]


def test_resend_interval_is_configurable(db):
    report(db, f"http://{A}/a.jpg", at=T0)
    box, six = Outbox(), NoticePolicy(resend_hours=6)
    run(db, T0, box, six)
    assert run(db, T0 + 5 * H, box, six) == []
    assert run(db, T0 + 6 * H, box, six) == [(A, "sent", "notice", 2)]


def test_new_url_for_noticed_host_is_noticed_at_once_with_all_open_urls(db):
    report(db, f"http://{A}/a.jpg", at=T0)
    box = Outbox()
    run(db, T0, box)
    report(db, f"http://{A}/new.jpg", at=T0 + 2 * H)
    assert run(db, T0 + 2 * H, box) == [(A, "sent", "notice", 2)]
    body = box.sent[-1][3]
    assert f"http://{A}/a.jpg" in body and f"http://{A}/new.jpg" in body
    rows = url_rows(db)
    assert rows[f"http://{A}/a.jpg"].notices == 2 and rows[f"http://{A}/new.jpg"].notices == 1
    # the schedule now runs from the last notice
    assert run(db, T0 + 24 * H, box) == []
    assert run(db, T0 + 26 * H, box) == [(A, "sent", "notice", 3)]


def test_removed_urls_are_left_out_and_a_cleared_host_gets_nothing(db):
    report(db, f"http://{A}/a.jpg", f"http://{A}/b.jpg", at=T0)
    report(db, f"https://{B}/1.png", at=T0)
    box = Outbox()
    run(db, T0, box)
    set_status(db, f"http://{A}/a.jpg", "removed", T0 + H)
    set_status(db, f"https://{B}/1.png", "removed", T0 + H)
    assert run(db, T0 + 24 * H, box) == [(A, "sent", "notice", 2)]
    body = box.sent[-1][3]
    assert f"http://{A}/b.jpg" in body and f"http://{A}/a.jpg" not in body
    set_status(db, f"http://{A}/b.jpg", "removed", T0 + 25 * H)
    assert run(db, T0 + 48 * H, box) == []
    assert run(db, T0 + 100 * H, box) == []


def test_reappeared_url_is_noticed_again(db):
    url = f"http://{A}/a.jpg"
    report(db, url, at=T0)
    box = Outbox()
    run(db, T0, box)
    set_status(db, url, "removed", T0 + 2 * H)
    assert run(db, T0 + 30 * H, box) == []
    report(db, url, at=T0 + 40 * H)  # reported again after removal: reappeared
    assert url_rows(db)[url].status == "reappeared"
    assert run(db, T0 + 40 * H, box) == [(A, "sent", "notice", 2)]
    u = url_rows(db)[url]
    assert (u.status, u.notices, u.last_notice_at) == ("notice_sent", 2, T0 + 40 * H)
    with db.transaction() as s:
        moves = [(e.from_status, e.to_status) for e in service.history(s, u.id) if e.to_status]
    assert moves == [
        (None, "reported"),
        ("reported", "notice_sent"),
        ("notice_sent", "removed"),
        ("removed", "reappeared"),
        ("reappeared", "notice_sent"),
    ]


def test_escalation_on_the_notice_after_n_with_cc_and_its_template(db):
    url = f"http://{A}/a.jpg"
    report(db, url, at=T0)
    box = Outbox()
    policy = NoticePolicy(escalate_after=3, escalation_cc=("lead@hotline.example",))
    with db.transaction() as s:
        notices.put_template(
            s,
            "escalation",
            "URGENT $host: $count still online",
            "Escalated ($kind #$sequence) by $sender:\n$urls\n",
            by="admin",
            now=T0,
        )
    kinds = [run(db, T0 + i * 24 * H, box, policy)[0][2] for i in range(5)]
    assert kinds == ["notice", "notice", "notice", "escalation", "escalation"]
    to, cc, subject, body = box.sent[3]
    assert to == ["abuse@host.example"] and cc == ["lead@hotline.example"]
    assert subject == f"URGENT {A}: 1 still online"
    assert body.startswith("Escalated (escalation #4) by hashwatch takedown desk:\n" + url)
    assert box.sent[2][1] == []  # the plain notices were not copied
    u = url_rows(db)[url]
    assert u.escalated_at == T0 + 3 * 24 * H and u.notices == 5  # set the first time only
    with db.transaction() as s:
        listed = notices.notices_for(s, url_id=u.id)
        assert [n.sequence for n in listed] == [5, 4, 3, 2, 1]  # newest first
        assert listed[1].to_addresses == ["abuse@host.example", "lead@hotline.example"]
        assert listed[1].kind == "escalation"
        assert any(e.kind == "note" and "escalated" in e.note for e in service.history(s, u.id))


def test_default_escalation_text(db):
    report(db, f"http://{A}/a.jpg", at=T0)
    box, policy = Outbox(), NoticePolicy(escalate_after=1)
    run(db, T0, box, policy)
    assert run(db, T0 + 24 * H, box, policy) == [(A, "sent", "escalation", 2)]
    assert box.sent[-1][2].startswith("ESCALATION") and "ESCALATION" in box.sent[-1][3]


def test_unknown_host_is_never_noticed(db):
    report(db, "http://nobody.example.invalid/a.jpg", at=T0)
    box = Outbox()
    for i in range(4):
        assert run(db, T0 + i * 24 * H, box) == []
    assert box.sent == []
    with db.transaction() as s:
        assert [h.host for h in service.unknown_hosts(s)] == ["nobody.example.invalid"]
        assert notices.notices_for(s) == []
    assert url_rows(db)["http://nobody.example.invalid/a.jpg"].status == "reported"


def test_failed_send_is_recorded_retried_later_and_other_hosts_still_go(db):
    report(db, f"http://{A}/a.jpg", at=T0)
    report(db, f"https://{B}/1.png", at=T0)
    box = Outbox()
    box.fail["abuse@host.example"] = "e-mail via mx.host.example:25: connection refused"
    assert run(db, T0, box) == [(B, "sent", "notice", 1), (A, "failed", "notice", 1)]
    with db.transaction() as s:
        (failed,) = notices.notices_for(s, host=A)
        assert failed.status == "failed" and failed.sent_at is None
        assert failed.error == "e-mail via mx.host.example:25: connection refused"
        assert failed.message_id is None and A in failed.subject and "a.jpg" in failed.body
        assert len(notices.notice_urls(s, failed.id)) == 1
    u = url_rows(db)[f"http://{A}/a.jpg"]
    assert (u.status, u.notices, u.last_notice_at) == ("reported", 0, None)
    # not tried again before retry_minutes ...
    assert run(db, T0 + timedelta(minutes=14), box) == []
    # ... then tried again (still failing: recorded again, same sequence)
    assert run(db, T0 + timedelta(minutes=15), box) == [(A, "failed", "notice", 1)]
    box.fail.clear()
    assert run(db, T0 + timedelta(minutes=29), box) == []
    assert run(db, T0 + timedelta(minutes=30), box) == [(A, "sent", "notice", 1)]
    u = url_rows(db)[f"http://{A}/a.jpg"]
    assert (u.status, u.notices) == ("notice_sent", 1)
    with db.transaction() as s:
        assert [n.status for n in notices.notices_for(s, host=A)] == ["sent", "failed", "failed"]


def test_a_failing_resend_keeps_the_urls_and_the_sequence(db):
    report(db, f"http://{A}/a.jpg", at=T0)
    box = Outbox()
    run(db, T0, box)
    box.fail["abuse@host.example"] = "timed out"
    assert run(db, T0 + 24 * H, box) == [(A, "failed", "notice", 2)]
    assert url_rows(db)[f"http://{A}/a.jpg"].notices == 1
    box.fail.clear()
    assert run(db, T0 + 24 * H + timedelta(minutes=15), box) == [(A, "sent", "notice", 2)]


def test_status_history_shows_reported_then_notice_sent(db):
    (url_id,) = report(db, f"http://{A}/a.jpg", at=T0 - H)
    run(db, T0, Outbox())
    with db.transaction() as s:
        events = [e for e in service.history(s, url_id) if e.kind == "status"]
        assert [(e.from_status, e.to_status, e.at) for e in events] == [
            (None, "reported", T0 - H),
            ("reported", "notice_sent", T0),
        ]
        assert events[1].by == "notices"
        assert events[1].note == "notice #1 to abuse@host.example"
        (link,) = s.scalars(select(TakedownNoticeUrl).where(TakedownNoticeUrl.url_id == url_id))
        assert link.notice_id == notices.notices_for(s, url_id=url_id)[0].id


def test_due_plans_without_sending(db):
    report(db, f"http://{A}/b.jpg", at=T0)
    report(db, f"http://{A}/a.jpg", at=T0 - H)
    with db.transaction() as s:
        (plan,) = notices.due(s, T0, NoticePolicy())
        assert (plan.host, plan.provider, plan.to, plan.country) == (
            A,
            "Example Hosting",
            "abuse@host.example",
            "NL",
        )
        assert (plan.kind, plan.sequence) == ("notice", 1)
        assert [u.url for u in plan.urls] == [f"http://{A}/a.jpg", f"http://{A}/b.jpg"]
        subject, body = notices.render("notice", plan, policy=NoticePolicy(), now=T0)
        assert "2 reported URL(s)" in subject and "1 hours ago" in body
        assert notices.notices_for(s) == []


# --------------------------------------------------------------------------- templates


def test_edited_template_is_used_and_reset_restores_the_default(db):
    report(db, f"http://{A}/a.jpg", at=T0)
    with db.transaction() as s:
        assert notices.template(s, "notice") == notices.DEFAULT_TEMPLATES["notice"]
        notices.put_template(
            s,
            "notice",
            "Abuse on ${host} [$country] - $count URL(s), costs $$0",
            "To $provider:\n$urls\nOldest: $first_reported ($oldest_hours h). -- $sender",
            by="admin",
            now=T0,
        )
        assert notices.template(s, "notice")[0].startswith("Abuse on ${host}")
    box = Outbox()
    run(db, T0 + 5 * H, box, NoticePolicy(sender_name="Test Hotline"))
    _, _, subject, body = box.sent[0]
    assert subject == f"Abuse on {A} [NL] - 1 URL(s), costs $0"
    assert body == (
        f"To Example Hosting:\nhttp://{A}/a.jpg  (first reported 2026-03-02 09:00 UTC)\n"
        "Oldest: 2026-03-02 09:00 UTC (5 h). -- Test Hotline"
    )
    with db.transaction() as s:
        notices.reset_template(s, "notice")
        notices.reset_template(s, "notice")  # nothing stored: fine
        assert notices.template(s, "notice") == notices.DEFAULT_TEMPLATES["notice"]


@pytest.mark.parametrize(
    ("name", "subject", "body", "field", "words"),
    [
        ("notice", "About $host", "Dear $customer, $urls", "body", ["$customer"]),
        ("notice", "About $hostname and $x", "$urls", "subject", ["$hostname", "$x"]),
        ("notice", "About $host", "Pay $5 now: $urls", "body", ["line 1, column 5"]),
        ("notice", "About $host", "ok\n  ${host", "body", ["line 2, column 3"]),
        ("notice", "", "$urls", "subject", ["empty"]),
        ("notice", "About $host", "   \n", "body", ["empty"]),
        ("notice", "About\n$host", "$urls", "subject", ["one line"]),
        ("notice", "x" * 301, "$urls", "subject", ["300"]),
        ("notice", "About $host", "x" * 20_001, "body", ["20000"]),
        ("notice", "URLs: $urls", "$urls", "subject", ["$urls", "body"]),
        ("reminder", "About $host", "$urls", "name", ["reminder", "notice, escalation"]),
    ],
)
def test_bad_templates_are_refused_naming_the_field(db, name, subject, body, field, words):
    with db.transaction() as s:
        with pytest.raises(TakedownError) as e:
            notices.put_template(s, name, subject, body, by="admin", now=T0)
        assert e.value.field == field
        for w in words:
            assert w in str(e.value)
        assert notices.template(s, "notice") == notices.DEFAULT_TEMPLATES["notice"]


def test_default_templates_are_valid_and_use_only_metadata():
    for name, (subject, body) in notices.DEFAULT_TEMPLATES.items():
        assert notices.validate_template(subject, body) == (subject, body), name
        assert "$urls" in body and "generated automatically" in body and "reply" in body


def test_url_with_a_dollar_sign_is_not_a_placeholder(db):
    report(db, f"http://{A}/$host/${{count}}.jpg", at=T0)
    box = Outbox()
    run(db, T0, box)
    assert f"http://{A}/$host/$%7Bcount%7D.jpg" in box.sent[0][3]


def test_policy_is_checked():
    with pytest.raises(ValueError, match="resend_hours"):
        NoticePolicy(resend_hours=0)
    with pytest.raises(ValueError, match="escalation_cc"):
        NoticePolicy(escalation_cc=("not an address",))
    assert NoticePolicy(escalation_cc=["a@b.example"]).escalation_cc == ("a@b.example",)


# --------------------------------------------------------------------------- replies


def test_replies_are_recorded_and_listed(db):
    report(db, f"http://{A}/a.jpg", at=T0)
    report(db, f"https://{B}/1.png", at=T0)
    run(db, T0, Outbox())
    with db.transaction() as s:
        (notice,) = notices.notices_for(s, host=A)
        (other,) = notices.notices_for(s, host=B)
        r1 = notices.record_reply(
            s,
            host="HOST.example.",
            notice_id=notice.id,
            received_at=T0 + 2 * H,
            from_address="abuse@host.example",
            summary="  Removed the file, account suspended.  ",
            by="analyst",
            now=T0 + 3 * H,
        )
        assert (r1.host, r1.summary, r1.recorded_by) == (
            A,
            "Removed the file, account suspended.",
            "analyst",
        )
        notices.record_reply(
            s,
            host=A,
            notice_id=None,
            received_at=T0 + 5 * H,
            from_address=None,
            summary="Phoned: will look tomorrow.",
            by="analyst",
            now=T0 + 5 * H,
        )
        listed = notices.replies_for(s, host=A)
        assert [r.summary for r in listed] == [
            "Phoned: will look tomorrow.",
            "Removed the file, account suspended.",
        ]
        assert [r.id for r in notices.replies_for(s, notice_id=notice.id)] == [r1.id]
        assert notices.replies_for(s, host=B) == []

        def bad(**kw):
            args = dict(
                host=A,
                notice_id=None,
                received_at=T0,
                from_address=None,
                summary="ok",
                by="analyst",
                now=T0 + 5 * H,
            )
            with pytest.raises(TakedownError) as e:
                notices.record_reply(s, **{**args, **kw})
            return e.value

        assert bad(summary="  ").field == "summary"
        assert bad(summary="x" * 5001).field == "summary"
        assert bad(notice_id=99999).field == "notice_id"
        wrong = bad(notice_id=other.id)
        assert wrong.field == "notice_id" and B in str(wrong)
        assert bad(host="http://host.example/").field == "host"
        assert bad(received_at=T0 + 6 * H).field == "received_at"


# --------------------------------------------------------------------------- real SMTP


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.messages.append(envelope)
        return "250 OK"


def test_notice_and_escalation_delivered_through_a_local_smtp_server(db):
    from aiosmtpd.controller import Controller

    from hashwatch.server.notify_send import send_mail

    sink = _Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    config = {
        "host": "127.0.0.1",
        "port": smtp.port,
        "sender": "takedown@hotline.example",
        "recipients": ["unused@hotline.example"],
        "timeout": 5,
    }

    def send(to, cc, subject, body):
        return send_mail(config, to=to, cc=cc, subject=subject, body=body)

    try:
        report(db, f"http://{A}/a.jpg", f"http://{A}/dir/b.jpg?x=1", at=T0)
        policy = NoticePolicy(escalate_after=1, escalation_cc=("lead@hotline.example",))
        with db.transaction() as s:
            (first,) = notices.send_due(s, T0, policy, send)
            (second,) = notices.send_due(s, T0 + 24 * H, policy, send)
            assert first.status == second.status == "sent"
            ids = (first.message_id, second.message_id)
        assert len(sink.messages) == 2
        plain, escalation = sink.messages
        assert plain.rcpt_tos == ["abuse@host.example"]
        assert escalation.rcpt_tos == ["abuse@host.example", "lead@hotline.example"]
        for envelope, message_id, kind in (
            (plain, ids[0], "notice"),
            (escalation, ids[1], "escalation"),
        ):
            msg = message_from_bytes(envelope.content, policy=default_policy)
            assert msg["To"] == "abuse@host.example"
            assert msg["From"] == "takedown@hotline.example"
            assert msg["Message-ID"].strip() == message_id
            text = msg.get_content()
            assert f"http://{A}/a.jpg" in text and f"http://{A}/dir/b.jpg?x=1" in text
            if kind == "notice":
                assert msg["Cc"] is None
                assert msg["Subject"] == f"Takedown request: 2 reported URL(s) on {A} (notice 1)"
            else:
                assert msg["Cc"] == "lead@hotline.example"
                assert msg["Subject"].startswith("ESCALATION") and "(notice 2)" in msg["Subject"]
    finally:
        smtp.stop()
