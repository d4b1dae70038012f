"""The agent's parts one by one: configuration, state, list store, delivery, queue, journal."""

from __future__ import annotations

import json
import threading
import time
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hashwatch.agent import health as health_mod
from hashwatch.agent.client import ClientError, ServerClient, check_url
from hashwatch.agent.config import ConfigError, load_config
from hashwatch.agent.health import Health
from hashwatch.agent.liststore import ListStore, ListUpdateError
from hashwatch.agent.state import Reported, State
from hashwatch.agent.sync import backoff_delay, deliver_outbox
from hashwatch.agent.watcher import PathQueue
from hashwatch.lists import ListEntry, write_bundle

# -- configuration ------------------------------------------------------------------------


def test_config_defaults_without_a_file(tmp_path):
    cfg = load_config(tmp_path / "none.toml")
    assert cfg.watch.enabled and cfg.schedule.nice == 10 and cfg.volumes.scan_removable


def test_config_errors_name_file_and_key(tmp_path):
    p = tmp_path / "agent.toml"
    p.write_text('[watch]\nsettle_secs = 2\n[schedule]\ncpu_budget = "lots"\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    text = str(e.value)
    assert f"{p}: [watch].settle_secs: unknown setting" in text
    assert f"{p}: [schedule].cpu_budget:" in text
    p.write_text("[context]\norg_networks = ['10.0.0.0/33']\n")
    with pytest.raises(ConfigError, match=r"\[context\]\.org_networks.*10\.0\.0\.0/33"):
        load_config(p)
    p.write_text("[server\nurl = 1\n")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line 1"):
        load_config(p)
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "missing.toml", required=True)


def test_plain_http_only_to_loopback():
    assert check_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert check_url("http://[::1]:80") == "http://[::1]:80"
    assert check_url("https://hw.example.org/base/") == "https://hw.example.org/base"
    with pytest.raises(ValueError, match="refusing plain http"):
        check_url("http://hw.example.org")
    assert check_url("http://hw.example.org", allow_insecure_http=True)
    with pytest.raises(ValueError):
        check_url("ftp://x")


# -- state and outbox ---------------------------------------------------------------------


def _incident(n: int) -> dict:
    return {"id": str(uuid.uuid4()), "n": n}


def _rep(path: str, incident_id: str) -> Reported:
    return Reported(path, "ab" * 32, "kit", "cd" * 32, "pdq", 3, "e1", incident_id)


def test_outbox_keeps_order_and_reports_each_file_and_entry_once(tmp_path):
    st = State(tmp_path)
    bodies = [_incident(i) for i in range(5)]
    for i, b in enumerate(bodies):
        assert st.add_incident(b, _rep(f"/x/{i}.jpg", b["id"]))
    dup = _incident(99)
    assert not st.add_incident(dup, _rep("/x/0.jpg", dup["id"]))
    assert [i.body["n"] for i in st.pending()] == [0, 1, 2, 3, 4]
    st.mark_delivered([i.seq for i in st.pending(2)])
    assert [i.body["n"] for i in st.pending()] == [2, 3, 4]
    assert st.outbox_counts() == {"waiting": 3, "delivered": 2, "rejected": 0}
    assert [r.path for r in st.reported_in_dir("/x")] == [f"/x/{i}.jpg" for i in range(5)]
    st.close()
    # durable: a new process sees the same
    assert State(tmp_path).queue_depth() == 3


class _FakeServer:
    """An httpx transport standing in for the server's incident endpoint."""

    def __init__(self, fail_first: int = 0, bad_id: str | None = None):
        self.fail_first = fail_first
        self.bad_id = bad_id
        self.received: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.fail_first:
            self.fail_first -= 1
            return httpx.Response(503, json={"detail": "maintenance"})
        incs = json.loads(request.content)["incidents"]
        for n, inc in enumerate(incs):
            if inc["id"] == self.bad_id:
                loc = ["body", "incidents", n, "file", "path"]
                return httpx.Response(422, json={"detail": [{"loc": loc, "msg": "bad"}]})
        self.received.extend(i["id"] for i in incs)
        return httpx.Response(200, json={"stored": len(incs)})


def _client(fake) -> ServerClient:
    c = ServerClient("http://127.0.0.1:9", "hwa_x_y")
    c._http = httpx.Client(
        base_url="http://127.0.0.1:9/api/v1/agent", transport=httpx.MockTransport(fake)
    )
    return c


def test_delivery_in_order_with_retries_and_a_refused_incident_set_aside(tmp_path):
    st = State(tmp_path)
    bodies = [_incident(i) for i in range(1200)]
    for i, b in enumerate(bodies):
        st.add_incident(b, _rep(f"/d/{i}", b["id"]))
    fake = _FakeServer(fail_first=1, bad_id=bodies[3]["id"])
    c = _client(fake)
    d = deliver_outbox(c, st)
    assert d.error and d.delivered == 0 and d.waiting == 1200
    d = deliver_outbox(c, st)
    assert d.error is None and d.delivered == 1199 and d.rejected == 1 and d.waiting == 0
    assert fake.received == [b["id"] for i, b in enumerate(bodies) if i != 3]
    assert st.rejected()[0][0] == bodies[3]["id"]  # kept, never deleted


def test_backoff_grows_with_jitter_and_a_cap():
    for n in range(1, 30):
        d = backoff_delay(n)
        full = min(900.0, 5.0 * 2 ** (n - 1))
        assert full / 2 <= d <= full
    assert len({round(backoff_delay(6), 3) for _ in range(20)}) > 1


def test_unreachable_server_is_a_client_error():
    with ServerClient("http://127.0.0.1:9", "t", timeout=2) as c:
        with pytest.raises(ClientError):
            c.heartbeat({})


# -- list store ---------------------------------------------------------------------------


def _bundle(tmp_path, key, version, entries, removed=(), base=None, name="kit") -> bytes:
    p = tmp_path / f"b{version}-{base}.hwb"
    write_bundle(p, key, name, version, entries, removed=removed, base_version=base)
    return p.read_bytes()


def _e(n: int) -> ListEntry:
    return ListEntry("md5", f"{n:032x}", str(n))


def test_list_store_applies_full_and_delta_and_refuses_the_rest(tmp_path):
    key = Ed25519PrivateKey.generate()
    store = ListStore(tmp_path / "lists", key.public_key())
    v1 = store.apply("kit", _bundle(tmp_path, key, 1, [_e(1), _e(2)]), None)
    assert len(v1) == 2 and store.versions() == {"kit": 1}
    v2 = store.apply("kit", _bundle(tmp_path, key, 2, [_e(3)], [_e(1)], base=1), v1)
    assert sorted(e.signal for e in v2.entries) == [f"{2:032x}", f"{3:032x}"]
    # another key
    other = Ed25519PrivateKey.generate()
    with pytest.raises(ListUpdateError, match="signature"):
        store.apply("kit", _bundle(tmp_path, other, 3, [_e(9)]), v2)
    # older or same version
    with pytest.raises(ListUpdateError, match="not newer"):
        store.apply("kit", _bundle(tmp_path, key, 2, [_e(9)]), v2)
    # a delta for another base
    with pytest.raises(ListUpdateError, match="does not apply"):
        store.apply("kit", _bundle(tmp_path, key, 4, [_e(9)], base=3), v2)
    # a corrupt download
    raw = bytearray(_bundle(tmp_path, key, 3, [_e(9)]))
    raw[-5] ^= 1
    with pytest.raises(ListUpdateError, match="refused"):
        store.apply("kit", bytes(raw), v2)
    # a bundle for another list
    with pytest.raises(ListUpdateError, match="for list 'other'"):
        store.apply("kit", _bundle(tmp_path, key, 5, [_e(9)], name="other"), v2)
    # the version in use survived all of that, and loads again (verified again)
    lists, problems = store.load()
    assert problems == [] and lists[0].version == 2 and len(lists[0]) == 2


def test_a_bundle_altered_on_disk_is_left_out_at_load(tmp_path):
    key = Ed25519PrivateKey.generate()
    store = ListStore(tmp_path / "lists", key.public_key())
    store.apply("kit", _bundle(tmp_path, key, 1, [_e(1)]), None)
    f = next((tmp_path / "lists").rglob("full-1.bundle"))
    raw = bytearray(f.read_bytes())
    raw[-3] ^= 1
    f.write_bytes(bytes(raw))
    lists, problems = store.load()
    assert lists == [] and "kit" in problems[0]


# -- the real-time queue ------------------------------------------------------------------


def test_queue_deduplicates_waits_for_writers_and_collapses_instead_of_dropping():
    q = PathQueue(settle=0.2, max_pending=100)
    for _ in range(50):
        q.add_file("/w/a.jpg", closed=False)
    q.add_file("/w/b.jpg", closed=True)
    files, trees, wait = q.take()
    assert files == ["/w/b.jpg"] and 0 < wait <= 0.2
    time.sleep(0.25)
    assert q.take()[0] == ["/w/a.jpg"]
    q.roots = lambda: ["/w"]
    for i in range(150):
        q.add_file(f"/w/sub/{i}", closed=True)
    files, trees, _ = q.take()
    assert q.collapsed == 1 and ("/w", "realtime") in trees
    assert len(files) < 150  # the rest are covered by the rescan of /w


# -- journal ------------------------------------------------------------------------------


def test_journal_records_unclean_stops_and_clock_jumps(tmp_path, monkeypatch):
    st = State(tmp_path)
    h = Health(st)
    h.started("1")
    # killed: no stop recorded. The next start says so.
    h2 = Health(st)
    h2.started("1")
    kinds = [k for _, k, _ in st.recent_events()]
    assert kinds == ["agent.start", "agent.unclean_stop", "agent.start"]
    # the wall clock moves an hour while the boot clock moves a second
    wall = [time.time()]
    monkeypatch.setattr(health_mod.time, "time", lambda: wall[0])
    h2._wall = wall[0]
    wall[0] += 3600
    h2.tick()
    assert st.recent_events()[-1][1] == "clock.jump"
    h2.stopped()
    assert st.recent_events()[-1][1] == "agent.stop" and st.get("running") is None
    assert [e[2] for e in st.unshipped_events()][-1] == "agent.stop"


def test_state_is_safe_from_many_threads(tmp_path):
    st = State(tmp_path)

    def work(n):
        for i in range(50):
            b = _incident(i)
            st.add_incident(b, _rep(f"/t{n}/{i}", b["id"]))
            st.journal("x", "2026-01-01T00:00:00+00:00", n=n)

    ts = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert st.queue_depth() == 200 and len(st.unshipped_events(1000)) == 200


# -- scheduled scans ----------------------------------------------------------------------


def test_full_scan_pauses_on_battery_and_records_finished_roots(tmp_path):
    from hashwatch.agent.fullscan import FullScans
    from hashwatch.lists import HashList
    from hashwatch.match import Matcher
    from hashwatch.scan import Scanner, ScanOptions

    roots = []
    for n in range(2):
        d = tmp_path / f"root{n}"
        d.mkdir()
        for i in range(3):
            (d / f"f{i}.txt").write_text(f"{n}-{i}")
        roots.append(str(d))
    st = State(tmp_path / "state")
    stop, preempt = threading.Event(), threading.Event()
    battery = {"on": True, "asked": 0}

    def on_battery():
        battery["asked"] += 1
        if battery["asked"] > 3:
            battery["on"] = False  # plugged in again
        return battery["on"]

    full = FullScans(
        st,
        Health(st),
        roots=roots,
        every_hours=24,
        cpu_budget=1.0,
        pause_on_battery=True,
        stop=stop,
        preempt=preempt,
        battery=on_battery,
    )
    full_wait = full._wait_for_power
    waits = []

    def quick_wait():  # the 30 s poll made instant for the test
        stop.wait = lambda t: waits.append(t) or False
        full_wait()

    full._wait_for_power = quick_wait
    m = Matcher([HashList("l", [ListEntry("md5", "0" * 32, "1")])])
    opts = ScanOptions(jobs=1, cache_path=tmp_path / "cache.sqlite")
    assert full.due_in() == 0
    with Scanner(m, opts).session() as s:
        assert full.run(s, lambda r: None, lambda: [])
    kinds = [k for _, k, _ in st.recent_events(20)]
    assert "scan.paused" in kinds and "scan.finished" in kinds and waits
    last = st.last_finished_scan()
    assert last.done_roots == roots
    assert full.due_in() > 23 * 3600


def test_cli_status_of_an_agent_not_enrolled_and_the_shipped_unit(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    r = subprocess.run(
        [sys.executable, "-m", "hashwatch", "agent", "status", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"HASHWATCH_AGENT_CONFIG": str(tmp_path / "none.toml"), "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 0, r.stderr
    assert "enrolled:        no" in r.stdout and "outbox:          0 waiting" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "hashwatch", "agent", "run", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"HASHWATCH_AGENT_CONFIG": str(tmp_path / "none.toml"), "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 2 and "not enrolled" in r.stderr
    unit = (Path(__file__).parents[2] / "packaging/systemd/hashwatch-agent.service").read_text()
    exec_start = next(ln for ln in unit.splitlines() if ln.startswith("ExecStart="))
    assert exec_start.split()[1:4] == ["agent", "run", "--config"]
    assert "Restart=always" in unit and "ReadWritePaths=/var/lib/hashwatch-agent" in unit


def test_state_made_by_an_older_agent_is_migrated_keeping_what_was_reported(tmp_path):
    import sqlite3

    db = sqlite3.connect(tmp_path / "agent.sqlite")
    db.executescript(
        """CREATE TABLE reported (
            path TEXT NOT NULL, sha256 TEXT NOT NULL, list TEXT NOT NULL, signal TEXT NOT NULL,
            dir TEXT NOT NULL, signal_type TEXT NOT NULL, distance INTEGER NOT NULL,
            entry_id TEXT NOT NULL, incident_id TEXT NOT NULL, at REAL NOT NULL,
            PRIMARY KEY (path, sha256, list, signal));
        INSERT INTO reported VALUES ('/x/a.jpg', 'ab', 'kit', 'cd', '/x', 'pdq', 3, 'e1',
            'i1', 0);"""
    )
    db.close()
    st = State(tmp_path)
    assert st.already_reported("/x/a.jpg", "ab", "kit", "cd")
    assert st.get("schema_version") == "2"
    # the same file and entry inside a container is another finding
    assert not st.already_reported("/x/a.jpg", "ab", "kit", "cd", "in/b.jpg")
    rep = Reported("/x/a.jpg", "ab", "kit", "cd", "pdq", 3, "e1", "i2", "in/b.jpg")
    assert st.add_incident({"id": "i2"}, rep)
    assert [(r.path, r.inner) for r in st.reported_in_dir("/x")] == [
        ("/x/a.jpg", ""),
        ("/x/a.jpg", "in/b.jpg"),
    ]
