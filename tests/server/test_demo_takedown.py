"""The demo's takedown history: synthetic hosts only, histories the real code could have
written, notices to attributed hosts only, and the disruption: removals collapse one week
and recover the next. Seeded once into a fresh SQLite database at head (a second time for
determinism); one small demo seed checks the link to incidents."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from hashwatch.server import demo
from hashwatch.server.demo_takedown import seed_takedown
from hashwatch.store import Database
from hashwatch.store.migrate import upgrade
from hashwatch.store.models import (
    Incident,
    TakedownEvent,
    TakedownHost,
    TakedownNotice,
    TakedownNoticeUrl,
    TakedownReply,
    TakedownUrl,
    User,
)
from hashwatch.takedown import service

NOW = datetime(2026, 10, 14, 10, 30)  # a Wednesday, fixed: the data are the same every run
SEED = 7


def _seed(path) -> tuple[Database, dict]:
    db = Database(str(path))
    upgrade(db.engine)
    with db.transaction() as s:
        counts = seed_takedown(s, rng=random.Random(SEED), now=NOW, weeks=6)
    return db, counts


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    db, counts = _seed(tmp_path_factory.mktemp("takedown") / "t.db")
    yield db, counts
    db.dispose()


def _monday(t: datetime) -> date:
    return (t - timedelta(days=t.weekday())).date()


def _removals_by_week(s) -> Counter:
    q = select(TakedownEvent.at).where(TakedownEvent.to_status == "removed")
    return Counter(_monday(at) for at in s.scalars(q))


def _summary(db: Database) -> tuple:
    with db.reading() as s:
        urls = sorted(s.scalars(select(TakedownUrl.url)))
        events = Counter(s.execute(select(TakedownEvent.kind, TakedownEvent.to_status)).all())
        notices = s.scalar(select(func.count()).select_from(TakedownNotice))
        weeks = _removals_by_week(s)
    return urls, events, notices, weeks


def test_same_rng_and_now_same_data(seeded, tmp_path):
    db, counts = seeded
    other, again = _seed(tmp_path / "t.db")
    try:
        assert again == counts
        assert _summary(other) == _summary(db)
    finally:
        other.dispose()


def test_counts(seeded):
    db, counts = seeded
    with db.reading() as s:
        urls = s.scalar(select(func.count()).select_from(TakedownUrl))
        notices = s.scalar(select(func.count()).select_from(TakedownNotice))
        replies = s.scalar(select(func.count()).select_from(TakedownReply))
        open_ = s.scalar(select(func.count()).where(TakedownUrl.status.in_(service.OPEN)))
        reported = Counter(_monday(t) for t in s.scalars(select(TakedownUrl.reported_at)))
    assert (urls, notices, replies, open_) == (
        counts["urls"],
        counts["notices"],
        counts["replies"],
        counts["open"],
    )
    assert counts["hosts"] == 8 and counts["from_incidents"] == 0
    assert 0 < counts["escalations"] < notices and counts["reappearances"] >= 1
    whole = [
        n
        for week, n in reported.items()
        if _monday(NOW - timedelta(weeks=5)) <= week < _monday(NOW)
    ]
    assert whole and all(20 <= n <= 65 for n in whole)  # a realistic weekly flow


def test_every_host_is_synthetic(seeded):
    db, _ = seeded
    with db.reading() as s:
        hosts = set(s.scalars(select(TakedownUrl.host)))
        hosts |= set(s.scalars(select(TakedownNotice.host)))
        hosts |= set(s.scalars(select(TakedownReply.host)))
        rows = s.scalars(select(TakedownHost)).all()
        addresses = [a for n in s.scalars(select(TakedownNotice)) for a in n.to_addresses]
        urls = s.scalars(select(TakedownUrl.url)).all()
    assert hosts and all(h.endswith(".example.invalid") for h in hosts)
    assert all(r.pattern.endswith(".example.invalid") for r in rows)
    assert all(r.abuse_email.endswith(".example.invalid") for r in rows)
    assert all("(synthetic)" in r.provider for r in rows)
    assert {r.country for r in rows} == {"NL", "US", "DE", "FR", "RU", "BG", "HK", "CA"}
    assert addresses and all(a.endswith(".example.invalid") for a in addresses)
    assert all("/demo-synthetic/" in u for u in urls)


def test_histories_are_valid_moves(seeded):
    db, _ = seeded
    with db.reading() as s:
        rows = {r.id: r for r in s.scalars(select(TakedownUrl))}
        events = s.scalars(select(TakedownEvent).order_by(TakedownEvent.at, TakedownEvent.id))
        by_url: dict[str, list[TakedownEvent]] = {}
        for e in events:
            by_url.setdefault(e.url_id, []).append(e)
        noticed = Counter(s.scalars(select(TakedownNoticeUrl.url_id)))
    assert set(by_url) == set(rows)
    for url_id, history in by_url.items():
        row = rows[url_id]
        assert all(row.reported_at <= e.at <= NOW for e in history)
        moves = [(e.from_status, e.to_status) for e in history if e.kind == "status"]
        assert moves[0] == (None, "reported"), row.url
        for (_, prev), (frm, to) in zip(moves, moves[1:], strict=False):
            assert frm == prev and to in service.MOVES[frm], (row.url, moves)
        assert moves[-1][1] == row.status
        assert row.notices == noticed[url_id]
        removed = [e.at for e in history if e.to_status == "removed"]
        assert row.removed_at == (removed[-1] if removed else None)


def test_disruption_then_recovery(seeded):
    db, counts = seeded
    cut = date.fromisoformat(counts["disruption_week"])
    assert cut == _monday(NOW) - timedelta(weeks=3)
    with db.reading() as s:
        weekly = _removals_by_week(s)
    before, during, after = (weekly[cut + timedelta(weeks=k)] for k in (-1, 0, 1))
    assert before >= 20
    assert during <= 0.2 * before  # "removals down 80 % or more week on week"
    assert after > before  # the backlog cleared
    # the notices went on all through the disruption
    with db.reading() as s:
        sent = s.scalars(select(TakedownNotice.sent_at)).all()
    assert sum(_monday(t) == cut for t in sent) >= 0.5 * sum(
        _monday(t) == cut - timedelta(weeks=1) for t in sent
    )


def test_notices_go_to_attributed_hosts_only(seeded):
    db, _ = seeded
    with db.reading() as s:
        table = service.host_table(s)
        notices = s.scalars(select(TakedownNotice).order_by(TakedownNotice.id)).all()
        named = s.execute(
            select(TakedownNoticeUrl.notice_id, TakedownUrl.host).join(
                TakedownUrl, TakedownUrl.id == TakedownNoticeUrl.url_id
            )
        ).all()
        unknown = service.unknown_hosts(s)
        urls_on_unknown = s.scalars(
            select(TakedownUrl).where(TakedownUrl.host.in_([h.host for h in unknown]))
        ).all()
    assert notices and {n.kind for n in notices} == {"notice", "escalation"}
    sequences: dict[str, list[int]] = {}
    for n in notices:
        row = table.lookup(n.host)
        assert row is not None and n.to_addresses == [row.abuse_email]
        assert n.status == "sent" and n.sent_at == n.created_at <= NOW
        assert n.created_by == "notices" and n.host in n.subject and n.host in n.body
        sequences.setdefault(n.host, []).append(n.sequence)
    assert all(seq == list(range(1, len(seq) + 1)) for seq in sequences.values())
    hosts_of = {n.id: n.host for n in notices}
    assert named and all(hosts_of[nid] == host for nid, host in named)
    assert len(unknown) >= 2 and all(h.attribution is None for h in unknown)
    assert urls_on_unknown and all(u.notices == 0 for u in urls_on_unknown)


def test_reappearance_and_replies(seeded):
    db, _ = seeded
    with db.reading() as s:
        moves = s.execute(
            select(TakedownEvent.url_id, TakedownEvent.to_status).where(
                TakedownEvent.kind == "status"
            )
        ).all()
        replies = s.execute(select(TakedownReply, TakedownNotice).join(TakedownNotice)).all()
    per_url: dict[str, Counter] = {}
    for url_id, to in moves:
        per_url.setdefault(url_id, Counter())[to] += 1
    again = [c for c in per_url.values() if c["reappeared"]]
    assert again and any(c["removed"] >= 2 for c in again)  # removed, back, removed again
    assert replies
    for reply, notice in replies:
        assert reply.host == notice.host and notice.sent_at <= reply.received_at
        assert reply.received_at <= reply.recorded_at <= NOW
        assert "synthetic" in reply.summary


def test_short_period_has_no_disruption(tmp_path):
    db = Database(str(tmp_path / "t.db"))
    upgrade(db.engine)
    try:
        with db.transaction() as s:
            counts = seed_takedown(s, rng=random.Random(1), now=NOW, weeks=2)
        assert counts["disruption_week"] is None and counts["urls"] > 30
    finally:
        db.dispose()


def test_demo_seed_links_incidents_and_adds_an_analyst(srv_sqlite, tmp_path):
    now = datetime(2026, 10, 14, 10, 30)
    report = demo.seed(srv_sqlite.db, devices=100, weeks=6, workdir=tmp_path, now=now)
    assert "analyst" in report.users
    assert report.takedown["urls"] > 100 and report.takedown["from_incidents"] >= 1
    with srv_sqlite.db.reading() as s:
        assert s.scalar(select(User.role).where(User.username == "analyst")) == "analyst"
        linked = s.execute(
            select(TakedownUrl, Incident.origin_url)
            .join(Incident, Incident.id == TakedownUrl.incident_id)
            .where(TakedownUrl.source == "incident")
        ).all()
        total = s.scalar(select(func.count()).select_from(TakedownUrl))
    assert total == report.takedown["urls"]
    assert len(linked) == report.takedown["from_incidents"]
    for url, origin in linked:
        assert url.url == origin and url.host == "example.invalid" and url.hashes
