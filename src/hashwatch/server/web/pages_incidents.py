"""The incident queue and an incident's page: filters, the detail (every opening audited),
the workflow buttons and evidence exports. Nothing here shows or links matched content."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from math import ceil

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import select

from ...store.models import Incident
from .. import incidents
from ..api_incidents import _export, _load, incident_detail, queue_page
from ..auth import Principal, client_ip, record
from ..incident_query import SORTS, IncidentFilter, choices
from ..privacy import mask_incident, masks_paths
from ..settings import all_settings
from .base import can, defang, detail_of, page, redirect, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
OPEN = ["new", "in_review", "escalated"]
FLAGS = ("outside_hours", "off_network", "removable_media")


def _date(text: str, errors: list[str], name: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        errors.append(f"{name}: {text!r} is not a date like 2026-11-23")
        return None


def parse_filter(qp) -> tuple[IncidentFilter, int, list[str]]:
    """The queue's filter from the query string; bad values are ignored and named."""
    errors: list[str] = []
    status = [x for x in qp.getlist("status") if x in incidents.STATUSES]
    if not qp.get("f") and not status:
        status = list(OPEN)  # the queue opens on what still needs work
    f = IncidentFilter(status=status)
    for key, attr in (
        ("site", "site"),
        ("hostname", "hostname"),
        ("device", "device"),
        ("list", "list_name"),
        ("category", "category"),
        ("trigger", "trigger"),
        ("group", "group"),
    ):
        value = (qp.get(key) or "").strip()[:255]
        setattr(f, attr, value or None)
    f.since = _date(qp.get("since", ""), errors, "from")
    until = _date(qp.get("until", ""), errors, "to")
    f.until = until + timedelta(days=1) if until else None  # the "to" day is included
    for flag in FLAGS:
        v = qp.get(flag, "")
        setattr(f, flag, {"yes": True, "no": False}.get(v))
    f.sort = qp.get("sort") if qp.get("sort") in SORTS else "detected_at"
    f.order = "asc" if qp.get("order") == "asc" else "desc"
    try:
        pg = max(1, int(qp.get("page") or 1))
    except ValueError:
        pg = 1
    return f, pg, errors


def _query_without(request: Request, *drop: str) -> str:
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in drop]
    from urllib.parse import urlencode

    return urlencode(items)


@router.get("/incidents")
def queue(request: Request, me: Principal = Depends(page("incidents:read"))):
    f, pg, errors = parse_filter(request.query_params)
    total, items = queue_page(request, me, f, PAGE_SIZE, (pg - 1) * PAGE_SIZE)
    with request.app.state.db.reading() as s:
        opts = choices(s)
        masked = masks_paths(all_settings(s), me.role)
    ctx = dict(
        items=items,
        total=total,
        page=pg,
        pages=max(1, ceil(total / PAGE_SIZE)),
        f=f,
        opts=opts,
        errors=errors,
        statuses=incidents.STATUSES,
        sorts=list(SORTS),
        base_query=_query_without(request, "page"),
        masked=masked,
    )
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "results":
        return render(request, "_queue_results.html", me, **ctx)
    return render(request, "incidents.html", me, **ctx)


def _same_place(a: Incident, b) -> bool:
    """Same folder, or inside the same container file."""

    def folder(p: str) -> str:
        cut = max(p.rfind("/"), p.rfind("\\"))
        return p[:cut] if cut >= 0 else ""

    return b.path == a.path or folder(b.path) == folder(a.path)


@router.get("/incidents/{incident_id}")
def incident_page(
    incident_id: str, request: Request, me: Principal = Depends(page("incidents:read"))
):
    with request.app.state.db.transaction() as s:
        try:
            inc = _load(s, incident_id)
        except HTTPException as e:
            return render(request, "error.html", me, status=e.status_code, message=e.detail)
        d = incident_detail(s, inc, me.role)
        others = s.execute(
            select(
                Incident.id,
                Incident.path,
                Incident.inner,
                Incident.detected_at,
                Incident.list_name,
                Incident.category,
                Incident.status,
            )
            .where(Incident.device_id == inc.device_id, Incident.id != inc.id)
            .order_by(Incident.detected_at.desc())
            .limit(1000)
        ).all()
        # opening an incident is audited, in the same transaction as the read
        record(s, me, request, action="incident.view", target_type="incident", target_id=inc.id)
    masked = d.get("paths_masked", False)
    rows = []
    for o in others:
        r = o._asdict()
        r["same_place"] = _same_place(inc, o)
        r["detected_at"] = incidents.iso(r["detected_at"])
        rows.append(mask_incident(r) if masked else r)
    trail_rows = [r for r in rows if r["same_place"]]
    moves = sorted(incidents.TRANSITIONS[inc.status], key=incidents.STATUSES.index)
    return render(
        request,
        "incident.html",
        me,
        i=d,
        device_incidents=rows[:20],
        device_total=len(rows),
        server_trail=trail_rows,
        origin=defang(d["origin_url"]),
        takedown=can(me.role, "incidents:write") and bool(d["origin_url"]),
        moves=moves if can(me.role, "incidents:write") else [],
        resolutions=incidents.RESOLUTIONS,
        masked=masked,
    )


@router.post("/incidents/{incident_id}/status")
async def change_status(
    incident_id: str, request: Request, me: Principal = Depends(page("incidents:write"))
):
    form = await request.form()
    to = str(form.get("to", ""))
    resolution = str(form.get("resolution") or "") or None
    note = (str(form.get("note") or "").strip() or None) if form.get("note") else None
    if note and len(note) > 10000:
        return redirect(
            f"/incidents/{incident_id}", "The note is longer than 10,000 characters.", error=True
        )
    with request.app.state.db.transaction() as s:
        try:
            inc = _load(s, incident_id)
            incidents.transition(
                s,
                inc,
                to,
                by=me.name,
                resolution=resolution if to == "closed" else None,
                note=note,
                actor_kind=me.actor_kind,
                ip=client_ip(request),
            )
        except (incidents.WorkflowError, HTTPException) as e:
            return redirect(f"/incidents/{incident_id}", detail_of(e), error=True)
    label = to.replace("_", " ") + (f" ({resolution.replace('_', ' ')})" if to == "closed" else "")
    return redirect(f"/incidents/{incident_id}", f"Moved to {label}.")


@router.post("/incidents/{incident_id}/export")
async def export_one(
    incident_id: str, request: Request, me: Principal = Depends(page("incidents:export"))
):
    form = await request.form()
    reason = str(form.get("reason") or "").strip()[:1000] or None
    try:
        return _export(request, [incident_id], me, reason, None)
    except HTTPException as e:
        return redirect(f"/incidents/{incident_id}", detail_of(e), error=True)


@router.post("/incidents/export")
async def export_case(request: Request, me: Principal = Depends(page("incidents:export"))):
    form = await request.form()
    ids = []
    for x in form.getlist("id")[:1000]:
        try:
            ids.append(str(uuid.UUID(str(x))))
        except ValueError:
            continue
    if not ids:
        return redirect("/incidents", "Tick the incidents to export first.", error=True)
    case = str(form.get("case") or "").strip()[:200] or None
    reason = str(form.get("reason") or "").strip()[:1000] or None
    try:
        return _export(request, list(dict.fromkeys(ids)), me, reason, case)
    except HTTPException as e:
        return redirect("/incidents", detail_of(e), error=True)
