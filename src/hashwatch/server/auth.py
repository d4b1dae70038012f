"""Who is calling: a person (session cookie or personal API token) or an agent (its token),
and what their role lets them do. Every route declares one permission; a test walks all
routes and checks every role against each.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Depends, HTTPException, Request
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..store.db import utcnow
from ..store.models import ApiToken, Device, LoginFailure, User, UserSession
from . import audit
from .secrets_ import Token, check_password, parse_token, secret_matches, sha256_hex

#: admin, the organisation's safeguarding investigator, the read-only auditor, and the
#: hotline analyst who works URL takedowns (and sees no incident)
ROLES = ("admin", "investigator", "auditor", "analyst")
PERMISSIONS: dict[str, frozenset[str]] = {
    "incidents:read": frozenset({"admin", "investigator"}),
    "incidents:write": frozenset({"admin", "investigator"}),
    "incidents:export": frozenset({"admin", "investigator"}),
    "devices:read": frozenset({"admin", "investigator"}),
    "devices:write": frozenset({"admin"}),
    "lists:read": frozenset({"admin", "investigator"}),
    "lists:write": frozenset({"admin"}),
    "audit:read": frozenset({"admin", "auditor"}),
    "users:manage": frozenset({"admin"}),
    "enroll:manage": frozenset({"admin"}),
    "settings:read": frozenset({"admin", "investigator"}),
    "settings:write": frozenset({"admin"}),
    # reported URLs, notices and replies; intake and status changes
    "takedown:read": frozenset({"admin", "investigator", "analyst"}),
    "takedown:write": frozenset({"admin", "investigator", "analyst"}),
    # the host attribution table, the notice templates
    "takedown:manage": frozenset({"admin"}),
    # aggregate figures only, no incident detail: the auditor oversees the process too
    "analytics:read": frozenset(ROLES),
    "self": frozenset(ROLES),
}
SESSION_COOKIE = "hw_session"
CSRF_HEADER = "x-csrf-token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
#: login throttling: failures allowed per window, per account and per address
FAIL_WINDOW = timedelta(minutes=15)
FAILS_PER_USER = 5
FAILS_PER_IP = 20


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # session | token | agent
    name: str
    role: str | None = None
    user_id: int | None = None
    device_id: str | None = None
    session_id: str | None = None
    csrf: str | None = None

    @property
    def actor_kind(self) -> str:
        return {"session": "user", "token": "token", "agent": "agent"}[self.kind]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _bearer(request: Request) -> str | None:
    h = request.headers.get("authorization", "")
    scheme, _, value = h.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _unauthorised(reason: str) -> HTTPException:
    return HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})


def identify(request: Request) -> Principal:
    """The person behind the request (session cookie or ``Bearer hwu_...``), or 401. The
    CSRF token is NOT checked here: :func:`person` checks the header, the web pages check
    their forms' hidden field."""
    db = request.app.state.db
    now = utcnow()
    token = _bearer(request)
    with db.reading() as s:
        if token:
            t = parse_token(token, "api")
            row = s.get(ApiToken, t.id) if t else None
            if (
                row is None
                or not secret_matches(t.secret, row.secret_hash)
                or row.revoked_at is not None
                or (row.expires_at is not None and row.expires_at <= now)
            ):
                raise _unauthorised("invalid, expired or revoked API token")
            user = s.get(User, row.user_id)
            if user is None or not user.active:
                raise _unauthorised("the token's account is disabled")
            return Principal("token", user.username, user.role, user.id)
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise _unauthorised("not signed in")
        sess = s.get(UserSession, sha256_hex(cookie))
        if sess is None or sess.expires_at <= now:
            raise _unauthorised("session expired: sign in again")
        user = s.get(User, sess.user_id)
        if user is None or not user.active:
            raise _unauthorised("the account is disabled")
    return Principal(
        "session", user.username, user.role, user.id, session_id=sess.id, csrf=sess.csrf_token
    )


def csrf_ok(p: Principal, sent: str | None) -> bool:
    """Whether ``sent`` is the session's CSRF token (token callers need none)."""
    if p.kind != "session":
        return True
    return bool(sent) and bool(p.csrf) and secrets.compare_digest(sent, p.csrf)


def person(request: Request) -> Principal:
    """The person behind an API request, or 401; a session's unsafe requests must carry the
    CSRF token in the X-CSRF-Token header (403 otherwise)."""
    p = identify(request)
    if request.method in UNSAFE and not csrf_ok(p, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, "missing or wrong CSRF token (X-CSRF-Token header)")
    return p


def require(permission: str):
    """A dependency that admits a person whose role has ``permission``."""
    allowed = PERMISSIONS[permission]

    def dep(p: Principal = Depends(person)) -> Principal:
        if p.role not in allowed:
            raise HTTPException(403, f"the {p.role} role may not do this ({permission})")
        return p

    dep.permission = permission  # type: ignore[attr-defined]
    return dep


def record(s: Session, me: Principal, request: Request, action: str, **kw) -> None:
    """Append an audit entry for what ``me`` did in this request (same transaction)."""
    audit.append(
        s, actor=me.name, actor_kind=me.actor_kind, action=action, ip=client_ip(request), **kw
    )


def agent_credentials(request: Request) -> Token:
    """The agent token in the request, parsed but NOT yet checked: a route that takes this
    must verify it against the database itself (the heartbeat does, in its one UPDATE)."""
    token = _bearer(request)
    t = parse_token(token, "agent") if token else None
    if t is None:
        raise _unauthorised("agent token required (Authorization: Bearer hwa_...)")
    return t


agent_credentials.permission = "agent"  # type: ignore[attr-defined]


def check_agent(s: Session, t: Token) -> str:
    """The device's hostname if ``t`` is a valid token of an enrolled, not revoked agent;
    else 401 / 403."""
    row = s.execute(
        select(Device.secret_hash, Device.revoked_at, Device.hostname).where(Device.id == t.id)
    ).first()
    if row is None or not secret_matches(t.secret, row[0]):
        raise _unauthorised("unknown agent or wrong secret")
    if row[1] is not None:
        raise HTTPException(403, "this agent has been revoked: enrol it again")
    return row[2]


def agent(request: Request) -> Principal:
    """The enrolled, not revoked agent behind ``Bearer hwa_<device>_<secret>``, or 401."""
    t = agent_credentials(request)
    with request.app.state.db.reading() as s:
        hostname = check_agent(s, t)
    return Principal("agent", hostname, device_id=t.id)


agent.permission = "agent"  # type: ignore[attr-defined]


# ---- sign-in ----------------------------------------------------------------------------


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after


def login(
    s: Session, username: str, password: str, ip: str | None, hours: int
) -> tuple[User, str, UserSession]:
    """Check the password (throttled); returns the user, the cookie value and the session.
    Raises Throttled, or PermissionError for a wrong account or password."""
    now = utcnow()
    since = now - FAIL_WINDOW
    s.execute(delete(LoginFailure).where(LoginFailure.at < since))
    by_user = s.scalar(
        select(func.count()).where(LoginFailure.username == username, LoginFailure.at >= since)
    )
    by_ip = s.scalar(select(func.count()).where(LoginFailure.ip == ip, LoginFailure.at >= since))
    if by_user >= FAILS_PER_USER or (ip and by_ip >= FAILS_PER_IP):
        oldest = s.scalar(
            select(func.min(LoginFailure.at)).where(
                (LoginFailure.username == username) | (LoginFailure.ip == ip),
                LoginFailure.at >= since,
            )
        )
        wait = int(((oldest or now) + FAIL_WINDOW - now).total_seconds()) + 1
        audit.append(s, actor=username[:100], actor_kind="user", action="login.throttled", ip=ip)
        raise Throttled(max(1, wait))
    user = s.scalar(select(User).where(User.username == username))
    if not check_password(password, user.password_hash if user else None) or not user.active:
        s.add(LoginFailure(username=username[:64], ip=ip, at=now))
        audit.append(s, actor=username[:100], actor_kind="user", action="login.failed", ip=ip)
        raise PermissionError("wrong account name or password")
    cookie = secrets.token_urlsafe(32)
    sess = UserSession(
        id=sha256_hex(cookie),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(24),
        created_at=now,
        expires_at=now + timedelta(hours=hours),
        ip=ip,
    )
    s.add(sess)
    user.last_login_at = now
    s.execute(delete(LoginFailure).where(LoginFailure.username == username))
    audit.append(s, actor=user.username, actor_kind="user", action="login.ok", ip=ip)
    return user, cookie, sess
