"""The agent's API: enrolment, heartbeat, incidents exactly once, bundles, bad input."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from sqlalchemy import func, select

from hashwatch.store.models import Device, DeviceEvent, Incident

from .conftest import make_incident


def test_enrolment_token_is_single_use_and_secret_stored_hashed(srv):
    token = srv.enroll_token(uses=1)
    c = srv.client()
    r = c.post("/api/v1/agent/enroll", json={"token": token, "hostname": "PC-1"})
    assert r.status_code == 201
    body = r.json()
    assert body["token"].startswith(f"hwa_{body['device_id']}_")
    assert len(body["list_signing_key"]) == 44  # raw Ed25519 key, base64
    again = c.post("/api/v1/agent/enroll", json={"token": token, "hostname": "PC-2"})
    assert again.status_code == 401 and "used up" in again.json()["detail"]
    secret = body["token"].rsplit("_", 1)[1]
    with srv.db.reading() as s:
        d = s.get(Device, body["device_id"])
        assert secret not in d.secret_hash and len(d.secret_hash) == 64


def test_enrolment_refuses_expired_unknown_and_forged_tokens(srv):
    c = srv.client()
    expired = srv.enroll_token(expires=timedelta(seconds=-1))
    assert (
        c.post("/api/v1/agent/enroll", json={"token": expired, "hostname": "x"}).status_code == 401
    )
    good = srv.enroll_token()
    forged = good[:-4] + "AAAA"
    assert (
        c.post("/api/v1/agent/enroll", json={"token": forged, "hostname": "x"}).status_code == 401
    )
    assert (
        c.post(
            "/api/v1/agent/enroll", json={"token": "hwe_nope_nope-nope", "hostname": "x"}
        ).status_code
        == 401
    )


def test_concurrent_enrolments_never_exceed_token_uses(srv):
    token = srv.enroll_token(uses=3)
    results = []

    def go(i):
        c = srv.client()
        results.append(
            c.post("/api/v1/agent/enroll", json={"token": token, "hostname": f"PC-{i}"}).status_code
        )

    threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] * 3 + [401] * 5


def test_heartbeat_updates_device_and_records_journal(srv):
    agent, device_id = srv.agent()
    r = agent.post(
        "/api/v1/agent/heartbeat",
        json={
            "status": "degraded",
            "queue_depth": 7,
            "agent_version": "0.2.0",
            "list_versions": {"demo": 3},
            "last_full_scan": "2026-11-20T02:00:00+01:00",
            "watched_paths": ["/home", "/media"],
            "events": [
                {
                    "at": "2026-11-20T02:00:00+01:00",
                    "kind": "watcher.overflow",
                    "detail": {"path": "/home/u"},
                }
            ],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["heartbeat_seconds"] == 900
    with srv.db.reading() as s:
        d = s.get(Device, device_id)
        assert (d.status, d.queue_depth, d.agent_version) == ("degraded", 7, "0.2.0")
        assert d.list_versions == {"demo": 3}
        assert d.last_full_scan_at.isoformat() == "2026-11-20T01:00:00"
        ev = s.scalars(select(DeviceEvent).where(DeviceEvent.device_id == device_id)).one()
        assert ev.kind == "watcher.overflow"


def test_revoked_agent_is_refused(srv):
    agent, device_id = srv.agent()
    admin = srv.person("admin")
    assert admin.post(f"/api/v1/devices/{device_id}/revoke").status_code == 200
    r = agent.post("/api/v1/agent/heartbeat", json={})
    assert r.status_code == 403 and "revoked" in r.json()["detail"]
    assert (
        agent.post("/api/v1/agent/incidents", json={"incidents": [make_incident()]}).status_code
        == 403
    )


def test_agent_api_needs_a_valid_agent_token(srv):
    c = srv.client()
    assert c.post("/api/v1/agent/heartbeat", json={}).status_code == 401
    c.headers["Authorization"] = "Bearer hwa_" + str(uuid.uuid4()) + "_secret"
    assert c.post("/api/v1/agent/heartbeat", json={}).status_code == 401
    # a person's API token is not an agent token
    admin = srv.person("admin")
    tok = admin.post("/api/v1/api-tokens", json={"name": "t"}).json()["token"]
    c.headers["Authorization"] = f"Bearer {tok}"
    assert c.post("/api/v1/agent/heartbeat", json={}).status_code == 401


def _count(srv) -> int:
    with srv.db.reading() as s:
        return s.scalar(select(func.count()).select_from(Incident))


def test_incidents_are_stored_exactly_once_under_retries(srv):
    agent, device_id = srv.agent()
    batch = [make_incident() for _ in range(5)]
    first = agent.post("/api/v1/agent/incidents", json={"incidents": batch}).json()
    assert first["stored"] == [i["id"] for i in batch] and first["duplicates"] == []
    # a retry of the whole batch plus one new: only the new one is stored
    new = make_incident()
    second = agent.post("/api/v1/agent/incidents", json={"incidents": batch + [new]}).json()
    assert second["stored"] == [new["id"]]
    assert sorted(second["duplicates"]) == sorted(i["id"] for i in batch)
    # the same id twice in one batch
    dup = make_incident()
    third = agent.post("/api/v1/agent/incidents", json={"incidents": [dup, dup]}).json()
    assert third["stored"] == [dup["id"]]
    assert _count(srv) == 7


def test_concurrent_duplicate_posts_store_once(srv):
    agent, _ = srv.agent()
    batch = [make_incident() for _ in range(20)]
    answers = []

    def post():
        c = srv.client()
        c.headers["Authorization"] = agent.headers["Authorization"]
        answers.append(c.post("/api/v1/agent/incidents", json={"incidents": batch}).json())

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _count(srv) == 20
    stored = [i for a in answers for i in a["stored"]]
    assert sorted(stored) == sorted(i["id"] for i in batch)  # each stored by exactly one post
    assert all(not a["rejected"] for a in answers)


def test_an_agent_cannot_write_as_another(srv):
    a1, d1 = srv.agent("PC-1")
    a2, d2 = srv.agent("PC-2")
    inc = make_incident()
    assert a1.post("/api/v1/agent/incidents", json={"incidents": [inc]}).json()["stored"]
    # the same id from another device is refused, not merged or overwritten
    r = a2.post("/api/v1/agent/incidents", json={"incidents": [inc]}).json()
    assert r["stored"] == [] and r["rejected"][0]["id"] == inc["id"]
    # a device field in the payload is refused: the device comes from the token only
    bad = make_incident(device_id=d1)
    r = a2.post("/api/v1/agent/incidents", json={"incidents": [bad]})
    assert r.status_code == 422 and "device_id" in r.json()["detail"]
    with srv.db.reading() as s:
        assert s.get(Incident, inc["id"]).device_id == d1


def test_derived_facts_on_arrival(srv):
    admin = srv.person("admin")
    assert admin.put("/api/v1/settings", json={"org_networks": ["10.20.0.0/16"]}).status_code == 200
    agent, device_id = srv.agent()
    # Default site: Europe/London, Mon-Fri 08:00-18:00
    at_work = make_incident(
        detected_at="2026-11-23T10:00:00+00:00",
        trigger="realtime",
        file={"volume": {"kind": "fixed"}},
        context={"online": True, "addresses": ["10.20.3.4"]},
    )
    night_home = make_incident(
        detected_at="2026-11-23T23:30:00+01:00",
        context={"online": True, "addresses": ["192.168.1.9"]},
    )
    weekend = make_incident(detected_at="2026-11-22T11:00:00+00:00")
    r = agent.post("/api/v1/agent/incidents", json={"incidents": [at_work, night_home, weekend]})
    assert len(r.json()["stored"]) == 3
    got = {
        i: admin.get(f"/api/v1/incidents/{i}").json()
        for i in (at_work["id"], night_home["id"], weekend["id"])
    }
    w = got[at_work["id"]]["derived"]
    assert (w["outside_hours"], w["off_network"], w["removable_media"]) == (False, False, False)
    n = got[night_home["id"]]
    assert n["derived"]["outside_hours"] is True and n["derived"]["off_network"] is True
    assert n["derived"]["removable_media"] is True
    assert n["detected_at"] == "2026-11-23T22:30:00Z"
    assert n["detected_local"] == "2026-11-23T23:30:00+01:00"
    assert got[weekend["id"]]["derived"]["outside_hours"] is True
    assert n["derived"]["group"] == f"{device_id}/2026-11-23"
    assert n["delivery_delay_seconds"] >= 0


def test_holidays_count_as_outside_hours(srv):
    admin = srv.person("admin")
    r = admin.put(
        "/api/v1/sites/Default",
        json={
            "timezone": "Europe/London",
            "working_hours": {"mon": [["08:00", "18:00"]]},
            "holidays": ["2026-11-23"],
        },
    )
    assert r.status_code == 200, r.text
    agent, _ = srv.agent()
    inc = make_incident(detected_at="2026-11-23T10:00:00+00:00")
    agent.post("/api/v1/agent/incidents", json={"incidents": [inc]})
    assert admin.get(f"/api/v1/incidents/{inc['id']}").json()["derived"]["outside_hours"]


def test_bad_input_gets_a_4xx_naming_the_field_never_a_500(srv):
    agent, _ = srv.agent()
    cases = [
        ({"incidents": []}, "incidents"),
        ({"incidents": [make_incident(detected_at="2026-11-21T23:14:05")]}, "detected_at"),
        ({"incidents": [make_incident(detected_at="2999-01-01T00:00:00+00:00")]}, "detected_at"),
        ({"incidents": [make_incident(id="not-a-uuid")]}, "id"),
        ({"incidents": [make_incident(trigger="psychic")]}, "trigger"),
        ({"incidents": [make_incident(file={"sha256": "xyz"})]}, "sha256"),
        ({"incidents": [make_incident(file={"size": -1})]}, "size"),
        ({"incidents": [make_incident(file={"path": "x" * 5000})]}, "path"),
        ({"incidents": [make_incident(context={"addresses": ["999.1.1.1"]})]}, "addresses"),
        ({"incidents": [make_incident(match={"distance": "far"})]}, "distance"),
        ({"incidents": [make_incident()] * 501}, "incidents"),
        ({"incidents": "nope"}, "incidents"),
        ({"surprise": 1, "incidents": [make_incident()]}, "surprise"),
    ]
    for body, field in cases:
        r = agent.post("/api/v1/agent/incidents", json=body)
        assert r.status_code == 422, (field, r.status_code, r.text[:200])
        assert field in r.json()["detail"], (field, r.json()["detail"])
    r = agent.post(
        "/api/v1/agent/incidents",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422
    r = agent.post(
        "/api/v1/agent/heartbeat",
        content=b"\xff\xfe" * 10,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422
    big = b'{"incidents": [' + b" " * (5 << 20) + b"]}"
    r = agent.post(
        "/api/v1/agent/incidents", content=big, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert _count(srv) == 0


def test_devices_silent_longer_than_the_setting_are_flagged_first(srv):
    from datetime import timedelta

    from hashwatch.store.db import utcnow
    from hashwatch.store.models import Device

    _, quiet_id = srv.agent("QUIET-1")
    _, busy_id = srv.agent("BUSY-1")
    with srv.db.transaction() as s:
        s.get(Device, quiet_id).last_seen_at = utcnow() - timedelta(hours=80)
        s.get(Device, busy_id).last_seen_at = utcnow() - timedelta(hours=10)
    admin = srv.person("admin")
    devices = admin.get("/api/v1/devices").json()["devices"]
    assert [(d["hostname"], d["silent"]) for d in devices] == [
        ("QUIET-1", True),
        ("BUSY-1", False),
    ]
    # the organisation wants to know after 6 hours
    r = admin.put("/api/v1/settings", json={"silent_after_seconds": 6 * 3600})
    assert r.status_code == 200, r.text
    devices = admin.get("/api/v1/devices").json()["devices"]
    assert all(d["silent"] for d in devices)
    assert admin.get(f"/api/v1/devices/{busy_id}").json()["silent"] is True
    r = admin.put("/api/v1/settings", json={"silent_after_seconds": 10})
    assert r.status_code == 422 and "silent_after_seconds" in r.text
