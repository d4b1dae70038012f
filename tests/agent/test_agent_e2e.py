"""The agent end to end, against the real server started in the test (loopback only)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time

import httpx
import pytest

from hashwatch.agent.context import NetworkProbe
from tests.conftest import encode, photo

from .conftest import known_image, sha256_of, wait_for


def _outbox(agent) -> list[tuple]:
    db = sqlite3.connect(agent.state / "agent.sqlite")
    try:
        return db.execute(
            "SELECT id, created_at, delivered_at, body FROM outbox ORDER BY seq"
        ).fetchall()
    finally:
        db.close()


def _lists_ready(agent, name, version):
    return lambda: agent.status()["lists"].get(name) == version


def test_realtime_detection_reaches_the_server_with_its_context(server, agents, tmp_path):
    watched = tmp_path / "home" / "alice" / "Downloads"
    watched.mkdir(parents=True)
    data, pdq = known_image(401)
    server.import_list("kit", [("pdq", pdq)])
    # the organisation's network: this machine's own address (loopback does not count)
    addrs = NetworkProbe().snapshot().addresses
    org = [f"{addrs[0]}/{128 if ':' in addrs[0] else 32}"] if addrs else ["192.0.2.0/24"]
    agent = agents(server, [tmp_path / "home" / "alice"], context={"org_networks": org})
    agent.start()
    wait_for(_lists_ready(agent, "kit", 1), what="list v1 at the agent")
    wait_for(lambda: agent.status()["watched_paths"], what="watches")
    # a harmless file first: no incident
    (watched / "notes.txt").write_text("minutes")
    # the known image, written like a download (staged, origin recorded, moved in)
    staged = tmp_path / "staged.jpg"
    staged.write_bytes(encode(photo(401, (480, 360)), "JPEG", quality=90))
    xattr = True
    try:
        os.setxattr(staged, "user.xdg.origin.url", b"https://example.org/a/b.jpg")
    except OSError:
        xattr = False  # this file system keeps no user xattrs
    written = time.time()
    shutil.move(staged, watched / "IMG_0001.jpg")
    rows = wait_for(lambda: _outbox(agent), timeout=30, what="incident in the outbox")
    assert rows[0][1] - written < 2.0, "matched more than 2 s after the file was written"
    incs = wait_for(server.incidents, timeout=45, what="incident at the server")
    assert len(incs) == 1
    inc = server.incident(incs[0]["id"])
    assert inc["trigger"] == "realtime"
    assert inc["file"]["path"] == str(watched / "IMG_0001.jpg")
    assert inc["file"]["sha256"] == sha256_of(data)
    assert inc["match"]["list"] == "kit" and inc["match"]["signal_type"] == "pdq"
    assert inc["match"]["category"] == "test-category"
    assert inc["context"]["on_org_network"] is bool(addrs)
    if xattr:
        assert inc["origin_url"] == "https://example.org/a/b.jpg"
    assert agent.stop() == 0
    events = [e["kind"] for e in agent.status()["recent_events"]]
    assert "agent.start" in events and events[-1] == "agent.stop"


def test_server_down_for_the_whole_detection_then_delivered_exactly_once(server, agents, tmp_path):
    watched = tmp_path / "w"
    watched.mkdir()
    data, pdq = known_image(402)
    server.import_list("kit", [("pdq", pdq)])
    agent = agents(server, [watched])
    agent.start()
    wait_for(_lists_ready(agent, "kit", 1), what="list at the agent")
    server.stop()
    (watched / "a.jpg").write_bytes(data)
    wait_for(lambda: agent.status()["outbox"]["waiting"] == 1, what="incident waiting")
    time.sleep(2)  # a few failed deliveries (backoff) while the server is away
    assert agent.status()["outbox"]["waiting"] == 1
    server.start()
    wait_for(lambda: agent.status()["outbox"]["delivered"] == 1, timeout=40, what="delivery")
    incs = server.incidents()
    assert len(incs) == 1
    time.sleep(2.5)  # more heartbeats: nothing sent twice
    assert len(server.incidents()) == 1
    assert agent.stop() == 0


def test_killed_mid_scan_resumes_and_loses_or_duplicates_nothing(server, agents, tmp_path):
    tree = tmp_path / "share"
    known = []
    for i in range(120):
        d = tree / f"d{i // 20}"
        d.mkdir(parents=True, exist_ok=True)
        data = encode(photo(1000 + i, (320, 240)), "PNG")
        (d / f"p{i:03}.png").write_bytes(data)
        if i % 24 == 5:
            known.append((d / f"p{i:03}.png", sha256_of(data)))
    server.import_list("kit", [("sha256", s) for _, s in known])
    agent = agents(
        server,
        [],
        watch={"enabled": False, "paths": []},
        # a tight CPU budget keeps the scan slow enough to be killed half-way
        schedule={"enabled": True, "paths": [str(tree)], "cpu_budget": 0.1, "nice": 5},
    )
    agent.start()
    cache = agent.state / "scan-cache.sqlite"

    def cached_rows():
        if not cache.exists():
            return 0
        db = sqlite3.connect(cache)
        try:
            return db.execute("SELECT count(*) FROM files").fetchone()[0]
        except sqlite3.Error:
            return 0
        finally:
            db.close()

    wait_for(lambda: cached_rows() >= 20, timeout=60, what="the scan under way")
    agent.stop(signal.SIGKILL)
    assert agent.status()["full_scan_in_progress"] is True
    before = cached_rows()
    assert before < 120, "the scan finished before it could be interrupted"
    agent.start()
    wait_for(lambda: agent.status()["last_full_scan"], timeout=90, what="the scan to finish")
    wait_for(lambda: agent.status()["outbox"]["waiting"] == 0, what="delivery")
    assert agent.stop() == 0
    incs = server.incidents()
    assert sorted(i["path"] for i in incs) == sorted(str(p) for p, _ in known)
    assert all(i["trigger"] == "scheduled" for i in incs)
    events = [e["kind"] for e in agent.status()["recent_events"]]
    assert "agent.unclean_stop" in events and "scan.finished" in events
    # resumed: files hashed before the kill were not hashed again
    db = sqlite3.connect(agent.state / "agent.sqlite")
    hashed = db.execute("SELECT sum(hashed) FROM full_scans").fetchone()[0]
    db.close()
    assert hashed <= 120 - before // 2


def test_an_old_file_is_matched_when_a_later_list_names_it(server, agents, tmp_path):
    watched = tmp_path / "w"
    watched.mkdir()
    data, pdq = known_image(403)
    _, other = known_image(404)
    server.import_list("kit", [("pdq", other)])
    agent = agents(server, [watched])
    agent.start()
    wait_for(_lists_ready(agent, "kit", 1), what="list v1")
    (watched / "old.jpg").write_bytes(data)
    wait_for(
        lambda: (
            sqlite3.connect(agent.state / "scan-cache.sqlite")
            .execute("SELECT count(*) FROM files")
            .fetchone()[0]
            >= 1
        ),
        what="the file scanned",
    )
    time.sleep(0.5)
    assert server.incidents() == []
    server.import_list("kit", [("pdq", other), ("pdq", pdq)])
    incs = wait_for(server.incidents, timeout=20, what="re-match incident")
    assert agent.status()["lists"]["kit"] == 2
    assert len(incs) == 1 and incs[0]["trigger"] == "rematch"
    assert incs[0]["path"] == str(watched / "old.jpg")
    assert agent.stop() == 0


def test_a_tampered_bundle_is_refused_and_the_current_list_kept(server, agents, tmp_path):
    watched = tmp_path / "w"
    watched.mkdir()
    data1, pdq1 = known_image(405)
    data2, pdq2 = known_image(406)
    server.import_list("kit", [("pdq", pdq1)])
    agent = agents(server, [watched])
    agent.start()
    wait_for(_lists_ready(agent, "kit", 1), what="list v1")
    agent.stop()
    server.import_list("kit", [("pdq", pdq1), ("pdq", pdq2)])
    # the server's cached bundles (delta and full) are altered on its disk
    creds = json.loads((agent.state / "credentials.json").read_text())
    auth = {"Authorization": f"Bearer {creds['token']}"}
    for since in (1, None):
        params = {"since": since} if since else {}
        r = httpx.get(f"{server.url}/api/v1/agent/lists/kit/bundle", params=params, headers=auth)
        assert r.status_code == 200
    files = sorted((server.data / "bundles").rglob("2-*.hwb"))
    assert len(files) == 2
    for f in files:
        raw = bytearray(f.read_bytes())
        raw[-10] ^= 0x55
        f.write_bytes(bytes(raw))
    agent.start()
    wait_for(
        lambda: any(e["kind"] == "list.update_failed" for e in agent.status()["recent_events"]),
        what="the refusal journalled",
    )
    assert agent.status()["lists"] == {"kit": 1}
    # the list in use still works
    (watched / "one.jpg").write_bytes(data1)
    incs = wait_for(server.incidents, what="incident with the kept list")
    assert server.incident(incs[0]["id"])["match"]["list_version"] == 1
    dev = server.api("GET", "/api/v1/devices").json()["devices"][0]
    events = server.api("GET", f"/api/v1/devices/{dev['id']}").json()["events"]
    assert any(e["kind"] == "list.update_failed" for e in events)
    assert agent.stop() == 0


def _mount(*args: str) -> None:
    r = subprocess.run(["mount", *args], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"mounting is not permitted here: {r.stderr.strip()}")


def test_a_removable_volume_is_scanned_when_it_appears(server, agents, tmp_path):
    data, pdq = known_image(407)
    server.import_list("kit", [("pdq", pdq)])
    home = tmp_path / "home"
    home.mkdir()
    agent = agents(server, [home])
    agent.start()
    wait_for(_lists_ready(agent, "kit", 1), what="list v1")
    # the "stick": a tmpfs with the file on it before it is mounted where sticks appear
    staging = tmp_path / "staging"
    staging.mkdir()
    stick = tmp_path / "media" / "STICK"
    stick.mkdir(parents=True)
    _mount("-t", "tmpfs", "-o", "size=4m", "hwstick", str(staging))
    try:
        (staging / "DCIM").mkdir()
        (staging / "DCIM" / "x.jpg").write_bytes(data)
        _mount("--move", str(staging), str(stick))
        incs = wait_for(server.incidents, timeout=45, what="incident from the stick")
        inc = server.incident(incs[0]["id"])
        assert inc["trigger"] == "removable"
        assert inc["file"]["path"] == str(stick / "DCIM" / "x.jpg")
        assert inc["file"]["volume"]["kind"] == "removable"
        assert inc["file"]["volume"]["mount"] == str(stick)
        events = [e["kind"] for e in agent.status()["recent_events"]]
        assert "volume.mounted" in events
    finally:
        subprocess.run(["umount", str(stick)], capture_output=True)
        subprocess.run(["umount", str(staging)], capture_output=True)
    assert agent.stop() == 0


def test_scan_now_without_the_service_delivers_or_says_what_waits(server, agents, tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    data, pdq = known_image(408)
    server.import_list("kit", [("pdq", pdq)])
    agent = agents(server, [folder])
    (folder / "a.jpg").write_bytes(data)
    r = agent.cli("scan-now", str(folder))
    assert r.returncode == 1, r.stderr
    assert "1 new incidents" in r.stdout and "1 incidents delivered" in r.stdout
    assert len(server.incidents()) == 1
    # again: nothing new
    r = agent.cli("scan-now", str(folder))
    assert "0 new incidents" in r.stdout
    # server away: the find waits in the outbox, and the user is told
    server.stop()
    (folder / "b.jpg").write_bytes(data)
    r = agent.cli("scan-now", str(folder))
    assert r.returncode == 1
    assert "1 incidents wait in the outbox: the server could not be reached" in r.stdout
    server.start()
    agent.start()
    wait_for(lambda: len(server.incidents()) == 2, timeout=30, what="the waiting incident")
    assert agent.stop() == 0


MAX_EVENTS = "/proc/sys/fs/inotify/max_queued_events"


def test_a_burst_that_overflows_the_kernel_queue_loses_nothing(server, agents, tmp_path):
    """An archive unpacked at once: thousands of files. With the kernel's event queue made
    tiny the watcher overflows, rescans the tree, and still finds every listed file once."""
    watched = tmp_path / "w"
    watched.mkdir()
    blobs = [f"unpacked file {i}\n".encode() * 3 for i in range(1500)]
    listed = [blobs[i] for i in range(7, 1500, 150)]
    server.import_list("kit", [("sha256", sha256_of(b)) for b in listed])
    try:
        with open(MAX_EVENTS) as f:
            saved = f.read().strip()
        with open(MAX_EVENTS, "w") as f:
            f.write("64")
    except OSError as e:
        pytest.skip(f"cannot lower the inotify queue here ({e.strerror}): overflow not testable")
    try:
        agent = agents(server, [watched])
        agent.start()
        wait_for(_lists_ready(agent, "kit", 1), what="list v1")
        wait_for(lambda: agent.status()["watched_paths"], what="watches")
    finally:
        with open(MAX_EVENTS, "w") as f:
            f.write(saved)
    for i, b in enumerate(blobs):
        d = watched / f"part{i // 300}"
        d.mkdir(exist_ok=True)
        (d / f"f{i:04}.bin").write_bytes(b)
    incs = wait_for(
        lambda: (lambda x: x if len(x) >= len(listed) else None)(server.incidents()),
        timeout=60,
        what="every listed file",
    )
    time.sleep(2)
    incs = server.incidents()
    expected = sorted(
        str(watched / f"part{i // 300}" / f"f{i:04}.bin") for i in range(7, 1500, 150)
    )
    assert sorted(i["path"] for i in incs) == expected
    events = [e["kind"] for e in agent.status()["recent_events"]]
    assert agent.stop() == 0
    assert "watch.overflow" in events


def test_an_image_inside_an_archive_reaches_the_server_with_its_chain(server, agents, tmp_path):
    import io
    import zipfile

    watched = tmp_path / "stick"
    watched.mkdir()
    data, pdq = known_image(405)
    server.import_list("kit", [("pdq", pdq)])
    agent = agents(server, [watched])
    agent.start()
    wait_for(_lists_ready(agent, "kit", 1), what="list v1 at the agent")
    wait_for(lambda: agent.status()["watched_paths"], what="watches")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "nothing")
        zf.writestr("photos/2019/img_004.jpg", data)
    staged = tmp_path / "holiday.zip"
    staged.write_bytes(buf.getvalue())
    shutil.move(staged, watched / "holiday.zip")
    incs = wait_for(server.incidents, timeout=45, what="incident at the server")
    assert len(incs) == 1
    inc = server.incident(incs[0]["id"])
    assert inc["trigger"] == "container"
    assert inc["file"]["path"] == str(watched / "holiday.zip")
    assert inc["file"]["inner"] == "photos/2019/img_004.jpg"
    assert inc["file"]["sha256"] == sha256_of(data)  # the item's own, not the archive's
    assert agent.stop() == 0
