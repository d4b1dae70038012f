"""The incident queue's filters, sort and paging, shared by the JSON API and the pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..store.models import Incident, Site
from .incidents import _naive_utc

SORTS = {
    "detected_at": Incident.detected_at,
    "received_at": Incident.received_at,
    "status": Incident.status,
    "hostname": Incident.hostname,
    "list": Incident.list_name,
}


@dataclass
class IncidentFilter:
    status: list[str] = field(default_factory=list)
    device: str | None = None
    hostname: str | None = None
    site: str | None = None
    list_name: str | None = None
    category: str | None = None
    trigger: str | None = None
    since: datetime | None = None  # detected at or after (naive = UTC)
    until: datetime | None = None  # detected before
    outside_hours: bool | None = None
    off_network: bool | None = None
    removable_media: bool | None = None
    group: str | None = None
    sort: str = "detected_at"
    order: str = "desc"


def site_names(s: Session) -> dict[int, str]:
    return dict(s.execute(select(Site.id, Site.name)).all())


def _utc(dt: datetime) -> datetime:
    return _naive_utc(dt) if dt.tzinfo else dt


def conditions(f: IncidentFilter, sites: dict[int, str]) -> list:
    conds = []
    if f.status:
        conds.append(Incident.status.in_(f.status))
    for col, value in (
        (Incident.device_id, f.device),
        (Incident.hostname, f.hostname),
        (Incident.list_name, f.list_name),
        (Incident.category, f.category),
        (Incident.trigger, f.trigger),
        (Incident.group_key, f.group),
    ):
        if value is not None:
            conds.append(col == value)
    for col, flag in (
        (Incident.outside_hours, f.outside_hours),
        (Incident.off_network, f.off_network),
        (Incident.removable_media, f.removable_media),
    ):
        if flag is not None:
            conds.append(col.is_(flag))
    if f.since:
        conds.append(Incident.detected_at >= _utc(f.since))
    if f.until:
        conds.append(Incident.detected_at < _utc(f.until))
    if f.site is not None:
        conds.append(Incident.site_id.in_([i for i, n in sites.items() if n == f.site]))
    return conds


def find(s: Session, f: IncidentFilter, limit: int, offset: int) -> tuple[int, list[Incident]]:
    """(total matching, one page of incidents)."""
    q = select(Incident).where(*conditions(f, site_names(s)))
    total = s.scalar(select(func.count()).select_from(q.subquery()))
    col = SORTS[f.sort]
    q = q.order_by(col.desc() if f.order == "desc" else col.asc(), Incident.id)
    return total, list(s.scalars(q.limit(limit).offset(offset)).all())


def choices(s: Session) -> dict[str, list[str]]:
    """Values present, for the filter drop-downs."""

    def distinct(col) -> list[str]:
        return [v for v in s.scalars(select(col).distinct().order_by(col)) if v]

    return {
        "list": distinct(Incident.list_name),
        "category": distinct(Incident.category),
        "trigger": distinct(Incident.trigger),
        "site": sorted(site_names(s).values()),
    }
