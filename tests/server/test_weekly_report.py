"""The weekly threat picture (figures, flags, series) and its PDF, with answers worked out
by hand.

Reported week W = Monday 2025-11-03, previous week P = 2025-10-27; NOW is Wednesday
2025-11-12 09:00 UTC, so W is the last whole week (the default).

Takedown (times in hours from the start of P):

* p0-p19 reported at P + i h (i = 0..19); p0-p9 on a.example (NL), p10-p19 on b.example
  (DE). p0-p17 removed 10 h after their report (18 removals in P); p18 and p19 removed in W
  at W + 2 h and W + 4 h, 152 h and 153 h after their report.
* w0-w2 reported at W + 24 h on c.test (not in the host table), still open.
* notices sent: 4 in P, 3 in W.

====================================== ============== ================ =========== =======
figure                                 P              W                change %    at 50 %
====================================== ============== ================ =========== =======
URLs reported                          20             3                -85.0       flagged
removals                               18             2                -88.9       flagged
median time to removal                 10 h           152 h            +1420.0     flagged
90th percentile time to removal        10 h           153 h            +1430.0     flagged
removed within 24 h (cohort)           18/20 = 90%    0/3 = 0%         -100.0      flagged
removed within 72 h                    18/20 = 90%    0/3 = 0%         -100.0      flagged
reappearance rate                      0/18 = 0%      0/20 = 0%        - (from 0)  no
notices sent                           4              3                -25.0       no
open at the end of the week            2 (p18, p19)   3 (w0-w2)        +50.0       flagged
====================================== ============== ================ =========== =======

Endpoints (site London, devices D1-D4 enrolled in 2025-01, working hours Mon-Fri 08-18):

* P: e1 D1 Tue 10:00 on network, fixed disk; e2 D1 Wed 11:00 same; e3 D2 Thu 22:00 off
  network, removable; e4 D3 Fri 12:00 on network, fixed -> 4 incidents, 3 devices with
  incidents; outside hours, off network, removable: 1 of 4 each.
* W: e5 D1 Tue 10:00 on network, fixed; e6 D4 Sat 13:00 off network, removable -> 2
  incidents, 2 devices; outside hours, off network, removable: 1 of 2 each.

====================================== ============== ================ =========== =======
incidents per 1,000 devices            1000.0         500.0            -50.0       flagged
devices with incidents per 1,000       750.0          500.0            -33.3       no
share outside working hours            25%            50%              +100.0      flagged
share off network                      25%            50%              +100.0      flagged
share from removable media             25%            50%              +100.0      flagged
incidents                              4              2                -50.0       flagged
====================================== ============== ================ =========== =======
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from pypdf import PdfReader

from hashwatch.reports.weekly import format_change, format_pct, format_value, weekly_report
from hashwatch.reports.weekly_pdf import weekly_pdf
from hashwatch.server import derive, incidents
from hashwatch.server.schemas import IncidentIn
from hashwatch.store.models import Device, Incident, Site, TakedownNotice, TakedownUrl
from hashwatch.takedown import HostRow, service

from .conftest import make_incident

P = datetime(2025, 10, 27)
W = datetime(2025, 11, 3)
NOW = datetime(2025, 11, 12, 9, 0)
H = 3600
ON = {"context": {"online": True, "on_org_network": True}}
OFF = {"context": {"online": True, "on_org_network": False}}
FIXED = {"trigger": "realtime", "file": {"volume": {"kind": "fixed"}}}

DROP = "Removals down 89% week on week (2 against 18)"
ALL_FLAGS_AT_50 = [
    "URLs reported down 85% week on week (3 against 20)",
    DROP,
    "Median time to removal up 1420% week on week (152 h against 10 h)",
    "90th percentile time to removal up 1430% week on week (153 h against 10 h)",
    "Share removed within 24 h down 100% week on week (0% against 90%, -90 percentage points)",
    "Share removed within 72 h down 100% week on week (0% against 90%, -90 percentage points)",
    "URLs open at the end of the week up 50% week on week (3 against 2)",
    "Incidents per 1,000 devices down 50% week on week (500.0 against 1000.0)",
    "Share of incidents outside working hours up 100% week on week "
    "(50% against 25%, +25 percentage points)",
    "Share of incidents off the organisation's network up 100% week on week "
    "(50% against 25%, +25 percentage points)",
    "Share of incidents from removable media up 100% week on week "
    "(50% against 25%, +25 percentage points)",
    "Incidents down 50% week on week (2 against 4)",
]


# ---- the seed (the endpoint helpers as in test_analytics) -----------------------------------


def add_site(s, name: str, tz: str) -> Site:
    site = Site(name=name, timezone=tz, working_hours=derive.DEFAULT_HOURS, holidays=[])
    s.add(site)
    s.flush()
    return site


def add_device(s, hostname: str, site: Site | None, enrolled=datetime(2025, 1, 1)) -> Device:
    d = Device(
        id=str(uuid.uuid4()),
        secret_hash="0" * 64,
        hostname=hostname,
        site_id=site.id if site else None,
        enrolled_at=enrolled,
    )
    s.add(d)
    s.flush()
    return d


def report(s, device: Device, detected: str, *presets: dict) -> Incident:
    over: dict = {"detected_at": detected, "host": {"hostname": device.hostname}}
    for p in presets:
        over.update(p)
    inc = IncidentIn.model_validate(make_incident(**over))
    received = inc.detected_at.astimezone(UTC).replace(tzinfo=None) + timedelta(seconds=30)
    assert incidents.ingest(s, device, [inc], ip=None, now=received)["stored"] == [str(inc.id)]
    return s.get(Incident, str(inc.id))


def intake(s, url: str, when: datetime) -> TakedownUrl:
    result = service.intake(s, [service.Report(url=url, reported_at=when)], by="a", now=when)
    return s.get(TakedownUrl, result.created[0])


def notice(s, when: datetime) -> None:
    s.add(
        TakedownNotice(
            host="a.example",
            provider="Provider A",
            to_addresses=["abuse@provider-a.example"],
            kind="notice",
            sequence=1,
            subject="Notice",
            body="Please remove the listed URLs.",
            created_at=when,
            sent_at=when,
            status="sent",
            created_by="a",
        )
    )


def seed(db) -> None:
    with db.transaction() as s:
        london = add_site(s, "London", "Europe/London")
        add_site(s, "New York", "America/New_York")
        dev = {n: add_device(s, n, london) for n in ("D1", "D2", "D3", "D4")}
        report(s, dev["D1"], "2025-10-28T10:00:00+00:00", ON, FIXED)
        report(s, dev["D1"], "2025-10-29T11:00:00+00:00", ON, FIXED)
        report(s, dev["D2"], "2025-10-30T22:00:00+00:00", OFF)
        report(s, dev["D3"], "2025-10-31T12:00:00+00:00", ON, FIXED)
        report(s, dev["D1"], "2025-11-04T10:00:00+00:00", ON, FIXED)
        report(s, dev["D4"], "2025-11-08T13:00:00+00:00", OFF)

        service.put_hosts(
            s,
            [
                HostRow("a.example", "Provider A", "abuse@provider-a.example", "NL"),
                HostRow("b.example", "Provider B", "abuse@provider-b.example", "DE"),
            ],
            by="admin",
            now=P,
        )
        rows = []
        for i in range(20):
            host = "a.example" if i < 10 else "b.example"
            rows.append(intake(s, f"https://{host}/p{i}", P + timedelta(hours=i)))
        for i, row in enumerate(rows[:18]):
            service.move(s, row, "removed", by="a", at=P + timedelta(hours=i + 10))
        for i in range(3):
            intake(s, f"http://c.test/w{i}", W + timedelta(hours=24))
        service.move(s, rows[18], "removed", by="a", at=W + timedelta(hours=2))
        service.move(s, rows[19], "removed", by="a", at=W + timedelta(hours=4))
        for d in (1, 2, 3, 4):
            notice(s, P + timedelta(days=d))
        for d in (1, 2, 3):
            notice(s, W + timedelta(days=d))


def make_report(db, week=None, threshold=50, site=None, now=NOW):
    with db.reading() as s:
        return weekly_report(s, week, now=now, threshold_pct=threshold, site=site)


@pytest.fixture
def seeded(srv_sqlite):
    seed(srv_sqlite.db)
    return srv_sqlite.db


def rows_of(rows) -> dict[str, tuple]:
    return {r.key: (r.this, r.previous, r.change, r.change_pct, r.flagged) for r in rows}


# ---- known answers --------------------------------------------------------------------------


def test_report_on_both_databases(srv):
    seed(srv.db)
    r = make_report(srv.db)
    assert (r.week_start, r.week_end, r.previous_week_start) == (
        date(2025, 11, 3),
        date(2025, 11, 10),
        date(2025, 10, 27),
    )
    assert r.complete and r.as_of == NOW
    assert r.title == "Weekly threat picture — week of 2025-11-03"
    assert rows_of(r.takedown) == {
        "reported": (3, 20, -17, -85.0, True),
        "removals": (2, 18, -16, -88.9, True),
        "time_to_removal_median_s": (152 * H, 10 * H, 142 * H, 1420.0, True),
        "time_to_removal_p90_s": (153 * H, 10 * H, 143 * H, 1430.0, True),
        "removed_within_24h_share": (0.0, 0.9, -0.9, -100.0, True),
        "removed_within_72h_share": (0.0, 0.9, -0.9, -100.0, True),
        "reappearance_rate": (0.0, 0.0, 0.0, None, False),  # nothing to compare with 0
        "notices_sent": (3, 4, -1, -25.0, False),  # under the threshold
        "open_at_end": (3, 2, 1, 50.0, True),  # exactly the threshold
    }
    shares = {r.key: (r.of, r.previous_of) for r in r.takedown if r.unit == "share"}
    assert shares == {
        "removed_within_24h_share": (3, 20),
        "removed_within_72h_share": (3, 20),
        "reappearance_rate": (20, 18),  # removed at some moment of the week
    }
    assert rows_of(r.endpoint) == {
        "incidents_per_1000_devices": (500.0, 1000.0, -500.0, -50.0, True),
        "devices_with_incidents_per_1000": (500.0, 750.0, -250.0, -33.3, False),
        "outside_hours_share": (0.5, 0.25, 0.25, 100.0, True),
        "off_network_share": (0.5, 0.25, 0.25, 100.0, True),
        "removable_share": (0.5, 0.25, 0.25, 100.0, True),
        "incidents": (2, 4, -2, -50.0, True),
    }
    assert r.flags == ALL_FLAGS_AT_50
    assert r.open_at_end == 3 and r.open_hosts == 1
    assert r.open_by_host == [("c.test", 3)]
    assert r.open_by_country == [("unknown", 3)]

    weeks = [(W - timedelta(weeks=11 - i)).date().isoformat() for i in range(12)]
    assert r.series["removals"].rows == [[w, 0] for w in weeks[:10]] + [
        [weeks[10], 18],
        [weeks[11], 2],
    ]
    assert r.series["reported"].rows[-2:] == [[weeks[10], 20], [weeks[11], 3]]
    assert r.series["notices_sent"].rows[-3:] == [[weeks[9], 0], [weeks[10], 4], [weeks[11], 3]]
    assert r.series["median_time_to_removal_h"].rows[-3:] == [
        [weeks[9], None],
        [weeks[10], 10.0],
        [weeks[11], 152.0],
    ]
    assert [row[:2] for row in r.series["incidents"].rows] == [[w, 0] for w in weeks[:10]] + [
        [weeks[10], 4],
        [weeks[11], 2],
    ]
    assert r.series["removals"].summary == {"weeks": 12, "last_week": 2, "previous_week": 18}


def test_threshold_is_configurable(seeded):
    r = make_report(seeded, threshold=90)
    assert {x.key for x in r.takedown if x.flagged} == {
        "time_to_removal_median_s",
        "time_to_removal_p90_s",
        "removed_within_24h_share",
        "removed_within_72h_share",
    }
    assert DROP not in r.flags  # 88.9 % is under 90 %
    assert "Incidents down 50% week on week (2 against 4)" not in r.flags
    assert "Share of incidents outside working hours up 100% week on week " in r.flags[4]

    r = make_report(seeded, threshold=20)  # notices -25 %, devices with incidents -33.3 %
    assert "Notices sent down 25% week on week (3 against 4)" in r.flags
    devices = "Devices with incidents per 1,000 devices down 33% week on week (500.0 against 750.0)"
    assert devices in r.flags
    assert len(r.flags) == len(ALL_FLAGS_AT_50) + 2

    assert make_report(seeded, threshold=2000).flags == []
    assert make_report(seeded, threshold=0).flags[-1] == ALL_FLAGS_AT_50[-1]  # nothing unchanged
    assert len(make_report(seeded, threshold=0).flags) == len(ALL_FLAGS_AT_50) + 2
    with pytest.raises(ValueError):
        make_report(seeded, threshold=-1)


def test_choosing_the_week(seeded):
    assert make_report(seeded, week=date(2025, 11, 6)).week_start == date(2025, 11, 3)
    assert make_report(seeded, week=None).week_start == date(2025, 11, 3)
    # the week before: P against the week of 2025-10-20, which had nothing
    r = make_report(seeded, week=date(2025, 10, 27))
    removals = next(x for x in r.takedown if x.key == "removals")
    assert (removals.this, removals.previous, removals.change_pct, removals.flagged) == (
        18,
        0,
        None,
        False,
    )
    assert r.series["removals"].rows[-1] == ["2025-10-27", 18]
    # the current part week
    current = make_report(seeded, week=date(2025, 11, 12))
    assert (current.week_start, current.complete) == (date(2025, 11, 10), False)
    # the drop of the week before stays in sight among the earlier weeks' flags
    assert (date(2025, 11, 3), DROP) in current.earlier_flags
    assert DROP not in [f for _, f in make_report(seeded).earlier_flags]
    assert current.as_dict()["earlier_flags"][0]["week_start"] == "2025-11-03"
    text, _ = pdf_text(weekly_pdf(current, generated_by="a", generated_at=NOW))
    assert f"week of 2025-11-03: {DROP}" in squash(text)
    with pytest.raises(ValueError, match="not begun"):
        make_report(seeded, week=date(2025, 11, 17))


def test_site_is_for_the_endpoint_figures_only(seeded):
    r = make_report(seeded, site="New York")  # no devices there
    assert rows_of(r.endpoint)["incidents"] == (0, 0, 0, None, False)
    assert rows_of(r.endpoint)["incidents_per_1000_devices"] == (None, None, None, None, False)
    assert rows_of(r.takedown) == rows_of(make_report(seeded).takedown)
    assert r.as_dict()["site"] == "New York"


def test_as_dict_is_json_and_aggregate_only(seeded):
    d = make_report(seeded).as_dict()
    text = json.dumps(d)  # no datetimes left
    back = json.loads(text)
    assert back["week_start"] == "2025-11-03"
    assert back["takedown"][1]["this_text"] == "2"
    assert back["takedown"][2]["this_text"] == "152 h"
    assert back["takedown"][4]["previous_text"] == "90%"
    assert back["takedown"][4]["change_text"] == "-90 pp"
    assert back["open_by_country"] == [{"country": "unknown", "open": 3}]
    assert back["series"]["removals"]["columns"] == ["week_start", "removals"]
    assert back["flags"][1] == DROP
    # no device, user, file path or URL
    for secret in ("D1", "D4", "jdoe", "/media/", "STICK", "img_004", "/p1", "/w0", "https://"):
        assert secret not in text


def test_formatting():
    assert format_value(None, "count") == "-"
    assert format_value(36000, "seconds") == "10 h"
    assert format_value(5400, "seconds") == "1.5 h"
    assert format_value(1800, "seconds") == "30 min"
    assert format_value(0.2857, "share") == "28.6%"
    assert format_value(0.125, "share") == "12.5%"
    assert format_value(1333.3, "per_1000") == "1333.3"
    assert format_change(-0.9, "share") == "-90 pp"
    assert format_change(7200, "seconds") == "+2 h"
    assert format_change(0, "count") == "0"
    assert format_pct(-88.9) == "-88.9%"
    assert format_pct(12.5) == "+12.5%"
    assert format_pct(None) == "-"


# ---- the PDF --------------------------------------------------------------------------------


def pdf_text(data: bytes) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages), len(reader.pages)


def squash(text: str) -> str:
    return " ".join(text.split())


def test_pdf(seeded):
    r = make_report(seeded)
    at = datetime(2025, 11, 12, 9, 30)
    data = weekly_pdf(r, generated_by="admin", generated_at=at)
    assert data.startswith(b"%PDF")
    text, pages = pdf_text(data)
    flat = squash(text)
    assert "Weekly threat picture - week of 2025-11-03" in flat
    assert DROP in flat
    assert "Median time to removal up 1420% week on week (152 h against 10 h)" in flat
    assert "Monday 2025-11-03 to Sunday 2025-11-09 (UTC)" in flat
    assert "Changes of 50% or more either way are flagged." in flat
    # the tables
    assert "Removals 2 18 -16 -88.9%" in flat
    assert "Notices sent 3 4 -1 -25%" in flat
    assert "Median time to removal 152 h 10 h +142 h +1420%" in flat
    assert "Share removed within 24 h 0% 90% -90 pp -100%" in flat
    assert "Incidents per 1,000 devices 500.0 1000.0 -500.0 -50%" in flat
    assert "Share of incidents outside working hours 50% 25% +25 pp +100%" in flat
    # the charts (labels) and the open URLs
    assert "Removals per week" in flat and "Incidents per week" in flat
    assert "Week starting (month-day, UTC); the darker bar is this report's week" in flat
    assert "11-03" in flat and "10-27" in flat and "08-18" in flat
    assert "c.test 3" in flat and "unknown 3" in flat
    # the footer
    assert f"page 1 of {pages}" in flat and f"page {pages} of {pages}" in flat
    assert "generated by admin at 2025-11-12 09:30 UTC" in flat
    for secret in ("D1", "jdoe", "/media/", "https://"):
        assert secret not in flat
    # the same report, person and time: the same bytes
    assert weekly_pdf(r, generated_by="admin", generated_at=at) == data


def test_pdf_without_flags_or_data_and_with_awkward_text(srv_sqlite):
    with srv_sqlite.db.reading() as s:
        r = weekly_report(s, None, now=NOW, threshold_pct=50)
    assert r.flags == [] and r.open_by_host == []
    data = weekly_pdf(r, generated_by="Zo\u00eb \u202eadmin\u4e2d", generated_at=NOW)
    flat = squash(pdf_text(data)[0])
    assert "No change reached 50% this week." in flat
    assert "Removals 0 0 0 -" in flat
    assert "Median time to removal - - - -" in flat
    assert "Zo\u00eb \\u202eadmin\\u4e2d" in flat  # bidi and CJK shown escaped, not obeyed


def test_pdf_cuts_long_host_names_to_their_column(seeded):
    long_host = "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + ".example"
    r = replace(make_report(seeded), open_by_host=[(long_host, 5)] * 10, open_hosts=25)
    flat = squash(pdf_text(weekly_pdf(r, generated_by="admin", generated_at=NOW))[0])
    assert "a" * 40 in flat and long_host not in flat and "... 5" in flat
    assert "and 15 more hosts" in flat
