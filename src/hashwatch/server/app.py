"""The management server's FastAPI application."""

from __future__ import annotations

import threading
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import select

from .. import __version__
from ..lists.keys import load_private
from ..store import Database, require_current
from ..store.models import HashListRow
from . import api_admin, api_agent, api_analytics, api_incidents, api_people, api_takedown, web
from .config import ServerConfig
from .notify import Notifier
from .settings import get_setting
from .takedown_run import TakedownWorker
from .web.base import CSP

_FLEET_TTL = 5.0


def create_app(cfg: ServerConfig, *, notifier: bool = True, check_schema: bool = True) -> FastAPI:
    db = Database(cfg.database, background_checkpoint=True)
    if check_schema:
        require_current(db.engine)
    key = load_private(cfg.key_path)
    worker = Notifier(db, cfg.public_url, cfg.notify_interval_seconds)
    takedown_worker = TakedownWorker(db, cfg.data_dir / "takedown.lock")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db.start_checkpointer()
        if notifier:
            worker.start()
            takedown_worker.start()
        yield
        worker.stop()
        takedown_worker.stop()
        db.dispose()

    app = FastAPI(
        title="hashwatch management server",
        version=__version__,
        lifespan=lifespan,
        description="Agents report matches of known material by hash; people work the "
        "incidents. No image content ever reaches this server.",
    )
    app.state.cfg = cfg
    app.state.db = db
    app.state.signing_key = key
    app.state.public_key = key.public_key()
    app.state.notifier = worker
    app.state.takedown_worker = takedown_worker

    cache = {"at": 0.0, "value": {}}
    lock = threading.Lock()

    def fleet_view() -> dict:
        """What every heartbeat answers: the latest list versions and the wanted heartbeat
        interval (cached for a few seconds; list and settings changes invalidate it)."""
        now = time.monotonic()
        if now - cache["at"] > _FLEET_TTL:
            with lock, db.reading() as s:
                lists = s.execute(
                    select(HashListRow.name, HashListRow.version).where(HashListRow.version > 0)
                ).all()
                cache["value"] = {
                    "lists": dict(lists),
                    "heartbeat_seconds": get_setting(s, "heartbeat_seconds"),
                }
                cache["at"] = now
        return cache["value"]

    def invalidate_lists() -> None:
        cache["at"] = 0.0

    app.state.fleet_view = fleet_view
    app.state.invalidate_lists = invalidate_lists

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        limit = (
            cfg.list_upload_bytes if request.url.path.endswith("/import") else cfg.max_body_bytes
        )
        length = request.headers.get("content-length")
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                return JSONResponse({"detail": "bad Content-Length"}, status_code=400)
            if too_big:
                return JSONResponse(
                    {"detail": f"request body larger than {limit} bytes"}, status_code=413
                )
        elif request.method in ("POST", "PUT", "PATCH") and not request.url.path.endswith(
            "/import"
        ):
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    return JSONResponse(
                        {"detail": f"request body larger than {limit} bytes"}, status_code=413
                    )
            request._body = body  # noqa: SLF001 - starlette re-reads the cached body
        response = await call_next(request)
        # one middleware for every request (a second one would cost every heartbeat too)
        static = request.url.path.startswith("/static/")
        response.headers.setdefault(
            "Cache-Control", "public, max-age=3600" if static else "no-store"
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "error": e.get("msg", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "", "error": "invalid request"}
        return JSONResponse(
            {"detail": f"{first['field']}: {first['error']}", "errors": errors[:50]},
            status_code=422,
        )

    @app.get("/api/v1/health", tags=["meta"])
    def health() -> dict:
        return {"ok": True, "version": __version__}

    app.include_router(api_agent.router)
    app.include_router(api_people.router)
    app.include_router(api_incidents.router)
    app.include_router(api_admin.router)
    app.include_router(api_analytics.router)
    app.include_router(api_takedown.router)
    web.install(app)
    return app
