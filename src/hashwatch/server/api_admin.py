"""Fleet, lists, audit, settings and notification targets for people (/api/v1)."""

from __future__ import annotations

import os
import tempfile
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from ..lists import ListFormatError
from ..store.db import utcnow
from ..store.models import (
    AuditEntry,
    Device,
    DeviceEvent,
    HashListRow,
    ListVersion,
    Notification,
    NotificationTarget,
    RetiredHash,
    Site,
)
from . import audit, derive, lists_service
from .auth import Principal, client_ip, record, require
from .incidents import iso
from .settings import all_settings, set_setting

router = APIRouter(prefix="/api/v1", tags=["admin"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- devices ------------------------------------------------------------------------------


def _silent_after(s) -> int:
    """Seconds without contact after which a device is flagged silent (the setting, but
    never less than two heartbeat intervals)."""
    settings = all_settings(s)
    return max(settings["silent_after_seconds"], 2 * settings["heartbeat_seconds"])


def _device(d: Device, sites: dict[int, str], silent_after: int) -> dict:
    now = utcnow()
    silent = d.last_seen_at is None or (now - d.last_seen_at).total_seconds() > silent_after
    return {
        "id": d.id,
        "hostname": d.hostname,
        "os": d.os,
        "agent_version": d.agent_version,
        "site": sites.get(d.site_id),
        "enrolled_at": iso(d.enrolled_at),
        "last_seen_at": iso(d.last_seen_at),
        "last_ip": d.last_ip,
        "status": d.status,
        "list_versions": d.list_versions,
        "queue_depth": d.queue_depth,
        "last_full_scan_at": iso(d.last_full_scan_at),
        "watched_paths": d.watched_paths,
        "revoked": d.revoked_at is not None,
        "silent": silent,
    }


@router.get("/devices")
def list_devices(
    request: Request,
    limit: int = Query(500, ge=1, le=10000),
    offset: int = Query(0, ge=0),
    me: Principal = Depends(require("devices:read")),
) -> dict:
    """Devices, silent and unhealthy ones first."""
    with request.app.state.db.reading() as s:
        sites = dict(s.execute(select(Site.id, Site.name)).all())
        silent_after = _silent_after(s)
        total = s.scalar(select(func.count()).select_from(Device))
        rows = s.scalars(
            select(Device)
            .order_by(Device.last_seen_at.asc().nulls_first(), Device.hostname)
            .limit(limit)
            .offset(offset)
        )
        items = [_device(d, sites, silent_after) for d in rows]
    items.sort(key=lambda d: (not d["silent"], d["status"] == "ok", d["hostname"]))
    return {"total": total, "devices": items}


@router.get("/devices/{device_id}")
def get_device(
    device_id: str,
    request: Request,
    events: int = Query(100, ge=0, le=1000),
    me: Principal = Depends(require("devices:read")),
) -> dict:
    with request.app.state.db.reading() as s:
        d = s.get(Device, device_id)
        if d is None:
            raise HTTPException(404, "no such device")
        sites = dict(s.execute(select(Site.id, Site.name)).all())
        out = _device(d, sites, _silent_after(s))
        evs = s.scalars(
            select(DeviceEvent)
            .where(DeviceEvent.device_id == device_id)
            .order_by(DeviceEvent.at.desc())
            .limit(events)
        ).all()
        out["events"] = [
            {"at": iso(e.at), "received_at": iso(e.received_at), "kind": e.kind, "detail": e.detail}
            for e in evs
        ]
    return out


@router.post("/devices/{device_id}/revoke")
def revoke_device(
    device_id: str, request: Request, me: Principal = Depends(require("devices:write"))
) -> dict:
    with request.app.state.db.transaction() as s:
        d = s.get(Device, device_id)
        if d is None:
            raise HTTPException(404, "no such device")
        d.revoked_at = d.revoked_at or utcnow()
        record(
            s,
            me,
            request,
            action="device.revoke",
            target_type="device",
            target_id=device_id,
        )
        return {"id": d.id, "revoked": True}


# ---- lists --------------------------------------------------------------------------------


@router.get("/lists")
def get_lists(request: Request, me: Principal = Depends(require("lists:read"))) -> dict:
    with request.app.state.db.reading() as s:
        out = []
        for r in s.scalars(select(HashListRow).order_by(HashListRow.name)):
            v = s.scalar(
                select(ListVersion).where(
                    ListVersion.list_id == r.id, ListVersion.version == r.version
                )
            )
            out.append(
                {
                    "name": r.name,
                    "version": r.version,
                    "entries": v.total if v else 0,
                    "counts": v.counts if v else {},
                    "updated_at": iso(v.created_at) if v else None,
                }
            )
    return {"lists": out}


@router.get("/lists/{name}")
def get_list(name: str, request: Request, me: Principal = Depends(require("lists:read"))) -> dict:
    with request.app.state.db.reading() as s:
        r = s.scalar(select(HashListRow).where(HashListRow.name == name))
        if r is None:
            raise HTTPException(404, f"no list named {name!r}")
        versions = s.scalars(
            select(ListVersion)
            .where(ListVersion.list_id == r.id)
            .order_by(ListVersion.version.desc())
        ).all()
        return {
            "name": r.name,
            "version": r.version,
            "versions": [
                {
                    "version": v.version,
                    "created_at": iso(v.created_at),
                    "created_by": v.created_by,
                    "reason": v.reason,
                    "source": v.source_name,
                    "format": v.source_format,
                    "sha256": v.source_sha256,
                    "added": v.added,
                    "removed": v.removed,
                    "total": v.total,
                    "counts": v.counts,
                }
                for v in versions
            ],
        }


async def _spool(request: Request, limit: int) -> str:
    fd, path = tempfile.mkstemp(prefix="hw-upload-")
    size = 0
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"list file larger than {limit} bytes")
                f.write(chunk)
    except BaseException:
        os.unlink(path)
        raise
    if size == 0:
        os.unlink(path)
        raise HTTPException(422, "empty upload: send the list file as the request body")
    return path


@router.post("/lists/{name}/import")
async def import_list(
    name: str,
    request: Request,
    dry_run: bool = Query(False, description="validate and report only"),
    hex64: Literal["sha256", "pdq"] = Query("sha256", description="type of 64-digit bare hex"),
    filename: str | None = Query(None, max_length=255),
    me: Principal = Depends(require("lists:write")),
) -> dict:
    """Upload a list file (any supported format, as the raw body). With ``dry_run`` the
    validation report is returned and nothing changes."""
    path = await _spool(request, request.app.state.cfg.list_upload_bytes)

    def work() -> dict:
        with request.app.state.db.transaction() as s:
            rep = lists_service.import_file(
                s,
                path,
                name,
                actor=me.name,
                actor_kind=me.actor_kind,
                ip=client_ip(request),
                apply=not dry_run,
                bare_hex_64=hex64,
                source_name=filename or "upload",
            )
            return rep.as_dict()

    try:
        out = await run_in_threadpool(work)
    except ListFormatError as e:
        raise HTTPException(
            422,
            f"{filename or 'upload'}: line {e.line}: {e.reason}"
            if e.line
            else f"{filename or 'upload'}: {e.reason}",
        ) from None
    except lists_service.ListServiceError as e:
        raise HTTPException(422, str(e)) from None
    finally:
        os.unlink(path)
    request.app.state.invalidate_lists()
    return out


class RetireIn(Strict):
    signal_type: Annotated[str, Field(max_length=20)]
    signal: Annotated[str, Field(min_length=1, max_length=20000)]
    reason: Annotated[str, Field(max_length=1000)] | None = None


@router.post("/retired", status_code=201)
def retire_hash(
    body: RetireIn, request: Request, me: Principal = Depends(require("lists:write"))
) -> dict:
    with request.app.state.db.transaction() as s:
        try:
            changed = lists_service.retire(
                s,
                body.signal_type,
                body.signal,
                reason=body.reason,
                actor=me.name,
                ip=client_ip(request),
            )
        except lists_service.ListServiceError as e:
            raise HTTPException(409 if "already" in str(e) else 422, str(e)) from None
    request.app.state.invalidate_lists()
    return {"retired": True, "new_versions": [{"list": n, "version": v} for n, v in changed]}


@router.get("/retired")
def list_retired(request: Request, me: Principal = Depends(require("lists:read"))) -> dict:
    with request.app.state.db.reading() as s:
        rows = s.scalars(select(RetiredHash).order_by(RetiredHash.retired_at.desc())).all()
        return {
            "retired": [
                {
                    "signal_type": r.signal_type,
                    "signal": r.signal,
                    "reason": r.reason,
                    "by": r.retired_by,
                    "at": iso(r.retired_at),
                }
                for r in rows
            ]
        }


# ---- audit --------------------------------------------------------------------------------


@router.get("/audit")
def get_audit(
    request: Request,
    action: str | None = Query(None, max_length=50),
    actor: str | None = Query(None, max_length=100),
    target_id: str | None = Query(None, max_length=100),
    before_id: int | None = Query(None, ge=1),
    limit: int = Query(100, ge=1, le=1000),
    me: Principal = Depends(require("audit:read")),
) -> dict:
    import json

    q = select(AuditEntry)
    if action:
        q = q.where(AuditEntry.action == action)
    if actor:
        q = q.where(AuditEntry.actor == actor)
    if target_id:
        q = q.where(AuditEntry.target_id == target_id)
    if before_id:
        q = q.where(AuditEntry.id < before_id)
    with request.app.state.db.reading() as s:
        rows = s.scalars(q.order_by(AuditEntry.id.desc()).limit(limit)).all()
        return {
            "entries": [
                {
                    "id": e.id,
                    "at": iso(e.at),
                    "actor": e.actor,
                    "actor_kind": e.actor_kind,
                    "action": e.action,
                    "target_type": e.target_type,
                    "target_id": e.target_id,
                    "detail": json.loads(e.detail),
                    "ip": e.ip,
                    "hash": e.hash,
                }
                for e in rows
            ]
        }


@router.get("/audit/verify")
def verify_audit(request: Request, me: Principal = Depends(require("audit:read"))) -> dict:
    with request.app.state.db.reading() as s:
        r = audit.verify_chain(s)
    return {
        "ok": r.ok,
        "entries": r.entries,
        "head": r.head,
        "problem": r.problem,
        "at_id": r.at_id,
    }


# ---- settings and sites -------------------------------------------------------------------


@router.get("/settings")
def get_settings(request: Request, me: Principal = Depends(require("settings:read"))) -> dict:
    with request.app.state.db.reading() as s:
        return all_settings(s)


@router.put("/settings")
def put_settings(
    body: dict, request: Request, me: Principal = Depends(require("settings:write"))
) -> dict:
    with request.app.state.db.transaction() as s:
        try:
            for k, v in body.items():
                set_setting(s, k, v)
        except derive.SettingsError as e:
            raise HTTPException(422, str(e)) from None
        request.app.state.invalidate_lists()
        record(
            s,
            me,
            request,
            action="settings.change",
            detail=body,
        )
        return all_settings(s)


class SiteIn(Strict):
    timezone: Annotated[str, Field(max_length=64)] = "UTC"
    working_hours: dict = Field(default_factory=lambda: dict(derive.DEFAULT_HOURS))
    holidays: list = Field(default_factory=list)


def _site(x: Site) -> dict:
    return {
        "name": x.name,
        "timezone": x.timezone,
        "working_hours": x.working_hours,
        "holidays": x.holidays,
    }


@router.get("/sites")
def get_sites(request: Request, me: Principal = Depends(require("settings:read"))) -> dict:
    with request.app.state.db.reading() as s:
        return {"sites": [_site(x) for x in s.scalars(select(Site).order_by(Site.name))]}


@router.put("/sites/{name}")
def put_site(
    name: str, body: SiteIn, request: Request, me: Principal = Depends(require("settings:write"))
) -> dict:
    if not 1 <= len(name) <= 100:
        raise HTTPException(422, "site name must be 1-100 characters")
    try:
        derive.validate_timezone(body.timezone)
        hours = derive.validate_hours(body.working_hours)
        holidays = derive.validate_holidays(body.holidays)
    except derive.SettingsError as e:
        raise HTTPException(422, str(e)) from None
    with request.app.state.db.transaction() as s:
        x = s.scalar(select(Site).where(Site.name == name))
        if x is None:
            x = Site(name=name)
            s.add(x)
        x.timezone, x.working_hours, x.holidays = body.timezone, hours, holidays
        record(
            s,
            me,
            request,
            action="site.change",
            target_type="site",
            target_id=name,
            detail=_site(x),
        )
        return _site(x)


# ---- notification targets -----------------------------------------------------------------


class TargetIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    kind: Literal["email", "webhook", "jsonl", "syslog"]
    config: dict
    enabled: bool = True


def _target(t: NotificationTarget) -> dict:
    cfg = dict(t.config)
    for secret in ("password", "secret"):
        if cfg.get(secret):
            cfg[secret] = "********"
    return {"id": t.id, "name": t.name, "kind": t.kind, "config": cfg, "enabled": t.enabled}


@router.get("/notification-targets")
def get_targets(request: Request, me: Principal = Depends(require("settings:write"))) -> dict:
    with request.app.state.db.reading() as s:
        targets = [_target(t) for t in s.scalars(select(NotificationTarget))]
        rows = s.execute(select(Notification.status, func.count()).group_by(Notification.status))
        return {"targets": targets, "outbox": dict(rows.all())}


@router.post("/notification-targets", status_code=201)
def add_target(
    body: TargetIn, request: Request, me: Principal = Depends(require("settings:write"))
) -> dict:
    from .notify_send import validate_target

    try:
        cfg = validate_target(body.kind, body.config)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    with request.app.state.db.transaction() as s:
        if s.scalar(select(NotificationTarget).where(NotificationTarget.name == body.name)):
            raise HTTPException(409, f"a target named {body.name!r} exists")
        t = NotificationTarget(
            name=body.name, kind=body.kind, config=cfg, enabled=body.enabled, created_at=utcnow()
        )
        s.add(t)
        s.flush()
        record(
            s,
            me,
            request,
            action="notify.target.add",
            target_type="notification_target",
            target_id=str(t.id),
            detail=_target(t),
        )
        return _target(t)


@router.delete("/notification-targets/{target_id}", status_code=204)
def disable_target(
    target_id: int, request: Request, me: Principal = Depends(require("settings:write"))
):
    with request.app.state.db.transaction() as s:
        t = s.get(NotificationTarget, target_id)
        if t is None:
            raise HTTPException(404, "no such target")
        t.enabled = False
        record(
            s,
            me,
            request,
            action="notify.target.disable",
            target_type="notification_target",
            target_id=str(t.id),
        )
    return Response(status_code=204)


@router.get("/notifications")
def get_notifications(
    request: Request,
    status: Literal["pending", "sent", "failed"] | None = None,
    limit: int = Query(100, ge=1, le=1000),
    me: Principal = Depends(require("settings:write")),
) -> dict:
    q = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if status:
        q = q.where(Notification.status == status)
    with request.app.state.db.reading() as s:
        return {
            "notifications": [
                {
                    "id": n.id,
                    "incident_id": n.incident_id,
                    "target_id": n.target_id,
                    "status": n.status,
                    "attempts": n.attempts,
                    "last_error": n.last_error,
                    "next_attempt_at": iso(n.next_attempt_at),
                    "sent_at": iso(n.sent_at),
                }
                for n in s.scalars(q)
            ]
        }
