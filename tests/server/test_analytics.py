"""The dashboard's analytics against seeded incidents, with answers worked out by hand.

The seed (2025, two sites, stored through ``incidents.ingest`` and ``incidents.transition``):

==== ====== ========================== ================= ========= ======= ===================
name device reported detected_at        local cell        delay s   network workflow
==== ====== ========================== ================= ========= ======= ===================
i1   L1     2025-10-14T11:00+01:00     Tue 11 (BST)      30        on      review +1h, close
                                                                            confirmed +2 d
i2   L1     2025-10-14T23:00+01:00     Tue 23            60        off     -   (removable)
i12  L4     2025-10-15T14:10+01:00     Wed 14 (BST)      5400      on      close confirmed +8 d
i3   L2     2025-10-27T13:30+01:00 (*) Mon 12 (GMT)      3600      unknown escalate +1 h
i4   N1     2025-10-26T23:30-04:00     Sun 23 (EDT)      86400     off     -   (removable)
i5   N1     2025-11-02T22:30-05:00     Sun 22 (EST)      604800    on      -
i6   N2     2025-11-04T10:00-05:00     Tue 10            59        on      false_positive +30 m
i7   L3     2025-11-05T09:00+00:00     Wed 09            120       on      duplicate +2 h
i8   L4     2025-11-05T14:00+00:00     Wed 14 (GMT)      899       unknown review +10 m, escalate
                                                                            +5 h, close +3 d
i9   L2     2025-11-07T16:00+00:00     Fri 16            900       on      -
==== ====== ========================== ================= ========= ======= ===================

(*) the endpoint still says +01:00 after the clocks went back: the site's zone wins.
Outside the period [2025-10-13, 2025-11-10): o1 at 2025-10-12T23:59:59Z and o2 at
2025-11-10T00:00:00Z (both Mon 00 in London time). i6 and i7 are not counted (false
positive, duplicate) except by the decision chart. Devices: L1-L4 London, N1-N2 New York,
plus R1 (revoked) and F1 (enrolled after the period), which are not counted.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, select

from hashwatch.reports import CHARTS, Chart, Period, period_for
from hashwatch.reports.analytics import decision, delivery, heatmap, overview, weekly
from hashwatch.server import derive, incidents
from hashwatch.server.schemas import IncidentIn
from hashwatch.store.models import Device, Incident, Site

from .conftest import make_incident

P = Period(datetime(2025, 10, 13), datetime(2025, 11, 10))
NY = Period(P.start, P.end, "New York")
ON = {"context": {"online": True, "on_org_network": True}}
OFF = {"context": {"online": True, "on_org_network": False}}
UNKNOWN = {"context": {"online": True}}
FIXED = {"trigger": "realtime", "file": {"volume": {"kind": "fixed"}}}


# ---- building the data through the server's own code ----------------------------------------


def add_site(s, name: str, tz: str) -> Site:
    site = Site(name=name, timezone=tz, working_hours=derive.DEFAULT_HOURS, holidays=[])
    s.add(site)
    s.flush()
    return site


def add_device(s, hostname: str, site: Site | None, enrolled=datetime(2025, 1, 1), revoked=None):
    d = Device(
        id=str(uuid.uuid4()),
        secret_hash="0" * 64,
        hostname=hostname,
        site_id=site.id if site else None,
        enrolled_at=enrolled,
        revoked_at=revoked,
    )
    s.add(d)
    s.flush()
    return d


def report(s, device: Device, detected: str, delay_s: int, *presets: dict) -> Incident:
    over: dict = {"detected_at": detected, "host": {"hostname": device.hostname}}
    for p in presets:
        over.update(p)
    inc = IncidentIn.model_validate(make_incident(**over))
    received = inc.detected_at.astimezone(UTC).replace(tzinfo=None) + timedelta(seconds=delay_s)
    assert incidents.ingest(s, device, [inc], ip=None, now=received)["stored"] == [str(inc.id)]
    return s.get(Incident, str(inc.id))


def move(s, inc: Incident, to: str, after_s: int, resolution: str | None = None) -> None:
    incidents.transition(
        s,
        inc,
        to,
        by="investigator1",
        resolution=resolution,
        note=None,
        actor_kind="user",
        ip=None,
        now=inc.received_at + timedelta(seconds=after_s),
    )


def seed(db) -> dict[str, Incident]:
    with db.transaction() as s:
        london = add_site(s, "London", "Europe/London")
        new_york = add_site(s, "New York", "America/New_York")
        dev = {n: add_device(s, n, london) for n in ("L1", "L2", "L3", "L4")}
        dev |= {n: add_device(s, n, new_york) for n in ("N1", "N2")}
        add_device(s, "R1", london, revoked=datetime(2025, 6, 1))
        add_device(s, "F1", new_york, enrolled=datetime(2025, 12, 1))
        i = {
            "i1": report(s, dev["L1"], "2025-10-14T11:00:00+01:00", 30, ON, FIXED),
            "i2": report(s, dev["L1"], "2025-10-14T23:00:00+01:00", 60),
            "i12": report(s, dev["L4"], "2025-10-15T14:10:00+01:00", 5400, ON, FIXED),
            "i3": report(s, dev["L2"], "2025-10-27T13:30:00+01:00", 3600, UNKNOWN, FIXED),
            "i4": report(s, dev["N1"], "2025-10-26T23:30:00-04:00", 86400, OFF),
            "i5": report(s, dev["N1"], "2025-11-02T22:30:00-05:00", 604800, ON, FIXED),
            "i6": report(s, dev["N2"], "2025-11-04T10:00:00-05:00", 59, ON, FIXED),
            "i7": report(s, dev["L3"], "2025-11-05T09:00:00+00:00", 120, ON, FIXED),
            "i8": report(s, dev["L4"], "2025-11-05T14:00:00+00:00", 899, UNKNOWN, FIXED),
            "i9": report(s, dev["L2"], "2025-11-07T16:00:00+00:00", 900, ON, FIXED),
            "o1": report(s, dev["L1"], "2025-10-12T23:59:59+00:00", 10),
            "o2": report(s, dev["L1"], "2025-11-10T00:00:00+00:00", 10),
        }
        move(s, i["i1"], "in_review", 3600)
        move(s, i["i1"], "closed", 2 * 86400, "confirmed")
        move(s, i["i12"], "closed", 8 * 86400, "confirmed")
        move(s, i["i3"], "escalated", 3600)
        move(s, i["i6"], "closed", 1800, "false_positive")
        move(s, i["i7"], "closed", 7200, "duplicate")
        move(s, i["i8"], "in_review", 600)
        move(s, i["i8"], "escalated", 5 * 3600)
        move(s, i["i8"], "closed", 3 * 86400, "confirmed")
        return i


def charts(db, period: Period) -> dict[str, Chart]:
    with db.reading() as s:
        return {name: f(s, period) for name, f in CHARTS.items()}


def cell(chart: Chart, day: str, hour: int) -> int:
    return next(r for r in chart.rows if r[0] == day)[1 + hour]


@pytest.fixture
def seeded(srv_sqlite):
    seed(srv_sqlite.db)
    return srv_sqlite


# ---- end to end, on SQLite and PostgreSQL ---------------------------------------------------


def test_every_chart_on_both_databases(srv):
    seed(srv.db)
    c = charts(srv.db, P)

    assert c["overview"].summary == {
        "devices": 6,  # L1-L4, N1, N2 (R1 revoked, F1 enrolled after the period)
        "incidents": 8,  # 10 in the period less i6 (false positive) and i7 (duplicate)
        "devices_with_incidents": 4,  # L1, L2, L4, N1
        "devices_with_incidents_per_1000": 666.7,  # 1000 * 4 / 6
        "field_per_1000": 2,
        "incidents_per_1000_devices": 1333.3,  # 1000 * 8 / 6
        "outside_hours_share": 0.375,  # i2, i4, i5 of 8
        "off_network_share": 0.3333,  # i2, i4 of the 6 known (i3, i8 unknown)
        "off_network_unknown": 2,
        "removable_share": 0.25,  # i2, i4
        "excluded": 2,
    }

    h = c["heatmap"]
    assert h.summary == {
        "total": 8,
        "max_cell": 2,
        "busiest": "Wed 14:00",  # i12 at 13:10 UTC (BST) and i8 at 14:00 UTC (GMT)
        "outside_hours_share": 0.375,
        "excluded": 2,
    }
    assert cell(h, "Mon", 12) == 1  # i3: 12:30 UTC in GMT, whatever the endpoint said
    assert cell(h, "Mon", 13) == 0
    assert cell(h, "Sun", 23) == 1  # i4: Monday 03:30 UTC is Sunday 23:30 EDT
    assert cell(h, "Sun", 22) == 1  # i5: Monday 03:30 UTC is Sunday 22:30 EST
    assert cell(h, "Tue", 11) == cell(h, "Tue", 23) == cell(h, "Fri", 16) == 1
    assert cell(h, "Tue", 10) == cell(h, "Wed", 9) == 0  # i6, i7 excluded
    assert cell(h, "Mon", 0) == 0  # o1, o2 are outside the period
    assert sum(sum(r[1:]) for r in h.rows) == 8

    assert c["weekly"].rows == [
        ["2025-10-13", 3, None, None],
        ["2025-10-20", 0, -3, -100.0],
        ["2025-10-27", 2, 2, None],  # nothing to compare with a week of none
        ["2025-11-03", 3, 1, 50.0],
    ]
    assert c["weekly"].summary == {
        "weeks": 4,
        "last_week": 3,
        "previous_week": 2,
        "change_pct": 50.0,
        "excluded": 2,
    }

    # delays sorted: 30 60 899 900 3600 5400 86400 604800 -> ranks 4 and 8 of 8
    assert c["delivery"].summary == {
        "median_s": 900,
        "p90_s": 604800,
        "delayed_over_1h_share": 0.5,
        "max_s": 604800,
        "excluded": 2,
    }
    assert c["delivery"].rows == [
        ["< 1 min", 1, 0.125],  # 30 (i6's 59 is a false positive)
        ["1–15 min", 2, 0.25],  # 60 exactly, 899
        ["15–60 min", 1, 0.125],  # 900 exactly
        ["1–6 h", 2, 0.25],  # 3600 exactly, 5400
        ["6–24 h", 0, 0.0],
        ["1–3 days", 1, 0.125],  # 86400 exactly
        ["3–7 days", 0, 0.0],
        ["> 7 days", 1, 0.125],  # 604800 exactly
    ]

    # first decisions: i6 1800, i3 3600, i7 7200, i8 18000 (escalated; not its close),
    # i1 172800 (its review is no decision), i12 691200 -> ranks 3 and 6 of 6
    assert c["decision"].summary == {
        "decided": 6,
        "undecided": 4,  # i2, i4, i5, i9
        "median_s": 7200,
        "p90_s": 691200,
        "excluded": 0,
        "includes_false_positives": True,
    }
    assert c["decision"].rows == [
        ["< 1 h", 1, 0.1],
        ["1–4 h", 2, 0.2],
        ["4–24 h", 1, 0.1],
        ["1–3 days", 1, 0.1],
        ["3–7 days", 0, 0.0],
        ["> 7 days", 1, 0.1],
        ["undecided", 4, 0.4],
    ]

    ny = charts(srv.db, NY)
    assert ny["overview"].summary == {
        "devices": 2,  # N1, N2 (F1 enrolled after the period)
        "incidents": 2,  # i4, i5
        "devices_with_incidents": 1,
        "devices_with_incidents_per_1000": 500.0,
        "field_per_1000": 2,
        "incidents_per_1000_devices": 1000.0,
        "outside_hours_share": 1.0,
        "off_network_share": 0.5,
        "off_network_unknown": 0,
        "removable_share": 0.5,
        "excluded": 1,  # i6
    }
    assert ny["decision"].summary["decided"] == 1  # i6, the false positive
    assert ny["decision"].summary["undecided"] == 2


# ---- the rest on SQLite ---------------------------------------------------------------------


def test_overview_rows_mirror_the_summary(seeded):
    o = charts(seeded.db, P)["overview"]
    assert o.columns == ["measure", "value"]
    assert [r[1] for r in o.rows] == list(o.summary.values())
    assert o.rows[0] == ["Devices", 6]
    assert all(isinstance(r[0], str) and r[0] for r in o.rows)


def test_site_filter_on_every_chart(seeded):
    ny = charts(seeded.db, NY)
    assert ny["heatmap"].summary["total"] == 2
    assert cell(ny["heatmap"], "Sun", 23) == cell(ny["heatmap"], "Sun", 22) == 1
    assert [r[1] for r in ny["weekly"].rows] == [0, 0, 1, 1]  # i4, i5
    assert ny["delivery"].summary["median_s"] == 86400  # of 86400, 604800
    assert ny["decision"].summary["median_s"] == 1800
    unknown = charts(seeded.db, Period(P.start, P.end, "Atlantis"))
    assert unknown["overview"].summary["devices"] == 0
    assert unknown["overview"].summary["incidents"] == 0
    assert unknown["overview"].summary["outside_hours_share"] is None


def test_devices_without_a_site_belong_to_the_default_site(srv_sqlite):
    with srv_sqlite.db.transaction() as s:
        d = add_device(s, "NOSITE", None)
        inc = report(s, d, "2025-10-14T11:00:00+01:00", 5)
        assert inc.site_id == s.scalar(select(Site.id).where(Site.name == "Default"))
    o = charts(srv_sqlite.db, Period(P.start, P.end, "Default"))["overview"].summary
    assert (o["devices"], o["incidents"], o["devices_with_incidents"]) == (1, 1, 1)


def test_heatmap_falls_back_to_the_endpoint_offset_without_a_site(srv_sqlite):
    with srv_sqlite.db.transaction() as s:
        # no "Default" site: the incidents of a device without a site have no zone at all
        s.scalar(select(Site).where(Site.name == "Default")).name = "HQ"
        d = add_device(s, "ROAMING", None)
        a = report(s, d, "2025-10-14T23:30:00+05:30", 5)  # 18:00 UTC, Tue 19 in London
        b = report(s, d, "2025-10-19T20:00:00-08:00", 5)  # Monday 04:00 UTC
        assert a.site_id is None and b.site_id is None
    h = charts(srv_sqlite.db, P)["heatmap"]
    assert cell(h, "Tue", 23) == 1
    assert cell(h, "Sun", 20) == 1
    assert cell(h, "Tue", 18) == cell(h, "Tue", 19) == cell(h, "Mon", 4) == 0
    assert h.summary["outside_hours_share"] == 1.0  # default hours: 23:30 and a Sunday


def test_reopened_false_positive_counts_again(seeded):
    with seeded.db.transaction() as s:
        i6 = s.scalar(select(Incident).where(Incident.resolution == "false_positive"))
        incidents.transition(
            s, i6, "in_review", by="x", resolution=None, note=None, actor_kind="user", ip=None
        )
    o = charts(seeded.db, P)["overview"].summary
    assert (o["incidents"], o["excluded"], o["devices_with_incidents"]) == (9, 1, 5)


def test_empty_database(srv_sqlite):
    c = charts(srv_sqlite.db, P)
    o = c["overview"].summary
    assert (o["devices"], o["incidents"], o["devices_with_incidents"]) == (0, 0, 0)
    for k in (
        "devices_with_incidents_per_1000",
        "incidents_per_1000_devices",
        "outside_hours_share",
        "off_network_share",
        "removable_share",
    ):
        assert o[k] is None, k
    assert c["heatmap"].summary == {
        "total": 0,
        "max_cell": 0,
        "busiest": None,
        "outside_hours_share": None,
        "excluded": 0,
    }
    assert c["weekly"].rows == [
        ["2025-10-13", 0, None, None],
        ["2025-10-20", 0, 0, None],
        ["2025-10-27", 0, 0, None],
        ["2025-11-03", 0, 0, None],
    ]
    assert c["delivery"].summary["median_s"] is None
    assert c["delivery"].summary["delayed_over_1h_share"] is None
    assert c["delivery"].rows[0] == ["< 1 min", 0, None]
    assert c["decision"].summary["decided"] == c["decision"].summary["undecided"] == 0
    assert c["decision"].summary["median_s"] is None
    for chart in c.values():
        json.dumps(chart.as_dict())
        assert chart.to_csv().startswith(",".join(chart.columns[:2]))


def test_period_for():
    sunday = datetime(2025, 11, 9, 15, 0)
    assert period_for(4, now=sunday) == P
    assert period_for(4, now=sunday, site="New York") == NY
    monday = datetime(2025, 11, 10)
    assert period_for(1, now=monday) == Period(monday, datetime(2025, 11, 17))
    # 00:30 on Monday at +01:00 is still Sunday in UTC
    aware = datetime(2025, 11, 10, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert period_for(1, now=aware) == Period(datetime(2025, 11, 3), monday)
    p = period_for(2)
    assert p.start.weekday() == 0 and p.end - p.start == timedelta(weeks=2)
    with pytest.raises(ValueError):
        period_for(0)


def test_weekly_covers_a_period_that_does_not_start_on_a_monday(seeded):
    w = charts(seeded.db, Period(datetime(2025, 10, 15), datetime(2025, 10, 28)))["weekly"]
    # Wed 15th: only i12 (i1, i2 were the day before); to the 28th: i3 and i4 (27th)
    assert w.rows == [
        ["2025-10-13", 1, None, None],
        ["2025-10-20", 0, -1, -100.0],
        ["2025-10-27", 2, 2, None],
    ]


def test_csv(seeded):
    c = charts(seeded.db, P)
    heat = c["heatmap"].to_csv()
    lines = heat.split("\r\n")
    assert lines[0] == "day," + ",".join(f"{h:02d}" for h in range(24))
    assert lines[3] == "Wed," + ",".join("2" if h == 14 else "0" for h in range(24))
    week = c["weekly"].to_csv()
    assert week.split("\r\n")[:3] == [
        "week_start,incidents,change,change_pct",
        "2025-10-13,3,,",
        "2025-10-20,0,-3,-100.0",  # negative numbers stay numbers
    ]
    assert c["delivery"].to_csv().split("\r\n")[2] == "1–15 min,2,0.25"
    assert list(csv.reader(io.StringIO(c["decision"].to_csv())))[-1] == ["undecided", "4", "0.4"]


def test_csv_neutralises_formulas():
    crafted = Chart(
        "overview",
        "t",
        ["=measure", "value"],
        [
            ['=HYPERLINK("http://x")', -5],
            ["@SUM(A1)", "-5"],
            ["+1+1", "-2+3"],
            ["\tcmd", 1.5],
            ['a,"b"\nc', None],
        ],
        {},
    )
    assert list(csv.reader(io.StringIO(crafted.to_csv()))) == [
        ["'=measure", "value"],
        ['\'=HYPERLINK("http://x")', "-5"],
        ["'@SUM(A1)", "-5"],
        ["'+1+1", "'-2+3"],
        ["'\tcmd", "1.5"],
        ['a,"b"\nc', ""],
    ]
    assert crafted.to_csv().endswith('"a,""b""\nc",\r\n')


def test_as_dict(seeded):
    d = charts(seeded.db, P)["weekly"].as_dict()
    assert set(d) == {"name", "title", "columns", "rows", "summary"}
    assert json.loads(json.dumps(d))["rows"][1] == ["2025-10-20", 0, -3, -100.0]


def test_each_chart_runs_at_most_two_selects(seeded):
    statements: list[str] = []

    def log(conn, cursor, statement, *args):  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = seeded.db.engine
    event.listen(engine, "before_cursor_execute", log)
    try:
        with seeded.db.reading() as s:
            for name, f in CHARTS.items():
                statements.clear()
                f(s, NY)
                assert 1 <= len(statements) <= 2, (name, statements)
                assert all("incidents.path" not in st for st in statements)
    finally:
        event.remove(engine, "before_cursor_execute", log)


def test_charts_are_named(seeded):
    with seeded.db.reading() as s:
        for name, f in CHARTS.items():
            assert f(s, P).name == name
    assert CHARTS == {
        "overview": overview,
        "heatmap": heatmap,
        "weekly": weekly,
        "delivery": delivery,
        "decision": decision,
    }


def test_a_device_revoked_in_the_period_still_counts_for_it(srv_sqlite):
    with srv_sqlite.db.transaction() as s:
        add_device(s, "KEPT", None)
        add_device(s, "TAKEN", None, revoked=datetime(2026, 3, 10))
    during = Period(datetime(2026, 3, 2), datetime(2026, 3, 16))
    after = Period(datetime(2026, 3, 16), datetime(2026, 3, 30))
    with srv_sqlite.db.reading() as s:
        assert overview(s, during).summary["devices"] == 2
        assert overview(s, after).summary["devices"] == 1
