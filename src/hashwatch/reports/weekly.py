"""The weekly threat picture: the takedown figures beside the endpoint figures, week on week.

:func:`weekly_report` works out one week (Monday to Monday, UTC; by default the last whole
week before ``now``) and the week before it:

* takedown rows from :mod:`hashwatch.takedown.metrics` (its docstring defines each figure):
  URLs reported, removals, median and 90th percentile time to removal, shares removed within
  24 h and 72 h, reappearance rate, notices sent, URLs open at the end of the week -- for the
  whole hotline (takedown has no sites);
* endpoint rows from the dashboard's :func:`~hashwatch.reports.analytics.overview` of each
  week (of ``site`` if one is named): incidents and devices with incidents per 1,000
  devices, shares outside working hours, off the organisation's network and from removable
  media, incidents;
* ``flags``: a sentence for every change of at least ``threshold_pct`` % either way, e.g.
  "Removals down 89% week on week (2 against 18)". A change is flagged only when both weeks
  have a value, the previous one is not 0 and the value changed; the test is on the
  rounded ``change_pct`` the table shows (to 0.1). Shares are compared as values (0.5 to
  0.25 is down 50%); their sentence gives the percentage points too;
* ``series`` for the charts: the last 12 weeks (ending with the reported week) of removals,
  URLs reported, notices sent, median time to removal in hours, and incidents -- each a
  :class:`~hashwatch.reports.analytics.Chart` (columns and rows, as the dashboard's);
* the hosts and countries with the most URLs open at the end of the week (top 10).

Aggregate figures only: no device, user, file path or incident detail, and no URL (host
names and counts only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from ..store.db import naive_utc
from ..takedown.metrics import WeekMetrics, change, monday, weekly_series
from .analytics import Chart, Period, overview, weekly

__all__ = [
    "ENDPOINT_MEASURES",
    "SERIES_WEEKS",
    "TAKEDOWN_MEASURES",
    "TOP",
    "ReportRow",
    "WeeklyReport",
    "format_change",
    "format_pct",
    "format_value",
    "weekly_report",
]

WEEK = timedelta(days=7)
SERIES_WEEKS = 12
TOP = 10
TITLE = "Weekly threat picture"

#: (figure, label, unit); units: count | seconds | share (0..1) | per_1000
TAKEDOWN_MEASURES: tuple[tuple[str, str, str], ...] = (
    ("reported", "URLs reported", "count"),
    ("removals", "Removals", "count"),
    ("time_to_removal_median_s", "Median time to removal", "seconds"),
    ("time_to_removal_p90_s", "90th percentile time to removal", "seconds"),
    ("removed_within_24h_share", "Share removed within 24 h", "share"),
    ("removed_within_72h_share", "Share removed within 72 h", "share"),
    ("reappearance_rate", "Reappearance rate", "share"),
    ("notices_sent", "Notices sent", "count"),
    ("open_at_end", "URLs open at the end of the week", "count"),
)
ENDPOINT_MEASURES: tuple[tuple[str, str, str], ...] = (
    ("incidents_per_1000_devices", "Incidents per 1,000 devices", "per_1000"),
    (
        "devices_with_incidents_per_1000",
        "Devices with incidents per 1,000 devices",
        "per_1000",
    ),
    ("outside_hours_share", "Share of incidents outside working hours", "share"),
    ("off_network_share", "Share of incidents off the organisation's network", "share"),
    ("removable_share", "Share of incidents from removable media", "share"),
    ("incidents", "Incidents", "count"),
)
NONE_TEXT = "-"


# ---- formatting -----------------------------------------------------------------------------


def _number(x: float, places: int = 1) -> str:
    """``x`` to ``places`` decimals, half up, without a trailing ``.0``."""
    scaled = math.floor(abs(x) * 10**places + 0.5) / 10**places
    text = f"{scaled:.{places}f}".rstrip("0").rstrip(".") if places else f"{scaled:.0f}"
    return ("-" if x < 0 and scaled else "") + text


def format_value(value: int | float | None, unit: str) -> str:
    """A figure as the report shows it: counts as they are, times in hours (minutes under an
    hour), shares as percentages, rates to 0.1; ``-`` for none."""
    if value is None:
        return NONE_TEXT
    if unit == "seconds":
        if abs(value) < 3600:
            return f"{_number(value / 60, 0)} min"
        return f"{_number(value / 3600)} h"
    if unit == "share":
        return f"{_number(100 * value)}%"
    if unit == "per_1000":
        return f"{value:.1f}"
    return str(value)


def format_change(value: int | float | None, unit: str) -> str:
    """A change: signed, in the unit of the figure (percentage points for shares)."""
    if value is None:
        return NONE_TEXT
    text = f"{_number(100 * value)} pp" if unit == "share" else format_value(value, unit)
    return ("+" if value > 0 else "") + text


def format_pct(pct: float | None) -> str:
    if pct is None:
        return NONE_TEXT
    return ("+" if pct > 0 else "") + f"{_number(pct)}%"


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One figure this week beside the week before. ``change`` is ``this - previous``,
    ``change_pct`` that in % of ``previous`` (None when either is None or previous is 0),
    ``flagged`` whether it reached the threshold; ``of`` / ``previous_of`` are the counts a
    takedown share is of (cohorts, URLs removed during the week), else None."""

    key: str
    label: str
    unit: str
    this: int | float | None
    previous: int | float | None
    change: int | float | None
    change_pct: float | None
    direction: str | None
    flagged: bool
    of: int | None = None
    previous_of: int | None = None

    @property
    def this_text(self) -> str:
        return format_value(self.this, self.unit)

    @property
    def previous_text(self) -> str:
        return format_value(self.previous, self.unit)

    @property
    def change_text(self) -> str:
        return format_change(self.change, self.unit)

    @property
    def change_pct_text(self) -> str:
        return format_pct(self.change_pct)

    def sentence(self) -> str:
        """e.g. "Removals down 89% week on week (2 against 18)"."""
        pct = _number(abs(self.change_pct or 0), 0)
        detail = f"{self.this_text} against {self.previous_text}"
        if self.unit == "share":
            detail += f", {self.change_text.replace('pp', 'percentage points')}"
        return f"{self.label} {self.direction} {pct}% week on week ({detail})"

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "this": self.this,
            "previous": self.previous,
            "change": self.change,
            "change_pct": self.change_pct,
            "direction": self.direction,
            "flagged": self.flagged,
            "of": self.of,
            "previous_of": self.previous_of,
            "this_text": self.this_text,
            "previous_text": self.previous_text,
            "change_text": self.change_text,
            "change_pct_text": self.change_pct_text,
        }


def _row(
    key: str,
    label: str,
    unit: str,
    this: int | float | None,
    previous: int | float | None,
    threshold_pct: int,
    of: tuple[int | None, int | None] = (None, None),
) -> ReportRow:
    c = change(this, previous)
    flagged = (
        c.change_pct is not None and c.direction != "same" and abs(c.change_pct) >= threshold_pct
    )
    return ReportRow(
        key,
        label,
        unit,
        this,
        previous,
        c.change,
        c.change_pct,
        c.direction,
        flagged,
        *of,
    )


#: the counts each takedown share is of
_SHARE_OF = {
    "removed_within_24h_share": "cohort_24h",
    "removed_within_72h_share": "cohort_72h",
    "reappearance_rate": "removed_in_window",
}


# ---- the report -----------------------------------------------------------------------------


@dataclass
class WeeklyReport:
    """One week's threat picture (see the module docstring)."""

    week_start: date
    week_end: date  # the next Monday (exclusive)
    previous_week_start: date
    as_of: datetime  # when it was worked out (``now``)
    complete: bool  # False: the week was not over at ``as_of``
    threshold_pct: int
    site: str | None
    takedown: list[ReportRow]
    endpoint: list[ReportRow]
    flags: list[str]
    series: dict[str, Chart]
    open_at_end: int
    open_hosts: int  # hosts with open URLs, all of them
    open_by_host: list[tuple[str, int]]  # the TOP hosts
    open_by_country: list[tuple[str, int]]  # the TOP countries
    #: (week, sentence) of the flagged takedown changes in the series' earlier weeks
    earlier_flags: list[tuple[date, str]] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{TITLE} — week of {self.week_start.isoformat()}"

    def as_dict(self) -> dict:
        return {
            "title": self.title,
            "week_start": self.week_start.isoformat(),
            "week_end": self.week_end.isoformat(),
            "previous_week_start": self.previous_week_start.isoformat(),
            "as_of": self.as_of.isoformat(),
            "complete": self.complete,
            "threshold_pct": self.threshold_pct,
            "site": self.site,
            "takedown": [r.as_dict() for r in self.takedown],
            "endpoint": [r.as_dict() for r in self.endpoint],
            "flags": list(self.flags),
            "series": {name: chart.as_dict() for name, chart in self.series.items()},
            "open_at_end": self.open_at_end,
            "open_hosts": self.open_hosts,
            "open_by_host": [{"host": h, "open": n} for h, n in self.open_by_host],
            "open_by_country": [{"country": c, "open": n} for c, n in self.open_by_country],
            "earlier_flags": [
                {"week_start": w.isoformat(), "flag": f} for w, f in self.earlier_flags
            ],
        }


def weekly_report(
    s: Session,
    week_start: date | None,
    *,
    now: datetime,
    threshold_pct: int,
    site: str | None = None,
) -> WeeklyReport:
    """The threat picture of the week holding ``week_start`` (any day of it; None: the last
    whole week before ``now``) against the week before, as known at ``now``. ``site`` names
    a site for the endpoint figures. Raises ValueError for a week that begins after ``now``
    or a negative threshold."""
    if threshold_pct < 0:
        raise ValueError("threshold_pct must not be negative")
    now = naive_utc(now)
    start = monday(now) - WEEK if week_start is None else monday(week_start)
    if start > now:
        raise ValueError(f"the week of {start.date().isoformat()} has not begun")
    end, previous_start = start + WEEK, start - WEEK

    series = weekly_series(s, SERIES_WEEKS, now=now, last_week=start)
    this, before = series[-1], series[-2]
    takedown = [
        _row(
            key,
            label,
            unit,
            getattr(this, key),
            getattr(before, key),
            threshold_pct,
            (getattr(this, _SHARE_OF[key]), getattr(before, _SHARE_OF[key]))
            if key in _SHARE_OF
            else (None, None),
        )
        for key, label, unit in TAKEDOWN_MEASURES
    ]
    now_ov = overview(s, Period(start, end, site)).summary
    then_ov = overview(s, Period(previous_start, start, site)).summary
    endpoint = [
        _row(key, label, unit, now_ov[key], then_ov[key], threshold_pct)
        for key, label, unit in ENDPOINT_MEASURES
    ]
    flags = [r.sentence() for r in (*takedown, *endpoint) if r.flagged]
    first = series[0].start
    earlier = _earlier_flags(series[:-1], threshold_pct)
    return WeeklyReport(
        week_start=start.date(),
        week_end=end.date(),
        previous_week_start=previous_start.date(),
        as_of=now,
        complete=end <= now,
        threshold_pct=threshold_pct,
        site=site,
        takedown=takedown,
        endpoint=endpoint,
        flags=flags,
        series={
            **_takedown_charts(series),
            "incidents": weekly(s, Period(first, end, site)),
        },
        open_at_end=this.open_at_end,
        open_hosts=len(this.open_by_host),
        open_by_host=this.open_by_host[:TOP],
        open_by_country=this.open_by_country[:TOP],
        earlier_flags=earlier,
    )


#: the takedown counts whose week-on-week changes are looked for in the weeks before
EARLIER_MEASURES = ("removals", "reported", "notices_sent")


def _earlier_flags(series: list[WeekMetrics], threshold_pct: int) -> list[tuple[date, str]]:
    """Flagged takedown changes of the weeks before the reported one, newest first, so a
    drop (and its recovery) stays in sight after the week that showed it."""
    labels = {key: label for key, label, _ in TAKEDOWN_MEASURES}
    out = []
    for before, this in zip(series, series[1:], strict=False):
        for key in EARLIER_MEASURES:
            row = _row(
                key, labels[key], "count", getattr(this, key), getattr(before, key), threshold_pct
            )
            if row.flagged:
                out.append((this.start.date(), row.sentence()))
    return out[::-1]


def _takedown_charts(series: list[WeekMetrics]) -> dict[str, Chart]:
    def hours(seconds: int | None) -> float | None:
        return None if seconds is None else round(seconds / 3600, 1)

    charts = {}
    for name, title, value in (
        ("removals", "Removals per week", lambda m: m.removals),
        ("reported", "URLs reported per week", lambda m: m.reported),
        ("notices_sent", "Notices sent per week", lambda m: m.notices_sent),
        (
            "median_time_to_removal_h",
            "Median time to removal (hours) per week",
            lambda m: hours(m.time_to_removal_median_s),
        ),
    ):
        rows = [[m.start.date().isoformat(), value(m)] for m in series]
        summary = {
            "weeks": len(rows),
            "last_week": rows[-1][1],
            "previous_week": rows[-2][1] if len(rows) > 1 else None,
        }
        charts[name] = Chart(name, title, ["week_start", name], rows, summary)
    return charts
