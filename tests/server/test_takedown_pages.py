"""The takedown pages' forms (server-side, through the sign-in form and its CSRF token):
manual entry, CSV import, status and notes, hosts, replies and templates; each form says
what it did or why not, and changes what the API would."""

from __future__ import annotations

import base64
import json
import re

from .conftest import make_incident
from .test_web_pages import sign_in


def flash(r) -> dict:
    raw = r.headers["set-cookie"].split("hw_flash=", 1)[1].split(";", 1)[0].strip('"')
    return json.loads(base64.urlsafe_b64decode(raw.encode()))


def post(c, csrf, url, data=None, files=None):
    r = c.post(url, data={"csrf": csrf, **(data or {})}, files=files, follow_redirects=False)
    assert r.status_code == 303, (url, r.status_code, r.text[:300])
    return r


def test_report_work_and_attribute_urls_through_the_pages(srv_sqlite):
    srv = srv_sqlite
    c, csrf = sign_in(srv, "analyst")
    r = post(
        c,
        csrf,
        "/takedown/report",
        {
            "urls": "https://A.example.invalid/1?utm_source=x\nhttps://a.example.invalid/1\nftp://x.example/\n",
            "category": "A",
            "hashes": "md5:" + "a" * 32,
        },
    )
    msg = flash(r)
    assert msg["error"] and "1 new, 1 repeated in this batch" in msg["text"]
    assert "line 3: unsupported scheme 'ftp'" in msg["text"]
    page = c.get("/takedown").text
    assert "hxxps[://]a[.]example[.]invalid/1" in page and "https://a.example" not in page
    uid = re.search(r'data-id="([0-9a-f-]{36})"', page).group(1)
    # bad hashes: refused with the field, nothing taken
    msg = flash(post(c, csrf, "/takedown/report", {"urls": "https://b.example/", "hashes": "zz"}))
    assert msg["error"] and "hashes" in msg["text"]
    # status and note
    msg = flash(post(c, csrf, f"/takedown/urls/{uid}/status", {"to": "reappeared"}))
    assert msg["error"] and "cannot become reappeared" in msg["text"]
    assert not flash(post(c, csrf, f"/takedown/urls/{uid}/status", {"to": "removed"}))["error"]
    assert not flash(post(c, csrf, f"/takedown/urls/{uid}/note", {"note": "confirmed"}))["error"]
    assert flash(post(c, csrf, f"/takedown/urls/{uid}/note", {"note": " "}))["error"]
    detail = c.get(f"/takedown/urls/{uid}").text
    assert 'id="url-status">removed' in detail and "confirmed" in detail
    # CSV: a bad row refuses the file, unless the good rows are wanted
    csv_text = b"url,reported_at\nhttps://c.example.invalid/1,\nhttps://c.example.invalid/2,nope\n"
    msg = flash(post(c, csrf, "/takedown/import", files={"file": ("f.csv", csv_text, "text/csv")}))
    assert msg["error"] and "f.csv, line 3, reported_at" in msg["text"]
    msg = flash(
        post(
            c,
            csrf,
            "/takedown/import",
            {"partial": "1"},
            files={"file": ("f.csv", csv_text, "text/csv")},
        )
    )
    assert "1 new" in msg["text"] and "line 3" in msg["text"]
    # the analyst may not edit hosts; the admin may, and an unknown host is then covered
    r = c.post("/takedown/hosts", data={"csrf": csrf, "pattern": "example.invalid"})
    assert r.status_code == 403
    a, acsrf = sign_in(srv, "admin")
    msg = flash(
        post(
            a,
            acsrf,
            "/takedown/hosts",
            {
                "pattern": "c.example.invalid",
                "provider": "C",
                "abuse_email": "bad",
                "country": "NL",
            },
        )
    )
    assert msg["error"] and "abuse_email" in msg["text"]
    hosts = b"pattern,provider,abuse_email,country\nexample.invalid,Ex,abuse@example.invalid,NL\n"
    msg = flash(
        post(a, acsrf, "/takedown/hosts/import", files={"file": ("h.csv", hosts, "text/csv")})
    )
    assert msg["text"] == "h.csv: 1 added, 0 changed, 0 unchanged."
    assert 'id="unknown-hosts"' not in c.get("/takedown").text
    assert not flash(post(a, acsrf, "/takedown/hosts/delete", {"pattern": "example.invalid"}))[
        "error"
    ]
    assert 'id="unknown-hosts"' in c.get("/takedown").text


def test_replies_templates_and_notices_run_through_the_pages(srv_sqlite):
    srv = srv_sqlite
    c, csrf = sign_in(srv, "analyst")
    msg = flash(post(c, csrf, "/takedown/notices/run"))
    assert msg["error"] and "takedown_mail_target" in msg["text"]
    msg = flash(post(c, csrf, "/takedown/replies", {"host": "h.example", "summary": "done"}))
    assert msg["text"] == "Reply from h.example recorded."
    assert flash(post(c, csrf, "/takedown/replies", {"host": "h.example", "summary": ""}))["error"]
    assert c.post("/takedown/templates/notice", data={"csrf": csrf}).status_code == 403
    a, acsrf = sign_in(srv, "admin")
    msg = flash(post(a, acsrf, "/takedown/templates/notice", {"subject": "S $nope", "body": "B"}))
    assert msg["error"] and "$nope" in msg["text"]
    msg = flash(
        post(a, acsrf, "/takedown/templates/notice", {"subject": "To $provider", "body": "$urls"})
    )
    assert msg["text"] == "Template notice saved."
    assert "To $provider" in a.get("/takedown/notices").text
    post(a, acsrf, "/takedown/templates/notice", {"reset": "1"})
    assert "To $provider" not in a.get("/takedown/notices").text


def test_report_for_takedown_from_the_incident_page(srv_sqlite):
    srv = srv_sqlite
    agent, _ = srv.agent()
    inc = make_incident(origin_url="https://dl.example.invalid/f?id=1")
    agent.post("/api/v1/agent/incidents", json={"incidents": [inc]})
    c, csrf = sign_in(srv, "investigator")
    page = c.get(f"/incidents/{inc['id']}").text
    assert 'id="report-origin"' in page and "hxxps[://]dl[.]example[.]invalid" in page
    r = post(c, csrf, f"/incidents/{inc['id']}/takedown")
    assert r.headers["location"].startswith("/takedown/urls/")
    assert flash(r)["text"] == "Origin URL reported for takedown."
    detail = c.get(r.headers["location"]).text
    assert f"/incidents/{inc['id']}" in detail and "from incident" in detail


def test_long_urls_are_cut_after_defanging_and_host_edits_say_which_row(srv_sqlite):
    from sqlalchemy import select

    from hashwatch.store.models import AuditEntry

    srv = srv_sqlite
    c, csrf = sign_in(srv, "admin")
    url = "https://long.example.invalid/" + "p" * 86  # 115 characters, 121 defanged
    post(c, csrf, "/takedown/report", {"urls": url})
    shown = re.search(r'class="plain">([^<]*)</a>', c.get("/takedown").text).group(1)
    assert shown.endswith("…") and len(shown) == 121
    post(
        c,
        csrf,
        "/takedown/hosts",
        {
            "pattern": "long.example.invalid",
            "provider": "L",
            "abuse_email": "a@l.example",
            "country": "NL",
        },
    )
    with srv.db.reading() as s:
        e = s.scalars(select(AuditEntry).where(AuditEntry.action == "takedown.hosts")).one()
    assert (
        e.target_id == "long.example.invalid" and '"patterns":["long.example.invalid"]' in e.detail
    )
