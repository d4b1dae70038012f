"""The demo seed: a clearly synthetic organisation whose incidents are real entries of the test
kit's list, with the field's shares, consistent times, a review history, an intact audit chain
and accounts that can sign in. One default seed is shared by most tests (seeding is the cost);
the test kit is written once per module and reused."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

import hashwatch.agent
from hashwatch.server import demo
from hashwatch.server.audit import verify_chain
from hashwatch.server.settings import get_setting
from hashwatch.signals.pdq import pdq_distance
from hashwatch.store.models import (
    Device,
    DeviceEvent,
    HashListRow,
    Incident,
    IncidentEvent,
    ListEntryRow,
    ListVersion,
    Notification,
    Site,
    User,
)
from hashwatch.testkit.listing import LIST_NAME

from .conftest import PASSWORD, _make

# a whole hour in the recent past: fixed for the module, never ahead of the real clock
NOW = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0) - timedelta(hours=1)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("demo-work")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, workdir):
    """A fresh server on SQLite seeded with the defaults; also whether it looked seeded before."""
    srv = _make(tmp_path_factory.mktemp("demo-srv"), "sqlite", None)
    before = demo.is_seeded(srv.db)
    report = demo.seed(srv.db, workdir=workdir, now=NOW)
    yield srv, report, before
    srv.close()
    srv.db.dispose()


def _incidents(srv) -> list[Incident]:
    with srv.db.reading() as s:
        return list(s.scalars(select(Incident)))


def _share(rows, attr: str) -> float:
    return 100 * sum(bool(getattr(i, attr)) for i in rows) / len(rows)


def test_counts_match_the_report(seeded):
    srv, report, _ = seeded
    with srv.db.reading() as s:
        sites = s.scalars(select(Site.name).where(Site.name.like("Demo %"))).all()
        devices = s.scalar(select(func.count()).select_from(Device))
        incidents = s.scalar(select(func.count()).select_from(Incident))
        hit = s.scalar(select(func.count(func.distinct(Incident.device_id))))
        versions = s.scalar(
            select(func.count()).select_from(ListVersion).join(HashListRow)
            .where(HashListRow.name == LIST_NAME)
        )  # fmt: skip
        notifications = s.scalar(select(func.count()).select_from(Notification))
    assert (len(sites), devices, incidents) == (report.sites, report.devices, report.incidents)
    assert report.sites == 3 and report.devices == 300
    assert 100 <= report.incidents <= 200
    assert 0.01 <= hit / devices <= 0.03  # concentrated on a few devices
    assert report.list_versions == versions >= 2
    assert notifications == 0  # nothing queued to real notification targets


def test_every_match_is_an_entry_of_the_imported_list(seeded):
    srv, _, _ = seeded
    with srv.db.reading() as s:
        hl = s.scalar(select(HashListRow).where(HashListRow.name == LIST_NAME))
        entries = {
            (e.signal_type, e.signal): e
            for e in s.scalars(select(ListEntryRow).where(ListEntryRow.list_id == hl.id))
        }
        rows = list(s.scalars(select(Incident)))
    kinds = Counter(i.signal_type for i in rows)
    assert set(kinds) == {"sha256", "pdq"} and min(kinds.values()) >= 20
    for i in rows:
        e = entries[(i.signal_type, i.signal)]
        assert (i.entry_id, i.category, i.list_name) == (e.entry_id, e.category, LIST_NAME)
        assert i.list_version in (1, 2) and e.added_version <= i.list_version
        if i.signal_type == "sha256":
            assert i.sha256 == i.signal and i.distance == 0
        else:  # an altered copy: another file, a near PDQ
            assert ("sha256", i.sha256) not in entries
            assert pdq_distance(i.pdq, i.signal) == i.distance <= 31


def test_shares_are_those_of_the_field(seeded):
    rows = _incidents(seeded[0])
    assert 55 <= _share(rows, "outside_hours") <= 85
    assert 45 <= _share(rows, "removable_media") <= 75
    assert 35 <= _share(rows, "off_network") <= 65
    removable = [i for i in rows if i.removable_media]
    assert all(i.trigger == "removable" and i.volume_kind == "removable" for i in removable)
    assert all(i.volume_label == "SYNTHETIC-USB" and i.volume_serial for i in removable)


def test_times_are_consistent(seeded):
    srv, _, _ = seeded
    rows = _incidents(srv)
    start = NOW - timedelta(weeks=6)
    for i in rows:
        assert start <= i.detected_at <= i.received_at <= NOW
        assert i.delivery_delay_s == int((i.received_at - i.detected_at).total_seconds())
    assert statistics.median(i.delivery_delay_s for i in rows) < 3600  # mostly prompt
    offline = [i.delivery_delay_s for i in rows if i.online is False]
    assert offline and statistics.median(offline) >= 3600  # held until back online
    weekly = Counter((NOW - i.detected_at).days // 7 for i in rows)
    assert weekly[0] + weekly[1] > weekly[4] + weekly[5]  # rising, not flat
    with srv.db.reading() as s:
        events = s.scalars(select(DeviceEvent)).all()
        history = s.execute(select(IncidentEvent, Incident.received_at).join(Incident)).all()
    assert all(e.at <= e.received_at <= NOW for e in events)
    assert history and all(r <= e.at <= NOW for e, r in history)


def test_everything_says_it_is_synthetic(seeded):
    srv, _, _ = seeded
    rows = _incidents(srv)
    with srv.db.reading() as s:
        hosts = s.scalars(select(Device.hostname)).all()
        sites = s.scalars(select(Site.name).where(Site.name != "Default")).all()
    assert all(h.startswith(("DEMO-LT-", "DEMO-DT-", "DEMO-FS-")) for h in hosts)
    assert sites and all("(synthetic)" in n for n in sites)
    for i in rows:
        assert i.hostname.startswith("DEMO-") and "DEMO-SYNTHETIC" in i.path
        assert all("DEMO-SYNTHETIC" in t["path"] for t in i.trail)
        assert i.origin_url is None or i.origin_url.startswith("https://example.invalid/")
    assert any(i.origin_url for i in rows) and any(i.trail for i in rows)


def test_org_and_fleet_look_alive(seeded):
    srv, _, _ = seeded
    with srv.db.reading() as s:
        devices = s.scalars(select(Device)).all()
        kinds = set(s.scalars(select(DeviceEvent.kind).distinct()))
        nets = get_setting(s, "org_networks")
        sites = s.scalars(select(Site).where(Site.name != "Default")).all()
    assert {"10.20.0.0/16", "10.30.0.0/16"} <= set(nets)
    assert {x.timezone for x in sites} == {"Europe/London", "Europe/Berlin", "America/New_York"}
    assert all(len(x.holidays) == 2 for x in sites)
    assert any(x.working_hours["fri"] != x.working_hours["mon"] for x in sites)
    recent = sum(d.last_seen_at >= NOW - timedelta(hours=1) for d in devices)
    silent = sum(d.last_seen_at < NOW - timedelta(days=3) for d in devices)
    assert recent > 0.85 * len(devices) and 1 <= silent <= 0.08 * len(devices)
    assert 1 <= sum(d.revoked_at is not None for d in devices) <= 5
    assert {d.status for d in devices} == {"ok", "degraded", "error"}
    assert any(d.queue_depth for d in devices)
    assert any(d.list_versions[LIST_NAME] == 1 for d in devices)  # some lag a version
    # every journal kind is one the agent really writes
    agent_src = "".join(p.read_text() for p in Path(hashwatch.agent.__file__).parent.glob("*.py"))
    assert {"agent.start", "list.updated", "volume.mounted", "scan.finished"} <= kinds
    assert all(f'"{k}"' in agent_src for k in kinds), kinds


def test_review_history(seeded):
    srv, _, _ = seeded
    rows = _incidents(srv)
    states = Counter((i.status, i.resolution) for i in rows)
    assert states[("new", None)] and states[("closed", "confirmed")] > len(rows) / 3
    assert states[("closed", "false_positive")] and states[("closed", "duplicate")]
    assert states[("escalated", None)] + states[("in_review", None)] > 0
    newest = max(i.received_at for i in rows)
    assert all(i.status == "new" for i in rows if i.received_at == newest)
    with srv.db.reading() as s:
        by = set(s.scalars(select(IncidentEvent.by)))
    assert by <= {"admin", "investigator"}


def test_audit_chain_still_verifies(seeded):
    with seeded[0].db.reading() as s:
        report = verify_chain(s)
    assert report.ok, report


def test_marker_and_no_second_seed(seeded, workdir):
    srv, _, before = seeded
    assert before is False and demo.is_seeded(srv.db)
    with pytest.raises(RuntimeError):
        demo.seed(srv.db, workdir=workdir, now=NOW)


def test_demo_accounts_can_sign_in(seeded):
    srv, report, _ = seeded
    # "admin" was made by init: left alone
    assert set(report.users) == {"investigator", "auditor", "analyst"}
    with srv.db.reading() as s:
        assert s.scalar(select(User.password_hash).where(User.username == "auditor")).startswith(
            "$argon2id$"
        )
    c = srv.client()
    for name, password in [*report.users.items(), ("admin", PASSWORD)]:
        r = c.post("/api/v1/session", json={"username": name, "password": password})
        assert r.status_code == 200, r.text


def _pairs(srv) -> set[tuple[str, str]]:
    return {(i.hostname, i.path) for i in _incidents(srv)}


def test_same_seed_and_now_same_data(srv_sqlite, tmp_path, workdir, request):
    (tmp_path / "other").mkdir()
    other = _make(tmp_path / "other", "sqlite", request)
    try:
        a = demo.seed(srv_sqlite.db, devices=120, weeks=3, workdir=workdir, now=NOW)
        b = demo.seed(other.db, devices=120, weeks=3, workdir=workdir, now=NOW)
        assert a.incidents == b.incidents and _pairs(srv_sqlite) == _pairs(other)
    finally:
        other.close()
        other.db.dispose()


def test_seed_on_each_database(srv, workdir):
    """The same seeding on SQLite and on a real PostgreSQL."""
    report = demo.seed(srv.db, devices=60, weeks=2, seed=7, workdir=workdir, now=NOW)
    rows = _incidents(srv)
    assert len(rows) == report.incidents > 0 and report.devices == 60
    assert all(i.detected_at <= i.received_at <= NOW for i in rows)
    with srv.db.reading() as s:
        assert verify_chain(s).ok
    assert demo.is_seeded(srv.db)
