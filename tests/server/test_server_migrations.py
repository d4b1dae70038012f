"""Schema migrations: from empty, from the previous revision with data in it, back down, and
the models agree with what the migrations make."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from hashwatch.store import Database, current_revision, head_revision
from hashwatch.store.migrate import downgrade, upgrade
from hashwatch.store.models import Base


def _url(request, backend, tmp_path):
    if backend == "postgresql":
        return request.getfixturevalue("postgres").create_database()
    return str(tmp_path / "m.db")


import pytest  # noqa: E402


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request, tmp_path):
    db = Database(_url(request, request.param, tmp_path))
    yield db
    db.dispose()


def test_from_empty_to_head_matches_the_models(empty_db):
    upgrade(empty_db.engine)
    assert current_revision(empty_db.engine) == head_revision() == "0003"
    with empty_db.engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), Base.metadata)
    assert diff == []


def test_from_previous_revision_keeps_data(empty_db):
    upgrade(empty_db.engine, "0001")
    names = set(inspect(empty_db.engine).get_table_names())
    assert "incidents" in names and "notifications" not in names
    with empty_db.engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO users (username, password_hash, role, active, created_at) "
                "VALUES ('old', 'x', 'admin', true, '2026-01-01 00:00:00')"
            )
        )
        c.execute(
            text(
                "INSERT INTO audit_log (id, at, actor, actor_kind, action, detail, "
                "prev_hash, hash) VALUES (1, '2026-01-01 00:00:00', 'a', 'system', "
                "'x', '{}', 'p', 'h')"
            )
        )
    upgrade(empty_db.engine, "0002")
    assert current_revision(empty_db.engine) == "0002"
    with empty_db.engine.connect() as c:
        assert c.execute(text("SELECT username FROM users")).scalar() == "old"
        assert c.execute(text("SELECT count(*) FROM notifications")).scalar() == 0
    # and back down to the previous revision (the trigger and tables go away)
    downgrade(empty_db.engine, "0001")
    assert "notifications" not in set(inspect(empty_db.engine).get_table_names())
    with empty_db.engine.begin() as c:
        c.execute(text("DELETE FROM audit_log"))  # no append-only trigger at 0001
    downgrade(empty_db.engine, "base")
    assert "incidents" not in set(inspect(empty_db.engine).get_table_names())


def test_takedown_revision_from_the_previous_one_keeps_data(empty_db):
    upgrade(empty_db.engine, "0002")
    assert "takedown_urls" not in set(inspect(empty_db.engine).get_table_names())
    with empty_db.engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO users (username, password_hash, role, active, created_at) "
                "VALUES ('kept', 'x', 'admin', true, '2026-01-01 00:00:00')"
            )
        )
    upgrade(empty_db.engine, "0003")
    names = set(inspect(empty_db.engine).get_table_names())
    assert {
        "takedown_urls",
        "takedown_events",
        "takedown_notices",
        "takedown_notice_urls",
        "takedown_replies",
        "takedown_templates",
        "takedown_hosts",
    } <= names
    with empty_db.engine.begin() as c:
        assert c.execute(text("SELECT username FROM users")).scalar() == "kept"
        c.execute(
            text(
                "INSERT INTO takedown_urls (id, url, url_key, host, source, hashes, reported_at, "
                "created_at, created_by, times_reported, status, status_at, notices) VALUES "
                "('u1', 'https://example.invalid/a', 'k1', 'example.invalid', 'manual', '[]', "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00', 'a', 1, 'reported', "
                "'2026-01-01 00:00:00', 0)"
            )
        )
        # one normalised URL is one row
        with pytest.raises(Exception, match="(?i)unique"):
            with c.begin_nested():
                c.execute(
                    text(
                        "INSERT INTO takedown_urls (id, url, url_key, host, source, hashes, "
                        "reported_at, created_at, created_by, times_reported, status, "
                        "status_at, notices) VALUES ('u2', 'x', 'k1', 'h', 'manual', '[]', "
                        "'2026-01-01 00:00:00', '2026-01-01 00:00:00', 'a', 1, 'reported', "
                        "'2026-01-01 00:00:00', 0)"
                    )
                )
    downgrade(empty_db.engine, "0002")
    names = set(inspect(empty_db.engine).get_table_names())
    assert not any(n.startswith("takedown_") for n in names)
    with empty_db.engine.connect() as c:
        assert c.execute(text("SELECT username FROM users")).scalar() == "kept"


def test_server_refuses_an_out_of_date_schema(tmp_path):
    from hashwatch.server import operations
    from hashwatch.store import DatabaseError

    d = tmp_path / "srv"
    operations.init(d, database=None, admin="admin", password="x" * 12)
    cfg_db = Database(f"sqlite:///{d / 'server.db'}")
    downgrade(cfg_db.engine, "0001")
    cfg_db.dispose()
    with pytest.raises(DatabaseError, match="server migrate"):
        operations.open_db(d)
    before, after = operations.migrate(d)
    assert (before, after) == ("0001", head_revision())
    operations.open_db(d)[1].dispose()
