"""The retention period: closed incidents (with their workflow history and notifications)
and device journal events older than ``retention_days`` are deleted. Open incidents are
never deleted, whatever their age, and the audit log is kept whole (its hash chain would
break otherwise); each purge is itself audited with the ids it removed."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..store.db import utcnow
from ..store.models import DeviceEvent, Incident, IncidentEvent, Notification
from . import audit
from .settings import get_setting

BATCH = 500


def purge(s: Session, now: datetime | None = None) -> dict[str, int]:
    """Apply the retention period once (nothing when it is not set)."""
    days = get_setting(s, "retention_days")
    if not days:
        return {"incidents": 0, "device_events": 0}
    cutoff = (now or utcnow()) - timedelta(days=days)
    ids = list(
        s.scalars(
            select(Incident.id)
            .where(Incident.status == "closed", Incident.updated_at < cutoff)
            .limit(BATCH)
        )
    )
    if ids:
        s.execute(delete(Notification).where(Notification.incident_id.in_(ids)))
        s.execute(delete(IncidentEvent).where(IncidentEvent.incident_id.in_(ids)))
        s.execute(delete(Incident).where(Incident.id.in_(ids)))
    events = s.execute(delete(DeviceEvent).where(DeviceEvent.at < cutoff)).rowcount or 0
    if ids or events:
        audit.append(
            s,
            actor="retention",
            actor_kind="system",
            action="retention.purge",
            detail={"days": days, "incidents": ids, "device_events": events},
        )
    return {"incidents": len(ids), "device_events": events}
