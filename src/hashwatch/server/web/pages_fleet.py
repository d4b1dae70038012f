"""The fleet: every device, silent and unhealthy ones first and marked, and each device's
journal; enrolment tokens for admins."""

from __future__ import annotations

from math import ceil

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import func, select

from ...store.db import utcnow
from ...store.models import Device, DeviceEvent, HashListRow, Incident
from .. import api_admin, api_people
from ..auth import Principal
from ..incident_query import site_names
from .base import can, detail_of, page, redirect, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 100


def _health(d: dict, latest: dict[str, int]) -> list[str]:
    """Why a device needs attention (empty: healthy)."""
    why = []
    if d["revoked"]:
        return ["revoked"]
    if d["silent"]:
        why.append("silent")
    if d["status"] and d["status"] != "ok":
        why.append(d["status"])
    behind = [n for n, v in latest.items() if d["list_versions"].get(n, 0) < v]
    if behind:
        why.append("lists behind")
    if d["queue_depth"]:
        why.append("queue")
    return why


@router.get("/fleet")
def fleet(request: Request, me: Principal = Depends(page("devices:read"))):
    qp = request.query_params
    show = qp.get("show", "all")
    site = qp.get("site") or None
    q = (qp.get("q") or "").strip()[:100]
    try:
        pg = max(1, int(qp.get("page") or 1))
    except ValueError:
        pg = 1
    with request.app.state.db.reading() as s:
        sites = site_names(s)
        silent_after = api_admin._silent_after(s)
        latest = dict(
            s.execute(
                select(HashListRow.name, HashListRow.version).where(HashListRow.version > 0)
            ).all()
        )
        counts = dict(
            s.execute(select(Incident.device_id, func.count()).group_by(Incident.device_id)).all()
        )
        stmt = select(Device)
        if site:
            stmt = stmt.where(Device.site_id.in_([i for i, n in sites.items() if n == site]))
        if q:
            stmt = stmt.where(Device.hostname.ilike(f"%{q}%"))
        devices = [api_admin._device(d, sites, silent_after) for d in s.scalars(stmt)]
    for d in devices:
        d["attention"] = _health(d, latest)
        d["incidents"] = counts.get(d["id"], 0)
    summary = {
        "total": sum(not d["revoked"] for d in devices),
        "silent": sum("silent" in d["attention"] for d in devices),
        "unhealthy": sum(bool(d["attention"]) and not d["revoked"] for d in devices),
        "behind": sum("lists behind" in d["attention"] for d in devices),
    }
    if show == "attention":
        devices = [d for d in devices if d["attention"] and not d["revoked"]]
    # silent first, then unhealthy, then the rest; revoked last
    devices.sort(
        key=lambda d: (
            d["revoked"],
            not d["silent"],
            not d["attention"],
            d["last_seen_at"] or "",
            d["hostname"],
        )
    )
    total = len(devices)
    shown = devices[(pg - 1) * PAGE_SIZE : pg * PAGE_SIZE]
    tokens = None
    if can(me.role, "enroll:manage"):
        tokens = api_people.list_enroll_tokens(request, me=me)["tokens"]
    return render(
        request,
        "fleet.html",
        me,
        devices=shown,
        total=total,
        page=pg,
        pages=max(1, ceil(total / PAGE_SIZE)),
        summary=summary,
        latest=latest,
        sites=sorted(sites.values()),
        show=show,
        site=site,
        q=q,
        silent_hours=silent_after / 3600,
        tokens=tokens,
    )


@router.get("/fleet/{device_id}")
def device_page(device_id: str, request: Request, me: Principal = Depends(page("devices:read"))):
    try:
        d = api_admin.get_device(device_id, request, events=300, me=me)
    except HTTPException as e:
        return render(request, "error.html", me, status=e.status_code, message=e.detail)
    with request.app.state.db.reading() as s:
        latest = dict(
            s.execute(
                select(HashListRow.name, HashListRow.version).where(HashListRow.version > 0)
            ).all()
        )
        n = s.scalar(select(func.count()).where(Incident.device_id == device_id))
        kinds = s.execute(
            select(DeviceEvent.kind, func.count())
            .where(DeviceEvent.device_id == device_id)
            .group_by(DeviceEvent.kind)
        ).all()
    d["attention"] = _health(d, latest)
    return render(
        request,
        "device.html",
        me,
        d=d,
        latest=latest,
        incidents=n,
        kinds=sorted(kinds),
        now=utcnow(),
    )


@router.post("/fleet/{device_id}/revoke")
def revoke(device_id: str, request: Request, me: Principal = Depends(page("devices:write"))):
    try:
        api_admin.revoke_device(device_id, request, me=me)
    except HTTPException as e:
        return redirect(f"/fleet/{device_id}", detail_of(e), error=True)
    return redirect(
        f"/fleet/{device_id}", "The device is revoked: its agent is refused from now on."
    )


@router.post("/fleet/enroll-tokens")
async def new_token(request: Request, me: Principal = Depends(page("enroll:manage"))):
    form = await request.form()
    try:
        body = api_people.EnrollTokenIn(
            uses=int(form.get("uses") or 1),
            expires=str(form.get("expires") or "7d"),
            site=str(form.get("site") or "") or None,
            note=str(form.get("note") or "") or None,
        )
        out = api_people.new_enroll_token(body, request, me=me)
    except (ValueError, HTTPException) as e:
        return redirect("/fleet", detail_of(e), error=True)
    # shown once, like the CLI: only its hash is kept
    return render(request, "token_made.html", me, token=out["token"], info=out, back="/fleet")
