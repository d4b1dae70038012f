"""Serving the app with uvicorn (one or more workers, TLS or behind a reverse proxy)."""

from __future__ import annotations

import os
from pathlib import Path

from .config import load


def app_factory():
    """Used by uvicorn workers: the data directory comes from the environment."""
    from .app import create_app

    return create_app(load(os.environ["HASHWATCH_SERVER_DIR"]))


def serve(
    data_dir: Path,
    host: str,
    port: int,
    workers: int,
    certfile: Path | None,
    keyfile: Path | None,
    log_level: str,
) -> None:
    import uvicorn

    from ..store import Database, require_current

    cfg = load(data_dir)
    db = Database(cfg.database)
    try:
        require_current(db.engine)
    finally:
        db.dispose()
    os.environ["HASHWATCH_SERVER_DIR"] = str(Path(data_dir).resolve())
    uvicorn.run(
        "hashwatch.server.run:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        proxy_headers=True,
        forwarded_allow_ips=",".join(cfg.trusted_proxies),
        log_level=log_level,
        server_header=False,
        access_log=log_level == "debug",
    )
