"""The agent's API (/api/v1/agent): enrol, heartbeat, incidents, hash-list bundles."""

from __future__ import annotations

import base64
import uuid

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy import select, update

from ..lists.keys import key_id
from ..store.db import utcnow
from ..store.models import Device, DeviceEvent, EnrollToken, HashListRow
from . import audit, incidents, lists_service
from .auth import Principal, agent, agent_credentials, check_agent, client_ip
from .incidents import _naive_utc
from .schemas import EnrollIn, HeartbeatIn, IncidentBatchIn
from .secrets_ import Token, make_token, parse_token, secret_matches, sha256_hex
from .settings import get_setting

router = APIRouter(prefix="/api/v1/agent", tags=["agent"])


def public_key_b64(request: Request) -> str:
    raw = request.app.state.public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(raw).decode()


def _lists(s) -> dict[str, int]:
    return dict(
        s.execute(
            select(HashListRow.name, HashListRow.version).where(HashListRow.version > 0)
        ).all()
    )


@router.post("/enroll", status_code=201)
def enroll(body: EnrollIn, request: Request) -> dict:
    """Trade a one-time enrolment token for this device's id and secret (shown only now)."""
    t = parse_token(body.token, "enroll")
    now = utcnow()
    ip = client_ip(request)
    with request.app.state.db.transaction() as s:
        row = s.get(EnrollToken, t.id) if t else None
        if row is None or not secret_matches(t.secret, row.secret_hash):
            raise HTTPException(401, "unknown enrolment token")
        if row.revoked_at is not None or row.expires_at <= now or row.uses >= row.max_uses:
            raise HTTPException(401, "enrolment token expired, used up or revoked")
        # count the use in the same statement that checks it: two agents racing for the
        # last use cannot both win
        won = s.execute(
            update(EnrollToken)
            .where(EnrollToken.id == row.id, EnrollToken.uses < EnrollToken.max_uses)
            .values(uses=EnrollToken.uses + 1)
        ).rowcount
        if not won:
            raise HTTPException(401, "enrolment token used up")
        token = make_token("agent", str(uuid.uuid4()))
        device = Device(
            id=token.id,
            secret_hash=sha256_hex(token.secret),
            hostname=body.hostname,
            os=body.os,
            agent_version=body.agent_version,
            site_id=row.site_id or getattr(incidents.default_site(s, None), "id", None),
            enroll_token_id=row.id,
            enrolled_at=now,
            last_seen_at=now,
            last_ip=ip,
            list_versions={},
            queue_depth=0,
            watched_paths=[],
        )
        s.add(device)
        audit.append(
            s,
            actor=body.hostname,
            actor_kind="agent",
            action="device.enroll",
            target_type="device",
            target_id=device.id,
            detail={"token": row.id, "os": body.os},
            ip=ip,
        )
        lists = _lists(s)
        heartbeat = get_setting(s, "heartbeat_seconds")
    return {
        "device_id": device.id,
        "token": str(token),
        "list_signing_key": public_key_b64(request),
        "list_signing_key_id": key_id(request.app.state.public_key),
        "lists": lists,
        "heartbeat_seconds": heartbeat,
    }


@router.post("/heartbeat")
def heartbeat(
    body: HeartbeatIn, request: Request, cred: Token = Depends(agent_credentials)
) -> dict:
    """The busiest call (a whole fleet, every 15 minutes): checked and recorded in one
    UPDATE that matches the device id, its secret's hash and "not revoked"."""
    now = utcnow()
    values = {
        "last_seen_at": now,
        "last_ip": client_ip(request),
        "status": body.status,
        "list_versions": body.list_versions,
        "queue_depth": body.queue_depth,
        "watched_paths": body.watched_paths,
    }
    for key in ("agent_version", "hostname", "os"):
        if getattr(body, key) is not None:
            values[key] = getattr(body, key)
    if body.last_full_scan is not None:
        values["last_full_scan_at"] = _naive_utc(body.last_full_scan)
    db = request.app.state.db
    with db.transaction() as s:
        # Comparing the stored hash in SQL is not constant-time, but what leaks is timing
        # about a SHA-256 the caller cannot steer, which reveals nothing usable.
        done = s.execute(
            update(Device)
            .where(
                Device.id == cred.id,
                Device.secret_hash == sha256_hex(cred.secret),
                Device.revoked_at.is_(None),
            )
            .values(**values)
        ).rowcount
        if not done:
            check_agent(s, cred)  # says why: 401 or 403
        for e in body.events:
            s.add(
                DeviceEvent(
                    device_id=cred.id,
                    at=_naive_utc(e.at),
                    received_at=now,
                    kind=e.kind,
                    detail=e.detail,
                )
            )
    fleet = request.app.state.fleet_view()
    return {
        "server_time": incidents.iso(now),
        "lists": fleet["lists"],
        "heartbeat_seconds": fleet["heartbeat_seconds"],
    }


@router.post("/incidents")
def post_incidents(body: IncidentBatchIn, request: Request, me: Principal = Depends(agent)) -> dict:
    """Store a batch; safe to resend: each incident id is stored once."""
    with request.app.state.db.transaction() as s:
        device = s.get(Device, me.device_id)
        result = incidents.ingest(s, device, body.incidents, client_ip(request))
    if result["stored"]:
        request.app.state.notifier.wake()
    return result


@router.get("/lists")
def lists(request: Request, me: Principal = Depends(agent)) -> dict:
    with request.app.state.db.reading() as s:
        rows = s.scalars(select(HashListRow).where(HashListRow.version > 0)).all()
        out = [
            {"name": r.name, "version": r.version, "pdq_threshold": r.pdq_threshold} for r in rows
        ]
    return {"lists": out, "list_signing_key": public_key_b64(request)}


@router.get(
    "/lists/{name}/bundle",
    responses={200: {"content": {"application/octet-stream": {}}}, 204: {}},
)
def get_bundle(
    name: str,
    request: Request,
    since: int | None = Query(None, ge=0, description="the version the agent has (delta)"),
    me: Principal = Depends(agent),
):
    """The signed bundle of list ``name``: full, or the delta from ``since``. 204 if the
    agent is up to date."""
    app = request.app
    with app.state.db.reading() as s:
        row = s.scalar(select(HashListRow).where(HashListRow.name == name))
        if row is None or row.version < 1:
            raise HTTPException(404, f"no published list named {name!r}")
        if since == row.version:
            return Response(status_code=204)
        try:
            b = lists_service.bundle(s, row, since, app.state.signing_key, app.state.cfg.bundle_dir)
        except lists_service.ListServiceError as e:
            raise HTTPException(409, str(e)) from None
    return FileResponse(
        b.path,
        media_type="application/octet-stream",
        headers={
            "X-Hashwatch-List-Version": str(b.version),
            "X-Hashwatch-Bundle-Kind": b.kind,
        },
    )
