"""People's sign-in, accounts, personal API tokens and enrolment tokens (/api/v1)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select

from ..store.db import utcnow
from ..store.models import ApiToken, EnrollToken, Site, User, UserSession
from . import audit
from .auth import SESSION_COOKIE, Principal, Throttled, client_ip, login, person, record, require
from .incidents import iso
from .secrets_ import hash_password, make_token, sha256_hex

router = APIRouter(prefix="/api/v1", tags=["people"])
Role = Literal["admin", "investigator", "auditor", "analyst"]
USERNAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
MIN_PASSWORD = 12


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(Strict):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


def _secure(request: Request) -> bool:
    mode = request.app.state.cfg.cookie_secure
    return request.url.scheme == "https" if mode == "auto" else mode == "always"


def set_session_cookie(response: Response, request: Request, cookie: str) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure over HTTPS (``cookie_secure``)."""
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=request.app.state.cfg.session_hours * 3600,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )


@router.post("/session")
def sign_in(body: LoginIn, request: Request, response: Response) -> dict:
    cfg = request.app.state.cfg
    outcome: Exception | None = None
    with request.app.state.db.transaction() as s:
        try:
            user, cookie, sess = login(
                s, body.username, body.password, client_ip(request), cfg.session_hours
            )
        except (Throttled, PermissionError) as e:
            outcome = e  # the failure is recorded (committed) before we answer
    if isinstance(outcome, Throttled):
        raise HTTPException(
            429,
            "too many failed sign-ins: try again later",
            headers={"Retry-After": str(outcome.retry_after)},
        )
    if outcome is not None:
        raise HTTPException(401, str(outcome))
    set_session_cookie(response, request, cookie)
    return {
        "username": user.username,
        "role": user.role,
        "csrf_token": sess.csrf_token,
        "expires_at": iso(sess.expires_at),
    }


@router.get("/session")
def whoami(me: Principal = Depends(require("self"))) -> dict:
    return {"username": me.name, "role": me.role, "auth": me.kind, "csrf_token": me.csrf}


@router.delete("/session", status_code=204)
def sign_out(request: Request, response: Response, me: Principal = Depends(require("self"))):
    with request.app.state.db.transaction() as s:
        if me.session_id:
            s.execute(delete(UserSession).where(UserSession.id == me.session_id))
        record(s, me, request, "logout")
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = 204
    return response


# ---- accounts ---------------------------------------------------------------------------


class UserIn(Strict):
    username: Annotated[str, Field(pattern=USERNAME)]
    role: Role
    password: Annotated[str, Field(min_length=MIN_PASSWORD, max_length=1024)]
    display_name: Annotated[str, Field(max_length=200)] | None = None


class UserPatch(Strict):
    role: Role | None = None
    active: bool | None = None
    password: Annotated[str, Field(min_length=MIN_PASSWORD, max_length=1024)] | None = None
    display_name: Annotated[str, Field(max_length=200)] | None = None


def _user(u: User) -> dict:
    return {
        "username": u.username,
        "role": u.role,
        "active": u.active,
        "display_name": u.display_name,
        "created_at": iso(u.created_at),
        "last_login_at": iso(u.last_login_at),
    }


@router.get("/users")
def list_users(request: Request, me: Principal = Depends(require("users:manage"))) -> dict:
    with request.app.state.db.reading() as s:
        return {"users": [_user(u) for u in s.scalars(select(User).order_by(User.username))]}


@router.post("/users", status_code=201)
def create_user(
    body: UserIn, request: Request, me: Principal = Depends(require("users:manage"))
) -> dict:
    with request.app.state.db.transaction() as s:
        if s.scalar(select(User).where(User.username == body.username)):
            raise HTTPException(409, f"account {body.username!r} already exists")
        u = User(
            username=body.username,
            role=body.role,
            display_name=body.display_name,
            password_hash=hash_password(body.password),
            active=True,
            created_at=utcnow(),
        )
        s.add(u)
        record(
            s,
            me,
            request,
            action="user.create",
            target_type="user",
            target_id=u.username,
            detail={"role": u.role},
        )
        return _user(u)


@router.patch("/users/{username}")
def update_user(
    username: str,
    body: UserPatch,
    request: Request,
    me: Principal = Depends(require("users:manage")),
) -> dict:
    with request.app.state.db.transaction() as s:
        u = s.scalar(select(User).where(User.username == username))
        if u is None:
            raise HTTPException(404, f"no account {username!r}")
        changes = body.model_dump(exclude_none=True)
        if u.username == me.name and (
            changes.get("active") is False or changes.get("role", "admin") != "admin"
        ):
            raise HTTPException(409, "you cannot disable or demote your own account")
        if "password" in changes:
            u.password_hash = hash_password(changes.pop("password"))
            s.execute(delete(UserSession).where(UserSession.user_id == u.id))
            changes["password"] = "changed"
        for k in ("role", "active", "display_name"):
            if k in changes:
                setattr(u, k, changes[k])
        if changes.get("active") is False:
            s.execute(delete(UserSession).where(UserSession.user_id == u.id))
        record(
            s,
            me,
            request,
            action="user.update",
            target_type="user",
            target_id=u.username,
            detail=changes,
        )
        return _user(u)


# ---- personal API tokens ------------------------------------------------------------------


class ApiTokenIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    expires_days: Annotated[int, Field(ge=1, le=3650)] | None = 365


def create_api_token(
    s, user: User, name: str, expires_days: int | None, by: str, by_kind: str, ip: str | None
) -> tuple[str, ApiToken]:
    token = make_token("api")
    now = utcnow()
    row = ApiToken(
        id=token.id,
        user_id=user.id,
        name=name,
        secret_hash=sha256_hex(token.secret),
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    s.add(row)
    audit.append(
        s,
        actor=by,
        actor_kind=by_kind,
        action="api_token.create",
        target_type="user",
        target_id=user.username,
        detail={"token": token.id, "name": name},
        ip=ip,
    )
    return str(token), row


def _token(t: ApiToken) -> dict:
    return {
        "id": t.id,
        "name": t.name,
        "created_at": iso(t.created_at),
        "expires_at": iso(t.expires_at),
        "revoked": t.revoked_at is not None,
    }


@router.get("/api-tokens")
def my_tokens(request: Request, me: Principal = Depends(require("self"))) -> dict:
    with request.app.state.db.reading() as s:
        rows = s.scalars(select(ApiToken).where(ApiToken.user_id == me.user_id)).all()
        return {"tokens": [_token(t) for t in rows]}


@router.post("/api-tokens", status_code=201)
def new_token(body: ApiTokenIn, request: Request, me: Principal = Depends(require("self"))) -> dict:
    with request.app.state.db.transaction() as s:
        user = s.get(User, me.user_id)
        text, row = create_api_token(
            s, user, body.name, body.expires_days, me.name, me.actor_kind, client_ip(request)
        )
        return {"token": text, **_token(row)}


@router.delete("/api-tokens/{token_id}", status_code=204)
def revoke_token(token_id: str, request: Request, me: Principal = Depends(require("self"))):
    with request.app.state.db.transaction() as s:
        row = s.get(ApiToken, token_id)
        if row is None or (row.user_id != me.user_id and me.role != "admin"):
            raise HTTPException(404, "no such token")
        row.revoked_at = row.revoked_at or utcnow()
        record(
            s,
            me,
            request,
            action="api_token.revoke",
            target_type="api_token",
            target_id=token_id,
        )
    return Response(status_code=204)


# ---- enrolment tokens ---------------------------------------------------------------------

_DURATION = re.compile(r"^(\d+)([mhdw])$")


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration like 30m, 12h, 7d or 2w")
    n, unit = int(m.group(1)), m.group(2)
    return {
        "m": timedelta(minutes=n),
        "h": timedelta(hours=n),
        "d": timedelta(days=n),
        "w": timedelta(weeks=n),
    }[unit]


class EnrollTokenIn(Strict):
    uses: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    expires: Annotated[str, Field(max_length=10)] = "7d"
    site: Annotated[str, Field(max_length=100)] | None = None
    note: Annotated[str, Field(max_length=200)] | None = None


def create_enroll_token(
    s,
    uses: int,
    expires: timedelta,
    site: str | None,
    note: str | None,
    by: str,
    by_kind: str,
    ip: str | None,
) -> tuple[str, EnrollToken]:
    site_id = None
    if site:
        site_row = s.scalar(select(Site).where(Site.name == site))
        if site_row is None:
            raise LookupError(f"no site named {site!r}")
        site_id = site_row.id
    token = make_token("enroll")
    now = utcnow()
    row = EnrollToken(
        id=token.id,
        secret_hash=sha256_hex(token.secret),
        max_uses=uses,
        uses=0,
        expires_at=now + expires,
        site_id=site_id,
        note=note,
        created_by=by,
        created_at=now,
    )
    s.add(row)
    audit.append(
        s,
        actor=by,
        actor_kind=by_kind,
        action="enroll_token.create",
        target_type="enroll_token",
        target_id=token.id,
        detail={"uses": uses, "expires_at": iso(row.expires_at), "site": site},
        ip=ip,
    )
    return str(token), row


def _enroll(t: EnrollToken) -> dict:
    return {
        "id": t.id,
        "uses": t.uses,
        "max_uses": t.max_uses,
        "expires_at": iso(t.expires_at),
        "note": t.note,
        "created_by": t.created_by,
        "revoked": t.revoked_at is not None,
    }


@router.get("/enroll-tokens")
def list_enroll_tokens(request: Request, me: Principal = Depends(require("enroll:manage"))) -> dict:
    with request.app.state.db.reading() as s:
        rows = s.scalars(select(EnrollToken).order_by(EnrollToken.created_at.desc())).all()
        return {"tokens": [_enroll(t) for t in rows]}


@router.post("/enroll-tokens", status_code=201)
def new_enroll_token(
    body: EnrollTokenIn, request: Request, me: Principal = Depends(require("enroll:manage"))
) -> dict:
    try:
        expires = parse_duration(body.expires)
    except ValueError as e:
        raise HTTPException(422, f"expires: {e}") from None
    with request.app.state.db.transaction() as s:
        try:
            text, row = create_enroll_token(
                s,
                body.uses,
                expires,
                body.site,
                body.note,
                me.name,
                me.actor_kind,
                client_ip(request),
            )
        except LookupError as e:
            raise HTTPException(422, f"site: {e}") from None
        return {"token": text, **_enroll(row)}


@router.delete("/enroll-tokens/{token_id}", status_code=204)
def revoke_enroll_token(
    token_id: str, request: Request, me: Principal = Depends(require("enroll:manage"))
):
    with request.app.state.db.transaction() as s:
        row = s.get(EnrollToken, token_id)
        if row is None:
            raise HTTPException(404, "no such enrolment token")
        row.revoked_at = row.revoked_at or utcnow()
        record(
            s,
            me,
            request,
            action="enroll_token.revoke",
            target_type="enroll_token",
            target_id=token_id,
        )
    return Response(status_code=204)


__all__ = ["router", "person"]
