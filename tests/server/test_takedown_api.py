"""The takedown API on SQLite and PostgreSQL: intake (one by one, CSV, from an incident),
status changes and views audited, the host table and the hosts it does not cover, roles."""

from __future__ import annotations

from sqlalchemy import select

from hashwatch.store.models import AuditEntry

from .conftest import make_incident

PDQ = "9" * 64


def _audit(srv, action: str) -> list[AuditEntry]:
    with srv.db.reading() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_analyst_reports_urls_and_works_them(srv):
    analyst = srv.person("analyst")
    r = analyst.post(
        "/api/v1/takedown/urls",
        json={
            "urls": [
                {"url": "https://Files.Example.invalid/a.jpg?utm_source=mail", "category": "A"},
                {"url": "https://files.example.invalid/a.jpg", "hashes": f"pdq:{PDQ}"},
                {"url": "https://bücher.example/x"},
                {"url": "javascript:alert(1)"},
            ]
        },
    )
    assert r.status_code == 201, r.text
    out = r.json()
    assert len(out["created"]) == 2 and out["again"] == []
    assert [x["at"] for x in out["rejected"]] == ["urls.3"]
    listed = analyst.get("/api/v1/takedown/urls").json()
    assert listed["total"] == 2
    urls = {u["url"] for u in listed["urls"]}
    assert urls == {"https://files.example.invalid/a.jpg", "https://xn--bcher-kva.example/x"}
    uid = next(u["id"] for u in listed["urls"] if u["host"] == "files.example.invalid")
    # the detail view is audited; its history starts with the report
    d = analyst.get(f"/api/v1/takedown/urls/{uid}").json()
    assert d["times_reported"] == 2 and d["hashes"] == [{"type": "pdq", "value": PDQ}]
    assert [h["to"] for h in d["history"] if h["kind"] == "status"] == ["reported"]
    assert [e.target_id for e in _audit(srv, "takedown.view")] == [uid]
    # confirmed removed by the analyst; a wrong move is a 409 with the reason
    r = analyst.post(f"/api/v1/takedown/urls/{uid}/status", json={"status": "reappeared"})
    assert r.status_code == 409 and "cannot become reappeared" in r.json()["detail"]
    r = analyst.post(
        f"/api/v1/takedown/urls/{uid}/status", json={"status": "removed", "note": "host confirmed"}
    )
    assert r.status_code == 200 and r.json()["status"] == "removed"
    assert (
        analyst.post(f"/api/v1/takedown/urls/{uid}/notes", json={"note": "ok"}).status_code == 201
    )
    assert len(_audit(srv, "takedown.status")) == 1
    assert analyst.get("/api/v1/takedown/urls?status=removed").json()["total"] == 1
    assert analyst.get("/api/v1/takedown/urls?open=true").json()["total"] == 1
    assert analyst.get("/api/v1/takedown/urls?host=example.invalid").json()["total"] == 1
    assert analyst.get("/api/v1/takedown/urls?q=a.jpg").json()["total"] == 1
    # reported again after removal: it has reappeared
    r = analyst.post(
        "/api/v1/takedown/urls", json={"urls": [{"url": "https://files.example.invalid/a.jpg"}]}
    )
    assert r.json()["reappeared"] == [uid]
    # the analyst sees no incident and may not edit the host table
    assert analyst.get("/api/v1/incidents").status_code == 403
    row = {
        "pattern": "example.invalid",
        "provider": "P",
        "abuse_email": "a@b.example",
        "country": "NL",
    }
    assert analyst.put("/api/v1/takedown/hosts", json={"hosts": [row]}).status_code == 403


def test_bad_requests_are_refused_with_the_field(srv):
    analyst = srv.person("analyst")
    r = analyst.post(
        "/api/v1/takedown/urls", json={"urls": [{"url": "https://a.example/", "hashes": "abc"}]}
    )
    assert r.status_code == 422 and "urls.0.hashes" in r.json()["detail"]
    r = analyst.post(
        "/api/v1/takedown/urls", json={"urls": [{"url": "https://a.example/", "colour": 1}]}
    )
    assert r.status_code == 422 and "colour" in r.json()["detail"]
    r = analyst.post("/api/v1/takedown/urls", json={"urls": []})
    assert r.status_code == 422
    r = analyst.post(
        "/api/v1/takedown/urls",
        json={"urls": [{"url": "https://a.example/", "reported_at": "2999-01-01T00:00:00Z"}]},
    )
    assert r.status_code == 201 and "future" in r.json()["rejected"][0]["reason"]
    assert analyst.get("/api/v1/takedown/urls/nope").status_code == 404


def test_csv_import_names_every_bad_line_or_takes_the_good_rows(srv):
    analyst = srv.person("analyst")
    text = (
        "url,reported_at,category,hashes\n"
        "https://a.example.invalid/1,2026-11-01T10:00:00Z,A,\n"
        "https://a.example.invalid/2,not-a-time,A,\n"
        "https://a.example.invalid/3,,B,sha256:xyz\n"
        "mailto:abuse@a.example.invalid,,,\n"
    )
    r = analyst.post("/api/v1/takedown/urls/import?name=feed.csv", content=text.encode())
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "nothing was imported" in detail["message"]
    assert detail["errors"][0].startswith("feed.csv, line 3, reported_at")
    assert detail["errors"][1].startswith("feed.csv, line 4, hashes")
    assert analyst.get("/api/v1/takedown/urls").json()["total"] == 0
    r = analyst.post(
        "/api/v1/takedown/urls/import?name=feed.csv&partial=true", content=text.encode()
    )
    assert r.status_code == 201
    out = r.json()
    assert len(out["created"]) == 1
    assert [x["at"] for x in out["rejected"]] == ["line 3", "line 4", "line 5"]
    assert _audit(srv, "takedown.import")[0].detail.count('"rows":4') == 1
    r = analyst.post("/api/v1/takedown/urls/import", content=b"\xff\xfe\x00")
    assert r.status_code == 422 and "UTF-8" in r.json()["detail"]


def test_one_click_from_an_incident_carries_its_hashes(srv):
    agent, _ = srv.agent()
    with_origin = make_incident(origin_url="https://dl.example.invalid/get?id=7&utm_medium=x")
    without = make_incident()
    r = agent.post("/api/v1/agent/incidents", json={"incidents": [with_origin, without]})
    assert r.status_code == 200, r.text
    inv = srv.person("investigator")
    r = inv.post(f"/api/v1/takedown/from-incident/{with_origin['id']}")
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    d = inv.get(f"/api/v1/takedown/urls/{uid}").json()
    assert d["url"] == "https://dl.example.invalid/get?id=7"
    assert d["source"] == "incident" and d["incident_id"] == with_origin["id"]
    assert {"type": "sha256", "value": "ab" * 32} in d["hashes"]
    assert {"type": "md5", "value": "cd" * 16} in d["hashes"]
    # twice is the same URL reported again
    again = inv.post(f"/api/v1/takedown/from-incident/{with_origin['id']}").json()
    assert again["id"] == uid and again["again"] == [uid]
    r = inv.post(f"/api/v1/takedown/from-incident/{without['id']}")
    assert r.status_code == 409 and "no origin URL" in r.json()["detail"]
    assert (
        srv.person("analyst")
        .post(f"/api/v1/takedown/from-incident/{with_origin['id']}")
        .status_code
        == 403
    )
    assert [e.target_id for e in _audit(srv, "takedown.from_incident")] == [with_origin["id"]] * 2


def test_host_table_edit_import_export_and_unknown_hosts(srv):
    admin = srv.person("admin")
    analyst = srv.person("analyst")
    analyst.post(
        "/api/v1/takedown/urls",
        json={
            "urls": [
                {"url": "https://cdn.hoster.example/1"},
                {"url": "https://cdn.hoster.example/2"},
                {"url": "https://other.example/1"},
            ]
        },
    )
    unknown = analyst.get("/api/v1/takedown/unknown-hosts").json()["hosts"]
    assert [(h["host"], h["open"]) for h in unknown] == [
        ("cdn.hoster.example", 2),
        ("other.example", 1),
    ]
    csv_text = (
        "pattern,provider,abuse_email,country,notes\n"
        "hoster.example,Hoster BV,abuse@hoster.example,nl,\n"
    )
    r = admin.post("/api/v1/takedown/hosts/import?name=hosts.csv", content=csv_text.encode())
    assert r.status_code == 200 and r.json() == {"added": 1, "changed": 0, "unchanged": 0}
    listed = analyst.get("/api/v1/takedown/urls?host=cdn.hoster.example").json()["urls"]
    assert {u["provider"] for u in listed} == {"Hoster BV"} and listed[0]["country"] == "NL"
    assert [h["host"] for h in analyst.get("/api/v1/takedown/unknown-hosts").json()["hosts"]] == [
        "other.example"
    ]
    bad = "pattern,provider,abuse_email,country\nhttps://x.example/,P,abuse@x.example,NL\n"
    r = admin.post("/api/v1/takedown/hosts/import?name=bad.csv", content=bad.encode())
    assert r.status_code == 422 and r.json()["detail"].startswith("bad.csv:2: pattern:")
    r = admin.put(
        "/api/v1/takedown/hosts",
        json={
            "hosts": [
                {
                    "pattern": "other.example",
                    "provider": "O",
                    "abuse_email": "nope",
                    "country": "US",
                }
            ]
        },
    )
    assert r.status_code == 422 and "hosts.0.abuse_email" in r.json()["detail"]
    r = admin.put(
        "/api/v1/takedown/hosts",
        json={
            "hosts": [
                {
                    "pattern": "other.example",
                    "provider": "O",
                    "abuse_email": "abuse@other.example",
                    "country": "US",
                }
            ]
        },
    )
    assert r.json()["added"] == 1
    assert analyst.get("/api/v1/takedown/unknown-hosts").json()["hosts"] == []
    exported = analyst.get("/api/v1/takedown/hosts.csv").text
    assert exported.splitlines()[0] == "pattern,provider,abuse_email,country,notes"
    assert "hoster.example,Hoster BV,abuse@hoster.example,NL," in exported
    assert admin.delete("/api/v1/takedown/hosts/other.example").status_code == 204
    assert admin.delete("/api/v1/takedown/hosts/other.example").status_code == 404
    assert len(_audit(srv, "takedown.hosts_import")) == 1


def test_an_integration_token_reports_as_itself(srv):
    analyst = srv.person("analyst")
    token = analyst.post("/api/v1/api-tokens", json={"name": "crawler"}).json()["token"]
    c = srv.client()
    c.headers["Authorization"] = f"Bearer {token}"
    r = c.post("/api/v1/takedown/urls", json={"urls": [{"url": "https://x.example.invalid/p"}]})
    assert r.status_code == 201
    got = c.get("/api/v1/takedown/urls").json()["urls"][0]
    assert got["source"] == "api:analyst1"


def test_weekly_report_json_pdf_and_page(srv):
    analyst = srv.person("analyst")
    analyst.post("/api/v1/takedown/urls", json={"urls": [{"url": "https://w.example.invalid/1"}]})
    auditor = srv.person("auditor")
    r = auditor.get("/api/v1/reports/weekly")
    assert r.status_code == 200
    d = r.json()
    assert d["title"].startswith("Weekly threat picture")
    assert {x["key"] for x in d["takedown"]} >= {"removals", "reported", "notices_sent"}
    assert "w.example.invalid" not in r.text or d["open_by_host"]  # hosts, counts only
    this_week = auditor.get("/api/v1/reports/weekly?week=" + d["week_end"]).json()
    assert this_week["complete"] is False and this_week["takedown"][0]["this"] is not None
    assert auditor.get("/api/v1/reports/weekly?week=2999-01-04").status_code == 422
    pdf = auditor.get("/api/v1/reports/weekly?format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    assert [e.actor for e in _audit(srv, "report.export")] == ["auditor1"]
    page = auditor.get("/reports/weekly").text
    assert "Weekly threat picture" in page and 'id="table-takedown"' in page
