"""The takedown tracker's scheduled work on the server: send the notices that are due, and
(only where the deployment has switched it on) recheck reported URLs.

Neither holds a database transaction open while it talks to the network: what is due is read
first, each notice is sent (or URL checked) outside the database, and its result is written in
a short transaction of its own. ``now`` is a parameter throughout, so tests set the clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import or_, select

from ..store import Database
from ..store.db import utcnow
from ..store.models import NotificationTarget, TakedownUrl
from ..takedown import notices, service
from ..takedown.recheck import HostRateLimiter, RecheckPolicy, recheck
from . import audit
from .notify_send import send_mail
from .settings import get_setting

log = logging.getLogger("hashwatch.takedown")
RECHECK_BATCH = 20
#: stands in for a report without hashes (recheck needs one): no content hashes to zeros
_NO_HASH = ("sha256", "0" * 64)


class Busy(Exception):
    """Another server process is sending notices or rechecking right now."""


@contextmanager
def exclusive(lock_path: Path | None, wait: float = 0.0) -> Iterator[None]:
    """Hold the data directory's takedown lock (one per host: the server's worker processes
    share it), so two processes never send the same notice; raises :class:`Busy` after
    ``wait`` seconds. ``None``: no lock (one process, as in tests)."""
    if lock_path is None:
        yield
        return
    import fcntl

    with open(lock_path, "a+b") as f:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Busy("another server process is sending notices") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class NoticesOff(Exception):
    """Notices cannot be sent: no mail target is set, or it is not an e-mail target."""


def notice_policy(s) -> notices.NoticePolicy:
    return notices.NoticePolicy(
        resend_hours=get_setting(s, "takedown_resend_hours"),
        escalate_after=get_setting(s, "takedown_escalate_after"),
        escalation_cc=tuple(get_setting(s, "takedown_escalation_cc")),
    )


def mail_sender(s) -> notices.Send:
    """A Send through the SMTP server of the e-mail target named by ``takedown_mail_target``."""
    name = get_setting(s, "takedown_mail_target")
    if not name:
        raise NoticesOff("no mail target is set (setting takedown_mail_target)")
    target = s.scalar(select(NotificationTarget).where(NotificationTarget.name == name))
    if target is None or target.kind != "email":
        raise NoticesOff(f"takedown_mail_target {name!r} is not an e-mail notification target")
    if not target.enabled:
        raise NoticesOff(f"the mail target {name!r} is disabled")
    config, sender = dict(target.config), get_setting(s, "takedown_sender")

    def send(to: list[str], cc: list[str], subject: str, body: str) -> str:
        return send_mail(config, to=to, cc=cc, subject=subject, body=body, sender=sender)

    return send


def run_notices(
    db: Database,
    now: datetime | None = None,
    send: notices.Send | None = None,
    *,
    lock: Path | None = None,
    wait: float = 0.0,
) -> list[dict]:
    """Send what is due; returns one line per notice (host, kind, status, error)."""
    with exclusive(lock, wait):
        return _run_notices(db, now or utcnow(), send)


def _run_notices(db: Database, now: datetime, send: notices.Send | None) -> list[dict]:
    with db.reading() as s:
        policy = notice_policy(s)
        send = send or mail_sender(s)
        prepared = notices.prepare(s, now, policy)
    done = []
    for plan, subject, body in prepared:
        message_id, error = notices.attempt(send, plan, subject, body)
        with db.transaction() as s:
            n = notices.record_notice(
                s, plan, subject, body, now=now, policy=policy, message_id=message_id, error=error
            )
            audit.append(
                s,
                actor="notices",
                actor_kind="system",
                action="takedown.notice",
                target_type="takedown_host",
                target_id=plan.host,
                detail={"notice": n.id, "kind": n.kind, "status": n.status, "urls": len(plan.urls)},
            )
        done.append({"host": plan.host, "kind": plan.kind, "status": n.status, "error": error})
    return done


def recheck_policy() -> RecheckPolicy:
    return RecheckPolicy()


def run_rechecks(
    db: Database,
    now: datetime | None = None,
    *,
    policy: RecheckPolicy | None = None,
    limiter: HostRateLimiter | None = None,
    resolver=None,
    force: bool = False,
) -> list[dict]:
    """Recheck the URLs that are due (open ones, and removed ones to see them reappear),
    if the ``takedown_recheck`` setting is on (or ``force``). A URL without reported hashes
    is checked for its HTTP status only when it is gone; content is hashed in memory by
    :func:`~hashwatch.takedown.recheck.recheck` and never kept."""
    now = now or utcnow()
    with db.reading() as s:
        if not (force or get_setting(s, "takedown_recheck")):
            return []
        every = timedelta(hours=get_setting(s, "takedown_recheck_hours"))
        due = s.execute(
            select(TakedownUrl.id, TakedownUrl.url, TakedownUrl.hashes)
            .where(
                TakedownUrl.status.in_((*service.OPEN, "removed")),
                or_(TakedownUrl.next_check_at.is_(None), TakedownUrl.next_check_at <= now),
            )
            .order_by(TakedownUrl.next_check_at.is_not(None), TakedownUrl.next_check_at)
            .limit(RECHECK_BATCH)
        ).all()
    out = []
    for url_id, url, hashes in due:
        pairs = [(h["type"], h["value"]) for h in hashes or []]
        if not pairs:
            # nothing to compare with: the check can only say "gone" or "still served"
            pairs = [_NO_HASH]
        result = recheck(
            url,
            pairs,
            policy or recheck_policy(),
            clock=lambda: now,
            limiter=limiter,
            resolver=resolver,
        )
        with db.transaction() as s:
            row = s.get(TakedownUrl, url_id)
            if row is None:
                continue
            if not hashes and result.outcome == "live_no_match":
                result = _unhashed(result)
            changed = service.record_check(s, row, result, at=now)
            row.next_check_at = now + every
        out.append({"id": url_id, "outcome": result.outcome, "changed": changed})
    return out


def _unhashed(result):
    return replace(result, reason="still served (no reported hash to compare with)")


class TakedownWorker:
    """A background thread: notices and rechecks every ``interval`` seconds."""

    def __init__(
        self,
        db: Database,
        lock: Path | None = None,
        interval: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.lock, self.interval, self.clock = db, lock, interval, clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hashwatch-takedown", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def tick(self) -> None:
        now = self.clock()
        try:
            with exclusive(self.lock):
                try:
                    _run_notices(self.db, now, None)
                    self.last_error = None
                except NoticesOff as e:
                    self.last_error = str(e)
                run_rechecks(self.db, now)
        except Busy:
            pass  # the other process has it this minute

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - e.g. database briefly unavailable; next time
                log.exception("takedown worker")
