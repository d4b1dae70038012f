"""Schema migrations (Alembic), run from code: ``hashwatch server init`` / ``server migrate``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from .db import DatabaseError

_HERE = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    return ScriptDirectory(str(_HERE)).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as c:
        return MigrationContext.configure(c).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def require_current(engine: Engine) -> None:
    """Refuse to serve a database whose schema is not the code's."""
    have, want = current_revision(engine), head_revision()
    if have is None:
        raise DatabaseError("the database has no hashwatch schema: run `hashwatch server init`")
    if have != want:
        raise DatabaseError(
            f"the database schema is at revision {have}, this version needs {want}: "
            "run `hashwatch server migrate`"
        )
