"""The retention period: old closed incidents and journal events go, open ones never, and
the purge is audited without breaking the audit chain."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hashwatch.server import audit, incidents
from hashwatch.server.retention import purge
from hashwatch.server.settings import set_setting
from hashwatch.store.db import utcnow
from hashwatch.store.models import AuditEntry, DeviceEvent, Incident, IncidentEvent

from .conftest import make_incident


def test_retention_purges_only_old_closed_incidents(srv):
    agent, device = srv.agent()
    ids = [make_incident()["id"] for _ in range(3)]
    batch = [make_incident(id=i) for i in ids]
    assert agent.post("/api/v1/agent/incidents", json={"incidents": batch}).status_code == 200
    now = utcnow()
    with srv.db.transaction() as s:
        assert purge(s) == {"incidents": 0, "device_events": 0}  # no retention set: keep all
        set_setting(s, "retention_days", 30)
        old_closed, young_closed, old_open = (s.get(Incident, i) for i in ids)
        for inc, age in ((old_closed, 40), (young_closed, 10)):
            incidents.transition(
                s, inc, "closed", by="admin", resolution="confirmed", note=None,
                actor_kind="user", ip=None, now=now - timedelta(days=age),
            )  # fmt: skip
        old_open.updated_at = now - timedelta(days=100)
        s.add(DeviceEvent(device_id=device, at=now - timedelta(days=31), received_at=now,
                          kind="agent.start", detail={}))  # fmt: skip
        s.add(DeviceEvent(device_id=device, at=now - timedelta(days=1), received_at=now,
                          kind="agent.start", detail={}))  # fmt: skip
    with srv.db.transaction() as s:
        assert purge(s) == {"incidents": 1, "device_events": 1}
    with srv.db.reading() as s:
        assert s.get(Incident, ids[0]) is None
        assert s.get(Incident, ids[1]) is not None and s.get(Incident, ids[2]) is not None
        assert not s.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == ids[0])).all()
        assert len(s.scalars(select(DeviceEvent)).all()) == 1
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "retention.purge")).one()
        assert ids[0] in entry.detail and ids[1] not in entry.detail
        assert audit.verify_chain(s).ok
    with srv.db.transaction() as s:
        assert purge(s) == {"incidents": 0, "device_events": 0}
