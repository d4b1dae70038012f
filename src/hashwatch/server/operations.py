"""What the ``hashwatch server`` commands do, as plain functions (the CLI only parses and
prints): set up a data directory, run migrations, make tokens and accounts, import lists."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from ..lists.keys import generate
from ..store import Database, DatabaseError, current_revision, head_revision, upgrade
from ..store.db import check_connection, utcnow
from ..store.models import Site, User
from . import audit, lists_service
from .api_people import create_api_token, create_enroll_token
from .config import ServerConfig, load, save
from .derive import DEFAULT_HOURS, validate_timezone
from .secrets_ import generate_password, hash_password


def operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


@dataclass
class InitResult:
    config_path: Path
    database: str
    key_path: Path
    admin: str
    generated_password: str | None
    migrated_from: str | None


def init(
    data_dir: Path,
    *,
    database: str | None,
    admin: str,
    password: str | None,
    public_url: str | None = None,
    timezone: str = "UTC",
) -> InitResult:
    """Create (or bring up to date) a server: config, schema, signing key, first admin."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    try:
        cfg = load(data_dir)
    except Exception:  # noqa: BLE001 - no or unusable config: start a fresh one
        cfg = ServerConfig(data_dir=data_dir)
    if database:
        cfg.database = database
    if not cfg.database:
        cfg.database = cfg.default_database()
    if public_url:
        cfg.public_url = public_url
    validate_timezone(timezone)
    db = Database(cfg.database)
    try:
        check_connection(db.engine)
        before = current_revision(db.engine)
        upgrade(db.engine)
        if not cfg.key_path.exists():
            generate(cfg.data_dir / "list-signing")
        generated = None
        with db.transaction() as s:
            if s.scalar(select(Site).where(Site.name == "Default")) is None:
                s.add(
                    Site(
                        name="Default", timezone=timezone, working_hours=DEFAULT_HOURS, holidays=[]
                    )
                )
            if s.scalar(select(User).where(User.role == "admin")) is None:
                if password is None:
                    password = generated = generate_password()
                s.add(
                    User(
                        username=admin,
                        role="admin",
                        password_hash=hash_password(password),
                        active=True,
                        created_at=utcnow(),
                        display_name="first administrator",
                    )
                )
                audit.append(
                    s,
                    actor=operator(),
                    actor_kind="system",
                    action="server.init",
                    target_type="user",
                    target_id=admin,
                )
            else:
                admin = ""
    finally:
        db.dispose()
    path = save(cfg)
    return InitResult(path, cfg.database, cfg.key_path, admin, generated, before)


def open_db(data_dir: Path | None) -> tuple[ServerConfig, Database]:
    cfg = load(data_dir)
    db = Database(cfg.database)
    have, want = current_revision(db.engine), head_revision()
    if have != want:
        db.dispose()
        raise DatabaseError(
            f"database schema is at {have}, this version needs {want}: "
            "run `hashwatch server migrate`"
        )
    return cfg, db


def migrate(data_dir: Path | None) -> tuple[str | None, str]:
    cfg = load(data_dir)
    db = Database(cfg.database)
    try:
        before = current_revision(db.engine)
        upgrade(db.engine)
        return before, head_revision()
    finally:
        db.dispose()


def enroll_token(
    data_dir, uses: int, expires: timedelta, site: str | None, note: str | None
) -> tuple[str, str]:
    cfg, db = open_db(data_dir)
    try:
        with db.transaction() as s:
            text, row = create_enroll_token(
                s, uses, expires, site, note, operator(), "system", None
            )
            return text, row.expires_at.isoformat(timespec="seconds") + "Z"
    finally:
        db.dispose()


def api_token(data_dir, username: str, name: str, days: int | None) -> str:
    cfg, db = open_db(data_dir)
    try:
        with db.transaction() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None or not user.active:
                raise LookupError(f"no active account {username!r}")
            text, _ = create_api_token(s, user, name, days, operator(), "system", None)
            return text
    finally:
        db.dispose()


def add_user(data_dir, username: str, role: str, password: str) -> None:
    cfg, db = open_db(data_dir)
    try:
        with db.transaction() as s:
            if s.scalar(select(User).where(User.username == username)):
                raise LookupError(f"account {username!r} already exists")
            s.add(
                User(
                    username=username,
                    role=role,
                    password_hash=hash_password(password),
                    active=True,
                    created_at=utcnow(),
                )
            )
            audit.append(
                s,
                actor=operator(),
                actor_kind="system",
                action="user.create",
                target_type="user",
                target_id=username,
                detail={"role": role},
            )
    finally:
        db.dispose()


def import_list(data_dir, path: Path, name: str, *, dry_run: bool, hex64: str):
    cfg, db = open_db(data_dir)
    try:
        with db.transaction() as s:
            return lists_service.import_file(
                s,
                path,
                name,
                actor=operator(),
                actor_kind="system",
                apply=not dry_run,
                bare_hex_64=hex64,
                source_name=path.name,
            )
    finally:
        db.dispose()


def verify_audit(data_dir) -> audit.ChainReport:
    cfg, db = open_db(data_dir)
    try:
        with db.reading() as s:
            return audit.verify_chain(s)
    finally:
        db.dispose()


DEMO_CREDENTIALS = "demo-credentials.json"


def demo(data_dir: Path, *, devices: int, weeks: int, seed: int = 2026) -> tuple[dict, object]:
    """A server seeded with the synthetic demo organisation (made once; later calls reuse
    it). Returns the sign-in credentials (kept in the data directory, owner-only) and the
    seed report (None when the data directory was already seeded)."""
    from . import demo as demo_data

    creds_path = data_dir / DEMO_CREDENTIALS
    creds: dict = json.loads(creds_path.read_text()) if creds_path.exists() else {}
    made = init(data_dir, database=None, admin="admin", password=None)
    if made.generated_password:
        creds["admin"] = made.generated_password
    cfg, db = open_db(data_dir)
    report = None
    try:
        if not demo_data.is_seeded(db):
            work = data_dir / "demo-kit"
            work.mkdir(exist_ok=True)
            report = demo_data.seed(db, devices=devices, weeks=weeks, seed=seed, workdir=work)
            creds.update(report.users)
    finally:
        db.dispose()
    fd = os.open(creds_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(creds, f, indent=1)
    return creds, report
