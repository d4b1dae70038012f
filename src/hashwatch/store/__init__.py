"""The server's database: models, engines, migrations (no web or engine knowledge here)."""

from .db import Database, DatabaseError, make_engine, session_factory, transaction, utcnow
from .migrate import current_revision, head_revision, require_current, upgrade

__all__ = [
    "Database",
    "DatabaseError",
    "current_revision",
    "head_revision",
    "make_engine",
    "require_current",
    "session_factory",
    "transaction",
    "upgrade",
    "utcnow",
]
