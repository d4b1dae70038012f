"""The web pages through HTTP (the browser tests in tests/web drive a real chromium): every
role against every page, sign-in and CSRF, filters, the workflow and exports from forms,
list upload with its validation report, masking, and pages that never load or show content
from anywhere else."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from fastapi.routing import APIRoute

from hashwatch.server.auth import PERMISSIONS

from .conftest import PASSWORD, ROLES, make_incident
from .test_server_people import _fill, _flatten, _permission

PUBLIC_PAGES = {("GET", "/"), ("GET", "/login"), ("POST", "/login")}


def sign_in(srv, role: str):
    """A client signed in through the sign-in form; returns (client, csrf token)."""
    name = "admin" if role == "admin" else f"{role}1"
    if role != "admin":
        srv.person(role)  # creates the account
    c = srv.client()
    r = c.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', r.text).group(1)
    r = c.post(
        "/login",
        data={"username": name, "password": PASSWORD, "login_csrf": token, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = c.get("/account")
    csrf = re.search(r'data-csrf="([^"]+)"', page.text).group(1)
    return c, csrf


def _page_routes(app):
    for r in _flatten(app.routes):
        if isinstance(r, APIRoute) and not r.path.startswith("/api/"):
            for m in r.methods:
                yield m, r


def test_every_page_declares_a_permission(srv_sqlite):
    n = 0
    for method, route in _page_routes(srv_sqlite.app):
        if (method, route.path) in PUBLIC_PAGES:
            continue
        assert _permission(route) in PERMISSIONS, f"{method} {route.path}"
        n += 1
    assert n >= 20


@pytest.mark.parametrize("role", ROLES)
def test_each_role_against_each_page(srv_sqlite, role):
    srv = srv_sqlite
    c, csrf = sign_in(srv, role)
    anon = srv.client()
    checked = 0
    for method, route in _page_routes(srv.app):
        if (method, route.path) in PUBLIC_PAGES or route.path == "/logout":
            continue
        url = _fill(route.path)
        allowed = role in PERMISSIONS[_permission(route)]
        data = {"csrf": csrf} if method == "POST" else None
        r = c.request(method, url, data=data, follow_redirects=False)
        if allowed:
            assert r.status_code not in (401, 403), (role, method, url, r.status_code)
        else:
            assert r.status_code == 403, (role, method, url, r.status_code)
            assert "may not open this page" in r.text
        # not signed in: sent to the sign-in page, never shown anything
        ra = anon.request(method, url, data=data, follow_redirects=False)
        assert ra.status_code == 303 and ra.headers["location"].startswith("/login"), url
        checked += 1
    assert checked >= 20
    # the navigation shows only what the role may open
    nav = re.findall(r"<nav>(.*?)</nav>", c.get("/account").text, re.S)[0]
    assert ("/users" in nav) == (role == "admin")
    assert ("/incidents" in nav) == (role in ("admin", "investigator"))
    assert ("/takedown" in nav) == (role != "auditor")
    assert "/reports/weekly" in nav
    assert ("/audit" in nav) == (role in ("admin", "auditor"))


def test_sign_in_form_csrf_and_open_redirect(srv_sqlite):
    c = srv_sqlite.client()
    r = c.post("/login", data={"username": "admin", "password": PASSWORD, "login_csrf": "x"})
    assert r.status_code == 403 and "expired" in r.text
    token = re.search(r'name="login_csrf" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post(
        "/login",
        data={"username": "admin", "password": "wrong", "login_csrf": token},
    )
    assert r.status_code == 401 and "Wrong account name or password" in r.text
    token = re.search(r'name="login_csrf" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post(
        "/login",
        data={
            "username": "admin",
            "password": PASSWORD,
            "login_csrf": token,
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    # a form without the session's CSRF token changes nothing
    r = c.post("/settings", data={"heartbeat_minutes": "5"}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    with srv_sqlite.db.reading() as s:
        from hashwatch.server.settings import get_setting

        assert get_setting(s, "heartbeat_seconds") == 900


def _agent_with_incidents(srv, n=3, **over):
    agent, device = srv.agent()
    incs = [make_incident(**over) for _ in range(n)]
    r = agent.post("/api/v1/agent/incidents", json={"incidents": incs})
    assert r.status_code == 200, r.text
    return device, [i["id"] for i in incs]


def test_queue_filters_detail_workflow_and_export(srv):
    _, ids = _agent_with_incidents(srv, 2)
    _, other = _agent_with_incidents(
        srv, 1, trigger="realtime", file={"volume": {"kind": "fixed"}, "path": "/home/x/a.jpg"}
    )
    c, csrf = sign_in(srv, "investigator")
    r = c.get("/incidents")
    assert r.status_code == 200 and 'id="queue-total">3<' in r.text
    r = c.get("/incidents?f=1&removable_media=yes")
    assert 'id="queue-total">2<' in r.text and other[0] not in r.text
    r = c.get("/incidents?f=1&removable_media=no&trigger=realtime")
    assert 'id="queue-total">1<' in r.text and other[0] in r.text
    r = c.get("/incidents?f=1&since=not-a-date")
    assert "is not a date" in r.text
    # htmx asks for the results only
    r = c.get("/incidents?f=1", headers={"HX-Request": "true", "HX-Target": "results"})
    assert "<html" not in r.text and 'id="queue"' in r.text
    # the detail page; opening it is audited
    r = c.get(f"/incidents/{ids[0]}")
    assert r.status_code == 200 and "/media/jdoe/STICK/holiday/img_004.jpg" in r.text
    assert ids[1] in r.text  # the same folder: in the trail
    with srv.db.reading() as s:
        from sqlalchemy import select

        from hashwatch.store.models import AuditEntry

        views = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "incident.view", AuditEntry.target_id == ids[0]
            )
        ).all()
        assert [v.actor for v in views] == ["investigator1"]
    # workflow from the forms
    r = c.post(f"/incidents/{ids[0]}/status", data={"csrf": csrf, "to": "in_review"})
    assert r.status_code == 200 and "Moved to in review" in r.text
    r = c.post(f"/incidents/{ids[0]}/status", data={"csrf": csrf, "to": "new", "note": "x"})
    r = c.post(
        f"/incidents/{ids[0]}/status", data={"csrf": csrf, "to": "closed", "resolution": "bogus"}
    )
    assert "closing needs a resolution" in r.text
    r = c.post(
        f"/incidents/{ids[0]}/status",
        data={"csrf": csrf, "to": "closed", "resolution": "false_positive", "note": "a logo"},
    )
    assert "Moved to closed (false positive)" in r.text and "a logo" in r.text
    # export of one, then of a case from the queue
    r = c.post(f"/incidents/{ids[1]}/export", data={"csrf": csrf, "reason": "police request"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert any(n.endswith(".pdf") for n in names) and any(n.endswith(".csv") for n in names)
    r = c.post("/incidents/export", data={"csrf": csrf, "id": [ids[1], other[0]], "case": "CASE-7"})
    assert r.status_code == 200
    z = zipfile.ZipFile(io.BytesIO(r.content))
    blob = b"".join(z.read(n) for n in z.namelist() if n.endswith(".json"))
    assert ids[1].encode() in blob and other[0].encode() in blob


def test_paths_masked_for_a_role(srv_sqlite):
    srv = srv_sqlite
    _, ids = _agent_with_incidents(srv, 1)
    admin = srv.person("admin")
    r = admin.put("/api/v1/settings", json={"mask_paths_for": ["investigator"]})
    assert r.status_code == 200, r.text
    c, _ = sign_in(srv, "investigator")
    for url in ("/incidents", f"/incidents/{ids[0]}"):
        text = c.get(url).text
        assert "holiday" not in text and "img_004" not in text
        assert "/m•••/j•••/S•••/h•••/i•••.jpg" in text
    api = srv.person("investigator").get(f"/api/v1/incidents/{ids[0]}").json()
    assert api["file"]["path"] == "/m•••/j•••/S•••/h•••/i•••.jpg" and api["paths_masked"]
    # the admin still sees the evidence in full
    assert "img_004.jpg" in admin.get(f"/api/v1/incidents/{ids[0]}").text


def test_list_upload_report_then_apply(srv_sqlite, tmp_path):
    c, csrf = sign_in(srv_sqlite, "admin")
    good = f"signal_type,signal,id,category\nmd5,{'ab' * 16},1,A\nsha256,{'cd' * 32},2,B\n"
    r = c.post(
        "/lists/import",
        data={"csrf": csrf, "name": "uploaded", "hex64": "sha256"},
        files={"file": ("mine.csv", good.encode(), "text/csv")},
    )
    assert r.status_code == 200 and 'id="import-added">2<' in r.text
    assert c.get("/api/v1/lists").json()["lists"] == []  # nothing applied yet
    upload = re.search(r'name="upload" value="([^"]+)"', r.text).group(1)
    r = c.post(
        "/lists/import/apply",
        data={
            "csrf": csrf,
            "upload": upload,
            "name": "uploaded",
            "hex64": "sha256",
            "filename": "mine.csv",
        },
    )
    assert "Published version 1 of uploaded" in r.text
    assert 'id="breakdown"' in r.text and ">md5<" in r.text
    # the same upload cannot be applied twice
    r = c.post(
        "/lists/import/apply",
        data={"csrf": csrf, "upload": upload, "name": "uploaded", "filename": "mine.csv"},
    )
    assert "expired" in r.text
    # a bad file: the report names the file and line, nothing changes
    bad = "signal_type,signal\nmd5,xyz\n"
    r = c.post(
        "/lists/import",
        data={"csrf": csrf, "name": "uploaded"},
        files={"file": ("bad.csv", bad.encode(), "text/csv")},
    )
    assert r.status_code == 422 and "bad.csv: line 2" in r.text
    assert c.get("/api/v1/lists/uploaded").json()["version"] == 1


def test_settings_sites_users_and_audit_forms(srv_sqlite):
    c, csrf = sign_in(srv_sqlite, "admin")
    r = c.post(
        "/settings/sites",
        data={
            "csrf": csrf,
            "name": "Berlin",
            "timezone": "Europe/Berlin",
            "working_hours": "mon 08:00-12:30, 13:30-18:00\nfri 08:00-14:00",
            "holidays": "2026-12-25 2026-12-26",
        },
    )
    assert "Site &#39;Berlin&#39; saved" in r.text
    site = {x["name"]: x for x in c.get("/api/v1/sites").json()["sites"]}["Berlin"]
    assert site["working_hours"] == {
        "mon": [["08:00", "12:30"], ["13:30", "18:00"]],
        "fri": [["08:00", "14:00"]],
    }
    assert site["holidays"] == ["2026-12-25", "2026-12-26"]
    r = c.post(
        "/settings/sites",
        data={"csrf": csrf, "name": "Bad", "timezone": "Mars/Base", "working_hours": ""},
    )
    assert "not a known time zone" in r.text
    r = c.post("/settings/sites", data={"csrf": csrf, "name": "Bad2", "working_hours": "xyz 1"})
    assert "line 1" in r.text and "weekday" in r.text
    r = c.post(
        "/settings",
        data={
            "csrf": csrf,
            "org_networks": "10.0.0.0/8\n192.168.1.0/24",
            "heartbeat_minutes": "10",
            "silent_after_hours": "48",
            "retention_days": "365",
        },
    )
    assert "Settings saved" in r.text
    got = c.get("/api/v1/settings").json()
    assert got["org_networks"] == ["10.0.0.0/8", "192.168.1.0/24"]
    assert got["heartbeat_seconds"] == 600 and got["silent_after_seconds"] == 48 * 3600
    assert got["retention_days"] == 365
    r = c.post("/settings", data={"csrf": csrf, "org_networks": "not-a-net"})
    assert "is not a CIDR block" in r.text
    r = c.post(
        "/users",
        data={"csrf": csrf, "username": "eve", "role": "auditor", "password": "short"},
    )
    assert "password" in r.text and "at least 12" in r.text
    r = c.post(
        "/users",
        data={"csrf": csrf, "username": "eve", "role": "auditor", "password": "a" * 14},
    )
    assert "Account &#39;eve&#39; created (auditor)" in r.text
    r = c.post("/users/admin", data={"csrf": csrf, "active": "no"})
    assert "cannot disable or demote your own account" in r.text
    r = c.get("/audit?verify=1")
    assert 'id="chain-result"' in r.text and "intact" in r.text
    assert "user.create" in r.text and "site.change" in r.text


def test_pages_are_self_contained(srv_sqlite):
    """Nothing is loaded from elsewhere, no inline script, and no <img> at all."""
    _, ids = _agent_with_incidents(srv_sqlite, 1, origin_url="https://bad.example/x/y.jpg")
    c, _ = sign_in(srv_sqlite, "admin")
    for url in (
        "/incidents",
        f"/incidents/{ids[0]}",
        "/fleet",
        "/lists",
        "/analytics",
        "/settings",
        "/users",
        "/audit",
        "/account",
    ):
        r = c.get(url)
        assert r.status_code == 200, url
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        for src in re.findall(r'(?:src|href)="([^"]*)"', r.text):
            assert src.startswith(("/", "#", "?")) or src == "", (url, src)
        assert "<img" not in r.text and not re.search(r"<script>(?!</script>)", r.text), url
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text), url
    detail = c.get(f"/incidents/{ids[0]}").text
    assert "hxxps[://]bad[.]example/x/y[.]jpg" in detail and 'href="https://bad' not in detail


def test_analytics_csv_and_json(srv_sqlite):
    _agent_with_incidents(srv_sqlite, 2, detected_at=make_incident()["detected_at"])
    c, _ = sign_in(srv_sqlite, "auditor")  # aggregate figures: the auditor may see them
    r = c.get("/analytics?weeks=52")
    assert r.status_code == 200 and 'id="table-weekly"' in r.text
    r = c.get("/api/v1/analytics/weekly?weeks=52&format=csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines()[0].startswith("week_start,incidents")
    assert "attachment" in r.headers["content-disposition"]
    j = c.get("/api/v1/analytics/overview?weeks=52").json()
    assert j["summary"]["incidents"] == 2
    assert c.get("/api/v1/analytics/nope").status_code == 404
    # no incident detail leaks through analytics
    assert "img_004" not in c.get("/api/v1/analytics/overview?weeks=52").text
