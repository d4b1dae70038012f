"""The audit log: every view, export, status change, login and list change is recorded in a
hash chain that detects changes, and the table refuses updates and deletes."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from hashwatch.lists import load_list
from hashwatch.server import audit

from .conftest import make_incident


def _actions(admin_or_auditor, **params):
    return [
        e["action"] for e in admin_or_auditor.get("/api/v1/audit", params=params).json()["entries"]
    ]


def test_views_exports_status_changes_and_logins_are_audited(srv):
    agent, _ = srv.agent()
    inc = make_incident()
    agent.post("/api/v1/agent/incidents", json={"incidents": [inc]})
    inv = srv.person("investigator")
    inv.get(f"/api/v1/incidents/{inc['id']}")
    inv.get(f"/api/v1/incidents/{inc['id']}")
    inv.post(f"/api/v1/incidents/{inc['id']}/status", json={"status": "in_review"})
    inv.get(f"/api/v1/incidents/{inc['id']}/export", params={"reason": "police referral"})
    aud = srv.person("auditor")
    by_target = _actions(aud, target_id=inc["id"])
    assert by_target.count("incident.view") == 2
    assert "incident.status" in by_target
    entries = aud.get("/api/v1/audit", params={"action": "incident.export"}).json()["entries"]
    assert entries[0]["detail"]["incidents"] == [inc["id"]]
    assert entries[0]["actor"] == "investigator1"
    assert entries[0]["detail"]["reason"] == "police referral"
    logins = aud.get("/api/v1/audit", params={"action": "login.ok"}).json()["entries"]
    assert {e["actor"] for e in logins} >= {"investigator1", "auditor1"}
    received = aud.get("/api/v1/audit", params={"action": "incident.received"}).json()
    assert received["entries"][0]["detail"]["incidents"] == [inc["id"]]
    # the queue is audited too, with the ids it showed
    inv.get("/api/v1/incidents")
    shown = aud.get("/api/v1/audit", params={"action": "incident.list"}).json()["entries"][0]
    assert shown["detail"]["shown"] == [inc["id"]]
    assert aud.get("/api/v1/audit/verify").json()["ok"] is True


def test_chain_detects_an_altered_or_missing_entry(srv):
    admin = srv.person("admin")
    for _ in range(3):
        admin.get("/api/v1/incidents")
    with srv.db.reading() as s:
        assert audit.verify_chain(s).ok
    engine = srv.db.engine
    sqlite = srv.backend == "sqlite"
    with engine.begin() as c:  # an attacker with database access drops the triggers first
        if sqlite:
            c.exec_driver_sql("DROP TRIGGER audit_log_no_update")
            c.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
        else:
            c.exec_driver_sql("DROP TRIGGER audit_log_append_only ON audit_log")
        c.execute(text("UPDATE audit_log SET actor = 'someone-else' WHERE id = 3"))
    with srv.db.reading() as s:
        r = audit.verify_chain(s)
    assert not r.ok and r.at_id == 3 and "altered" in r.problem
    with engine.begin() as c:
        c.execute(text("DELETE FROM audit_log WHERE id = 3"))
    with srv.db.reading() as s:
        r = audit.verify_chain(s)
    assert not r.ok and r.at_id == 3 and "missing" in r.problem


def test_audit_table_refuses_update_and_delete(srv):
    srv.person("admin")
    with pytest.raises(DBAPIError, match="append-only"):
        with srv.db.engine.begin() as c:
            c.execute(text("UPDATE audit_log SET actor = 'x'"))
    with pytest.raises(DBAPIError, match="append-only"):
        with srv.db.engine.begin() as c:
            c.execute(text("DELETE FROM audit_log"))


def test_export_zip_carries_custody_and_a_vics_file_the_engine_reads(srv, tmp_path):
    agent, _ = srv.agent()
    incs = [make_incident(), make_incident(file={"md5": "12" * 16, "sha1": "34" * 20})]
    agent.post("/api/v1/agent/incidents", json={"incidents": incs})
    inv = srv.person("investigator")
    r = inv.post(
        "/api/v1/exports",
        json={"incident_ids": [i["id"] for i in incs], "reason": "case 7", "case": "Op Example"},
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(z.namelist())
    assert {
        "incidents.json",
        "incidents.csv",
        "summary.pdf",
        "vics.json",
        "custody.json",
        "MANIFEST.sha256",
    } <= names
    custody = json.loads(z.read("custody.json"))
    assert custody["exported_by"] == "investigator1 (investigator)"
    assert custody["export_id"] == r.headers["x-hashwatch-export-id"]
    assert sorted(custody["incidents"]) == sorted(i["id"] for i in incs)
    vics = tmp_path / "vics.json"
    vics.write_bytes(z.read("vics.json"))
    hl = load_list(vics)
    assert {e.signal for e in hl.entries if e.signal_type == "md5"} == {"cd" * 16, "12" * 16}
    # nothing in an export is image content: only text formats and a PDF without images
    assert b"/Subtype /Image" not in z.read("summary.pdf")
    assert inv.post("/api/v1/exports", json={"incident_ids": []}).status_code == 422
    srv.person("auditor").get("/api/v1/audit")  # auditors may read the log
    aud = srv.person("auditor")
    assert aud.get(f"/api/v1/incidents/{incs[0]['id']}/export").status_code == 403
