"""Hash lists on the server: import in any format, versions, signed bundles and deltas that
the engine verifies and applies, retiring false positives."""

from __future__ import annotations

import base64
import io
import json
import random

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hashwatch.lists import load_list
from hashwatch.lists.bundle import apply_delta, read_bundle
from hashwatch.lists.model import HashList
from hashwatch.lists.readers.common import ReadOptions

from .conftest import make_incident


def _csv(rows) -> bytes:
    return (
        "signal_type,signal,id,category\n" + "".join(f"{t},{s},{i},{c}\n" for t, s, i, c in rows)
    ).encode()


def _rows(n: int, seed: int = 1):
    rnd = random.Random(seed)
    return [("md5", f"{rnd.getrandbits(128):032x}", f"E{i}", "A") for i in range(n)]


def _key(agent) -> Ed25519PublicKey:
    raw = base64.b64decode(agent.get("/api/v1/agent/lists").json()["list_signing_key"])
    return Ed25519PublicKey.from_public_bytes(raw)


def _read(data: bytes, key, path="bundle.hwb"):
    return read_bundle(path, io.BytesIO(data), [key], ReadOptions())


def test_import_versions_full_and_delta_bundles(srv):
    admin = srv.person("admin")
    agent, _ = srv.agent()
    rows = _rows(2000)
    r = admin.post("/api/v1/lists/demo/import", content=_csv(rows), params={"filename": "a.csv"})
    assert r.status_code == 200, r.text
    rep = r.json()
    assert (rep["version"], rep["added"], rep["format"], rep["applied"]) == (1, 2000, "csv", True)
    key = _key(agent)
    full1 = agent.get("/api/v1/agent/lists/demo/bundle")
    assert full1.status_code == 200 and full1.headers["x-hashwatch-bundle-kind"] == "full"
    info, entries, _ = _read(full1.content, key)
    assert (info.name, info.version, len(entries)) == ("demo", 1, 2000)
    base = HashList("demo", entries, version=1)

    # 1% change: 20 removed, 20 added
    rows2 = rows[20:] + _rows(20, seed=2)
    rep = admin.post("/api/v1/lists/demo/import", content=_csv(rows2)).json()
    assert (rep["version"], rep["added"], rep["removed"], rep["unchanged"]) == (2, 20, 20, 1980)
    delta = agent.get("/api/v1/agent/lists/demo/bundle", params={"since": 1})
    assert delta.headers["x-hashwatch-bundle-kind"] == "delta"
    full2 = agent.get("/api/v1/agent/lists/demo/bundle")
    # a 1% change costs about 1% of the full download (plus the fixed header)
    assert len(delta.content) < 0.03 * len(full2.content) + 600, (
        len(delta.content),
        len(full2.content),
    )
    dinfo, added, removed = _read(delta.content, key)
    assert (dinfo.base_version, dinfo.version, len(added), len(removed)) == (1, 2, 20, 20)
    updated = apply_delta(base, added, removed, dinfo)
    _, want, _ = _read(full2.content, key)
    assert {(e.signal_type, e.signal) for e in updated.entries} == {
        (e.signal_type, e.signal) for e in want
    }
    # up to date: nothing to fetch
    assert agent.get("/api/v1/agent/lists/demo/bundle", params={"since": 2}).status_code == 204
    r = agent.get("/api/v1/agent/lists/demo/bundle", params={"since": 7})
    assert r.status_code == 409
    assert agent.get("/api/v1/agent/lists/nope/bundle").status_code == 404
    # the same file again makes no new version
    rep = admin.post("/api/v1/lists/demo/import", content=_csv(rows2)).json()
    assert rep["applied"] is False and rep["version"] == 2
    versions = admin.get("/api/v1/lists/demo").json()["versions"]
    assert [v["version"] for v in versions] == [2, 1] and versions[0]["total"] == 2000
    # heartbeats announce the latest versions
    assert agent.post("/api/v1/agent/heartbeat", json={}).json()["lists"] == {"demo": 2}


def test_bundle_signature_is_checked_by_the_engine(srv, tmp_path):
    admin = srv.person("admin")
    agent, _ = srv.agent()
    admin.post("/api/v1/lists/demo/import", content=_csv(_rows(10)))
    data = agent.get("/api/v1/agent/lists/demo/bundle").content
    path = tmp_path / "demo.hwb"
    path.write_bytes(data)
    key = _key(agent)
    hl = load_list(path, trusted_keys=[key])
    assert hl.name == "demo" and len(hl) == 10
    tampered = bytearray(data)
    tampered[-5] ^= 1
    path.write_bytes(bytes(tampered))
    import pytest

    from hashwatch.lists import ListFormatError

    with pytest.raises(ListFormatError):
        load_list(path, trusted_keys=[key])


def test_import_dry_run_and_bad_files(srv):
    admin = srv.person("admin")
    r = admin.post("/api/v1/lists/demo/import", content=_csv(_rows(5)), params={"dry_run": True})
    assert r.status_code == 200 and r.json()["applied"] is False and r.json()["added"] == 5
    assert admin.get("/api/v1/lists").json()["lists"] == []
    bad = b"signal_type,signal\nmd5,0123\n"
    r = admin.post("/api/v1/lists/demo/import", content=bad, params={"filename": "bad.csv"})
    assert r.status_code == 422
    assert "bad.csv" in r.json()["detail"] and "line 2" in r.json()["detail"]
    assert admin.post("/api/v1/lists/demo/import", content=b"").status_code == 422
    r = admin.post("/api/v1/lists/bad name!/import", content=_csv(_rows(1)))
    assert r.status_code == 422
    # other formats the engine reads: ThreatExchange lines, bare PDQ hex
    te = b"pdq " + b"f" * 64 + b"\nmd5 " + b"a" * 32 + b"\n"
    assert admin.post("/api/v1/lists/te/import", content=te).json()["counts"] == {
        "pdq": 1,
        "md5": 1,
    }
    r = admin.post("/api/v1/lists/hex/import", content=b"e" * 64 + b"\n", params={"hex64": "pdq"})
    assert r.json()["counts"] == {"pdq": 1}


def test_retired_hash_leaves_every_list_in_the_next_bundle(srv):
    admin = srv.person("admin")
    agent, _ = srv.agent()
    rows = _rows(50)
    fp = rows[7][1]
    admin.post("/api/v1/lists/one/import", content=_csv(rows))
    admin.post("/api/v1/lists/two/import", content=_csv(rows[:10]))
    r = admin.post(
        "/api/v1/retired",
        json={"signal_type": "md5", "signal": fp.upper(), "reason": "false positive: stock photo"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["new_versions"] == [
        {"list": "one", "version": 2},
        {"list": "two", "version": 2},
    ]
    key = _key(agent)
    info, added, removed = _read(
        agent.get("/api/v1/agent/lists/one/bundle", params={"since": 1}).content, key
    )
    assert added == [] and [e.signal for e in removed] == [fp]
    _, entries, _ = _read(agent.get("/api/v1/agent/lists/two/bundle").content, key)
    assert fp not in {e.signal for e in entries} and len(entries) == 9
    # a later import of a file that still has it leaves it out
    rep = admin.post("/api/v1/lists/one/import", content=_csv(rows + _rows(1, 5))).json()
    assert rep["retired_skipped"] == 1 and rep["added"] == 1
    assert (
        admin.post("/api/v1/retired", json={"signal_type": "md5", "signal": fp}).status_code == 409
    )
    assert (
        admin.post("/api/v1/retired", json={"signal_type": "md5", "signal": "zz"}).status_code
        == 422
    )
    listed = admin.get("/api/v1/retired").json()["retired"]
    assert listed[0]["signal"] == fp and listed[0]["by"] == "admin"


def test_list_changes_are_audited(srv):
    admin = srv.person("admin")
    admin.post("/api/v1/lists/demo/import", content=_csv(_rows(3)), params={"filename": "x.csv"})
    entries = admin.get("/api/v1/audit", params={"action": "list.import"}).json()["entries"]
    assert entries[0]["target_id"] == "demo" and entries[0]["detail"]["added"] == 3
    assert json.dumps(entries[0]["detail"]["source"]) == '"x.csv"'


def test_incident_list_version_is_kept(srv):
    agent, _ = srv.agent()
    inc = make_incident(match={"list": "demo", "list_version": 4})
    agent.post("/api/v1/agent/incidents", json={"incidents": [inc]})
    inv = srv.person("investigator")
    assert inv.get(f"/api/v1/incidents/{inc['id']}").json()["match"]["list_version"] == 4
