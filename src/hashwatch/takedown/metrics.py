"""Takedown figures week by week, worked out from the status history.

Weeks run from Monday 00:00 UTC to the next Monday (naive UTC datetimes, as every time is
stored). The figures come from the URLs' status events (``TakedownEvent`` rows of kind
``status``) and the notices (``TakedownNotice``), never from a URL's current status: a past
week gives the figures it gave at the time. Only what had happened by ``now`` (the time the
figures are worked out) counts: events and notices stamped after ``now`` are left out.

For a window ``[start, end)``:

``reported``
    URLs whose first report (their status event to ``reported``) is in the window.
``removals``
    status events to ``removed`` in the window: a URL removed, reappearing and removed again
    in the window counts twice.
``time_to_removal_median_s``, ``time_to_removal_p90_s``
    over the removals in the window, the seconds from the URL's first report to the removal
    -- for a removal after a reappearance, from that reappearance (the latest status event to
    ``reappeared`` before it). Nearest-rank percentiles (the smallest value with at least 50 /
    90 % of the values at or below it), None when there was no removal.
``removed_within_24h_share`` (``_72h_``)
    the cohort is the URLs first reported in the window whose 24 h (72 h) had passed by
    ``now`` (reported at or before ``now`` - 24 h); the share is those of them whose first
    removal came at most 24 h (72 h) after the report, rounded to 4 places. None when the
    cohort is empty. ``cohort_24h`` and ``removed_within_24h`` (and the 72 h ones) are the
    two counts.
``reappearances``
    status events to ``reappeared`` in the window (a URL reported again after its removal,
    or found served again by the recheck).
``reappearance_rate``
    ``reappearances`` / ``removed_in_window``, the URLs that were removed at some moment of
    the window (removed at its start, or removed during it): the URLs that could reappear.
    None when there were none. (A URL removed, reappearing, removed and reappearing again in
    one week counts twice above the line and once below it, so the rate can pass 1.)
``notices_sent``
    notices with status ``sent`` and ``sent_at`` in the window, escalations included;
    ``escalations`` is how many of them were escalations (kind ``escalation``).
``open_at_end``
    URLs open (``reported``, ``notice_sent`` or ``reappeared``) at ``as_of`` = the earlier of
    ``end`` and ``now`` -- by their status events before ``end``; ``open_by_host`` and
    ``open_by_country`` count them per host and per country of the host attribution table
    (``unknown`` for a host the table does not cover), most first, then by name.

:func:`week_metrics` gives one week, :func:`weekly_series` the last weeks (reading the
history once), :func:`week_on_week` the changes from one week to the next.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import groupby

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store.db import naive_utc
from ..store.models import TakedownEvent, TakedownNotice, TakedownUrl
from .service import OPEN, host_table
from .urls import UrlError

__all__ = [
    "METRICS",
    "UNKNOWN_COUNTRY",
    "Change",
    "WeekMetrics",
    "change",
    "monday",
    "percentile",
    "week_metrics",
    "week_on_week",
    "weekly_series",
]

WEEK = timedelta(days=7)
HOUR = 3600
UNKNOWN_COUNTRY = "unknown"
#: the figures :func:`week_on_week` compares, in the order reports show them
METRICS = (
    "reported",
    "removals",
    "time_to_removal_median_s",
    "time_to_removal_p90_s",
    "removed_within_24h_share",
    "removed_within_72h_share",
    "reappearances",
    "reappearance_rate",
    "notices_sent",
    "escalations",
    "open_at_end",
)


# ---- small helpers --------------------------------------------------------------------------


def percentile(ordered: list[int], pct: int) -> int | None:
    """Nearest rank: the smallest value with at least ``pct`` % of the values at or below
    (``ordered`` sorted ascending); None for no values. As the dashboard's percentiles."""
    if not ordered:
        return None
    rank = max(1, -(-pct * len(ordered) // 100))
    return ordered[rank - 1]


def _share(n: int, of: int) -> float | None:
    return round(n / of, 4) if of else None


def monday(when: date | datetime) -> datetime:
    """Monday 00:00 (naive UTC) of the week holding ``when`` (a date, or a datetime: aware
    ones are taken to UTC first)."""
    if isinstance(when, datetime):
        when = naive_utc(when).date()
    return datetime.combine(when - timedelta(days=when.weekday()), time())


def _week_start(start: date | datetime) -> datetime:
    """``start`` as a naive UTC datetime; it must be a Monday 00:00 UTC."""
    if isinstance(start, datetime):
        start = naive_utc(start)
    else:
        start = datetime.combine(start, time())
    if start != monday(start):
        raise ValueError(f"a week starts on a Monday at 00:00 UTC, not {start.isoformat()}")
    return start


def _counted(items: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    return sorted(items, key=lambda kv: (-kv[1], kv[0]))


# ---- the figures ----------------------------------------------------------------------------


@dataclass
class WeekMetrics:
    """The takedown figures of the window ``[start, end)`` as of ``as_of`` (see the module
    docstring for each definition). ``complete`` is False for a week not over at ``now``."""

    start: datetime
    end: datetime
    as_of: datetime
    complete: bool
    reported: int = 0
    removals: int = 0
    time_to_removal_median_s: int | None = None
    time_to_removal_p90_s: int | None = None
    cohort_24h: int = 0
    removed_within_24h: int = 0
    removed_within_24h_share: float | None = None
    cohort_72h: int = 0
    removed_within_72h: int = 0
    removed_within_72h_share: float | None = None
    reappearances: int = 0
    removed_in_window: int = 0
    reappearance_rate: float | None = None
    notices_sent: int = 0
    escalations: int = 0
    open_at_end: int = 0
    open_by_host: list[tuple[str, int]] = field(default_factory=list)
    open_by_country: list[tuple[str, int]] = field(default_factory=list)

    @property
    def week_start(self) -> date:
        return self.start.date()

    def as_dict(self) -> dict:
        """JSON-ready: the week as ISO dates, ``as_of`` as ISO time, hosts and countries as
        ``{"host"|"country", "open"}`` objects."""
        out = asdict(self)
        out["start"] = self.start.date().isoformat()
        out["end"] = self.end.date().isoformat()
        out["as_of"] = self.as_of.isoformat()
        out["open_by_host"] = [{"host": h, "open": n} for h, n in self.open_by_host]
        out["open_by_country"] = [{"country": c, "open": n} for c, n in self.open_by_country]
        return out


@dataclass(frozen=True, slots=True)
class Change:
    """One figure this week against the week before. ``change`` is ``this - previous`` (None
    if either is None), ``change_pct`` that change in % of ``previous`` rounded to 0.1 (None
    when ``previous`` is None or 0, or ``this`` is None), ``direction`` ``up`` / ``down`` /
    ``same`` (None when either value is None)."""

    this: int | float | None
    previous: int | float | None
    change: int | float | None
    change_pct: float | None
    direction: str | None

    def as_dict(self) -> dict:
        return asdict(self)


def change(this: int | float | None, previous: int | float | None) -> Change:
    if this is None or previous is None:
        return Change(this, previous, None, None, None)
    diff = this - previous
    if isinstance(diff, float):
        diff = round(diff, 4)
    pct = round(100 * (this - previous) / previous, 1) if previous else None
    direction = "up" if this > previous else "down" if this < previous else "same"
    return Change(this, previous, diff, pct, direction)


def week_on_week(this: WeekMetrics, previous: WeekMetrics) -> dict[str, Change]:
    """Every figure of :data:`METRICS`, ``this`` week against ``previous``."""
    return {name: change(getattr(this, name), getattr(previous, name)) for name in METRICS}


# ---- the history, read once -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _History:
    """One URL's status events (those by ``now``), in order."""

    host: str
    reported_at: datetime  # the first report
    times: list[datetime]
    statuses: list[str]
    #: for a removal: seconds since the first report or the last reappearance; else None
    clock: list[int | None]
    first_removed_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Data:
    now: datetime
    urls: list[_History]
    sent: list[datetime]  # sorted
    escalations: list[datetime]  # sorted
    country_of: Callable[[str], str]


def _history(host: str, row_reported_at: datetime, events: list[tuple]) -> _History:
    times = [at for _, at, _ in events]
    statuses = [to for _, _, to in events]
    reported_at = next((at for _, at, to in events if to == "reported"), None)
    if reported_at is None:  # not from intake: the row's own time (never after the history)
        reported_at = min(row_reported_at, times[0])
    clock: list[int | None] = []
    since, first_removed = reported_at, None
    for at, to in zip(times, statuses, strict=True):
        if to == "reappeared":
            since = at
        if to == "removed":
            clock.append(max(0, int((at - since).total_seconds())))
            first_removed = first_removed or at
        else:
            clock.append(None)
    return _History(host, reported_at, times, statuses, clock, first_removed)


def _load(s: Session, now: datetime) -> _Data:
    rows = {
        uid: (host, reported_at)
        for uid, host, reported_at in s.execute(
            select(TakedownUrl.id, TakedownUrl.host, TakedownUrl.reported_at)
        )
    }
    events = s.execute(
        select(TakedownEvent.url_id, TakedownEvent.at, TakedownEvent.to_status)
        .where(
            TakedownEvent.kind == "status",
            TakedownEvent.to_status.is_not(None),
            TakedownEvent.at <= now,
        )
        .order_by(TakedownEvent.url_id, TakedownEvent.at, TakedownEvent.id)
    )
    urls = []
    for uid, group in groupby(events, key=lambda e: e[0]):
        if uid in rows:
            host, reported_at = rows[uid]
            urls.append(_history(host, reported_at, list(group)))
    sent, escalations = [], []
    for sent_at, kind in s.execute(
        select(TakedownNotice.sent_at, TakedownNotice.kind).where(
            TakedownNotice.status == "sent",
            TakedownNotice.sent_at.is_not(None),
            TakedownNotice.sent_at <= now,
        )
    ):
        sent.append(sent_at)
        if kind == "escalation":
            escalations.append(sent_at)
    return _Data(now, urls, sorted(sent), sorted(escalations), _country_lookup(s))


def _country_lookup(s: Session) -> Callable[[str], str]:
    table = host_table(s)
    cache: dict[str, str] = {}

    def country_of(host: str) -> str:
        if host not in cache:
            try:
                row = table.lookup(host)
            except UrlError:
                row = None
            cache[host] = (row.country if row is not None else "") or UNKNOWN_COUNTRY
        return cache[host]

    return country_of


def _between(times: list[datetime], start: datetime, end: datetime) -> int:
    return bisect_left(times, end) - bisect_left(times, start)


def _window(data: _Data, start: datetime, end: datetime) -> WeekMetrics:
    now = data.now
    m = WeekMetrics(start=start, end=end, as_of=min(end, now), complete=end <= now)
    clocks: list[int] = []
    within = {24: [0, 0], 72: [0, 0]}  # hours -> [cohort, removed within]
    open_hosts: Counter[str] = Counter()
    for h in data.urls:
        hi = bisect_left(h.times, end)
        if not hi:
            continue  # not yet reported by the end of the window
        lo = bisect_left(h.times, start)
        if start <= h.reported_at < end:
            m.reported += 1
            for hours, counts in within.items():
                deadline = h.reported_at + timedelta(hours=hours)
                if deadline <= now:
                    counts[0] += 1
                    if h.first_removed_at is not None and h.first_removed_at <= deadline:
                        counts[1] += 1
        removed_in = lo > 0 and h.statuses[lo - 1] == "removed"
        for i in range(lo, hi):
            to = h.statuses[i]
            if to == "removed":
                m.removals += 1
                clocks.append(h.clock[i])  # type: ignore[arg-type]
                removed_in = True
            elif to == "reappeared":
                m.reappearances += 1
        m.removed_in_window += removed_in
        if h.statuses[hi - 1] in OPEN:
            open_hosts[h.host] += 1
    clocks.sort()
    m.time_to_removal_median_s = percentile(clocks, 50)
    m.time_to_removal_p90_s = percentile(clocks, 90)
    m.cohort_24h, m.removed_within_24h = within[24]
    m.cohort_72h, m.removed_within_72h = within[72]
    m.removed_within_24h_share = _share(m.removed_within_24h, m.cohort_24h)
    m.removed_within_72h_share = _share(m.removed_within_72h, m.cohort_72h)
    m.reappearance_rate = _share(m.reappearances, m.removed_in_window)
    m.notices_sent = _between(data.sent, start, end)
    m.escalations = _between(data.escalations, start, end)
    m.open_at_end = sum(open_hosts.values())
    m.open_by_host = _counted(open_hosts.items())
    countries: Counter[str] = Counter()
    for host, n in open_hosts.items():
        countries[data.country_of(host)] += n
    m.open_by_country = _counted(countries.items())
    return m


# ---- public ---------------------------------------------------------------------------------


def week_metrics(s: Session, start: date | datetime, *, now: datetime) -> WeekMetrics:
    """The figures of the week starting ``start`` (a Monday: a date, or a datetime at 00:00
    UTC) as known at ``now``. Raises ValueError for a start that is not a Monday 00:00 or a
    week that begins after ``now``."""
    now = naive_utc(now)
    first = _week_start(start)
    if first > now:
        raise ValueError(f"the week of {first.date().isoformat()} has not begun")
    return _window(_load(s, now), first, first + WEEK)


def weekly_series(
    s: Session, weeks: int, *, now: datetime, last_week: date | datetime | None = None
) -> list[WeekMetrics]:
    """The figures of ``weeks`` weeks, oldest first, ending with the week starting
    ``last_week`` (a Monday; by default the week holding ``now``, so the current part week
    is the last). The history is read once for all of them."""
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    now = naive_utc(now)
    last = monday(now) if last_week is None else _week_start(last_week)
    if last > now:
        raise ValueError(f"the week of {last.date().isoformat()} has not begun")
    data = _load(s, now)
    starts = [last - (weeks - 1 - i) * WEEK for i in range(weeks)]
    return [_window(data, w, w + WEEK) for w in starts]
