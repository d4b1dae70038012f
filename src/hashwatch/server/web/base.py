"""What every web page shares: the templates, who is looking (with a redirect to the sign-in
page instead of a 401), the role check that hides what a role may not see, CSRF on forms,
one-shot flash messages and the security headers that keep every page self-contained."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ... import __version__
from ..auth import PERMISSIONS, UNSAFE, Principal, csrf_ok, identify
from ..incidents import iso

HERE = Path(__file__).parent
FLASH_COOKIE = "hw_flash"
#: nothing but the server itself: no CDN, no inline script, no images from anywhere
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
#: (label, path, permission) of the navigation bar, in order
NAV = (
    ("Incidents", "/incidents", "incidents:read"),
    ("Fleet", "/fleet", "devices:read"),
    ("Lists", "/lists", "lists:read"),
    ("Takedown", "/takedown", "takedown:read"),
    ("Analytics", "/analytics", "analytics:read"),
    ("Weekly report", "/reports/weekly", "analytics:read"),
    ("Settings", "/settings", "settings:read"),
    ("Users", "/users", "users:manage"),
    ("Audit log", "/audit", "audit:read"),
)


class LoginRequired(Exception):
    def __init__(self, next_url: str, reason: str) -> None:
        self.next_url, self.reason = next_url, reason


class PageDenied(Exception):
    def __init__(self, message: str, status: int = 403) -> None:
        self.message, self.status = message, status


def can(role: str | None, permission: str) -> bool:
    return role in PERMISSIONS[permission]


def _hours(seconds: float | int | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    if s < 90:
        return f"{s} s"
    if s < 5400:
        return f"{round(s / 60)} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def _when(s: str | None) -> str:
    """An ISO time as ``2026-11-21 23:14:05 UTC`` (seconds are enough on a page)."""
    if not s:
        return "—"
    text = re.sub(r"\.\d+", "", s)
    return text.replace("T", " ").replace("Z", " UTC")


def _devtime(s: str | None) -> str:
    """The device's local time with its UTC offset: ``2026-11-21 23:14:05 (UTC+01:00)``."""
    if not s:
        return "—"
    m = re.match(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?([+-]\d\d:\d\d|Z)?$", s)
    if not m:
        return s
    return f"{m.group(1)} {m.group(2)} (UTC{m.group(3) or '+00:00'})"


def defang(url: str | None) -> str | None:
    """A reported URL as text that no browser or mail client turns into a link."""
    if not url:
        return None
    return url.replace("http", "hxxp", 1).replace(".", "[.]").replace("://", "[://]", 1)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["duration"] = _hours
env.filters["pct"] = _pct
env.filters["iso"] = lambda d: iso(d) if d else "—"
env.filters["when"] = _when
env.filters["devtime"] = _devtime
env.filters["defang"] = defang
env.globals["version"] = __version__
env.globals["can"] = can


def page(permission: str):
    """A dependency for a page: the person (or a redirect to sign in), refused with a page
    when the role lacks ``permission``; a form POST must carry the session's CSRF token."""
    allowed = PERMISSIONS[permission]

    async def dep(request: Request) -> Principal:
        try:
            me = identify(request)
        except HTTPException as e:
            if e.status_code == 401:
                raise LoginRequired(_here(request), str(e.detail)) from None
            raise
        if me.role not in allowed:
            raise PageDenied(f"Your role ({me.role}) may not open this page.")
        if request.method in UNSAFE:
            sent = request.headers.get("x-csrf-token")
            if sent is None:
                form = await request.form()
                sent = form.get("csrf")
            if not csrf_ok(me, sent if isinstance(sent, str) else None):
                raise PageDenied("This form has expired (CSRF check failed): reload the page.")
        return me

    dep.permission = permission  # type: ignore[attr-defined]
    return dep


def _here(request: Request) -> str:
    q = request.url.query
    return request.url.path + (f"?{q}" if q else "") if request.method == "GET" else "/"


def flash_of(request: Request) -> dict | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        msg = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return {"text": str(msg["text"])[:2000], "error": bool(msg.get("error"))}
    except (ValueError, KeyError, TypeError):
        return None


def render(
    request: Request, template: str, me: Principal | None, *, status: int = 200, **ctx
) -> HTMLResponse:
    nav = [(label, path) for label, path, perm in NAV if me and can(me.role, perm)]
    html = env.get_template(template).render(
        request=request,
        me=me,
        nav=nav,
        csrf=me.csrf if me else "",
        flash=flash_of(request),
        path=request.url.path,
        **ctx,
    )
    resp = HTMLResponse(html, status_code=status)
    if request.cookies.get(FLASH_COOKIE):
        resp.delete_cookie(FLASH_COOKIE, path="/")
    return resp


def redirect(url: str, text: str | None = None, *, error: bool = False) -> RedirectResponse:
    """303 to ``url`` (after a form), with a message shown once on the next page."""
    resp = RedirectResponse(url, status_code=303)
    if text:
        raw = json.dumps({"text": text[:2000], "error": error}).encode()
        resp.set_cookie(
            FLASH_COOKIE,
            base64.urlsafe_b64encode(raw).decode(),
            max_age=60,
            httponly=True,
            samesite="strict",
            path="/",
        )
    return resp


def login_redirect(next_url: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(next_url, safe='')}", status_code=303)


def safe_next(url: str | None) -> str:
    """Only a local path: never an open redirect to another host."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


def detail_of(e: Exception) -> str:
    """A readable reason from an API error or a validation error."""
    if isinstance(e, HTTPException):
        return str(e.detail)
    errors = getattr(e, "errors", None)
    if callable(errors):
        parts = []
        for x in errors()[:5]:
            loc = ".".join(str(p) for p in x.get("loc", ()) if p != "body")
            parts.append(f"{loc}: {x.get('msg', '')}" if loc else str(x.get("msg", "")))
        return "; ".join(parts)
    return str(e)
