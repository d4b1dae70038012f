"""Incidents for people (/api/v1/incidents): the queue with filters, the detail (every view
audited), the workflow and evidence exports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ..store.db import utcnow
from ..store.models import Incident, IncidentEvent
from . import incidents
from .auth import Principal, client_ip, record, require
from .incident_query import SORTS, IncidentFilter, find, site_names
from .privacy import mask_incident, masks_paths
from .settings import all_settings

router = APIRouter(prefix="/api/v1", tags=["incidents"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


@router.get("/incidents")
def list_incidents(
    request: Request,
    status: list[Literal["new", "in_review", "escalated", "closed"]] = Query(None),
    device: str | None = Query(None, max_length=36),
    hostname: str | None = Query(None, max_length=255),
    site: str | None = Query(None, max_length=100),
    list_name: str | None = Query(None, alias="list", max_length=100),
    category: str | None = Query(None, max_length=100),
    trigger: str | None = Query(None, max_length=20),
    since: datetime | None = Query(None, description="detected at or after (UTC)"),
    until: datetime | None = Query(None, description="detected before (UTC)"),
    outside_hours: bool | None = None,
    off_network: bool | None = None,
    removable_media: bool | None = None,
    group: str | None = Query(None, max_length=64),
    sort: Literal[tuple(SORTS)] = "detected_at",  # type: ignore[valid-type]
    order: Literal["asc", "desc"] = "desc",
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    me: Principal = Depends(require("incidents:read")),
) -> dict:
    f = IncidentFilter(
        status=status or [],
        device=device,
        hostname=hostname,
        site=site,
        list_name=list_name,
        category=category,
        trigger=trigger,
        since=since,
        until=until,
        outside_hours=outside_hours,
        off_network=off_network,
        removable_media=removable_media,
        group=group,
        sort=sort,
        order=order,
    )
    total, items = queue_page(request, me, f, limit, offset)
    return {"total": total, "limit": limit, "offset": offset, "incidents": items}


def queue_page(
    request: Request, me: Principal, f: IncidentFilter, limit: int, offset: int
) -> tuple[int, list[dict]]:
    """One page of the queue as ``me`` may see it (paths masked for a masked role); which
    incidents were shown, and under which filters, is audited."""
    with request.app.state.db.reading() as s:
        sites = site_names(s)
        total, rows = find(s, f, limit, offset)
        items = [incidents.summary(r, sites.get(r.site_id)) for r in rows]
        if masks_paths(all_settings(s), me.role):
            items = [mask_incident(i) for i in items]
    with request.app.state.db.transaction() as s:
        record(
            s,
            me,
            request,
            action="incident.list",
            detail={"filters": dict(request.query_params), "shown": [i["id"] for i in items]},
        )
    return total, items


def _load(s, incident_id: str) -> Incident:
    try:
        uuid.UUID(incident_id)
    except ValueError:
        raise HTTPException(422, "incident id must be a UUID") from None
    inc = s.get(Incident, incident_id)
    if inc is None:
        raise HTTPException(404, "no such incident")
    return inc


def incident_detail(s, inc: Incident, role: str | None) -> dict:
    """The detail JSON, with paths masked when ``role`` is one that sees them masked."""
    history = s.scalars(
        select(IncidentEvent).where(IncidentEvent.incident_id == inc.id).order_by(IncidentEvent.id)
    ).all()
    out = incidents.detail(inc, history, site_names(s).get(inc.site_id))
    return mask_incident(out) if masks_paths(all_settings(s), role) else out


@router.get("/incidents/{incident_id}")
def get_incident(
    incident_id: str, request: Request, me: Principal = Depends(require("incidents:read"))
) -> dict:
    """One incident. The view is written to the audit log before the answer is sent."""
    with request.app.state.db.transaction() as s:
        inc = _load(s, incident_id)
        out = incident_detail(s, inc, me.role)
        record(
            s,
            me,
            request,
            action="incident.view",
            target_type="incident",
            target_id=inc.id,
        )
    return out


class StatusIn(Strict):
    status: Literal["new", "in_review", "escalated", "closed"]
    resolution: Literal["confirmed", "false_positive", "duplicate"] | None = None
    note: Annotated[str, Field(max_length=10000)] | None = None


@router.post("/incidents/{incident_id}/status")
def change_status(
    incident_id: str,
    body: StatusIn,
    request: Request,
    me: Principal = Depends(require("incidents:write")),
) -> dict:
    with request.app.state.db.transaction() as s:
        inc = _load(s, incident_id)
        try:
            incidents.transition(
                s,
                inc,
                body.status,
                by=me.name,
                resolution=body.resolution,
                note=body.note,
                actor_kind=me.actor_kind,
                ip=client_ip(request),
            )
        except incidents.WorkflowError as e:
            raise HTTPException(409, str(e)) from None
        return incident_detail(s, inc, me.role)


class ExportIn(Strict):
    incident_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)
    reason: Annotated[str, Field(max_length=1000)] | None = None
    case: Annotated[str, Field(max_length=200)] | None = None


def _export(
    request: Request, ids: list[str], me: Principal, reason: str | None, case: str | None
) -> Response:
    from .export_build import build_export, zip_export

    export_id = str(uuid.uuid4())
    now = utcnow()
    with request.app.state.db.transaction() as s:
        found = []
        for i in ids:
            found.append(incident_detail(s, _load(s, i), me.role))
        custody = {
            "export_id": export_id,
            "exported_at": incidents.iso(now),
            "exported_by": f"{me.name} ({me.role})",
            "server": request.app.state.cfg.public_url,
            "reason": reason,
            "case": case,
        }
        files = build_export(found, custody)
        data = zip_export(files, custody)
        record(
            s,
            me,
            request,
            action="incident.export",
            target_type="export",
            target_id=export_id,
            detail={
                "incidents": ids,
                "reason": reason,
                "case": case,
                "sha256": __import__("hashlib").sha256(data).hexdigest(),
            },
            at=now,
        )
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="hashwatch-export-{export_id}.zip"',
            "X-Hashwatch-Export-Id": export_id,
        },
    )


@router.get(
    "/incidents/{incident_id}/export",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def export_one(
    incident_id: str,
    request: Request,
    reason: str | None = Query(None, max_length=1000),
    me: Principal = Depends(require("incidents:export")),
):
    return _export(request, [incident_id], me, reason, None)


@router.post(
    "/exports", response_class=Response, responses={200: {"content": {"application/zip": {}}}}
)
def export_case(
    body: ExportIn, request: Request, me: Principal = Depends(require("incidents:export"))
):
    ids = list(dict.fromkeys(str(i) for i in body.incident_ids))
    return _export(request, ids, me, body.reason, body.case)
