"""Notices to hosts: one e-mail per host naming all of its open URLs, re-sent until removed.

A host is *due* a notice when it has open URLs (:data:`.service.OPEN`), the attribution table
knows its abuse contact (an unknown host never gets a notice: it is listed for an analyst by
:func:`.service.unknown_hosts`), and either

* one of its open URLs has not been in a sent notice since it was reported (or since it
  reappeared) -- a notice goes at once, or
* the last notice sent to the host is at least ``resend_hours`` old.

A host whose last notice failed to send is tried again after ``retry_minutes``. The notice
names every open URL of the host, oldest report first. A URL that already had
``escalate_after`` notices makes the next notice an *escalation*: the escalation template,
with ``escalation_cc`` copied in.

Every notice is recorded (:class:`TakedownNotice`, sent or failed, with the URLs it named);
a sent notice moves ``reported`` and ``reappeared`` URLs to ``notice_sent``. Replies from
hosts are recorded with :func:`record_reply`.

Texts come from editable templates (:class:`string.Template`, ``$name`` placeholders from
:data:`PLACEHOLDERS` only): a notice carries metadata and the URLs, never content.

Sending is the caller's: a :data:`Send` callable (the server wraps its SMTP ``send_mail``).
Like :mod:`.service`, every function takes the session and the time (naive UTC); nothing is
committed here.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..store.db import naive_utc
from ..store.models import (
    TakedownNotice,
    TakedownNoticeUrl,
    TakedownReply,
    TakedownTemplate,
    TakedownUrl,
)
from . import service
from .service import TakedownError
from .urls import UrlError, normalise_host

__all__ = [
    "DEFAULT_TEMPLATES",
    "PLACEHOLDERS",
    "TEMPLATE_NAMES",
    "NoticePlan",
    "NoticePolicy",
    "Send",
    "due",
    "notice_urls",
    "notices_for",
    "put_template",
    "record_reply",
    "render",
    "replies_for",
    "reset_template",
    "send_due",
    "template",
    "validate_template",
]

#: (to, cc, subject, body) -> the Message-ID; raises an exception saying why on failure
Send = Callable[[list[str], list[str], str, str], str]

TEMPLATE_NAMES = ("notice", "escalation")
#: what a template may use, and what it means
PLACEHOLDERS: dict[str, str] = {
    "host": "the host name the URLs are on",
    "provider": "the hosting provider (from the attribution table)",
    "country": "the hosting country (ISO 3166-1 alpha-2)",
    "count": "how many URLs the notice names",
    "urls": "the URLs, one a line, each with its first report time (UTC); body only",
    "sequence": "the number of this notice to the host (1 for the first)",
    "first_reported": "when the oldest of the URLs was first reported (UTC)",
    "oldest_hours": "how many hours ago that was",
    "sender": "who sends the notice (the hotline)",
    "kind": "notice or escalation",
}
#: placeholders a subject may not use (the subject is one line)
BODY_ONLY = frozenset({"urls"})
MAX_SUBJECT = 300
MAX_BODY = 20_000
MAX_SUMMARY = 5000
MAX_ERROR = 2000
MAX_ADDRESS = 254
#: a reply may be timed a little after ``now`` (the mail gateway's clock)
REPLY_CLOCK_SKEW = timedelta(minutes=5)

_ADDRESS = re.compile(r"^[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\"]+$")

_NOTICE_BODY = """\
Dear $provider abuse team,

This is a notice-and-takedown request from $sender.

The URLs below, on $host, have been reported to us as hosting child sexual abuse
material, which is illegal. Please remove the material without delay and make sure
it cannot be uploaded again; preserve any related records as the law of your country
requires.

Reported URLs ($count, each with the time it was first reported, in UTC):

$urls

The oldest was first reported on $first_reported, $oldest_hours hours ago.
This is notice number $sequence to you about $host; it will be repeated until each URL
is confirmed removed.

Please do not send us, or anyone else, copies of the material.

This notice was generated automatically. Please reply to this e-mail with the outcome
for the URLs (removed, or why not), keeping the subject line, so that we can record it.

$sender
"""

_ESCALATION_BODY = """\
Dear $provider abuse team,

ESCALATION of a notice-and-takedown request from $sender.

We have sent you repeated notices about the URLs below, on $host, without confirmation
that they were removed. They have been reported to us as hosting child sexual abuse
material, which is illegal. Please remove the material now and tell us what was done; this notice
has been escalated and may be copied to other parties responsible for $host.

Reported URLs ($count, each with the time it was first reported, in UTC):

$urls

The oldest was first reported on $first_reported, $oldest_hours hours ago.
This is notice number $sequence to you about $host; it will be repeated until each URL
is confirmed removed.

Please do not send us, or anyone else, copies of the material.

This notice was generated automatically. Please reply to this e-mail with the outcome
for the URLs (removed, or why not), keeping the subject line, so that we can record it.

$sender
"""

#: the texts used until an admin stores others: name -> (subject, body)
DEFAULT_TEMPLATES: dict[str, tuple[str, str]] = {
    "notice": (
        "Takedown request: $count reported URL(s) on $host (notice $sequence)",
        _NOTICE_BODY,
    ),
    "escalation": (
        "ESCALATION - takedown request: $count URL(s) on $host still online (notice $sequence)",
        _ESCALATION_BODY,
    ),
}


# ---- policy and plans ---------------------------------------------------------------------


@dataclass(frozen=True)
class NoticePolicy:
    """When notices go, and to whom. Checked on creation (ValueError)."""

    #: a host's open URLs are noticed again after this long
    resend_hours: int = 24
    #: a URL that already had this many notices is escalated in the next one
    escalate_after: int = 3
    #: extra recipients of an escalation
    escalation_cc: tuple[str, ...] = ()
    #: who sends (``$sender`` in the templates)
    sender_name: str = "hashwatch takedown desk"
    #: after a failed send to a host, wait this long before trying that host again
    retry_minutes: int = 15

    def __post_init__(self) -> None:
        for name, low in (("resend_hours", 1), ("escalate_after", 1), ("retry_minutes", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}: a whole number, at least {low}")
        cc = self.escalation_cc
        if isinstance(cc, str) or not isinstance(cc, Sequence):
            raise ValueError("escalation_cc: a list of e-mail addresses")
        cc = tuple(str(a).strip() for a in cc)
        for a in cc:
            if len(a) > MAX_ADDRESS or not _ADDRESS.match(a):
                raise ValueError(f"escalation_cc: {a[:80]!r} is not an e-mail address")
        object.__setattr__(self, "escalation_cc", cc)
        sender = self.sender_name.strip() if isinstance(self.sender_name, str) else ""
        if not sender or len(sender) > 200 or _has_control(sender):
            raise ValueError("sender_name: one line of text, at most 200 characters")
        object.__setattr__(self, "sender_name", sender)


@dataclass
class NoticePlan:
    """A notice to send: to ``to`` (the host's abuse contact, with ``cc`` for an escalation),
    the ``sequence``-th to this host, naming ``urls`` (oldest report first)."""

    host: str
    provider: str
    to: str
    country: str
    kind: str  # notice | escalation
    sequence: int
    urls: list[TakedownUrl]
    cc: list[str] = field(default_factory=list)


# ---- templates ----------------------------------------------------------------------------


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def _check_name(name: str) -> str:
    if name not in TEMPLATE_NAMES:
        raise TakedownError(
            f"unknown template {str(name)[:40]!r} (known: {', '.join(TEMPLATE_NAMES)})", "name"
        )
    return name


def _check_text(text: object, what: str, limit: int) -> str:
    """A template text checked: not empty, within ``limit``, valid syntax, known
    placeholders only (a subject: one line, no body-only placeholders)."""
    if not isinstance(text, str):
        raise TakedownError(f"{what}: must be text", what)
    if not text.strip():
        raise TakedownError(f"{what}: empty", what)
    if len(text) > limit:
        raise TakedownError(f"{what}: at most {limit} characters (has {len(text)})", what)
    if what == "subject" and _has_control(text):
        raise TakedownError("subject: one line (no line breaks or control characters)", what)
    for m in string.Template.pattern.finditer(text):
        if m.group("invalid") is not None:
            i = m.start()  # the dollar sign
            line = text.count("\n", 0, i) + 1
            column = i - (text.rfind("\n", 0, i) + 1) + 1
            raise TakedownError(
                f"{what}: invalid placeholder at line {line}, column {column} "
                f"(write $name or ${{name}}; $$ for a dollar sign)",
                what,
            )
    used = string.Template(text).get_identifiers()
    unknown = [n for n in used if n not in PLACEHOLDERS]
    if unknown:
        raise TakedownError(
            f"{what}: unknown placeholder{'s' if len(unknown) > 1 else ''} "
            f"{', '.join('$' + n for n in unknown)} (known: "
            f"{', '.join('$' + n for n in PLACEHOLDERS)})",
            what,
        )
    if what == "subject":
        body_only = [n for n in used if n in BODY_ONLY]
        if body_only:
            raise TakedownError(
                f"subject: {', '.join('$' + n for n in body_only)} can only be used in the body",
                what,
            )
    return text


def validate_template(subject: str, body: str) -> tuple[str, str]:
    """``(subject, body)`` if they are a usable template; raises :class:`TakedownError`
    naming the field (``subject`` or ``body``) and the problem."""
    return _check_text(subject, "subject", MAX_SUBJECT), _check_text(body, "body", MAX_BODY)


def template(s: Session, name: str) -> tuple[str, str]:
    """The (subject, body) of template ``name``: the stored one, else the default."""
    _check_name(name)
    row = s.get(TakedownTemplate, name)
    if row is None:
        return DEFAULT_TEMPLATES[name]
    return row.subject, row.body


def put_template(s: Session, name: str, subject: str, body: str, *, by: str, now: datetime) -> None:
    """Store the text of template ``name`` (checked as :func:`validate_template`)."""
    _check_name(name)
    subject, body = validate_template(subject, body)
    row = s.get(TakedownTemplate, name)
    now = naive_utc(now)
    if row is None:
        s.add(
            TakedownTemplate(name=name, subject=subject, body=body, updated_at=now, updated_by=by)
        )
    else:
        row.subject, row.body, row.updated_at, row.updated_by = subject, body, now, by
    s.flush()


def reset_template(s: Session, name: str) -> None:
    """Go back to the default text of template ``name``."""
    _check_name(name)
    row = s.get(TakedownTemplate, name)
    if row is not None:
        s.delete(row)
        s.flush()


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def _one_line(text: str, limit: int) -> str:
    text = " ".join("".join(" " if _has_control(ch) else ch for ch in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def render(
    name_or_texts: str | tuple[str, str],
    plan: NoticePlan,
    *,
    policy: NoticePolicy,
    now: datetime,
) -> tuple[str, str]:
    """The (subject, body) of ``plan``'s notice from a default template (by name) or from
    texts (a stored template: see :func:`template`); the texts are checked first."""
    if isinstance(name_or_texts, str):
        subject, body = DEFAULT_TEMPLATES[_check_name(name_or_texts)]
    else:
        subject, body = name_or_texts
    subject, body = validate_template(subject, body)
    now = naive_utc(now)
    urls = sorted(plan.urls, key=lambda u: (u.reported_at, u.url))
    first = min((u.reported_at for u in urls), default=now)
    values = {
        "host": plan.host,
        "provider": plan.provider,
        "country": plan.country,
        "count": str(len(urls)),
        "urls": "\n".join(f"{u.url}  (first reported {_when(u.reported_at)})" for u in urls),
        "sequence": str(plan.sequence),
        "first_reported": _when(first),
        "oldest_hours": str(max(0, int((now - first).total_seconds() // 3600))),
        "sender": policy.sender_name,
        "kind": plan.kind,
    }
    subject_text = _one_line(string.Template(subject).substitute(values), MAX_SUBJECT)
    return subject_text, string.Template(body).substitute(values)


# ---- the schedule -------------------------------------------------------------------------


def _fresh(u: TakedownUrl) -> bool:
    """Not in a sent notice since it was reported or reappeared (a sent notice moves a URL
    to notice_sent, so a reported or reappeared URL has not had one since)."""
    return u.notices == 0 or u.last_notice_at is None or u.status in ("reported", "reappeared")


def due(s: Session, now: datetime, policy: NoticePolicy) -> list[NoticePlan]:
    """The notices to send at ``now``, one per due host (see the module's description),
    hosts in name order."""
    now = naive_utc(now)
    # unknown hosts (no attribution) never get a notice: service.unknown_hosts lists them
    known = {
        load.host: load.attribution
        for load in service.open_by_host(s)
        if load.attribution is not None and load.attribution.abuse_email
    }
    if not known:
        return []
    hosts = sorted(known)
    open_urls: dict[str, list[TakedownUrl]] = {}
    for u in s.scalars(
        select(TakedownUrl)
        .where(TakedownUrl.status.in_(service.OPEN), TakedownUrl.host.in_(hosts))
        .order_by(TakedownUrl.host, TakedownUrl.reported_at, TakedownUrl.url)
    ):
        open_urls.setdefault(u.host, []).append(u)
    sent = {
        h: (n, last)
        for h, n, last in s.execute(
            select(TakedownNotice.host, func.count(), func.max(TakedownNotice.sent_at))
            .where(TakedownNotice.status == "sent", TakedownNotice.host.in_(hosts))
            .group_by(TakedownNotice.host)
        )
    }
    failed = dict(
        s.execute(
            select(TakedownNotice.host, func.max(TakedownNotice.created_at))
            .where(TakedownNotice.status == "failed", TakedownNotice.host.in_(hosts))
            .group_by(TakedownNotice.host)
        ).all()
    )
    plans: list[NoticePlan] = []
    for host in hosts:
        who = known[host]
        last_failed = failed.get(host)
        if last_failed is not None and now - last_failed < timedelta(minutes=policy.retry_minutes):
            continue
        urls = open_urls.get(host, [])
        if not urls:
            continue
        count, last_sent = sent.get(host, (0, None))
        if not (
            any(_fresh(u) for u in urls)
            or last_sent is None
            or now - last_sent >= timedelta(hours=policy.resend_hours)
        ):
            continue
        escalate = any(u.notices >= policy.escalate_after for u in urls)
        cc = [a for a in policy.escalation_cc if a.lower() != who.abuse_email.lower()]
        plans.append(
            NoticePlan(
                host=host,
                provider=who.provider,
                to=who.abuse_email,
                country=who.country,
                kind="escalation" if escalate else "notice",
                sequence=count + 1,
                urls=urls,
                cc=list(dict.fromkeys(cc)) if escalate else [],
            )
        )
    return plans


def send_due(
    s: Session, now: datetime, policy: NoticePolicy, send: Send, *, by: str = "notices"
) -> list[TakedownNotice]:
    """Send every due notice with ``send`` and record each (sent or failed), all in the
    session ``s``; returns the notices recorded. A failure is recorded with its reason and
    leaves the URLs as they were; the other hosts are still sent to. (The server sends
    outside any transaction: :func:`prepare`, then :func:`record_notice` per notice.)"""
    now = naive_utc(now)
    out: list[TakedownNotice] = []
    for plan, subject, body in prepare(s, now, policy):
        message_id, error = attempt(send, plan, subject, body)
        out.append(
            record_notice(
                s,
                plan,
                subject,
                body,
                now=now,
                policy=policy,
                by=by,
                message_id=message_id,
                error=error,
            )
        )
    return out


def attempt(send: Send, plan: NoticePlan, subject: str, body: str) -> tuple[str | None, str | None]:
    """Send one prepared notice: (its Message-ID, None), or (None, why it failed). Any
    failure is caught: it is recorded, and the other hosts still get theirs."""
    try:
        return send([plan.to], list(plan.cc), subject, body), None
    except Exception as exc:  # noqa: BLE001
        return None, str(exc) or type(exc).__name__


def prepare(s: Session, now: datetime, policy: NoticePolicy) -> list[tuple[NoticePlan, str, str]]:
    """The due notices with their subject and body (reads only)."""
    now = naive_utc(now)
    out = []
    for plan in due(s, now, policy):
        try:
            subject, body = render(template(s, plan.kind), plan, policy=policy, now=now)
        except TakedownError:  # a stored text that no longer passes the checks
            subject, body = render(plan.kind, plan, policy=policy, now=now)
        out.append((plan, subject, body))
    return out


def record_notice(
    s: Session,
    plan: NoticePlan,
    subject: str,
    body: str,
    *,
    now: datetime,
    policy: NoticePolicy,
    by: str = "notices",
    message_id: str | None = None,
    error: str | None = None,
) -> TakedownNotice:
    """Record a notice that was sent (``error`` None) or failed. The plan's URLs are read
    again in ``s``: one removed meanwhile is named by the notice but keeps its status."""
    now = naive_utc(now)
    notice = TakedownNotice(
        host=plan.host,
        provider=plan.provider,
        to_addresses=[plan.to, *plan.cc],
        kind=plan.kind,
        sequence=plan.sequence,
        subject=subject,
        body=body,
        created_at=now,
        created_by=by,
        status="failed" if error is not None else "sent",
        error=error[:MAX_ERROR] if error is not None else None,
        sent_at=None if error is not None else now,
        message_id=str(message_id)[:255] if message_id and error is None else None,
    )
    s.add(notice)
    s.flush()  # the notice's id
    rows = [r for r in (s.get(TakedownUrl, u.id) for u in plan.urls) if r is not None]
    for r in rows:
        s.add(TakedownNoticeUrl(notice_id=notice.id, url_id=r.id))
    if error is None:
        _mark_sent(s, plan, [r for r in rows if r.status in service.OPEN], policy, now=now, by=by)
    s.flush()
    return notice


def _mark_sent(
    s: Session,
    plan: NoticePlan,
    rows: list[TakedownUrl],
    policy: NoticePolicy,
    *,
    now: datetime,
    by: str,
) -> None:
    what = f"notice #{plan.sequence} to {plan.to}"
    for u in rows:
        escalated = plan.kind == "escalation" and u.notices >= policy.escalate_after
        if escalated and u.escalated_at is None:
            u.escalated_at = now
            service.note(s, u, f"escalated: {what}", by=by, at=now)
        u.notices += 1
        u.last_notice_at = now
        if u.status in ("reported", "reappeared"):
            service.move(s, u, "notice_sent", by=by, at=now, note=what)


def record_reply(
    s: Session,
    *,
    host: str,
    notice_id: int | None,
    received_at: datetime,
    from_address: str | None,
    summary: str,
    by: str,
    now: datetime,
) -> TakedownReply:
    """Record a host's reply (what it says, in ``summary``), to a notice if known."""
    try:
        host = normalise_host(str(host))
    except UrlError as e:
        raise TakedownError(f"host: {e}", "host") from None
    summary = summary.strip() if isinstance(summary, str) else ""
    if not summary:
        raise TakedownError("summary: empty", "summary")
    if len(summary) > MAX_SUMMARY:
        raise TakedownError(f"summary: at most {MAX_SUMMARY} characters", "summary")
    if from_address is not None:
        from_address = from_address.strip() or None
    if from_address is not None and (
        len(from_address) > MAX_ADDRESS or _has_control(from_address) or "@" not in from_address
    ):
        raise TakedownError("from_address: an e-mail address", "from_address")
    now = naive_utc(now)
    received_at = naive_utc(received_at)
    if received_at > now + REPLY_CLOCK_SKEW:
        raise TakedownError("received_at: in the future", "received_at")
    if notice_id is not None:
        notice = s.get(TakedownNotice, notice_id)
        if notice is None:
            raise TakedownError(f"no notice {notice_id}", "notice_id", 404)
        if notice.host != host:
            raise TakedownError(
                f"notice {notice_id} went to {notice.host}, not {host}", "notice_id", 409
            )
    reply = TakedownReply(
        host=host,
        notice_id=notice_id,
        received_at=received_at,
        from_address=from_address,
        summary=summary,
        recorded_at=now,
        recorded_by=by,
    )
    s.add(reply)
    s.flush()
    return reply


def _limit(limit: int) -> int:
    return max(1, min(int(limit), 1000))


def notices_for(
    s: Session, *, host: str | None = None, url_id: str | None = None, limit: int = 200
) -> list[TakedownNotice]:
    """Notices (sent and failed), newest first; to ``host`` and/or naming ``url_id``."""
    q = select(TakedownNotice)
    if host is not None:
        try:
            host = normalise_host(host)
        except UrlError as e:
            raise TakedownError(f"host: {e}", "host") from None
        q = q.where(TakedownNotice.host == host)
    if url_id is not None:
        q = q.join(TakedownNoticeUrl, TakedownNoticeUrl.notice_id == TakedownNotice.id).where(
            TakedownNoticeUrl.url_id == url_id
        )
    q = q.order_by(TakedownNotice.created_at.desc(), TakedownNotice.id.desc())
    return list(s.scalars(q.limit(_limit(limit))))


def notice_urls(s: Session, notice_id: int) -> list[TakedownUrl]:
    """The URLs a notice named, oldest report first."""
    return list(
        s.scalars(
            select(TakedownUrl)
            .join(TakedownNoticeUrl, TakedownNoticeUrl.url_id == TakedownUrl.id)
            .where(TakedownNoticeUrl.notice_id == notice_id)
            .order_by(TakedownUrl.reported_at, TakedownUrl.url)
        )
    )


def replies_for(
    s: Session, *, host: str | None = None, notice_id: int | None = None, limit: int = 200
) -> list[TakedownReply]:
    """Recorded replies, newest first; from ``host`` and/or to ``notice_id``."""
    q = select(TakedownReply)
    if host is not None:
        try:
            host = normalise_host(host)
        except UrlError as e:
            raise TakedownError(f"host: {e}", "host") from None
        q = q.where(TakedownReply.host == host)
    if notice_id is not None:
        q = q.where(TakedownReply.notice_id == notice_id)
    q = q.order_by(TakedownReply.received_at.desc(), TakedownReply.id.desc())
    return list(s.scalars(q.limit(_limit(limit))))
