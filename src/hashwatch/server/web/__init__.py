"""The web dashboard: server-rendered pages (Jinja2) with htmx and Chart.js served by the
server itself. Pages sit beside the JSON API and use the same functions and role checks."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from . import (
    pages_admin,
    pages_analytics,
    pages_fleet,
    pages_incidents,
    pages_lists,
    pages_session,
    pages_takedown,
)
from .base import HERE, LoginRequired, PageDenied, login_redirect, render


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (
        pages_session,
        pages_incidents,
        pages_fleet,
        pages_lists,
        pages_analytics,
        pages_takedown,
        pages_admin,
    ):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired):
        return login_redirect(exc.next_url)

    @app.exception_handler(PageDenied)
    async def _denied(request: Request, exc: PageDenied):
        from ..auth import identify

        try:
            me = identify(request)
        except Exception:  # noqa: BLE001
            me = None
        return render(request, "error.html", me, status=exc.status, message=exc.message)
