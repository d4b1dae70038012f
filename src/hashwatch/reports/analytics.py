"""The dashboard's analytics, worked out from the server's database.

Each chart is a function ``(session, period) -> Chart``: a table (columns and rows, the same
figures as the picture, for people who cannot see it and for the CSV download) and headline
numbers (``summary``). Every chart runs one or two SELECTs of only the columns it needs, in
portable SQLAlchemy Core (SQLite and PostgreSQL alike); what needs time zones is done in Python.

Counted incidents are those detected in ``[start, end)`` (of the site, if one is named), less
those closed as false positives or duplicates: how many were left out is in every summary as
``excluded``. The decision chart is the exception: closing as a false positive is a decision.
"""

from __future__ import annotations

import csv
import io
import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import and_, case, distinct, func, or_, select
from sqlalchemy.orm import Session

from ..server import derive
from ..store.db import naive_utc
from ..store.models import Device, Incident, IncidentEvent, Site

#: resolutions whose incidents are left out of the counts
NOT_COUNTED = ("false_positive", "duplicate")
#: moves of the workflow that are a decision about an incident
DECISIONS = ("escalated", "closed")
#: devices with at least one incident per 1,000 devices, as seen in the field
FIELD_PER_1000 = 2
DEFAULT_SITE = "Default"  # a device without a site belongs to it (as on ingest)
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEK = timedelta(days=7)
MINUTE, HOUR, DAY = 60, 3600, 86400
#: (label, lower bound in seconds, inclusive); a bucket ends where the next begins
DELIVERY_BUCKETS = (
    ("< 1 min", 0),
    ("1–15 min", MINUTE),
    ("15–60 min", 15 * MINUTE),
    ("1–6 h", HOUR),
    ("6–24 h", 6 * HOUR),
    ("1–3 days", DAY),
    ("3–7 days", 3 * DAY),
    ("> 7 days", 7 * DAY),
)
DECISION_BUCKETS = (
    ("< 1 h", 0),
    ("1–4 h", HOUR),
    ("4–24 h", 4 * HOUR),
    ("1–3 days", DAY),
    ("3–7 days", 3 * DAY),
    ("> 7 days", 7 * DAY),
)
UNDECIDED = "undecided"


@dataclass(frozen=True)
class Period:
    start: datetime  # naive UTC, inclusive (incidents by detected_at)
    end: datetime  # naive UTC, exclusive
    site: str | None = None  # a site's name: its incidents and devices only


@dataclass
class Chart:
    name: str
    title: str
    columns: list[str]
    rows: list[list]
    summary: dict

    def to_csv(self) -> str:
        """The table as RFC 4180 CSV; text that a spreadsheet would run as a formula is
        neutralised with a leading quote (numbers, negative ones too, stay numbers)."""
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\r\n")
        w.writerow([_csv_cell(c) for c in self.columns])
        w.writerows([_csv_cell(v) for v in row] for row in self.rows)
        return out.getvalue()

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
            "summary": dict(self.summary),
        }


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _csv_cell(v: object) -> object:
    if v is None:
        return ""
    if isinstance(v, int | float) and not isinstance(v, bool):
        return v
    text = str(v)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def period_for(weeks: int, now: datetime | None = None, site: str | None = None) -> Period:
    """The last ``weeks`` whole weeks (Monday to Monday, UTC), the current one included."""
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    now = now or datetime.now(UTC)
    now = naive_utc(now)
    this_monday = _monday(now)
    return Period(this_monday - (weeks - 1) * WEEK, this_monday + WEEK, site)


def _monday(dt: datetime) -> datetime:
    d = dt.date()
    return datetime.combine(d - timedelta(days=d.weekday()), time())


# ---- filters --------------------------------------------------------------------------------

_EXCLUDED = and_(
    Incident.status == "closed", func.coalesce(Incident.resolution, "").in_(NOT_COUNTED)
)


def _site_id(name: str):
    return select(Site.id).where(Site.name == name).scalar_subquery()


def _in_period(p: Period) -> list:
    conds = [Incident.detected_at >= p.start, Incident.detected_at < p.end]
    if p.site is not None:
        conds.append(Incident.site_id == _site_id(p.site))
    return conds


def _counted(p: Period) -> list:
    return [*_in_period(p), ~_EXCLUDED]


def _excluded(s: Session, p: Period) -> int:
    return s.scalar(select(func.count()).select_from(Incident).where(*_in_period(p), _EXCLUDED))


def _device_count(s: Session, p: Period) -> int:
    # devices enrolled at some time in the period: one revoked later (say, taken away after an
    # incident) still counts for the weeks it was watched
    conds = [
        or_(Device.revoked_at.is_(None), Device.revoked_at >= p.start),
        Device.enrolled_at < p.end,
    ]
    if p.site is not None:
        site = func.coalesce(Device.site_id, _site_id(DEFAULT_SITE))
        conds.append(site == _site_id(p.site))
    return s.scalar(select(func.count()).select_from(Device).where(*conds))


# ---- small sums -----------------------------------------------------------------------------


def _share(n: int, of: int) -> float | None:
    return round(n / of, 4) if of else None


def _per_1000(n: int, of: int) -> float | None:
    return round(1000 * n / of, 1) if of else None


def _percentile(ordered: list[int], pct: int) -> int | None:
    """Nearest rank: the smallest value with at least ``pct`` % of the values at or below."""
    if not ordered:
        return None
    rank = max(1, -(-pct * len(ordered) // 100))
    return ordered[rank - 1]


def _bucket_rows(values: list[int], buckets: tuple, total: int) -> list[list]:
    bounds = [b for _, b in buckets]
    counts = Counter(bisect_right(bounds, max(0, v)) - 1 for v in values)
    return [[label, counts[i], _share(counts[i], total)] for i, (label, _) in enumerate(buckets)]


def _count_if(cond):
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


# ---- the charts -----------------------------------------------------------------------------

OVERVIEW_LABELS = {
    "devices": "Devices",
    "incidents": "Incidents",
    "devices_with_incidents": "Devices with incidents",
    "devices_with_incidents_per_1000": "Devices with incidents per 1,000 devices",
    "field_per_1000": "Field figure: devices with incidents per 1,000 devices",
    "incidents_per_1000_devices": "Incidents per 1,000 devices",
    "outside_hours_share": "Share outside working hours",
    "off_network_share": "Share off the organisation's network (where known)",
    "off_network_unknown": "Network unknown",
    "removable_share": "Share from removable media",
    "excluded": "Left out (closed as false positive or duplicate)",
}


def overview(s: Session, p: Period) -> Chart:
    counted = ~_EXCLUDED
    row = s.execute(
        select(
            _count_if(counted),
            func.count(distinct(case((counted, Incident.device_id)))),
            _count_if(and_(counted, Incident.outside_hours.is_(True))),
            _count_if(and_(counted, Incident.off_network.is_(True))),
            _count_if(and_(counted, Incident.off_network.is_not(None))),
            _count_if(and_(counted, Incident.removable_media.is_(True))),
            _count_if(_EXCLUDED),
        ).where(*_in_period(p))
    ).one()
    incidents, with_incidents, outside, off, off_known, removable, excluded = map(int, row)
    devices = _device_count(s, p)
    summary = {
        "devices": devices,
        "incidents": incidents,
        "devices_with_incidents": with_incidents,
        "devices_with_incidents_per_1000": _per_1000(with_incidents, devices),
        "field_per_1000": FIELD_PER_1000,
        "incidents_per_1000_devices": _per_1000(incidents, devices),
        "outside_hours_share": _share(outside, incidents),
        "off_network_share": _share(off, off_known),
        "off_network_unknown": incidents - off_known,
        "removable_share": _share(removable, incidents),
        "excluded": excluded,
    }
    rows = [[OVERVIEW_LABELS[k], v] for k, v in summary.items()]
    return Chart("overview", "Overview", ["measure", "value"], rows, summary)


def heatmap(s: Session, p: Period) -> Chart:
    result = s.execute(
        select(
            Incident.detected_at,
            Incident.utc_offset_min,
            Site.timezone,
            Incident.outside_hours,
        )
        .select_from(Incident)
        .outerjoin(Site, Site.id == Incident.site_id)
        .where(*_counted(p))
    )
    cells = [[0] * 24 for _ in DAYS]
    total = outside = 0
    for detected, offset, tz, out_of_hours in result:
        local = derive.local_time(detected, tz or None, offset)
        cells[local.weekday()][local.hour] += 1
        total += 1
        outside += bool(out_of_hours)
    max_cell = max(max(day) for day in cells)
    busiest = None
    if total:
        d, h = next((d, h) for d in range(7) for h in range(24) if cells[d][h] == max_cell)
        busiest = f"{DAYS[d]} {h:02d}:00"
    summary = {
        "total": total,
        "max_cell": max_cell,
        "busiest": busiest,
        "outside_hours_share": _share(outside, total),
        "excluded": _excluded(s, p),
    }
    rows = [[DAYS[d], *cells[d]] for d in range(7)]
    columns = ["day", *(f"{h:02d}" for h in range(24))]
    return Chart("heatmap", "Incidents by local weekday and hour", columns, rows, summary)


def _week_starts(p: Period) -> list[datetime]:
    weeks, w = [], _monday(p.start)
    while w < p.end:
        weeks.append(w)
        w += WEEK
    return weeks


def weekly(s: Session, p: Period) -> Chart:
    starts = _week_starts(p)
    counts = [0] * len(starts)
    if starts:
        week = case(
            *((Incident.detected_at < w + WEEK, i) for i, w in enumerate(starts)),
            else_=len(starts) - 1,
        )
        # grouped through a subquery: PostgreSQL would not match a GROUP BY of the CASE
        # (its parameters are numbered apart) to the same CASE in the SELECT list
        inner = select(week.label("week")).where(*_counted(p)).subquery()
        for i, n in s.execute(select(inner.c.week, func.count()).group_by(inner.c.week)):
            counts[int(i)] = n
    rows, previous = [], None
    for w, n in zip(starts, counts, strict=True):
        change = None if previous is None else n - previous
        pct = round(100 * change / previous, 1) if previous else None
        rows.append([w.date().isoformat(), n, change, pct])
        previous = n
    summary = {
        "weeks": len(rows),
        "last_week": rows[-1][1] if rows else None,
        "previous_week": rows[-2][1] if len(rows) > 1 else None,
        "change_pct": rows[-1][3] if rows else None,
        "excluded": _excluded(s, p),
    }
    columns = ["week_start", "incidents", "change", "change_pct"]
    return Chart("weekly", "Incidents per week", columns, rows, summary)


def delivery(s: Session, p: Period) -> Chart:
    delays = list(
        s.scalars(
            select(Incident.delivery_delay_s)
            .where(*_counted(p))
            .order_by(Incident.delivery_delay_s)
        )
    )
    n = len(delays)
    late = n - bisect_right(delays, HOUR - 1)  # arrived an hour or more after detection
    summary = {
        "median_s": _percentile(delays, 50),
        "p90_s": _percentile(delays, 90),
        "delayed_over_1h_share": _share(late, n),
        "max_s": delays[-1] if delays else None,
        "excluded": _excluded(s, p),
    }
    rows = _bucket_rows(delays, DELIVERY_BUCKETS, n)
    title = "Time from detection to arrival at the server"
    return Chart("delivery", title, ["delay", "incidents", "share"], rows, summary)


def decision(s: Session, p: Period) -> Chart:
    first = func.min(IncidentEvent.at)
    result = s.execute(
        select(Incident.received_at, first)
        .select_from(Incident)
        .outerjoin(
            IncidentEvent,
            and_(
                IncidentEvent.incident_id == Incident.id,
                IncidentEvent.to_status.in_(DECISIONS),
            ),
        )
        .where(*_in_period(p))
        .group_by(Incident.id, Incident.received_at)
    )
    waits, undecided = [], 0
    for received, decided_at in result:
        if decided_at is None:
            undecided += 1
        else:
            waits.append(max(0, int((decided_at - received).total_seconds())))
    waits.sort()
    total = len(waits) + undecided
    rows = _bucket_rows(waits, DECISION_BUCKETS, total)
    rows.append([UNDECIDED, undecided, _share(undecided, total)])
    summary = {
        "decided": len(waits),
        "undecided": undecided,
        "median_s": _percentile(waits, 50),
        "p90_s": _percentile(waits, 90),
        "excluded": 0,
        "includes_false_positives": True,
    }
    title = "Time from arrival to the first decision (escalated or closed)"
    return Chart("decision", title, ["time_to_decision", "incidents", "share"], rows, summary)


CHARTS = {
    "overview": overview,
    "heatmap": heatmap,
    "weekly": weekly,
    "delivery": delivery,
    "decision": decision,
}
