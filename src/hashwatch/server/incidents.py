"""Incidents: stored exactly once whatever the retries, derived facts worked out on arrival,
the review workflow, and the JSON shape people and exports see."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..store.db import naive_utc, utcnow
from ..store.models import Device, Incident, IncidentEvent, Notification, NotificationTarget, Site
from . import audit, derive
from .schemas import IncidentIn
from .settings import get_setting

STATUSES = ("new", "in_review", "escalated", "closed")
RESOLUTIONS = ("confirmed", "false_positive", "duplicate")
#: allowed moves of the workflow (closed can be reopened for review)
TRANSITIONS = {
    "new": {"in_review", "escalated", "closed"},
    "in_review": {"escalated", "closed", "new"},
    "escalated": {"closed", "in_review"},
    "closed": {"in_review"},
}


class WorkflowError(ValueError):
    pass


def _naive_utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else naive_utc(dt)


def _row(device: Device, site: Site | None, inc: IncidentIn, now: datetime, org: list[str]):
    detected = _naive_utc(inc.detected_at)
    offset = int(inc.detected_at.utcoffset().total_seconds() // 60)
    local = derive.local_time(detected, site.timezone if site else None, offset)
    hours = site.working_hours if site else derive.DEFAULT_HOURS
    ctx, f, m = inc.context, inc.file, inc.match
    return {
        "id": str(inc.id),
        "device_id": device.id,
        "site_id": site.id if site else None,
        "received_at": now,
        "detected_at": detected,
        "utc_offset_min": offset,
        "trigger": inc.trigger,
        "hostname": inc.host.hostname,
        "os_user": inc.host.os_user,
        "path": f.path,
        "inner": f.inner,
        "size": f.size,
        "sha256": f.sha256,
        "md5": f.md5,
        "sha1": f.sha1,
        "pdq": f.pdq,
        "file_mtime": _naive_utc(f.mtime),
        "file_ctime": _naive_utc(f.ctime),
        "volume_kind": f.volume.kind,
        "volume_label": f.volume.label,
        "volume_serial": f.volume.serial,
        "volume_mount": f.volume.mount,
        "signal_type": m.signal_type,
        "signal": m.signal,
        "distance": m.distance,
        "list_name": m.list,
        "list_version": m.list_version,
        "entry_id": m.entry_id,
        "category": m.category,
        "online": ctx.online,
        "addresses": ctx.addresses,
        "network_name": ctx.network_name,
        "origin_url": inc.origin_url,
        "trail": [t.model_dump() for t in inc.trail],
        "outside_hours": derive.outside_hours(local, hours, site.holidays if site else []),
        "off_network": derive.off_network(ctx.online, ctx.on_org_network, ctx.addresses, org),
        "removable_media": f.volume.kind == "removable" or inc.trigger == "removable",
        "delivery_delay_s": max(0, int((now - detected).total_seconds())),
        "group_key": f"{device.id}/{local.date().isoformat()}",
        "status": "new",
        "resolution": None,
        "updated_at": now,
    }


def default_site(session: Session, site_id: int | None) -> Site | None:
    """The device's site, else the site named "Default"."""
    if site_id is not None:
        return session.get(Site, site_id)
    return session.scalar(select(Site).where(Site.name == "Default"))


def ingest(
    session: Session,
    device: Device,
    batch: Sequence[IncidentIn],
    ip: str | None,
    *,
    now: datetime | None = None,
) -> dict[str, list]:
    """Store each incident once. Returns ids ``stored``, ``duplicates`` (already stored for
    this device: a retry) and ``rejected`` (id taken by another device). ``now`` (the time
    of receipt) is for replaying history, as the demo seeding does."""
    now = now or utcnow()
    site = default_site(session, device.site_id)
    org = get_setting(session, "org_networks")
    seen: dict[str, IncidentIn] = {}
    for inc in batch:
        seen.setdefault(str(inc.id), inc)
    rows = [_row(device, site, inc, now, org) for inc in seen.values()]
    dialect = session.get_bind().dialect.name
    table = Incident.__table__
    # one cached statement run "executemany" (SQLAlchemy batches it as multi-row VALUES with
    # RETURNING); building a fresh multi-VALUES statement per batch costs more than the write
    stmt = (
        (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(table.c.id)
    )
    stored = set(session.connection().execute(stmt, rows).scalars().all())
    others = [i for i in seen if i not in stored]
    owners = (
        dict(
            session.execute(
                select(Incident.id, Incident.device_id).where(Incident.id.in_(others))
            ).all()
        )
        if others
        else {}
    )
    duplicates = [i for i in others if owners.get(i) == device.id]
    rejected = [
        {"id": i, "reason": "this incident id belongs to another device"}
        for i in others
        if owners.get(i) != device.id
    ]
    targets = session.scalars(
        select(NotificationTarget.id).where(NotificationTarget.enabled.is_(True))
    ).all()
    for r in rows:
        if r["id"] not in stored:
            continue
        for t in targets:
            session.add(
                Notification(
                    incident_id=r["id"],
                    target_id=t,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    ordered = [r["id"] for r in rows if r["id"] in stored]
    if ordered:  # one entry per batch keeps a storm of uploads cheap; it names every id
        audit.append(
            session,
            actor=device.hostname,
            actor_kind="agent",
            action="incident.received",
            target_type="device",
            target_id=device.id,
            detail={"incidents": ordered},
            ip=ip,
            at=now,
        )
    return {"stored": ordered, "duplicates": duplicates, "rejected": rejected}


def transition(
    session: Session,
    inc: Incident,
    to: str,
    *,
    by: str,
    resolution: str | None,
    note: str | None,
    actor_kind: str,
    ip: str | None,
    now: datetime | None = None,
) -> IncidentEvent:
    if to not in STATUSES:
        raise WorkflowError(f"status {to!r} is not one of {', '.join(STATUSES)}")
    if to not in TRANSITIONS[inc.status]:
        raise WorkflowError(f"an incident cannot move from {inc.status!r} to {to!r}")
    if to == "closed":
        if resolution not in RESOLUTIONS:
            raise WorkflowError(f"closing needs a resolution: one of {', '.join(RESOLUTIONS)}")
    elif resolution is not None:
        raise WorkflowError("a resolution is given only when closing")
    now = now or utcnow()
    event = IncidentEvent(
        incident_id=inc.id,
        at=now,
        by=by,
        from_status=inc.status,
        to_status=to,
        resolution=resolution,
        note=note,
    )
    session.add(event)
    inc.status, inc.resolution, inc.updated_at = to, resolution, now
    audit.append(
        session,
        actor=by,
        actor_kind=actor_kind,
        action="incident.status",
        target_type="incident",
        target_id=inc.id,
        detail={"from": event.from_status, "to": to, "resolution": resolution, "note": note},
        ip=ip,
        at=now,
    )
    session.flush()
    return event


# ---- the shape people, exports and notifications see -------------------------------------


def iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def local_iso(inc: Incident) -> str:
    return derive.local_time(inc.detected_at, None, inc.utc_offset_min).replace(
        tzinfo=None
    ).isoformat() + _offset(inc.utc_offset_min)


def _offset(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    m = abs(minutes)
    return f"{sign}{m // 60:02d}:{m % 60:02d}"


def summary(inc: Incident, site_name: str | None = None) -> dict:
    """One row of the queue."""
    return {
        "id": inc.id,
        "device": {"id": inc.device_id, "hostname": inc.hostname, "site": site_name},
        "detected_at": iso(inc.detected_at),
        "detected_local": local_iso(inc),
        "received_at": iso(inc.received_at),
        "trigger": inc.trigger,
        "status": inc.status,
        "resolution": inc.resolution,
        "path": inc.path,
        "inner": inc.inner,
        "list": inc.list_name,
        "category": inc.category,
        "signal_type": inc.signal_type,
        "distance": inc.distance,
        "outside_hours": inc.outside_hours,
        "off_network": inc.off_network,
        "removable_media": inc.removable_media,
    }


def detail(inc: Incident, history: Sequence[IncidentEvent], site_name: str | None) -> dict:
    return {
        "id": inc.id,
        "device": {"id": inc.device_id, "hostname": inc.hostname, "site": site_name},
        "os_user": inc.os_user,
        "detected_at": iso(inc.detected_at),
        "detected_local": local_iso(inc),
        "received_at": iso(inc.received_at),
        "delivery_delay_seconds": inc.delivery_delay_s,
        "trigger": inc.trigger,
        "status": inc.status,
        "resolution": inc.resolution,
        "file": {
            "path": inc.path,
            "inner": inc.inner,
            "size": inc.size,
            "sha256": inc.sha256,
            "md5": inc.md5,
            "sha1": inc.sha1,
            "pdq": inc.pdq,
            "mtime": iso(inc.file_mtime),
            "ctime": iso(inc.file_ctime),
            "volume": {
                "kind": inc.volume_kind,
                "label": inc.volume_label,
                "serial": inc.volume_serial,
                "mount": inc.volume_mount,
            },
        },
        "match": {
            "signal_type": inc.signal_type,
            "signal": inc.signal,
            "distance": inc.distance,
            "list": inc.list_name,
            "list_version": inc.list_version,
            "entry_id": inc.entry_id,
            "category": inc.category,
        },
        "context": {
            "online": inc.online,
            "on_org_network": None if inc.off_network is None else not inc.off_network,
            "addresses": inc.addresses,
            "network_name": inc.network_name,
        },
        "derived": {
            "outside_hours": inc.outside_hours,
            "off_network": inc.off_network,
            "removable_media": inc.removable_media,
            "group": inc.group_key,
        },
        "origin_url": inc.origin_url,
        "trail": inc.trail,
        "history": [
            {
                "at": iso(e.at),
                "by": e.by,
                "from": e.from_status,
                "to": e.to_status,
                "resolution": e.resolution,
                "note": e.note,
            }
            for e in history
        ],
    }
