"""Takedown metrics against a seeded history, with every answer worked out by hand.

Week W starts Monday T0 = 2025-11-03 00:00 UTC; P is the week before it (from 2025-10-27),
N the week after (from 2025-11-10, not over: NOW is Tuesday 2025-11-11 06:00). Times are
hours from T0.

===== ================= ============================================================== =====
url   host              status history (hours from T0)                                 end W
===== ================= ============================================================== =====
u1    a.example         reported 0, removed 10 (10 h)                                  rem.
u2    a.example         reported 1, notice_sent 2, removed 21 (20 h)                   rem.
u3    b.example         reported 2, removed 32 (30 h)                                  rem.
u4    c.test (*)        reported 3, removed 103 (100 h)                                rem.
u5    b.example         reported 4, removed 9 (5 h), reappeared 50, removed 58 (8 h)   rem.
u6    b.example         reported -30 (P), notice_sent -20, removed 18 (48 h)           rem.
u7    d.example         reported 132 (Sat 12:00), open                                 open
u8    c.test (*)        reported 164 (Sun 20:00), removed 170 (N, 6 h)                 open
u9    e.example         reported -100 (P), removed -90 (P, 10 h), reported again 80    open
                        (-> reappeared 80)
u10   c.test (*)        reported 144 (Sun 00:00), open                                 open
u11   files.e.example   reported -50 (P), notice_sent -40, open                        open
===== ================= ============================================================== =====

(*) c.test is not in the host table: country "unknown". Hosts: a.example NL, b.example DE,
d.example US, e.example DE (which covers files.e.example).

Notices: W 3 sent (one an escalation) and 1 failed; P 1 sent and 1 failed; N 1 sent at
exactly T0 + 7 d (so in N, not W). Nothing at all happened in the week of 2025-10-13.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event

from hashwatch.store import Database
from hashwatch.store.migrate import upgrade
from hashwatch.store.models import TakedownEvent, TakedownNotice, TakedownUrl
from hashwatch.takedown import HostRow, service
from hashwatch.takedown.metrics import (
    METRICS,
    Change,
    WeekMetrics,
    change,
    monday,
    percentile,
    week_metrics,
    week_on_week,
    weekly_series,
)

T0 = datetime(2025, 11, 3)
W, P, N = T0, T0 - timedelta(days=7), T0 + timedelta(days=7)
EMPTY = datetime(2025, 10, 13)
NOW = datetime(2025, 11, 11, 6, 0)
H = 3600


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture
def db(tmp_path):
    db = Database(str(tmp_path / "t.db"))
    upgrade(db.engine)
    yield db
    db.dispose()


def add(s, url: str, hours: float):
    when = at(hours)
    result = service.intake(s, [service.Report(url=url, reported_at=when)], by="a", now=when)
    assert result.created, result.rejected
    return s.get(TakedownUrl, result.created[0])


def go(s, row, to: str, hours: float) -> None:
    service.move(s, row, to, by="a", at=at(hours))


def notice(s, hours: float | None, *, kind="notice", status="sent", host="a.example") -> None:
    sent = at(hours) if hours is not None else None
    s.add(
        TakedownNotice(
            host=host,
            provider="Provider A",
            to_addresses=["abuse@provider-a.example"],
            kind=kind,
            sequence=1,
            subject="Notice",
            body="Please remove the listed URLs.",
            created_at=sent or at(0),
            sent_at=sent,
            status=status,
            error=None if status == "sent" else "refused",
            created_by="a",
        )
    )


def seed(db) -> None:
    with db.transaction() as s:
        service.put_hosts(
            s,
            [
                HostRow("a.example", "Provider A", "abuse@provider-a.example", "NL"),
                HostRow("b.example", "Provider B", "abuse@provider-b.example", "DE"),
                HostRow("d.example", "Provider D", "abuse@provider-d.example", "US"),
                HostRow("e.example", "Provider E", "abuse@provider-e.example", "DE"),
            ],
            by="admin",
            now=at(-200),
        )
        # the previous week first (intake refuses reports after its ``now``)
        u9 = add(s, "https://e.example/u9", -100)
        go(s, u9, "removed", -90)
        u11 = add(s, "https://files.e.example/u11", -50)
        go(s, u11, "notice_sent", -40)
        u6 = add(s, "https://b.example/u6", -30)
        go(s, u6, "notice_sent", -20)
        # week W
        u1 = add(s, "https://a.example/u1", 0)
        u2 = add(s, "https://a.example/u2", 1)
        u3 = add(s, "https://b.example/u3", 2)
        u4 = add(s, "https://c.test/u4", 3)
        u5 = add(s, "https://b.example/u5", 4)
        go(s, u2, "notice_sent", 2)
        go(s, u5, "removed", 9)
        go(s, u1, "removed", 10)
        go(s, u6, "removed", 18)
        go(s, u2, "removed", 21)
        go(s, u3, "removed", 32)
        go(s, u5, "reappeared", 50)
        go(s, u5, "removed", 58)
        again = service.intake(
            s, [service.Report(url="https://e.example/u9", reported_at=at(80))], by="a", now=at(80)
        )
        assert again.reappeared == [u9.id]
        go(s, u4, "removed", 103)
        add(s, "https://d.example/u7", 132)
        add(s, "https://c.test/u10", 144)
        u8 = add(s, "https://c.test/u8", 164)
        # week N
        go(s, u8, "removed", 170)
        # notices
        notice(s, -60)  # P
        notice(s, -59, status="failed")  # P, not sent
        notice(s, 5)
        notice(s, 30, host="b.example")
        notice(s, 100, kind="escalation", host="b.example")
        notice(s, 101, status="failed")
        notice(s, None, status="failed")  # never sent
        notice(s, 168)  # exactly T0 + 7 d: week N


@pytest.fixture
def seeded(db):
    seed(db)
    return db


def metrics(db, start, now=NOW) -> WeekMetrics:
    with db.reading() as s:
        return week_metrics(s, start, now=now)


# ---- known answers --------------------------------------------------------------------------


def test_week_with_every_case(seeded):
    m = metrics(seeded, W)
    assert (m.start, m.end, m.as_of, m.complete) == (W, N, N, True)
    assert m.reported == 8  # u1-u5, u7, u8, u10 (u9's second report is no first report)
    # removals: u1 10 h, u2 20 h, u3 30 h, u4 100 h, u5 5 h and 8 h (from its reappearance),
    # u6 48 h (reported the week before) -> 5 8 10 20 30 48 100: rank 4 and rank 7 of 7
    assert m.removals == 7
    assert m.time_to_removal_median_s == 20 * H
    assert m.time_to_removal_p90_s == 100 * H
    # 24 h cohort: every URL reported in W (u8 Sun 20:00 -> Mon 20:00 <= NOW); removed
    # within 24 h: u1, u2, u5, u8 (6 h, in week N) -> 4 / 8
    assert (m.cohort_24h, m.removed_within_24h, m.removed_within_24h_share) == (8, 4, 0.5)
    # 72 h cohort: u1-u5 (u7 Sat 12:00 -> Tue 12:00, u10, u8 later: not over at NOW);
    # removed within 72 h: u1, u2, u3, u5 (u4 took 100 h) -> 4 / 5
    assert (m.cohort_72h, m.removed_within_72h, m.removed_within_72h_share) == (5, 4, 0.8)
    # reappeared: u5 (at 50 h) and u9 (reported again at 80 h); removed at some moment of W:
    # u9 (removed at its start), u1-u6 (removed in it) -> 2 / 7
    assert (m.reappearances, m.removed_in_window, m.reappearance_rate) == (2, 7, 0.2857)
    assert (m.notices_sent, m.escalations) == (3, 1)  # the failed ones do not count
    # open at the end of W: u7, u8 (removed only in N), u9, u10, u11
    assert m.open_at_end == 5
    assert m.open_by_host == [
        ("c.test", 2),
        ("d.example", 1),
        ("e.example", 1),
        ("files.e.example", 1),
    ]
    assert m.open_by_country == [("DE", 2), ("unknown", 2), ("US", 1)]


def test_previous_week(seeded):
    m = metrics(seeded, P)
    assert (m.reported, m.removals) == (3, 1)  # u6, u9, u11; u9 removed after 10 h
    assert (m.time_to_removal_median_s, m.time_to_removal_p90_s) == (10 * H, 10 * H)
    # u6 removed after 48 h, u9 after 10 h, u11 not: 1 of 3 within 24 h, 2 of 3 within 72 h
    assert (m.cohort_24h, m.removed_within_24h, m.removed_within_24h_share) == (3, 1, 0.3333)
    assert (m.cohort_72h, m.removed_within_72h, m.removed_within_72h_share) == (3, 2, 0.6667)
    assert (m.reappearances, m.removed_in_window, m.reappearance_rate) == (0, 1, 0.0)
    assert (m.notices_sent, m.escalations) == (1, 0)
    assert m.open_at_end == 2  # u6 and u11, both notice_sent
    assert m.open_by_host == [("b.example", 1), ("files.e.example", 1)]
    assert m.open_by_country == [("DE", 2)]


def test_current_part_week(seeded):
    m = metrics(seeded, N)
    assert (m.as_of, m.complete) == (NOW, False)
    assert (m.reported, m.removals) == (0, 1)  # u8, 6 h after its report
    assert m.time_to_removal_median_s == m.time_to_removal_p90_s == 6 * H
    assert (m.cohort_24h, m.removed_within_24h_share) == (0, None)
    assert (m.cohort_72h, m.removed_within_72h_share) == (0, None)
    # removed at its start: u1-u6; removed during it: u8 -> 0 of 7
    assert (m.reappearances, m.removed_in_window, m.reappearance_rate) == (0, 7, 0.0)
    assert (m.notices_sent, m.escalations) == (1, 0)  # the one at exactly T0 + 7 d
    assert m.open_at_end == 4  # u7, u9, u10, u11 at NOW
    assert m.open_by_country == [("DE", 2), ("US", 1), ("unknown", 1)]  # ties by name


def test_week_with_nothing(seeded):
    m = metrics(seeded, EMPTY)
    assert m.as_dict() == {
        "start": "2025-10-13",
        "end": "2025-10-20",
        "as_of": "2025-10-20T00:00:00",
        "complete": True,
        "reported": 0,
        "removals": 0,
        "time_to_removal_median_s": None,
        "time_to_removal_p90_s": None,
        "cohort_24h": 0,
        "removed_within_24h": 0,
        "removed_within_24h_share": None,
        "cohort_72h": 0,
        "removed_within_72h": 0,
        "removed_within_72h_share": None,
        "reappearances": 0,
        "removed_in_window": 0,
        "reappearance_rate": None,
        "notices_sent": 0,
        "escalations": 0,
        "open_at_end": 0,
        "open_by_host": [],
        "open_by_country": [],
    }


def test_empty_database(db):
    m = metrics(db, W)
    assert (m.reported, m.removals, m.open_at_end, m.reappearance_rate) == (0, 0, 0, None)


def test_a_past_week_as_known_then(seeded):
    # worked out at Thursday 2025-11-06 12:00 (84 h): only what had happened by then
    m = metrics(seeded, W, now=at(84))
    assert (m.as_of, m.complete) == (at(84), False)
    assert m.reported == 5  # u1-u5
    assert m.removals == 6  # u1, u2, u3, u5 twice, u6 (u4's removal at 103 h is later)
    # 5 8 10 20 30 48 -> ranks 3 and 6 of 6
    assert (m.time_to_removal_median_s, m.time_to_removal_p90_s) == (10 * H, 48 * H)
    assert (m.cohort_24h, m.removed_within_24h) == (5, 3)  # u1, u2, u5
    assert (m.cohort_72h, m.removed_within_72h) == (5, 4)  # 72 h of u1-u5 over at 76 h
    assert m.reappearances == 2
    assert (m.notices_sent, m.escalations) == (2, 0)  # the escalation at 100 h is later
    assert m.open_at_end == 3  # u4, u9, u11 at 84 h
    assert m.open_by_country == [("DE", 2), ("unknown", 1)]


def test_week_on_week(seeded):
    wow = week_on_week(metrics(seeded, W), metrics(seeded, P))
    assert list(wow) == list(METRICS)
    assert wow["reported"] == Change(8, 3, 5, 166.7, "up")
    assert wow["removals"] == Change(7, 1, 6, 600.0, "up")
    assert wow["time_to_removal_median_s"] == Change(20 * H, 10 * H, 10 * H, 100.0, "up")
    assert wow["removed_within_24h_share"] == Change(0.5, 0.3333, 0.1667, 50.0, "up")
    assert wow["reappearance_rate"] == Change(0.2857, 0.0, 0.2857, None, "up")  # from 0
    assert wow["notices_sent"] == Change(3, 1, 2, 200.0, "up")
    assert wow["escalations"] == Change(1, 0, 1, None, "up")
    assert wow["open_at_end"] == Change(5, 2, 3, 150.0, "up")

    back = week_on_week(metrics(seeded, EMPTY), metrics(seeded, P))
    assert back["removals"] == Change(0, 1, -1, -100.0, "down")
    assert back["time_to_removal_median_s"] == Change(None, 10 * H, None, None, None)
    same = week_on_week(metrics(seeded, EMPTY), metrics(seeded, EMPTY))
    assert same["reported"] == Change(0, 0, 0, None, "same")
    assert json.loads(json.dumps(same["reported"].as_dict()))["direction"] == "same"


def test_change():
    assert change(2, 18) == Change(2, 18, -16, -88.9, "down")
    assert change(0.25, 0.5) == Change(0.25, 0.5, -0.25, -50.0, "down")
    assert change(None, None) == Change(None, None, None, None, None)


def test_weekly_series_matches_week_by_week(seeded):
    with seeded.reading() as s:
        series = weekly_series(s, 4, now=NOW)
    assert [m.start for m in series] == [W - timedelta(days=14), P, W, N]
    assert [m.complete for m in series] == [True, True, True, False]
    for m in series:
        assert m.as_dict() == metrics(seeded, m.start).as_dict()
    with seeded.reading() as s:
        ending = weekly_series(s, 2, now=NOW, last_week=W.date())
    assert [m.as_dict() for m in ending] == [m.as_dict() for m in series[1:3]]


def test_weekly_series_reads_the_history_once(seeded):
    statements: list[str] = []

    def log(conn, cursor, statement, *args):  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(seeded.engine, "before_cursor_execute", log)
    try:
        counts = []
        for weeks in (1, 12, 52):
            statements.clear()
            with seeded.reading() as s:
                weekly_series(s, weeks, now=NOW)
            counts.append(len(statements))
    finally:
        event.remove(seeded.engine, "before_cursor_execute", log)
    assert counts[0] == counts[1] == counts[2] <= 4  # urls, events, notices, hosts


def test_weeks_are_mondays(seeded):
    with seeded.reading() as s:
        with pytest.raises(ValueError, match="Monday"):
            week_metrics(s, datetime(2025, 11, 4), now=NOW)
        with pytest.raises(ValueError, match="Monday"):
            week_metrics(s, datetime(2025, 11, 3, 1), now=NOW)
        with pytest.raises(ValueError, match="not begun"):
            week_metrics(s, datetime(2025, 11, 17), now=NOW)
        with pytest.raises(ValueError):
            weekly_series(s, 0, now=NOW)
        assert week_metrics(s, W.date(), now=NOW).start == W  # a date is fine
    assert monday(datetime(2025, 11, 9, 23, 59)) == W
    assert monday(W.date()) == W


def test_percentile():
    assert percentile([], 50) is None
    assert percentile([7], 90) == 7
    values = [5, 8, 10, 20, 30, 48, 100]
    assert (percentile(values, 50), percentile(values, 90)) == (20, 100)
    assert (percentile([1, 2, 3, 4], 50), percentile([1, 2, 3, 4], 90)) == (2, 4)


# ---- against a direct re-computation over random histories ----------------------------------


def brute(urls: dict, notices: list, hosts: dict, start, end, now) -> dict:
    """The definitions of the module docstring, applied event by event, as plainly as can be.
    ``urls``: id -> (host, [(at, to_status)] in order); ``notices``: [(sent_at, kind)]."""
    known = {u: (host, [e for e in ev if e[0] <= now]) for u, (host, ev) in urls.items()}
    known = {u: v for u, v in known.items() if v[1]}

    def status_before(events, t):
        state = None
        for when, to in events:
            if when < t:
                state = to
        return state

    out = dict(reported=0, removals=0, reappearances=0, removed_in_window=0)
    clocks, cohort = [], {24: [0, 0], 72: [0, 0]}
    open_hosts: dict[str, int] = {}
    for host, events in known.values():
        reported_at = events[0][0]
        if start <= reported_at < end:
            out["reported"] += 1
            removed = [when for when, to in events if to == "removed"]
            for hours in (24, 72):
                deadline = reported_at + timedelta(hours=hours)
                if deadline <= now:
                    cohort[hours][0] += 1
                    cohort[hours][1] += any(r <= deadline for r in removed)
        was_removed = status_before(events, start) == "removed"
        for i, (when, to) in enumerate(events):
            if start <= when < end and to == "removed":
                out["removals"] += 1
                since = reported_at
                for w2, t2 in events[:i]:
                    if t2 == "reappeared":
                        since = w2
                clocks.append(int((when - since).total_seconds()))
                was_removed = True
            if start <= when < end and to == "reappeared":
                out["reappearances"] += 1
        out["removed_in_window"] += was_removed
        if status_before(events, end) in service.OPEN:
            open_hosts[host] = open_hosts.get(host, 0) + 1
    clocks.sort()

    def nearest(pct):
        if not clocks:
            return None
        k = 0
        while 100 * (k + 1) < pct * len(clocks):
            k += 1
        return clocks[k]

    def share(n, of):
        return round(n / of, 4) if of else None

    countries: dict[str, int] = {}
    for host, n in open_hosts.items():
        c = hosts.get(host) or "unknown"
        countries[c] = countries.get(c, 0) + n
    return {
        **out,
        "time_to_removal_median_s": nearest(50),
        "time_to_removal_p90_s": nearest(90),
        "cohort_24h": cohort[24][0],
        "removed_within_24h": cohort[24][1],
        "removed_within_24h_share": share(cohort[24][1], cohort[24][0]),
        "cohort_72h": cohort[72][0],
        "removed_within_72h": cohort[72][1],
        "removed_within_72h_share": share(cohort[72][1], cohort[72][0]),
        "reappearance_rate": share(out["reappearances"], out["removed_in_window"]),
        "notices_sent": sum(start <= t < end and t <= now for t, _ in notices),
        "escalations": sum(start <= t < end and t <= now and k == "escalation" for t, k in notices),
        "open_at_end": sum(open_hosts.values()),
        "open_by_host": sorted(open_hosts.items(), key=lambda kv: (-kv[1], kv[0])),
        "open_by_country": sorted(countries.items(), key=lambda kv: (-kv[1], kv[0])),
    }


HOSTS = {"h1.example": "NL", "h2.example": "DE", "h3.test": None}
ORIGIN = datetime(2025, 9, 1)  # a Monday


@pytest.fixture(scope="module")
def random_db(tmp_path_factory):
    db = Database(str(tmp_path_factory.mktemp("metrics") / "r.db"))
    upgrade(db.engine)
    with db.transaction() as s:
        service.put_hosts(
            s,
            [
                HostRow(h, "Provider", "abuse@provider.example", c)
                for h, c in HOSTS.items()
                if c is not None
            ],
            by="admin",
            now=ORIGIN,
        )
    yield db
    db.dispose()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**32 - 1))
def test_against_a_direct_recomputation(random_db, seed):
    rnd = random.Random(seed)
    db = random_db
    now = ORIGIN + timedelta(hours=rnd.randrange(0, 5 * 168))
    urls: dict[str, tuple[str, list]] = {}
    notices: list[tuple[datetime, str]] = []
    with db.transaction() as s:
        for model in (TakedownEvent, TakedownNotice, TakedownUrl):
            s.execute(delete(model))
        for n in range(rnd.randrange(0, 12)):
            host = rnd.choice(list(HOSTS))
            when = ORIGIN + timedelta(hours=rnd.randrange(0, 5 * 168))
            result = service.intake(
                s,
                [service.Report(url=f"https://{host}/r{n}", reported_at=when)],
                by="a",
                now=when,
            )
            row = s.get(TakedownUrl, result.created[0])
            events = [(when, "reported")]
            for _ in range(rnd.randrange(0, 6)):
                # 0 h apart now and then: events at the same time keep their order
                when += timedelta(hours=rnd.choice([0, 1, 5, 23, 24, 25, 71, 72, 100, 170]))
                to = rnd.choice(service.MOVES[row.status])
                service.move(s, row, to, by="a", at=when)
                events.append((when, to))
            urls[row.id] = (host, events)
        for _ in range(rnd.randrange(0, 5)):
            sent = ORIGIN + timedelta(hours=rnd.randrange(0, 6 * 168))
            kind = rnd.choice(["notice", "escalation"])
            notices.append((sent, kind))
            s.add(
                TakedownNotice(
                    host="h1.example",
                    kind=kind,
                    sequence=1,
                    subject="s",
                    body="b",
                    created_at=sent,
                    sent_at=sent,
                    status="sent",
                    created_by="a",
                )
            )
    with db.reading() as s:
        weeks = (now - ORIGIN).days // 7 + 1
        series = weekly_series(s, weeks, now=now)
    assert series[0].start == ORIGIN
    for m in series:
        got = m.as_dict()
        want = brute(urls, notices, HOSTS, m.start, m.end, now)
        got["open_by_host"] = [(d["host"], d["open"]) for d in got["open_by_host"]]
        got["open_by_country"] = [(d["country"], d["open"]) for d in got["open_by_country"]]
        assert {k: got[k] for k in want} == want, m.start
