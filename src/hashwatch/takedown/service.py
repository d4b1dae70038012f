"""The takedown tracker's records: intake of reported URLs, their status, host attribution.

Every function takes the SQLAlchemy session it works in and the time it acts at (``at`` /
``now``, naive UTC), so the caller decides the transaction and tests decide the clock. Each
change of a URL's status is a :class:`TakedownEvent`: the metrics are worked out from that
history, never from the current row alone.

Statuses: ``reported`` -> ``notice_sent`` -> ``removed`` -> ``reappeared`` (open again, and
noticed again until removed). A URL reported again after it was removed has reappeared.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..store.models import Incident, TakedownEvent, TakedownHost, TakedownUrl
from .hosts import HostRow, HostTable
from .urls import UrlError, normalise_host, normalise_url

STATUSES = ("reported", "notice_sent", "removed", "reappeared")
OPEN = ("reported", "notice_sent", "reappeared")
#: the moves a person (or the recheck, or the notice run) may make
MOVES: dict[str, tuple[str, ...]] = {
    "reported": ("notice_sent", "removed"),
    "notice_sent": ("removed",),
    "removed": ("reappeared",),
    "reappeared": ("notice_sent", "removed"),
}
HASH_TYPES = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}
MAX_HASHES = 50
MAX_CATEGORY = 100
MAX_SOURCE = 100
MAX_NOTE = 2000
_HEX = re.compile(r"^[0-9a-fA-F]+$")


class TakedownError(ValueError):
    """A refused request; ``field`` names what was wrong (for the API's 4xx)."""

    def __init__(self, message: str, field: str | None = None, status: int = 422):
        super().__init__(message)
        self.field, self.status = field, status


@dataclass(frozen=True, slots=True)
class Report:
    """One reported URL as it arrives (any spelling); ``reported_at`` naive UTC."""

    url: str
    reported_at: datetime
    source: str = "manual"
    category: str | None = None
    hashes: tuple[tuple[str, str], ...] = ()
    incident_id: str | None = None


@dataclass
class IntakeResult:
    """What an intake did: ``created`` new URLs, ``again`` known ones reported again (of
    which ``reappeared`` had been removed), ``rejected`` (where, text, reason)."""

    created: list[str] = field(default_factory=list)
    again: list[str] = field(default_factory=list)
    reappeared: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)
    #: reports of a URL that an earlier report of the same batch created
    repeats: int = 0

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "repeats": self.repeats,
            "again": self.again,
            "reappeared": self.reappeared,
            "rejected": [{"at": a, "url": u, "reason": r} for a, u, r in self.rejected],
        }


# ---- hashes -------------------------------------------------------------------------------


def parse_hashes(value: object, where: str = "hashes") -> tuple[tuple[str, str], ...]:
    """Reported hashes from ``"pdq:<hex> sha256:<hex>"`` text (space, comma or semicolon
    separated; a bare hex of 32 or 40 digits is md5 or sha1) or a list of ``{"type",
    "value"}``. A bare 64-digit hex is refused: it could be sha256 or PDQ."""
    if value is None or value == "":
        return ()
    items: list[tuple[str, str]] = []
    if isinstance(value, str):
        for n, token in enumerate(t for t in re.split(r"[\s,;|]+", value.strip()) if t):
            kind, sep, hexes = token.partition(":")
            if not sep:
                kind, hexes = _bare_kind(token, f"{where}[{n}]"), token
            items.append((kind.strip().lower(), hexes.strip()))
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            if isinstance(item, dict) and set(item) == {"type", "value"}:
                items.append((str(item["type"]).lower(), str(item["value"])))
            elif isinstance(item, list | tuple) and len(item) == 2:
                items.append((str(item[0]).lower(), str(item[1])))
            else:
                raise TakedownError(f"{where}[{n}]: give {{'type': ..., 'value': ...}}", where)
    else:
        raise TakedownError(f"{where}: a text or a list of hashes", where)
    if len(items) > MAX_HASHES:
        raise TakedownError(f"{where}: more than {MAX_HASHES} hashes", where)
    out: dict[tuple[str, str], None] = {}
    for n, (kind, hexes) in enumerate(items):
        if kind not in HASH_TYPES:
            raise TakedownError(
                f"{where}[{n}]: unknown hash type {kind[:20]!r} (known: {', '.join(HASH_TYPES)})",
                where,
            )
        if len(hexes) != HASH_TYPES[kind] or not _HEX.match(hexes):
            raise TakedownError(
                f"{where}[{n}]: a {kind} hash is {HASH_TYPES[kind]} hex digits", where
            )
        out[(kind, hexes.lower())] = None
    return tuple(out)


def _bare_kind(token: str, where: str) -> str:
    by_length = {32: "md5", 40: "sha1"}
    if len(token) in by_length and _HEX.match(token):
        return by_length[len(token)]
    if len(token) == 64 and _HEX.match(token):
        raise TakedownError(f"{where}: 64 hex digits: write sha256:<hex> or pdq:<hex>", where)
    raise TakedownError(f"{where}: {token[:20]!r} is not a hash (write type:hex)", where)


def hashes_json(hashes: Iterable[tuple[str, str]]) -> list[dict]:
    return [{"type": t, "value": v} for t, v in hashes]


def hash_pairs(row: TakedownUrl) -> list[tuple[str, str]]:
    return [(h["type"], h["value"]) for h in row.hashes or []]


# ---- intake -------------------------------------------------------------------------------


def _text(value: str | None, limit: int, what: str) -> str | None:
    if value is None:
        return None
    value = " ".join(str(value).split())
    if len(value) > limit:
        raise TakedownError(f"{what}: at most {limit} characters", what)
    return value or None


def intake(
    s: Session, reports: Sequence[Report], *, by: str, now: datetime, where: Sequence[str] = ()
) -> IntakeResult:
    """Record ``reports``; the same URL (however spelled) is one row, reported again. A URL
    that is not acceptable is rejected with its reason (``where[i]`` names report ``i``,
    e.g. "line 7"); the others are still taken. Nothing is committed here."""
    result = IntakeResult()
    seen: dict[str, TakedownUrl] = {}
    for i, rep in enumerate(reports):
        at = where[i] if i < len(where) else f"url {i + 1}"
        try:
            n = normalise_url(rep.url)
            category = _text(rep.category, MAX_CATEGORY, "category")
            source = _text(rep.source, MAX_SOURCE, "source") or "manual"
        except (UrlError, TakedownError) as e:
            result.rejected.append((at, str(rep.url)[:300], str(e)))
            continue
        if rep.reported_at > now:
            result.rejected.append((at, n.url[:300], "reported_at is in the future"))
            continue
        row = seen.get(n.key) or s.scalar(select(TakedownUrl).where(TakedownUrl.url_key == n.key))
        if row is None:
            row = TakedownUrl(
                id=str(uuid.uuid4()),
                url=n.url,
                url_key=n.key,
                host=n.host,
                category=category,
                source=source,
                incident_id=rep.incident_id,
                hashes=hashes_json(rep.hashes),
                reported_at=rep.reported_at,
                created_at=now,
                created_by=by,
                times_reported=1,
                status="reported",
                status_at=rep.reported_at,
                notices=0,
            )
            s.add(row)
            s.flush()  # the row before its events (no ORM relationship orders them)
            s.add(_event(row, rep.reported_at, by, "status", None, "reported", f"from {source}"))
            seen[n.key] = row
            result.created.append(row.id)
            continue
        seen[n.key] = row
        row.times_reported += 1
        merged = dict.fromkeys(hash_pairs(row))
        merged.update(dict.fromkeys(rep.hashes))
        row.hashes = hashes_json(merged)
        row.category = row.category or category
        row.incident_id = row.incident_id or rep.incident_id
        when = max(rep.reported_at, row.status_at)
        s.add(_event(row, when, by, "reported_again", None, None, f"from {source}"))
        if row.id in result.created:
            result.repeats += 1
        elif row.id not in result.again:
            result.again.append(row.id)
        # reported live after its removal: it has reappeared (a report dated before the
        # removal, say from a backfilled file, is no evidence of that)
        if (
            row.status == "removed"
            and row.removed_at is not None
            and rep.reported_at > row.removed_at
        ):
            move(s, row, "reappeared", by=by, at=when, note=f"reported again (from {source})")
            result.reappeared.append(row.id)
    s.flush()
    return result


def from_incident(s: Session, incident_id: str, *, by: str, now: datetime) -> IntakeResult:
    """The incident's origin URL as a report, with the incident's hashes and category."""
    inc = s.get(Incident, incident_id)
    if inc is None:
        raise TakedownError(f"no incident {incident_id}", "incident_id", 404)
    if not inc.origin_url:
        raise TakedownError("this incident has no origin URL", "origin_url", 409)
    hashes = [(k, getattr(inc, k)) for k in ("pdq", "sha256", "md5", "sha1") if getattr(inc, k)]
    if inc.signal_type in ("md5", "sha1", "sha256", "pdq"):
        hashes.append((inc.signal_type, inc.signal))
    report = Report(
        url=inc.origin_url,
        reported_at=now,
        source="incident",
        category=inc.category,
        hashes=parse_hashes(hashes_json(hashes)),
        incident_id=inc.id,
    )
    result = intake(s, [report], by=by, now=now, where=["origin_url"])
    if result.rejected:
        raise TakedownError(f"origin URL refused: {result.rejected[0][2]}", "origin_url")
    return result


# ---- status -------------------------------------------------------------------------------


def _event(
    row: TakedownUrl,
    at: datetime,
    by: str,
    kind: str,
    from_status: str | None,
    to_status: str | None,
    note: str | None,
) -> TakedownEvent:
    return TakedownEvent(
        url_id=row.id,
        at=at,
        by=by,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        note=note[:MAX_NOTE] if note else None,
    )


def move(
    s: Session, row: TakedownUrl, to: str, *, by: str, at: datetime, note: str | None = None
) -> None:
    """Change a URL's status (a move :data:`MOVES` allows), recorded as an event."""
    if to not in STATUSES:
        raise TakedownError(f"unknown status {to!r} (known: {', '.join(STATUSES)})", "status")
    if to not in MOVES[row.status]:
        allowed = ", ".join(MOVES[row.status]) or "none"
        raise TakedownError(
            f"a {row.status} URL cannot become {to} (allowed: {allowed})", "status", 409
        )
    if at < row.status_at:
        at = row.status_at  # never before the last change: the history stays in order
    s.add(_event(row, at, by, "status", row.status, to, note))
    row.status, row.status_at = to, at
    if to == "removed":
        row.removed_at = at


def note(s: Session, row: TakedownUrl, text: str, *, by: str, at: datetime) -> None:
    text = (text or "").strip()
    if not text:
        raise TakedownError("the note is empty", "note")
    s.add(_event(row, at, by, "note", None, None, text))


def record_check(s: Session, row: TakedownUrl, result, *, at: datetime) -> str | None:
    """Apply a recheck's :class:`~.recheck.RecheckResult`: gone (404/410) confirms an open
    URL removed; listed content served again makes a removed URL reappear. Content that
    does not match, and errors, are recorded for the analyst and change nothing. Returns
    the new status, if any."""
    row.last_check_at = at
    row.last_check = f"{result.outcome}: {result.reason}"[:200]
    s.add(_event(row, at, "recheck", "check", None, None, row.last_check))
    if result.outcome == "removed" and row.status in OPEN:
        move(s, row, "removed", by="recheck", at=at, note=result.reason)
        return "removed"
    if result.outcome == "live_match" and row.status == "removed":
        move(s, row, "reappeared", by="recheck", at=at, note=result.reason)
        return "reappeared"
    return None


def get(s: Session, url_id: str) -> TakedownUrl:
    row = s.get(TakedownUrl, url_id)
    if row is None:
        raise TakedownError(f"no reported URL {url_id}", "url_id", 404)
    return row


def find(
    s: Session,
    *,
    statuses: Sequence[str] | None = None,
    host: str | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[TakedownUrl]]:
    """Reported URLs, newest report first, and how many match in all: of these statuses
    (None: any), on ``host`` or its subdomains, containing ``q``. Raises UrlError for a bad
    host."""
    conds = []
    if statuses is not None:
        conds.append(TakedownUrl.status.in_(statuses))
    if host:
        h = normalise_host(host)
        conds.append(or_(TakedownUrl.host == h, TakedownUrl.host.like(f"%.{h}")))
    if q:
        conds.append(TakedownUrl.url.contains(q.strip(), autoescape=True))
    total = s.scalar(select(func.count()).select_from(TakedownUrl).where(*conds))
    rows = s.scalars(
        select(TakedownUrl)
        .where(*conds)
        .order_by(TakedownUrl.reported_at.desc(), TakedownUrl.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return total, list(rows)


def history(s: Session, url_id: str) -> list[TakedownEvent]:
    return list(
        s.scalars(
            select(TakedownEvent)
            .where(TakedownEvent.url_id == url_id)
            .order_by(TakedownEvent.at, TakedownEvent.id)
        )
    )


# ---- hosts --------------------------------------------------------------------------------


def host_table(s: Session) -> HostTable:
    """The stored rows as a lookup table. A stored row that today's checks refuse (edited in
    the database by hand, or stored before a rule changed) is left out, not fatal: its
    hosts show as unknown until an admin saves the row again."""
    good = []
    for r in s.scalars(select(TakedownHost).order_by(TakedownHost.pattern)):
        try:
            good.append(
                HostRow(r.pattern, r.provider, r.abuse_email or "", r.country or "", r.notes or "")
            )
        except ValueError:
            continue
    return HostTable(good)


def put_hosts(s: Session, rows: Iterable[HostRow], *, by: str, now: datetime) -> tuple[int, int]:
    """Add or replace rows by pattern; returns (added, changed)."""
    added = changed = 0
    for r in rows:
        have = s.scalar(select(TakedownHost).where(TakedownHost.pattern == r.pattern))
        values = {
            "provider": r.provider,
            "abuse_email": r.abuse_email,
            "country": r.country,
            "notes": r.notes or None,
        }
        if have is None:
            s.add(TakedownHost(pattern=r.pattern, updated_at=now, updated_by=by, **values))
            added += 1
        elif any(getattr(have, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(have, k, v)
            have.updated_at, have.updated_by = now, by
            changed += 1
    s.flush()
    return added, changed


def delete_host(s: Session, pattern: str) -> None:
    have = s.scalar(select(TakedownHost).where(TakedownHost.pattern == pattern))
    if have is None:
        raise TakedownError(f"no host row {pattern!r}", "pattern", 404)
    s.delete(have)
    s.flush()


@dataclass(frozen=True, slots=True)
class HostLoad:
    """Open URLs of one host, and who it is attributed to (None: unknown host)."""

    host: str
    open: int
    oldest: datetime
    attribution: HostRow | None


def open_by_host(s: Session, table: HostTable | None = None) -> list[HostLoad]:
    """Every host with open URLs, most open first; unknown hosts have no attribution."""
    table = host_table(s) if table is None else table
    rows = s.execute(
        select(TakedownUrl.host, func.count(), func.min(TakedownUrl.reported_at))
        .where(TakedownUrl.status.in_(OPEN))
        .group_by(TakedownUrl.host)
    ).all()
    out = [HostLoad(h, n, oldest, table.lookup(h)) for h, n, oldest in rows]
    out.sort(key=lambda x: (-x.open, x.oldest, x.host))
    return out


def unknown_hosts(s: Session, table: HostTable | None = None) -> list[HostLoad]:
    """Hosts with open URLs that the attribution table does not cover: no notice can go."""
    return [h for h in open_by_host(s, table) if h.attribution is None]
