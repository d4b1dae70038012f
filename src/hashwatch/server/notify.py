"""Delivering the notification outbox: rows are written with the incident (same transaction),
and a worker thread sends them, retrying with backoff. A failed notification never touches
the incident; its attempts and last error stay visible (/api/v1/notifications)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from sqlalchemy import select, update

from ..store.db import Database, utcnow
from ..store.models import Incident, Notification, NotificationTarget, Site
from .incidents import iso, local_iso
from .notify_send import DeliveryError, deliver

log = logging.getLogger("hashwatch.server.notify")
MAX_ATTEMPTS = 50
MAX_BACKOFF = timedelta(hours=1)
CLAIM_LEASE = timedelta(minutes=5)


def payload(inc: Incident, site: str | None, public_url: str) -> dict:
    """What a notification says: enough to act on, never content and never the file path
    (targets such as e-mail leave the server's protection)."""
    base = public_url.rstrip("/")
    return {
        "event": "incident.new",
        "server": base,
        "incident": {
            "id": inc.id,
            "url": f"{base}/incidents/{inc.id}",
            "detected_at": iso(inc.detected_at),
            "detected_local": local_iso(inc),
            "received_at": iso(inc.received_at),
            "device": inc.hostname,
            "site": site,
            "trigger": inc.trigger,
            "list": inc.list_name,
            "list_version": inc.list_version,
            "category": inc.category,
            "signal_type": inc.signal_type,
            "distance": inc.distance,
            "outside_hours": inc.outside_hours,
            "off_network": inc.off_network,
            "removable_media": inc.removable_media,
        },
    }


def backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(seconds=30 * 2 ** max(0, attempts - 1)))


def deliver_due(db: Database, public_url: str, limit: int = 100) -> int:
    """Send what is due now; returns how many were sent."""
    now = utcnow()
    with db.reading() as s:
        due = s.execute(
            select(Notification, NotificationTarget, Incident)
            .join(NotificationTarget, Notification.target_id == NotificationTarget.id)
            .join(Incident, Notification.incident_id == Incident.id)
            .where(Notification.status == "pending", Notification.next_attempt_at <= now)
            .order_by(Notification.id)
            .limit(limit)
        ).all()
        sites = dict(s.execute(select(Site.id, Site.name)).all())
    sent = 0
    for n, target, inc in due:
        # claim it before sending: of several server workers, exactly one wins the claim
        # (attempts is the version); a worker that dies mid-send leaves it due again after
        # the lease
        attempts = n.attempts + 1
        with db.transaction() as s:
            won = s.execute(
                update(Notification)
                .where(
                    Notification.id == n.id,
                    Notification.attempts == n.attempts,
                    Notification.status == "pending",
                )
                .values(attempts=attempts, next_attempt_at=utcnow() + CLAIM_LEASE)
            ).rowcount
        if not won:
            continue
        error = None
        if target.enabled:
            try:
                deliver(
                    target.kind, target.config, payload(inc, sites.get(inc.site_id), public_url)
                )
            except DeliveryError as e:
                error = str(e)[:2000]
            except Exception as e:  # noqa: BLE001 - a bad target must not stop the worker
                error = f"unexpected error: {e!r}"[:2000]
        else:
            error = "target disabled"
        values: dict = {"last_error": error}
        if error is None:
            values.update(status="sent", sent_at=utcnow())
            sent += 1
        elif attempts >= MAX_ATTEMPTS or not target.enabled:
            values.update(status="failed")
        else:
            values.update(next_attempt_at=utcnow() + backoff(attempts))
        if error:
            log.warning(
                "notification %s to %s failed (attempt %d): %s", n.id, target.name, attempts, error
            )
        with db.transaction() as s:
            s.execute(
                update(Notification)
                .where(Notification.id == n.id, Notification.attempts == attempts)
                .values(**values)
            )
    return sent


class Notifier:
    """A background thread that delivers the outbox; ``wake()`` after new incidents."""

    def __init__(self, db: Database, public_url: str, interval: float = 2.0) -> None:
        self.db, self.public_url, self.interval = db, public_url, interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hashwatch-notify", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        from .retention import purge

        next_purge = 0.0
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                deliver_due(self.db, self.public_url)
                if time.monotonic() >= next_purge:  # the retention period, hourly
                    with self.db.transaction() as s:
                        done = purge(s)
                    busy = done["incidents"] >= 500
                    next_purge = time.monotonic() + (self.interval if busy else 3600)
            except Exception:  # noqa: BLE001 - e.g. database briefly unavailable; retry later
                log.exception("notification worker")
