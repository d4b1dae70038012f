"""The demo's takedown history: synthetic hosts, reported URLs, notices, replies, removals.

``seed_takedown(s, rng=..., now=..., weeks=...)`` gives a hotline's notice-and-takedown
desk some weeks of history, deterministic from ``rng``'s seed and ``now`` (naive UTC):

* eight "Demo Hosting A..H (synthetic)" providers in the host attribution table (one row
  per provider domain, ``demo-hosting-a.example.invalid``..., abuse contacts on the same
  domains, countries NL US DE FR RU BG HK CA), each with one or two hosts URLs are on
  (``files.demo-hosting-a.example.invalid``...), and two hosts left out of the table
  (``*.unlisted-host-N.example.invalid``) so that "unknown hosts" has something to show;
* 30-50 reported URLs a week (fewer at weekends), in small batches of one to four paths on
  one host, entered by hand, imported from CSV or posted by a partner's feed, each with the
  hashes of a test-kit entry (or of a synthetic text on a database without the kit);
* the notice run every hour (at :05): a host is due when one of its open URLs has not been
  noticed yet or its last notice is 24 hours old; a URL that already had 3 notices makes
  the next one an escalation. Notices are recorded as the real run records them
  (TakedownNotice, TakedownNoticeUrl, ``reported -> notice_sent``, escalation notes, the
  URL's notice count and times);
* removals at the provider's pace (most within one to three days of the first notice; a
  slow and a rogue provider take longer or never act), recorded by the recheck (``HTTP 404``
  / ``410``), by the analyst after the host's reply (a TakedownReply), or by the analyst's
  own check; daily rechecks of open URLs ("still served"); a few replies that only
  acknowledge; about 7 % of removed URLs reappear 1-2 weeks later (the recheck finds the
  content again, or it is reported again) and are noticed until removed again;
* when ``incidents`` (ids) are given, the origin URLs of some of them (not the false
  positives) are reported from the incident (``service.from_incident``: source
  ``incident``, the incident's id and hashes) by the investigator, hours after arrival. The
  incident demo puts origins on ``example.invalid`` itself, which no row covers (a row for
  it would cover every demo host): it is the third unknown host.

Every URL, status change and check goes through :mod:`hashwatch.takedown.service`
(``intake``, ``from_incident``, ``move``, ``record_check``, ``put_hosts``, ``note``), so
the history is what the real code writes. Actors: ``analyst`` (the demo's hotline analyst
account), ``investigator`` (reports from incidents), ``notices`` (the notice run),
``recheck``, and ``admin`` for the host table. Notice texts are short synthetic ones that
name the URLs. Nothing is fetched or sent, and the ``takedown_recheck`` setting is left as
it is: every host is ``example.invalid`` or under it, a name that never resolves.

The disruption (weeks are Monday-based, UTC; W0 is the week holding ``now``, partial):

* W-4: a normal week, the baseline;
* W-3, the disruption (the hotline short of staff, hosts not acting): notices still go out
  and escalate, but only 9-13 % of W-4's count of removals are made -- "removals down
  ~87-91 % week on week" -- and fewer reports are taken (85 %);
* W-2, the recovery: the backlog is cleared, removals at least 1.2x W-4's (typically
  1.3-2.2x; the backlog's tail and slow removals are brought forward until they are);
* W-1, the last whole week: the rest of the backlog, then normal. It reads as a fall from
  the recovery's peak (usually 0-35 % below W-2), not as a disruption;
* W0: normal.

Compare W-3 with W-4 for the drop and W-2 with W-4 for the recovery. The disruption needs
six weeks (the default): with fewer, W-4 is not a settled week and the flow stays normal
throughout (``disruption_week`` is None in the counts).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store.models import (
    HashListRow,
    Incident,
    ListEntryRow,
    TakedownNotice,
    TakedownReply,
    TakedownUrl,
)
from ..takedown import notices, service
from ..takedown.hosts import HostRow
from ..takedown.recheck import RecheckResult
from ..takedown.urls import normalise_url
from ..testkit.listing import CATEGORY, LIST_NAME

ANALYST = "analyst"  # the demo's hotline analyst account
INVESTIGATOR = "investigator"  # reports an incident's origin URL
NOTICES = "notices"  # the notice run
HOSTS_BY = "admin"
HOTLINE_DOMAIN = "demo-hotline.example.invalid"
#: the notice rules the demo runs by (the settings' defaults)
POLICY = notices.NoticePolicy(sender_name="Demo hotline takedown desk (synthetic)")
WEEK = timedelta(weeks=1)
#: the week of the disruption, counted back from the Monday of ``now``'s week
DISRUPTION_WEEKS_BACK = 3
#: reports taken in the disruption week and the one after, against a normal week
INTAKE_FACTOR = {0: 0.85, 1: 1.1}
#: removals kept in the disruption week, as a share of the week before's
KEPT = (0.09, 0.13)
REAPPEAR = 0.07
#: removals in the week after the disruption, at least, against the week before it
MIN_RECOVERY = 1.2

#: letter, country, share of the reports, pace, the hosts URLs are on
PROVIDERS = (
    ("a", "NL", 22, "fast", ("files", "img")),
    ("b", "US", 18, "normal", ("cdn", "share")),
    ("c", "DE", 8, "fast", ("upload",)),
    ("d", "FR", 7, "normal", ("media", "pics")),
    ("e", "RU", 10, "rogue", ("dl", "img")),
    ("f", "BG", 8, "slow", ("files",)),
    ("g", "HK", 7, "slow", ("static", "u")),
    ("h", "CA", 6, "normal", ("host",)),
)
#: hosts no row of the table covers, with their share of the reports
UNLISTED = (
    ("pics.unlisted-host-1.example.invalid", 7),
    ("share.unlisted-host-2.example.invalid", 7),
)
#: hours to removal (from the first notice; from the report for an unknown host): median,
#: spread (of the log) and the share never removed
PACE = {
    "fast": (14.0, 0.6, 0.0),
    "normal": (30.0, 0.6, 0.0),
    "slow": (60.0, 0.6, 0.05),
    "rogue": (120.0, 0.7, 0.15),
    "unknown": (120.0, 0.7, 0.2),
}
SOURCES = (("manual", 45), ("csv", 35), ("api:demo-partner-feed", 20))
SECTIONS = ("i", "album", "gallery", "f", "view")
#: how a removal is recorded (by the recheck, after the host's reply, by the analyst's own
#: check), for an attributed host and for an unknown one
REMOVED_BY = {
    True: (("recheck", 55), ("reply", 20), ("analyst", 25)),
    False: (("recheck", 75), ("analyst", 25)),
}
REPLIES = {
    "removed": (
        "Content removed and the customer's account suspended. (synthetic demo reply)",
        "The files have been deleted. (synthetic demo reply)",
        "Removed; the uploader has been blocked. (synthetic demo reply)",
    ),
    "ack": (
        "Received, we are looking into it. (synthetic demo reply)",
        "Forwarded to our customer; we will follow up. (synthetic demo reply)",
        "Ticket opened, the abuse team will review. (synthetic demo reply)",
    ),
}


@dataclass(eq=False)
class _Span:
    """A time the URL was open: from its report or reappearance to its removal (if any)."""

    open: datetime
    how: str  # created | report | recheck
    close: datetime | None = None
    close_how: str | None = None  # recheck | reply | analyst
    decided: bool = False


@dataclass(eq=False)
class _Url:
    host: str
    key: str
    attribution: HostRow | None
    pace: str
    first: tuple[datetime, object]  # (when, a Report or an incident id): creates the row
    again: list[tuple[datetime, object]] = field(default_factory=list)
    spans: list[_Span] = field(default_factory=list)
    row: TakedownUrl | None = None


class _Seeder:
    def __init__(self, s: Session, rng: random.Random, now: datetime, weeks: int):
        self.s, self.rng, self.now = s, rng, now.replace(microsecond=0)
        self.start = self.now - timedelta(weeks=weeks)
        monday = datetime.combine((self.now - timedelta(days=self.now.weekday())).date(), time())
        cut = monday - DISRUPTION_WEEKS_BACK * WEEK
        #: the disruption week's Monday, if the period holds a settled week before it
        self.cut = cut if cut - WEEK >= self.start + timedelta(days=5) else None
        self.urls: list[_Url] = []
        self.keys: set[str] = set()
        self.counts = {"notices": 0, "escalations": 0, "replies": 0, "checks": 0}

    # ---- the plan ---------------------------------------------------------------------

    def hosts(self) -> None:
        rows = [
            HostRow(
                f"demo-hosting-{x}.example.invalid",
                f"Demo Hosting {x.upper()} (synthetic)",
                f"abuse@demo-hosting-{x}.example.invalid",
                country,
                "synthetic demo provider",
            )
            for x, country, *_ in PROVIDERS
        ]
        service.put_hosts(self.s, rows, by=HOSTS_BY, now=self.start - timedelta(days=3))
        self.table = service.host_table(self.s)
        pace = {f"demo-hosting-{x}.example.invalid": p for x, _, _, p, _ in PROVIDERS}
        self.where = [
            (f"{sub}.demo-hosting-{x}.example.invalid", share / len(subs))
            for x, _, share, _, subs in PROVIDERS
            for sub in subs
        ] + list(UNLISTED)
        self.pace = pace

    def _attribution(self, host: str) -> tuple[HostRow | None, str]:
        row = self.table.lookup(host)
        if row is None:
            return None, "unknown"
        return row, self.pace.get(row.pattern, "normal")

    def kit_hashes(self) -> None:
        """The kit's entries (sha256 and PDQ of each), for the reports' hashes."""
        rows = self.s.execute(
            select(ListEntryRow.entry_id, ListEntryRow.signal_type, ListEntryRow.signal)
            .join(HashListRow, HashListRow.id == ListEntryRow.list_id)
            .where(HashListRow.name == LIST_NAME, ListEntryRow.signal_type.in_(("sha256", "pdq")))
            .order_by(ListEntryRow.entry_id, ListEntryRow.signal_type)
        ).all()
        entries: dict[str, list[tuple[str, str]]] = {}
        for eid, kind, signal in rows:
            entries.setdefault(eid, []).append((kind, signal.lower()))
        self.entries = list(entries.values())

    def _hashes(self, n: int) -> tuple[tuple[str, str], ...]:
        if self.entries:
            return tuple(self.rng.choice(self.entries))
        return (("sha256", hashlib.sha256(f"hashwatch demo takedown {n}".encode()).hexdigest()),)

    def _week_factor(self, day: datetime) -> float:
        if self.cut is None:
            return 1.0
        return INTAKE_FACTOR.get((day - self.cut) // WEEK, 1.0)

    def reports(self) -> None:
        """The hotline's reports, day by day: a weekly flow, fewer at weekends, in batches."""
        rng, day = self.rng, datetime.combine(self.start.date(), time())
        target = {}
        while day < self.now:
            week = day - timedelta(days=day.weekday())
            if week not in target:
                target[week] = rng.uniform(38, 46) * self._week_factor(week)
            mean = target[week] / 7 * (1.2 if day.weekday() < 5 else 0.5)
            n = max(0, round(rng.gauss(mean, 0.8 * math.sqrt(mean))))
            while n > 0:
                size = min(n, rng.choice((1, 1, 1, 2, 2, 3, 4)))
                n -= size
                self._batch(day, size)
            day += timedelta(days=1)

    def _batch(self, day: datetime, size: int) -> None:
        rng = self.rng
        host = rng.choices([h for h, _ in self.where], [w for _, w in self.where])[0]
        source = rng.choices([x for x, _ in SOURCES], [w for _, w in SOURCES])[0]
        weekday = day.weekday() < 5
        if source == "csv" and weekday:  # the partner's file, imported in the morning
            at = day + timedelta(minutes=rng.uniform(9 * 60, 10.5 * 60))
            reported = at - timedelta(hours=rng.uniform(1, 30))
        elif source.startswith("api:") or source == "csv":
            source = "api:demo-partner-feed"
            at = day + timedelta(minutes=rng.uniform(0, 24 * 60))
            reported = at - timedelta(minutes=rng.uniform(0.5, 5))
        else:  # by hand: office hours, a short on-call shift at weekends
            span = (7.5 * 60, 18.5 * 60) if weekday else (10 * 60, 14 * 60)
            at = day + timedelta(minutes=rng.uniform(*span))
            reported = at - timedelta(hours=rng.uniform(0.1, 6))
        at = at.replace(microsecond=0)
        if not self.start <= at < self.now:
            return
        reported = max(reported.replace(microsecond=0), self.start)
        section, album = rng.choice(SECTIONS), _token(rng, 8)
        category = CATEGORY if rng.random() < 0.75 else "demo-synthetic"
        attribution, pace = self._attribution(host)
        for i in range(size):
            path = f"/demo-synthetic/{section}/{album}/{i + 1:02d}-{_token(rng, 6)}.jpg"
            n = normalise_url(f"https://{host}{path}")
            if n.key in self.keys:
                continue
            self.keys.add(n.key)
            rep = service.Report(n.url, reported, source, category, self._hashes(len(self.keys)))
            self.urls.append(_Url(n.host, n.key, attribution, pace, (at, rep)))

    def from_incidents(self, incidents: Sequence[str]) -> None:
        """Origin URLs of some incidents, reported by the investigator hours after arrival."""
        if not incidents:
            return
        rows = self.s.execute(
            select(Incident.id, Incident.origin_url, Incident.received_at, Incident.resolution)
            .where(Incident.id.in_(list(incidents)), Incident.origin_url.is_not(None))
            .order_by(Incident.received_at, Incident.id)
        ).all()
        origin_of = {inc_id: origin for inc_id, origin, *_ in rows}
        by_key: dict[str, list[tuple[datetime, str]]] = {}
        for inc_id, origin, received, resolution in rows:
            if resolution == "false_positive" or self.rng.random() > 0.6:
                continue
            at = (received + timedelta(hours=self.rng.uniform(1, 30))).replace(microsecond=0)
            key = normalise_url(origin).key
            if at < self.now and key not in self.keys:
                by_key.setdefault(key, []).append((at, inc_id))
        for key, reports in by_key.items():
            reports.sort()
            n = normalise_url(origin_of[reports[0][1]])
            self.keys.add(key)
            attribution, pace = self._attribution(n.host)
            self.urls.append(_Url(n.host, key, attribution, pace, reports[0], reports[1:]))

    # ---- what happens to each URL -----------------------------------------------------

    def _next_run(self, t: datetime) -> datetime:
        run = t.replace(minute=5, second=0, microsecond=0)
        return run if run >= t else run + timedelta(hours=1)

    def _staffed(self, t: datetime) -> datetime:
        """``t``, or the next office hours (Mon-Fri 08-18) if it falls outside them."""
        if t.weekday() < 5 and 8 <= t.hour < 18:
            return t
        day = t.date() + timedelta(days=0 if t.weekday() < 5 and t.hour < 8 else 1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        return datetime.combine(day, time(8)) + timedelta(minutes=self.rng.uniform(0, 150))

    def _close(self, u: _Url, opened: datetime) -> tuple[datetime | None, str | None]:
        median, sigma, never = PACE[u.pace]
        rng = self.rng
        if rng.random() < never:
            return None, None
        base = self._next_run(opened) if u.attribution else opened
        at = base + timedelta(hours=max(1.2, rng.lognormvariate(math.log(median), sigma)))
        how = rng.choices(*zip(*REMOVED_BY[u.attribution is not None], strict=True))[0]
        if how != "recheck":
            at = self._staffed(at)
        return at.replace(microsecond=0), how

    def chain(self, u: _Url, begin: int = 0) -> None:
        """Decide the URL's spans from span ``begin`` on (its opening, and its closing if
        already decided, stay): removal, then a report or recheck that reopens it..."""
        if not u.spans:
            u.spans.append(_Span(u.first[0], "created"))
        del u.spans[begin + 1 :]
        while True:
            sp = u.spans[-1]
            if not sp.decided:
                sp.close, sp.close_how = self._close(u, sp.open)
                sp.decided = True
            if sp.close is None or sp.close >= self.now:
                sp.close = sp.close_how = None
                return
            later = [t for t, _ in u.again if t >= sp.close]
            reopen = (later[0], "report") if later else None
            if len(u.spans) == 1 and self.rng.random() < REAPPEAR:
                t = (sp.close + timedelta(days=self.rng.uniform(7, 16))).replace(microsecond=0)
                if reopen is None or t < reopen[0]:
                    reopen = (t, "recheck")
            if reopen is None or reopen[0] >= self.now:
                return
            u.spans.append(_Span(*reopen))

    def disrupt(self) -> None:
        """Keep about a tenth of the disruption week's removals (against the week before);
        the others wait for the recovery, and what follows them is decided again."""
        if self.cut is None:
            return
        rng, cut = self.rng, self.cut

        def closes(a: datetime, b: datetime) -> list[tuple[datetime, _Url, int]]:
            return [
                (sp.close, u, i)
                for u in self.urls
                for i, sp in enumerate(u.spans)
                if sp.close is not None and a <= sp.close < b
            ]

        def back(sp: _Span, hours: float) -> None:
            at = cut + WEEK + timedelta(hours=hours)
            sp.close = (at if sp.close_how == "recheck" else self._staffed(at)).replace(
                microsecond=0
            )

        before = len(closes(cut - WEEK, cut))
        hit = sorted(closes(cut, cut + WEEK), key=lambda x: x[0])
        keep = set(rng.sample(range(len(hit)), min(len(hit), int(before * rng.uniform(*KEPT)))))
        pushed: list[tuple[_Url, int]] = []
        for j, (t, u, i) in enumerate(hit):
            if j in keep or i >= len(u.spans) or u.spans[i].close != t:
                continue  # kept, or gone with an earlier span's new course
            # the backlog: mostly in the first days back, some the week after
            early = rng.random() < 0.6
            back(u.spans[i], rng.triangular(2, 100, 12) if early else rng.uniform(100, 250))
            self.chain(u, i)
            pushed.append((u, i))
        # the recovery must show: bring the backlog's tail forward (then slow removals of
        # URLs reported before the recovery) until that week clearly beats the one before
        # the disruption
        want = math.ceil(before * MIN_RECOVERY)
        tail = [(u, i) for u, i in pushed if i < len(u.spans)]
        first = {(id(u), i) for u, i in tail}
        tail += [(u, i) for u in self.urls for i in range(len(u.spans)) if (id(u), i) not in first]
        late = [
            (u, i)
            for u, i in tail
            if u.spans[i].close is not None
            and u.spans[i].close >= cut + 2 * WEEK
            and u.spans[i].open < cut + WEEK - timedelta(hours=2)
        ]
        for u, i in late:
            if len(closes(cut + WEEK, cut + 2 * WEEK)) >= want:
                break
            if i < len(u.spans) and (u.spans[i].close or cut) >= cut + 2 * WEEK:
                back(u.spans[i], rng.triangular(2, 100, 12))
                self.chain(u, i)

    def duplicates(self) -> None:
        """A few hotline URLs reported again while open, spelled differently."""
        for u in self.urls:
            if not isinstance(u.first[1], service.Report) or self.rng.random() > 0.06:
                continue
            rep: service.Report = u.first[1]
            at = (u.first[0] + timedelta(hours=self.rng.uniform(2, 48))).replace(microsecond=0)
            close = u.spans[0].close or self.now
            if at >= min(close, self.now):
                continue
            scheme, rest = rep.url.split("://", 1)
            host, path = rest.split("/", 1)
            spelled = f"{scheme}://{host.upper()}/{path}?utm_source=demo-partner"
            u.again.append((at, service.Report(spelled, at, "manual", rep.category, rep.hashes)))

    # ---- replay -----------------------------------------------------------------------

    def actions(self) -> list[tuple]:
        out: list[tuple] = []
        for u in self.urls:
            out.append((u.first[0], 0, "create", u, u.first[1]))
            out += [(t, 0, "again", u, what) for t, what in u.again]
            for sp in u.spans:
                if sp.how == "recheck":
                    out.append((sp.open, 0, "reappear", u, None))
                end = sp.close or self.now
                t, k = sp.open + timedelta(hours=12, minutes=self.rng.uniform(0, 50)), 0
                while t < end:
                    out.append((t.replace(microsecond=0), 1, "check", u, None))
                    t += timedelta(hours=24 if k < 6 else 72)
                    k += 1
                if sp.close is not None:
                    out.append((sp.close, 3, "close", u, sp.close_how))
        run = self._next_run(self.start)
        while run < self.now:
            out.append((run, 2, "run", None, None))
            run += timedelta(hours=1)
        return [a[:2] + (n,) + a[2:] for n, a in enumerate(out)]

    def replay(self) -> None:
        self.by_host: dict[str, list[_Url]] = {}
        self.sent: dict[str, TakedownNotice] = {}
        self.sequence: dict[str, int] = {}
        for at, _, _, kind, u, what in sorted(self.actions(), key=lambda a: a[:3]):
            if kind == "run":
                self._run(at)
            elif kind in ("create", "again"):
                self._report(at, u, what, kind == "create")
            elif kind == "check":
                self._check(at, u, "live_match", service.OPEN)
            elif kind == "reappear":
                self._check(at, u, "live_match", ("removed",))
            else:
                self._remove(at, u, what)

    def _report(self, at: datetime, u: _Url, what: object, create: bool) -> None:
        if isinstance(what, service.Report):
            result = service.intake(self.s, [what], by=ANALYST, now=at)
        else:
            result = service.from_incident(self.s, str(what), by=INVESTIGATOR, now=at)
        ids = result.created if create else result.again
        if len(ids) != 1 or result.rejected:
            raise RuntimeError(f"demo takedown plan out of step: {what}")
        if create:
            u.row = self.s.get(TakedownUrl, ids[0])
            self.by_host.setdefault(u.host, []).append(u)

    def _check(self, at: datetime, u: _Url, outcome: str, expect: Sequence[str]) -> None:
        row = u.row
        if row.status not in expect:
            raise RuntimeError(f"demo takedown plan out of step: {row.url}")
        kind = (row.hashes or [{"type": "sha256"}])[0]["type"]
        if outcome == "live_match":
            status, reason = 200, f"served content matches the reported {kind} hash"
        else:
            status = self.rng.choice((404, 404, 404, 410))
            reason = f"HTTP {status} {'Not Found' if status == 404 else 'Gone'}"
        result = RecheckResult(outcome, row.url, row.url, status, at, reason)  # type: ignore[arg-type]
        service.record_check(self.s, row, result, at=at)
        self.counts["checks"] += 1

    def _remove(self, at: datetime, u: _Url, how: str) -> None:
        row = u.row
        if how == "recheck":
            self._check(at, u, "removed", service.OPEN)
            return
        note = "checked by hand: the page is gone (HTTP 404)"
        notice = self.sent.get(u.host)
        if how == "reply" and notice is not None:
            after = notice.sent_at + timedelta(minutes=10)
            received = max(after, at - timedelta(hours=self.rng.uniform(0.3, 4)))
            received = min(received, at).replace(microsecond=0)
            reply = self._reply(u, notice, received, "removed", recorded=at)
            note = f"host replied ({reply.received_at:%Y-%m-%d %H:%M} UTC): removed"
        service.move(self.s, row, "removed", by=ANALYST, at=at, note=note)

    def _reply(
        self, u: _Url, notice: TakedownNotice, at: datetime, kind: str, *, recorded: datetime
    ) -> TakedownReply:
        reply = notices.record_reply(
            self.s,
            host=u.host,
            notice_id=notice.id,
            received_at=at,
            from_address=u.attribution.abuse_email,
            summary=self.rng.choice(REPLIES[kind]),
            by=ANALYST,
            now=recorded,
        )
        self.counts["replies"] += 1
        return reply

    def _run(self, at: datetime) -> None:
        """The notice run, by the real code (``notices.send_due``); nothing leaves: the
        "sending" only makes up a Message-ID."""

        def send(to: list[str], cc: list[str], subject: str, body: str) -> str:
            return f"<demo-takedown-{self.counts['notices'] + 1}@{HOTLINE_DOMAIN}>"

        for notice in notices.send_due(self.s, at, POLICY, send, by=NOTICES):
            self.counts["notices"] += 1
            self.counts["escalations"] += notice.kind == "escalation"
            self.sent[notice.host] = notice
            # now and then the host answers without acting (yet)
            chance = 0.15 if notice.kind == "escalation" else 0.04
            if self.rng.random() < chance:
                received = at + timedelta(hours=self.rng.uniform(1, 20))
                recorded = received + timedelta(minutes=self.rng.uniform(10, 90))
                if recorded < self.now:
                    u = self.by_host[notice.host][0]
                    self._reply(
                        u,
                        notice,
                        received.replace(microsecond=0),
                        "ack",
                        recorded=recorded.replace(microsecond=0),
                    )


def _token(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(n))


def seed_takedown(
    s: Session,
    *,
    rng: random.Random,
    now: datetime,
    weeks: int,
    incidents: Sequence[str] = (),
) -> dict:
    """Add the demo's takedown history (see the module's description) in ``s``, up to
    ``now`` (naive UTC) over ``weeks`` weeks, linking some of ``incidents`` (ids) that have
    an origin URL. Returns counts (and the disruption week's Monday, or None)."""
    w = _Seeder(s, rng, now, weeks)
    w.hosts()
    w.kit_hashes()
    w.reports()
    w.from_incidents(incidents)
    for u in w.urls:
        w.chain(u)
    w.disrupt()
    w.duplicates()
    w.replay()
    s.flush()
    spans = [sp for u in w.urls for sp in u.spans]
    unknown = sorted({u.host for u in w.urls if u.attribution is None})
    return {
        "hosts": len(PROVIDERS),
        "unknown_hosts": len(unknown),
        "urls": len(w.urls),
        "from_incidents": sum(not isinstance(u.first[1], service.Report) for u in w.urls),
        "notices": w.counts["notices"],
        "escalations": w.counts["escalations"],
        "replies": w.counts["replies"],
        "removals": sum(sp.close is not None for sp in spans),
        "reappearances": sum(sp.how == "recheck" or sp.how == "report" for sp in spans),
        "open": sum(u.row.status in service.OPEN for u in w.urls),
        "disruption_week": w.cut.date().isoformat() if w.cut else None,
    }
