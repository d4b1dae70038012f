"""Signing in and out of the web pages, and the home page (the first page the role may see)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from ..api_people import set_session_cookie
from ..auth import SESSION_COOKIE, Principal, Throttled, client_ip, identify, login, record
from .base import NAV, can, page, redirect, render, safe_next

router = APIRouter(include_in_schema=False)
LOGIN_CSRF = "hw_login"


def _who(request: Request) -> Principal | None:
    try:
        return identify(request)
    except Exception:  # noqa: BLE001 - any failure means "not signed in" here
        return None


@router.get("/")
def home(request: Request):
    me = _who(request)
    if me is None:
        return RedirectResponse("/login", status_code=303)
    for _label, path, perm in NAV:
        if can(me.role, perm):
            return RedirectResponse(path, status_code=303)
    return RedirectResponse("/account", status_code=303)


home.permission = "public"  # type: ignore[attr-defined]


def _login_page(
    request: Request, *, error: str | None = None, status: int = 200, username: str = ""
):
    token = secrets.token_urlsafe(18)
    resp = render(
        request,
        "login.html",
        None,
        status=status,
        error=error,
        login_csrf=token,
        next=safe_next(request.query_params.get("next")),
        username=username,
    )
    # double-submit token: a page elsewhere cannot sign someone in to an account of its choice
    resp.set_cookie(
        LOGIN_CSRF, token, max_age=3600, httponly=True, samesite="strict", path="/login"
    )
    return resp


@router.get("/login")
def login_page(request: Request):
    return _login_page(request)


@router.post("/login")
async def login_submit(request: Request):
    form = await request.form()
    username = str(form.get("username") or "")[:64]
    password = str(form.get("password") or "")[:1024]
    sent, kept = str(form.get("login_csrf") or ""), request.cookies.get(LOGIN_CSRF, "")
    if not sent or not kept or not secrets.compare_digest(sent, kept):
        return _login_page(
            request, error="The sign-in form expired: try again.", status=403, username=username
        )
    cfg = request.app.state.cfg
    outcome: Exception | None = None
    with request.app.state.db.transaction() as s:
        try:
            user, cookie, _sess = login(
                s, username, password, client_ip(request), cfg.session_hours
            )
        except (Throttled, PermissionError) as e:
            outcome = e
    if isinstance(outcome, Throttled):
        return _login_page(
            request,
            error=f"Too many failed sign-ins: try again in {outcome.retry_after // 60 + 1} min.",
            status=429,
            username=username,
        )
    if outcome is not None:
        return _login_page(
            request, error=str(outcome).capitalize() + ".", status=401, username=username
        )
    resp = RedirectResponse(safe_next(str(form.get("next") or "/")), status_code=303)
    set_session_cookie(resp, request, cookie)
    resp.delete_cookie(LOGIN_CSRF, path="/login")
    return resp


login_page.permission = login_submit.permission = "public"  # type: ignore[attr-defined]


@router.post("/logout")
def logout(request: Request, me: Principal = Depends(page("self"))):
    from sqlalchemy import delete

    from ...store.models import UserSession

    with request.app.state.db.transaction() as s:
        if me.session_id:
            s.execute(delete(UserSession).where(UserSession.id == me.session_id))
        record(s, me, request, "logout")
    resp = redirect("/login", "Signed out.")
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp
