"""People: sign-in, sessions, CSRF, throttling, API tokens, and every role against every route."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.routing import APIRoute

from hashwatch.server.auth import PERMISSIONS

from .conftest import PASSWORD, ROLES, make_incident

PUBLIC = {("POST", "/api/v1/agent/enroll"), ("POST", "/api/v1/session"), ("GET", "/api/v1/health")}


def _permission(route: APIRoute) -> str | None:
    found = []

    def walk(dep):
        for d in dep.dependencies:
            if hasattr(d.call, "permission"):
                found.append(d.call.permission)
            walk(d)

    walk(route.dependant)
    assert len(set(found)) <= 1, (route.path, found)
    return found[0] if found else None


def _flatten(routes):
    for r in routes:
        if isinstance(r, APIRoute):
            yield r
        elif hasattr(r, "original_router"):  # FastAPI >= 0.16x wraps included routers
            yield from _flatten(r.original_router.routes)
        elif hasattr(r, "routes"):
            yield from _flatten(r.routes)


def _routes(app):
    routes = list(_flatten(app.routes))
    assert len(routes) >= 30
    for r in routes:
        if r.path.startswith("/api/v1"):
            for m in r.methods:
                yield m, r


def test_every_route_declares_a_permission(srv_sqlite):
    for method, route in _routes(srv_sqlite.app):
        if (method, route.path) in PUBLIC:
            continue
        assert _permission(route) is not None, f"{method} {route.path} has no permission check"


def _fill(path: str) -> str:
    values = {
        "incident_id": str(uuid.uuid4()),
        "device_id": str(uuid.uuid4()),
        "name": "demo",
        "token_id": "nope",
        "username": "nobody",
        "target_id": "999999",
        "url_id": str(uuid.uuid4()),
        "pattern": "nothing.example.invalid",
        "notice_id": "999999",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_against_each_route(srv_sqlite, role):
    srv = srv_sqlite
    person = srv.person(role)
    agent, _ = srv.agent()
    checked = 0
    for method, route in _routes(srv.app):
        if (method, route.path) in PUBLIC or route.path == "/api/v1/session" and method == "DELETE":
            continue
        perm = _permission(route)
        url = _fill(route.path)
        if perm == "agent":
            # people are never agents, with or without their session
            r = person.request(method, url, json={})
            assert r.status_code == 401, (role, method, url, r.status_code)
            continue
        allowed = role in PERMISSIONS[perm]
        r = person.request(method, url, json={})
        if allowed:
            assert r.status_code not in (401, 403), (role, method, url, r.status_code, r.text)
        else:
            assert r.status_code == 403, (role, method, url, r.status_code, r.text)
        # an agent's token never opens a person's route
        ra = agent.request(method, url, json={})
        assert ra.status_code == 401, (method, url, ra.status_code)
        checked += 1
    assert checked >= 25


def test_session_cookie_flags_and_csrf(srv):
    c = srv.client()
    r = c.post("/api/v1/session", json={"username": "admin", "password": PASSWORD})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    csrf = r.json()["csrf_token"]
    # unsafe methods need the CSRF token when authorised by the cookie
    r = c.put("/api/v1/settings", json={"heartbeat_seconds": 600})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = c.put(
        "/api/v1/settings", json={"heartbeat_seconds": 600}, headers={"X-CSRF-Token": "wrong"}
    )
    assert r.status_code == 403
    r = c.put("/api/v1/settings", json={"heartbeat_seconds": 600}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["heartbeat_seconds"] == 600
    # safe methods do not need it
    assert c.get("/api/v1/settings").status_code == 200
    # sign out ends the session
    assert c.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert c.get("/api/v1/settings").status_code == 401


def test_login_throttling(srv):
    c = srv.client()
    for _ in range(5):
        r = c.post("/api/v1/session", json={"username": "admin", "password": "wrong"})
        assert r.status_code == 401
    r = c.post("/api/v1/session", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    # another account from the same address is not locked out by these five
    srv.person("investigator")


def test_unknown_and_disabled_accounts(srv):
    c = srv.client()
    r = c.post("/api/v1/session", json={"username": "ghost", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["detail"] == "wrong account name or password"
    admin = srv.person("admin")
    inv = srv.person("investigator")
    assert inv.get("/api/v1/incidents").status_code == 200
    assert admin.patch("/api/v1/users/investigator1", json={"active": False}).status_code == 200
    assert inv.get("/api/v1/incidents").status_code == 401  # sessions end with the account
    r = admin.patch("/api/v1/users/admin", json={"role": "auditor"})
    assert r.status_code == 409  # no locking yourself out


def test_api_tokens_work_without_csrf_and_can_be_revoked(srv):
    admin = srv.person("admin")
    r = admin.post("/api/v1/api-tokens", json={"name": "siem"})
    assert r.status_code == 201
    token, token_id = r.json()["token"], r.json()["id"]
    assert token.startswith("hwu_")
    c = srv.client()
    c.headers["Authorization"] = f"Bearer {token}"
    assert c.get("/api/v1/incidents").status_code == 200
    assert c.put("/api/v1/settings", json={"heartbeat_seconds": 300}).status_code == 200
    assert admin.delete(f"/api/v1/api-tokens/{token_id}").status_code == 204
    assert c.get("/api/v1/incidents").status_code == 401
    # the listed tokens never carry the secret
    listed = admin.get("/api/v1/api-tokens").json()["tokens"]
    assert all(token.split("_", 2)[2] not in str(t) for t in listed)


def test_api_token_has_the_same_role_checks(srv):
    srv.person("auditor")
    from hashwatch.server import operations

    tok = operations.api_token(srv.data_dir, "auditor1", "x", 1)
    c = srv.client()
    c.headers["Authorization"] = f"Bearer {tok}"
    assert c.get("/api/v1/audit").status_code == 200
    assert c.get("/api/v1/incidents").status_code == 403


def test_user_management(srv):
    admin = srv.person("admin")
    r = admin.post(
        "/api/v1/users", json={"username": "inv2", "role": "investigator", "password": "short"}
    )
    assert r.status_code == 422 and "password" in r.json()["detail"]
    r = admin.post(
        "/api/v1/users", json={"username": "inv2", "role": "investigator", "password": PASSWORD}
    )
    assert r.status_code == 201
    assert (
        admin.post(
            "/api/v1/users", json={"username": "inv2", "role": "investigator", "password": PASSWORD}
        ).status_code
        == 409
    )
    users = {u["username"]: u for u in admin.get("/api/v1/users").json()["users"]}
    assert users["inv2"]["role"] == "investigator" and "password" not in str(users)


def test_incident_workflow(srv):
    agent, _ = srv.agent()
    inc = make_incident()
    agent.post("/api/v1/agent/incidents", json={"incidents": [inc]})
    inv = srv.person("investigator")
    url = f"/api/v1/incidents/{inc['id']}/status"
    assert inv.post(url, json={"status": "closed"}).status_code == 409  # needs a resolution
    assert inv.post(url, json={"status": "in_review", "note": "looking"}).status_code == 200
    r = inv.post(url, json={"status": "escalated", "note": "referred to police, ref 2026/123"})
    assert r.status_code == 200
    r = inv.post(url, json={"status": "closed", "resolution": "confirmed"})
    body = r.json()
    assert body["status"] == "closed" and body["resolution"] == "confirmed"
    assert [(h["from"], h["to"]) for h in body["history"]] == [
        ("new", "in_review"),
        ("in_review", "escalated"),
        ("escalated", "closed"),
    ]
    assert all(h["by"] == "investigator1" and h["at"] for h in body["history"])
    assert body["history"][1]["note"] == "referred to police, ref 2026/123"
    assert inv.post(url, json={"status": "escalated"}).status_code == 409  # closed -> escalated
    assert inv.post(url, json={"status": "wat"}).status_code == 422


def test_incident_queue_filters_and_paging(srv):
    agent, device_id = srv.agent()
    incs = [
        make_incident(detected_at=f"2026-11-2{d}T10:00:00+00:00", trigger=t, match={"list": lst})
        for d, t, lst in [(1, "realtime", "a"), (2, "removable", "a"), (3, "scheduled", "b")]
    ]
    agent.post("/api/v1/agent/incidents", json={"incidents": incs})
    inv = srv.person("investigator")
    q = inv.get("/api/v1/incidents", params={"list": "a"}).json()
    assert q["total"] == 2
    q = inv.get("/api/v1/incidents", params={"trigger": "scheduled"}).json()
    assert [i["id"] for i in q["incidents"]] == [incs[2]["id"]]
    q = inv.get("/api/v1/incidents", params={"since": "2026-11-22T00:00:00Z"}).json()
    assert q["total"] == 2
    q = inv.get(
        "/api/v1/incidents", params={"sort": "detected_at", "order": "asc", "limit": 1, "offset": 1}
    ).json()
    assert q["total"] == 3 and q["incidents"][0]["id"] == incs[1]["id"]
    q = inv.get("/api/v1/incidents", params={"outside_hours": "true", "device": device_id})
    assert q.status_code == 200
    assert inv.get("/api/v1/incidents", params={"status": "bogus"}).status_code == 422
    assert inv.get("/api/v1/incidents", params={"limit": 100000}).status_code == 422
