"""The server's scheduled recheck: off unless switched on; against a loopback site serving
test-kit pictures it confirms a removal (404/410), keeps a URL open while the reported
content is served, records changed content without deciding, and sees a removed URL come
back. The content is hashed in memory: nothing of it is stored."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from hashwatch.server.settings import set_setting
from hashwatch.server.takedown_run import run_rechecks
from hashwatch.store import Database
from hashwatch.store.migrate import upgrade
from hashwatch.store.models import TakedownEvent
from hashwatch.takedown import service

from .conftest import make_policy, send

T0 = datetime(2026, 11, 2, 9, 0)


@pytest.fixture
def db(tmp_path):
    d = Database(str(tmp_path / "t.db"))
    upgrade(d.engine)
    yield d
    d.dispose()


def _report(db, urls: dict[str, tuple]) -> dict[str, str]:
    with db.transaction() as s:
        r = service.intake(
            s,
            [service.Report(url=u, reported_at=T0, hashes=h) for u, h in urls.items()],
            by="analyst",
            now=T0,
        )
    return dict(zip(urls, r.created, strict=True))


def _status(db, uid: str) -> str:
    with db.reading() as s:
        return service.get(s, uid).status


def test_rechecks_are_off_by_default(db, site, pictures):
    site.routes["/a.jpg"] = lambda h: send(h, 404)
    _report(db, {site.url("/a.jpg"): pictures.hashes})
    assert run_rechecks(db, T0 + timedelta(hours=1), policy=make_policy()) == []
    assert site.paths == []


def test_recheck_outcomes_against_a_loopback_site(db, site, pictures):
    site.routes["/gone.jpg"] = lambda h: send(h, 404)
    site.routes["/gone410.jpg"] = lambda h: send(h, 410)
    site.routes["/up.jpg"] = lambda h: send(h, 200, pictures.copy, Content_Type="image/jpeg")
    site.routes["/changed.jpg"] = lambda h: send(h, 200, pictures.other, Content_Type="image/jpeg")
    ids = _report(
        db,
        {
            site.url("/gone.jpg"): pictures.hashes,
            site.url("/gone410.jpg"): pictures.hashes,
            site.url("/up.jpg"): pictures.hashes,
            site.url("/changed.jpg"): pictures.hashes,
        },
    )
    with db.transaction() as s:
        set_setting(s, "takedown_recheck", True)
        set_setting(s, "takedown_recheck_hours", 6)
    t1 = T0 + timedelta(hours=1)
    done = {d["id"]: d for d in run_rechecks(db, t1, policy=make_policy())}
    by_url = {u: done[i] for u, i in ids.items()}
    assert by_url[site.url("/gone.jpg")]["outcome"] == "removed"
    assert by_url[site.url("/gone410.jpg")]["changed"] == "removed"
    assert by_url[site.url("/up.jpg")]["outcome"] == "live_match"
    assert by_url[site.url("/changed.jpg")]["outcome"] == "live_no_match"
    assert _status(db, ids[site.url("/gone.jpg")]) == "removed"
    assert _status(db, ids[site.url("/up.jpg")]) == "reported"
    assert _status(db, ids[site.url("/changed.jpg")]) == "reported"  # left to the analyst
    # not due again before recheck_hours
    assert run_rechecks(db, t1 + timedelta(hours=5), policy=make_policy()) == []
    # the removed one is served again: it has reappeared
    site.routes["/gone.jpg"] = lambda h: send(h, 200, pictures.listed, Content_Type="image/jpeg")
    again = run_rechecks(db, t1 + timedelta(hours=6), policy=make_policy())
    assert {d["id"]: d["changed"] for d in again}[ids[site.url("/gone.jpg")]] == "reappeared"
    with db.reading() as s:
        checks = s.scalars(select(TakedownEvent).where(TakedownEvent.kind == "check")).all()
        assert len(checks) == 8
        assert all(e.by == "recheck" for e in checks)
        # what is recorded is the outcome and reason, never the content
        assert all(len(e.note or "") <= 200 for e in checks)


def test_a_url_without_hashes_is_checked_for_removal_only(db, site):
    site.routes["/x"] = lambda h: send(h, 200, b"<html>hello</html>", Content_Type="text/html")
    uid = _report(db, {site.url("/x"): ()})[site.url("/x")]
    done = run_rechecks(db, T0 + timedelta(hours=1), policy=make_policy(), force=True)
    assert done[0]["outcome"] == "live_no_match" and done[0]["changed"] is None
    with db.reading() as s:
        assert "no reported hash" in service.get(s, uid).last_check
