"""A clearly synthetic organisation, so a newcomer's first look at the server is a living one.

``seed(db, workdir=...)`` adds three "Demo ... (synthetic)" sites, a few hundred DEMO-*
devices with heartbeats and journals, one account per role, the test kit's hash list (two
versions) and some weeks of incidents, stored with ``incidents.ingest`` as the agent API
stores them and reviewed by the demo accounts with ``incidents.transition``. Every match is
a real entry of the kit's list and every file hash the real hash of a kit file (an original,
or an altered copy for a PDQ match): no picture but the kit's generated patterns is involved.
Paths sit under DEMO-SYNTHETIC, origins on example.invalid. The same seed and ``now`` give
the same data (device secrets aside: random, and known to no one, so no demo device can call).
"""

from __future__ import annotations

import itertools
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from .. import __version__
from ..hashing import hash_file
from ..signals.pdq import PDQ_DEFAULT_THRESHOLD, pdq_distance
from ..store import Database
from ..store.db import utcnow
from ..store.models import (
    Device,
    DeviceEvent,
    HashListRow,
    Incident,
    ListEntryRow,
    ListVersion,
    Notification,
    Setting,
    Site,
    User,
)
from ..testkit import write_testkit
from ..testkit.listing import CATEGORY, LIST_FILE, LIST_NAME
from . import audit, incidents, lists_service
from .demo_takedown import seed_takedown
from .derive import DAYS
from .schemas import IncidentIn
from .secrets_ import generate_password, hash_password, new_secret, sha256_hex
from .settings import get_setting, set_setting

MARK = "demo_seeded"  # a Setting row of its own: set_setting knows only people's settings
ACTOR = "demo-seed"
SITES = (  # name, time zone, office network, weight in the fleet, Friday closing time
    ("Demo HQ (synthetic)", "Europe/London", "10.20", 5, "18:00"),
    ("Demo Branch North (synthetic)", "Europe/Berlin", "10.30", 3, "15:00"),
    ("Demo Remote (synthetic)", "America/New_York", "10.40", 2, "18:00"),
)
OS = {
    "LT": ["Windows 11 Pro 23H2"] * 4 + ["Windows 10 Pro 22H2", "macOS 14.5", "Ubuntu 24.04 LTS"],
    "DT": ["Windows 11 Enterprise 23H2"] * 3 + ["Windows 10 Enterprise 22H2"],
    "FS": ["Windows Server 2022", "Ubuntu 22.04 LTS"],
}
WATCHED = {  # by kind of device and first word of its OS
    "Windows": ["C:\\Users", "removable:*"],
    "macOS": ["/Users", "/Volumes"],
    "Ubuntu": ["/home", "/media"],
    "FS Windows": ["D:\\Shares"],
    "FS Ubuntu": ["/srv/shares"],
}
SHARES = {"outside": 0.70, "removable": 0.60, "off": 0.50}  # of incidents, as in the field
NOTES = {
    "in_review": "reviewing the folder and the device's other matches",
    "escalated": "several kit matches on one stick, handed to the lead",
    "confirmed": "kit entry confirmed, device owner informed",
    "false_positive": "perceptual near-miss, not the listed picture",
    "duplicate": "same picture as another incident of this folder",
}


@dataclass
class SeedReport:
    sites: int
    devices: int
    incidents: int
    users: dict[str, str]  # username -> generated password, for accounts this seed made
    list_versions: int = 0
    takedown: dict = field(default_factory=dict)  # counts from demo_takedown.seed_takedown


@dataclass
class Episode:
    """Matches found together: one device, one day, one folder (a stick, a download...)."""

    device: Device
    site: Site
    size: int
    week: int
    outside: bool = False
    removable: bool = False
    off: bool = False
    start: datetime | None = None  # aware, in the site's zone


@dataclass
class _World:
    """What every step of one seeding shares."""

    rng: random.Random
    now: datetime  # naive UTC, as stored
    start: datetime
    kit: _Kit
    update_at: datetime | None = None  # when the list's second version came out
    versions: tuple[int, int] = (1, 2)  # the list's two versions
    totals: dict[int, int] = field(default_factory=dict)  # entries per version
    seq: itertools.count = field(default_factory=itertools.count)


def is_seeded(db: Database) -> bool:
    with db.reading() as s:
        names = [n for n, *_ in SITES]
        return bool(s.get(Setting, MARK) or s.scalar(select(Site.id).where(Site.name.in_(names))))


def seed(
    db: Database,
    *,
    devices: int = 300,
    weeks: int = 6,
    seed: int = 2026,
    now: datetime | None = None,
    workdir: Path,
) -> SeedReport:
    """Add the demo organisation in one transaction (refused if it is there already). The
    test kit is written to ``workdir/testkit``, or reused from there."""
    now = (_utc(now) if now and now.tzinfo else now or utcnow()).replace(microsecond=0)
    if devices < 1 or weeks < 1 or now > utcnow() + timedelta(minutes=5):
        raise ValueError("the demo needs a device or more, a week or more and a past 'now'")
    if is_seeded(db):
        raise RuntimeError("this database already holds the demo organisation")
    w = _World(random.Random(seed), now, now - timedelta(weeks=weeks), _Kit(Path(workdir)))
    w.update_at = w.start + (now - w.start) * 0.4
    with db.transaction() as s:
        sites = _add_sites(s, w)
        users = _add_users(s, now)
        _import_list(s, w, Path(workdir))
        fleet = _add_devices(s, w, sites, devices)
        actions = [a for ep in _plan(w, fleet, sites, weeks) for a in _episode(w, ep)]
        stored = _run(s, actions)
        s.execute(delete(Notification).where(Notification.incident_id.in_(stored)))  # unsent
        trng = random.Random(f"hashwatch-demo-takedown-{seed}")
        takedown = seed_takedown(s, rng=trng, now=now, weeks=weeks, incidents=stored)
        s.add(Setting(key=MARK, value={"seed": seed, "now": now.isoformat() + "Z"}))
        detail = {"seed": seed, "devices": len(fleet), "incidents": len(stored), "weeks": weeks,
                  "takedown_urls": takedown["urls"]}  # fmt: skip
        audit.append(s, actor=ACTOR, actor_kind="system", action="demo.seed", detail=detail)
    return SeedReport(len(sites), len(fleet), len(stored), users, w.versions[1], takedown)


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# ---- organisation, accounts, list ------------------------------------------------------


def _add_sites(s: Session, w: _World) -> list[Site]:
    """Mon-Fri 08:00-18:00 (Fridays to 15:00 at the branch), two holidays in the period."""
    days = [w.start.date() + timedelta(d) for d in range(3, (w.now - w.start).days - 3)]
    weekdays = [d for d in days if d.weekday() < 5]
    sites = []
    for name, tz, _, _, friday in SITES:
        hours = {d: [["08:00", "18:00"]] for d in DAYS[:4]} | {"fri": [["08:00", friday]]}
        holidays = sorted(d.isoformat() for d in w.rng.sample(weekdays, min(2, len(weekdays))))
        sites.append(Site(name=name, timezone=tz, working_hours=hours, holidays=holidays))
    s.add_all(sites)
    nets = [f"{p}.0.0/16" for _, _, p, _, _ in SITES]
    set_setting(s, "org_networks", list(dict.fromkeys(get_setting(s, "org_networks") + nets)))
    s.flush()
    return sites


def _add_users(s: Session, now: datetime) -> dict[str, str]:
    """One account per role, hashed as every account is (argon2id); existing ones are left."""
    made = {}
    for role in ("admin", "investigator", "auditor", "analyst"):
        if s.scalar(select(User.id).where(User.username == role)) is not None:
            continue
        made[role] = generate_password()
        name, pw = f"Demo {role} (synthetic)", hash_password(made[role])
        s.add(User(username=role, role=role, password_hash=pw, active=True, created_at=now,
                   display_name=name))  # fmt: skip
        audit.append(s, actor=ACTOR, actor_kind="system", action="user.create",
                     target_type="user", target_id=role, detail={"role": role})  # fmt: skip
    return made


class _Kit:
    """The test kit, written once by the function behind ``hashwatch testkit``: the sizes of
    its originals, the real hashes of its altered copies and (once imported) its entries."""

    def __init__(self, workdir: Path):
        self.root = workdir / "testkit"
        if not (self.root / LIST_FILE).exists() or not (self.root / "manifest.json").exists():
            write_testkit(self.root)
        files = json.loads((self.root / "manifest.json").read_text())["files"]
        self.size = {f["source"]: f["size"] for f in files if f["kind"] == "original"}
        self.altered: dict[str, list[str]] = {}
        for f in files:
            if f["kind"] == "altered":
                self.altered.setdefault(f["source"], []).append(f["path"])
        self.entries: dict[str, dict[str, str]] = {}  # entry id -> signal type -> signal
        self._hashes: dict[str, object] = {}

    def copy(self, rng: random.Random, eid: str):
        """An altered copy of ``eid`` within PDQ reach: (file name, hashes, distance)."""
        for rel in rng.sample(self.altered[eid], len(self.altered[eid])):
            if rel not in self._hashes:
                self._hashes[rel] = hash_file(self.root / rel)
            h = self._hashes[rel]
            dist = pdq_distance(h.pdq, self.entries[eid]["pdq"]) if h.pdq else 256
            if dist <= PDQ_DEFAULT_THRESHOLD:
                return Path(rel).name, h, dist
        return None


def _import_list(s: Session, w: _World, workdir: Path) -> None:
    """The kit's list file, then the same plus one synthetic entry that matches no file: two
    versions, dated back into the demo's past."""
    src = w.kit.root / LIST_FILE
    lists_service.import_file(s, src, LIST_NAME, actor=ACTOR, actor_kind="system")
    extra = sha256_hex("hashwatch demo: a synthetic entry that matches no file")
    update = workdir / "demo-list-update.csv"
    row = f"sha256,{extra},demo-synthetic-001,{CATEGORY},,{LIST_NAME}\n"
    update.write_text(src.read_text().rstrip("\n") + "\n" + row)
    lists_service.import_file(s, update, LIST_NAME, actor=ACTOR, actor_kind="system")
    hl = s.scalar(select(HashListRow).where(HashListRow.name == LIST_NAME))
    w.versions = (hl.version - 1, hl.version)
    dates = {hl.version - 1: w.start - timedelta(days=2), hl.version: w.update_at}
    hl.created_at = min(hl.created_at, dates[hl.version - 1])
    for v in s.scalars(select(ListVersion).where(ListVersion.list_id == hl.id)):
        v.created_at, w.totals[v.version] = dates.get(v.version, v.created_at), v.total
    for e in s.scalars(select(ListEntryRow).where(ListEntryRow.list_id == hl.id)):
        if e.entry_id in w.kit.size:
            w.kit.entries.setdefault(e.entry_id, {})[e.signal_type] = e.signal


# ---- devices ---------------------------------------------------------------------------


def _add_devices(s: Session, w: _World, sites: list[Site], n: int) -> list[Device]:
    """A file server per site, then laptops and desktops, most healthy and current."""
    rng, now = w.rng, w.now
    kinds = ["FS"] * min(len(sites), max(1, n // 50))
    kinds += rng.choices(["LT", "DT"], [6, 4], k=n - len(kinds))
    count: dict[str, int] = {}
    fleet, events = [], []
    for i, kind in enumerate(kinds):
        count[kind] = count.get(kind, 0) + 1
        site = sites[i] if kind == "FS" else rng.choices(sites, [x for *_, x, _ in SITES])[0]
        os_name = rng.choice(OS[kind])
        d = Device(
            id=_uuid(rng),
            secret_hash=sha256_hex(new_secret()),
            hostname=f"DEMO-{kind}-{count[kind]:0{2 if kind == 'FS' else 4}d}",
            os=os_name,
            agent_version=__version__ if rng.random() > 0.06 else rng.choice(("0.0.9", "0.0.8")),
            site_id=site.id,
            enrolled_at=w.start - timedelta(days=rng.uniform(14, 200)),
            last_seen_at=now - timedelta(seconds=rng.uniform(5, 3600 if kind == "LT" else 900)),
            last_ip=f"{SITES[sites.index(site)][2]}.{rng.randint(1, 254)}.{rng.randint(2, 254)}",
            status="ok",
            list_versions={LIST_NAME: w.versions[rng.random() > 0.08]},
            queue_depth=0,
            watched_paths=WATCHED[("FS " if kind == "FS" else "") + os_name.split()[0]],
        )
        r = rng.random()
        if r > 0.97:  # silent for days: a laptop in a drawer, a dead disk
            d.last_seen_at = now - timedelta(days=rng.uniform(4, 20))
        elif r > 0.93:
            d.status, d.queue_depth = "error" if r > 0.96 else "degraded", rng.randint(1, 40)
        elif r < 0.007:
            d.revoked_at = now - timedelta(days=rng.uniform(2, 20))
            d.last_seen_at = d.revoked_at - timedelta(minutes=rng.uniform(5, 600))
        d.last_full_scan_at = d.last_seen_at - timedelta(hours=rng.uniform(1, 160))
        fleet.append(d)
        events += _journal(w, d, site.timezone)
    s.add_all(fleet)
    s.flush()
    s.execute(insert(DeviceEvent), events)
    return fleet


def _journal(w: _World, d: Device, tz: str) -> list[dict]:
    """A few journal rows of the kinds the agent sends (health, list sync, scans, watcher)."""
    rng, (old, new), pid = w.rng, w.versions, 4242
    restart, scan = w.now - timedelta(days=rng.uniform(0.5, 12)), d.last_full_scan_at
    ev = [
        (d.enrolled_at + timedelta(minutes=1), "agent.start", {"pid": pid, "version": "0.0.8"}),
        (w.start - timedelta(days=2, minutes=-rng.uniform(1, 90)), "list.updated",
         {"list": LIST_NAME, "version": old, "entries": w.totals[old]}),
        (restart, "agent.start", {"pid": pid + 1, "version": d.agent_version}),
        (scan - timedelta(hours=1), "scan.started", {"roots": d.watched_paths}),
        (scan, "scan.finished", {"roots": len(d.watched_paths)}),
    ]  # fmt: skip
    if d.list_versions[LIST_NAME] == new:
        at, updated = w.update_at + timedelta(minutes=rng.uniform(1, 90)), ev[1][2]
        ev.append((at, "list.updated", {**updated, "version": new, "entries": w.totals[new]}))
    before, r = restart - timedelta(seconds=5), rng.random()
    if r < 0.3:
        ev.append((before, "agent.gap", {"since": _iso(before, -60, tz), "seconds": 216000}))
    elif r < 0.37:
        down = {"pid": pid, "last_alive": _iso(before, -2, tz), "down_seconds": 7200}
        ev.append((before, "agent.unclean_stop", down))
    elif r > 0.97:
        ev.append((before, "clock.jump", {"seconds": 3600, "now": _iso(before, 0, tz)}))
    if d.status != "ok":
        at = d.last_seen_at - timedelta(hours=3)
        ev.append((at, "watch.overflow", {"trees": d.watched_paths}))
    if d.status == "error":
        ev.append((d.last_seen_at - timedelta(minutes=20), "agent.error", {"part": "realtime"}))
    return [
        {"device_id": d.id, "at": at, "kind": kind, "detail": detail,
         "received_at": min(at + timedelta(seconds=rng.uniform(1, 900)), d.last_seen_at)}
        for at, kind, detail in ev
        if at <= d.last_seen_at
    ]  # fmt: skip


def _iso(dt: datetime, hours: float, tz: str) -> str:
    """``dt`` moved by ``hours``, as the agent writes times: local, with its offset."""
    return (dt + timedelta(hours=hours)).replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).isoformat()


# ---- incidents and their review --------------------------------------------------------


def _plan(w: _World, fleet: list[Device], sites: list[Site], weeks: int) -> list[Episode]:
    """Episodes on a few laptops (~2 % of the fleet), rising gently week on week, and a lone
    match on a desktop or server or two. Which are outside hours, from a stick or off the
    network is dealt out by quotas of incidents, so the field's shares hold for any seed."""
    rng, site = w.rng, {x.id: x for x in sites}
    live = [d for d in fleet if not d.revoked_at and d.last_seen_at > w.now - timedelta(days=2)]
    laptops = [d for d in live if "-LT-" in d.hostname] or live
    hot = rng.sample(laptops, min(len(laptops), max(2, round(len(fleet) * 0.02))))
    others = [d for d in live if "-LT-" not in d.hostname and d not in hot]
    odd = rng.sample(others, min(len(others), max(1, round(len(fleet) * 0.007))))
    if not hot:
        return []
    n = max(2 * len(hot), round(weeks * 4 * (len(fleet) / 300) ** 0.5))
    # a gentle rise: more episodes each week, and bigger ones
    per_week = _spread(n, [1 + 0.15 * i for i in range(weeks)])
    week_of = [i for i, k in enumerate(per_week) for _ in range(k)]
    sizes = [rng.choice((2, 3, 4, 5, 6, 8, 10, 12)) for _ in range(n)]
    sizes.sort(key=lambda k: k + rng.uniform(-4, 4))
    eps: list[Episode] = []
    for size, week in zip(sizes, week_of, strict=True):
        d = hot[len(eps) % len(hot)] if len(eps) < 2 * len(hot) else rng.choice(hot)
        eps.append(Episode(d, site[d.site_id], size, week))
    for d in odd:  # lone matches, old enough to have been reviewed
        eps.append(Episode(d, site[d.site_id], rng.randint(1, 2), rng.randrange(weeks - 1 or 1)))
    total, mobile = sum(e.size for e in eps), eps[:n]
    for attr, pool in (("outside", eps), ("removable", mobile), ("off", mobile)):
        got = 0
        for e in rng.sample(pool, len(pool)):
            if got + e.size / 2 <= SHARES[attr] * total:  # taking it comes closer to the share
                setattr(e, attr, True)
                got += e.size
    latest = next((e for e in reversed(mobile) if e.outside), mobile[-1])
    for e in eps:
        _place(w, e, latest=e is latest)  # the latest is yesterday's: still new
    return eps


def _spread(n: int, weights: list[float]) -> list[int]:
    """``n`` split in proportion to ``weights`` (largest remainders)."""
    raw = [n * x / sum(weights) for x in weights]
    out = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: out[i] - raw[i])[: n - sum(out)]:
        out[i] += 1
    return out


def _place(w: _World, ep: Episode, latest: bool) -> None:
    """A start in the episode's week (before today, site time), in or out of working hours."""
    rng, tz, hours = w.rng, ZoneInfo(ep.site.timezone), ep.site.working_hours
    today = w.now.replace(tzinfo=UTC).astimezone(tz).date()
    first = (w.start + timedelta(weeks=ep.week)).replace(tzinfo=UTC).astimezone(tz).date()
    days = [first + timedelta(k) for k in range(1, 8) if first + timedelta(k) < today]
    days = (days[-1:] if latest else days) or [today - timedelta(1)]

    def working(d: date) -> bool:
        return DAYS[d.weekday()] in hours and d.isoformat() not in ep.site.holidays

    def minutes(hhmm: str) -> int:
        return int(hhmm[:2]) * 60 + int(hhmm[3:])

    if ep.outside:
        day = rng.choice(days)
        if not working(day):
            minute = rng.randint(10 * 60, 22 * 60)
        elif rng.random() < 0.8:  # an evening, else early in the morning
            minute = rng.randint(minutes(hours[DAYS[day.weekday()]][-1][1]) + 30, 23 * 60 + 20)
        else:
            minute = rng.randint(6 * 60, 7 * 60 + 30)
    else:
        day = rng.choice([d for d in days if working(d)] or days)
        spans = hours.get(DAYS[day.weekday()]) or [["08:00", "18:00"]]
        minute = rng.randint(minutes(spans[0][0]) + 30, minutes(spans[-1][1]) - 45)
    ep.start = datetime.combine(day, time(minute // 60, minute % 60, rng.randint(0, 59)), tz)


def _where(rng: random.Random, ep: Episode, online: bool) -> tuple[str, str, dict, str]:
    """Trigger, folder, volume and path separator; every folder is under DEMO-SYNTHETIC."""
    d = ep.device
    win, mac = d.os.startswith("Windows"), d.os.startswith("mac")
    sep, user = ("\\" if win else "/"), _user(d)
    folder = f"DEMO-SYNTHETIC{sep}set-{rng.randint(1, 60):02d}"
    if ep.removable:
        mount = "E:\\" if win else ("/Volumes" if mac else f"/media/{user}") + "/SYNTHETIC-USB"
        serial = f"DEMO-{d.id[:8].upper()}"  # the device's own stick
        vol = {"kind": "removable", "label": "SYNTHETIC-USB", "serial": serial, "mount": mount}
        return "removable", mount.rstrip(sep) + sep + folder, vol, sep
    if "-FS-" in d.hostname:
        vol = {"kind": "fixed", "mount": "D:\\" if win else "/srv"}
        return "scheduled", d.watched_paths[0] + sep + folder, vol, sep
    trigger = "realtime" if online and rng.random() < 0.7 else "scheduled"
    home = f"C:\\Users\\{user}" if win else f"/Users/{user}" if mac else f"/home/{user}"
    sub = "Downloads" if trigger == "realtime" else "Documents"
    root = "C:\\" if win else "/"  # the system volume holding the home folder
    return trigger, sep.join([home, sub, folder]), {"kind": "fixed", "mount": root}, sep


def _user(d: Device) -> str:
    return "demo.user" + d.hostname.rsplit("-", 1)[1]


def _matched(rng: random.Random, kit: _Kit, eid: str) -> tuple[str, dict, dict]:
    """The file (an original, or an altered copy for a PDQ match) and what it matched."""
    sig = kit.entries[eid]
    copy = kit.copy(rng, eid) if rng.random() < 0.4 else None
    if copy:
        name, h, dist = copy
        f = {"size": h.size, "sha256": h.sha256, "md5": h.md5, "sha1": h.sha1, "pdq": h.pdq}
        return name, f, {"signal_type": "pdq", "signal": sig["pdq"], "distance": dist}
    f = {"size": kit.size[eid], **{k: sig[k] for k in ("sha256", "md5", "sha1", "pdq")}}
    return f"{eid}.jpg", f, {"signal_type": "sha256", "signal": sig["sha256"], "distance": 0}


def _episode(w: _World, ep: Episode) -> list[tuple]:
    """The episode's incidents as the agent would send them (each names the earlier matches
    of its folder in ``trail``), then their delivery and review."""
    rng, d = w.rng, ep.device
    online = not ep.off or rng.random() < 0.4  # as the agent sees it: the server is reachable
    ctx = {"online": True, "addresses": [d.last_ip], "network_name": "DEMO-CORP"}
    if ep.off:
        home = [f"192.168.178.{rng.randint(20, 200)}"]
        ctx = {"online": True, "addresses": home, "network_name": "DEMO-HOME-WIFI"}
        ctx = ctx if online else {"online": False, "addresses": []}
    trigger, folder, vol, sep = _where(rng, ep, online)
    gap = {"removable": (1, 20), "realtime": (20, 300), "scheduled": (1, 10)}[trigger]
    t, trail, names, made = ep.start, [], set(), []
    picks = [rng.choice(sorted(w.kit.entries)) for _ in range(ep.size)]
    if ep.size >= 6:  # a copy kept of the first picture
        picks[-1] = picks[0]
    for eid in picks:
        name, f, m = _matched(rng, w.kit, eid)
        stem, copies = name.rsplit(".", 1), 0
        while name in names:  # the same picture twice in a folder: "(1)", a duplicate
            copies += 1
            name = f"{stem[0]} ({copies}).{stem[1]}"
        names.add(name)
        path, mtime = folder + sep + name, t - timedelta(days=rng.uniform(30, 900))
        new = _utc(t) >= w.update_at and d.list_versions[LIST_NAME] == w.versions[1]
        match = {**m, "list": LIST_NAME, "list_version": w.versions[new], "entry_id": eid}
        body = {
            "id": _uuid(rng),
            "detected_at": t,
            "trigger": trigger,
            "host": {"hostname": d.hostname, "os_user": _user(d)},
            "file": {**f, "path": path, "mtime": mtime, "ctime": mtime, "volume": vol},
            "match": {**match, "category": CATEGORY},
            "context": ctx,
            "trail": list(trail),
        }
        if trigger == "realtime":
            body["file"]["ctime"] = t - timedelta(seconds=rng.uniform(1, 60))
            body["origin_url"] = f"https://example.invalid/demo-synthetic/{quote(name)}"
        keep = ("signal_type", "distance", "list", "entry_id")
        trail.append({"path": path, **{k: match[k] for k in keep}})
        made.append((_utc(t), IncidentIn.model_validate(body), copies > 0))
        t += timedelta(seconds=rng.uniform(*gap))
    return _deliver(w, ep, made, vol, online)


def _deliver(w: _World, ep: Episode, made: list, vol: dict, online: bool) -> list[tuple]:
    """Uploads: seconds to minutes after detection while the server is reachable, all at
    once hours to days later when it is not; a stick's arrival rides in the journal."""
    rng, d, soon = w.rng, ep.device, w.now - timedelta(seconds=1)
    if not online:
        lag = timedelta(hours=rng.uniform(1, 20) if rng.random() < 0.6 else rng.uniform(24, 96))
        received = [min(made[-1][0] + lag, soon)] * len(made)
        out = [(received[0], next(w.seq), "ingest", d, [inc for _, inc, _ in made])]
    else:
        lags = [rng.uniform(2, 60) if rng.random() < 0.85 else rng.uniform(60, 1800) for _ in made]
        received = [min(m[0] + timedelta(seconds=x), soon) for m, x in zip(made, lags, strict=True)]
        out = [(r, next(w.seq), "ingest", d, [m[1]]) for r, m in zip(received, made, strict=True)]
    if vol["kind"] == "removable":
        at = made[0][0] - timedelta(seconds=40)
        row = {"device_id": d.id, "at": at, "received_at": received[0], "kind": "volume.mounted"}
        out.append((at, next(w.seq), "event", {**row, "detail": {"volume": vol}}))
    rows = [(r, str(i.id), dup) for r, (_, i, dup) in zip(received, made, strict=True)]
    return out + _review(w, ep, rows)


def _review(w: _World, ep: Episode, rows: list) -> list[tuple]:
    """Reviewed by the demo accounts hours to days after arrival (the last two days' are
    still new). Lone matches on desktops and servers are false positives, the rest
    confirmed; escalated ones wait days for the admin, some wait still."""
    rng, last = w.rng, max(r for r, _, _ in rows)
    if w.now - last < timedelta(days=2):
        return []
    verdict = "confirmed" if "-LT-" in ep.device.hostname else "false_positive"
    escalate = verdict == "confirmed" and rng.random() < 0.4
    steps = [("in_review", "investigator", rng.uniform(2, 40))]
    if escalate:
        steps.append(("escalated", "investigator", rng.uniform(4, 48)))
    closing = ("admin", rng.uniform(48, 400)) if escalate else ("investigator", rng.uniform(8, 150))
    if verdict != "confirmed" or rng.random() < (0.7 if escalate else 0.85):
        steps.append(("closed", *closing))  # else still waiting: for the lead, for the owner
    t, out = last, []
    for to, by, hours in steps:
        t += timedelta(hours=hours)
        if t >= w.now:
            break
        for i, (_, inc_id, dup) in enumerate(rows):
            res = None if to != "closed" else "duplicate" if dup else verdict
            at = min(t + timedelta(seconds=20 * i), w.now - timedelta(seconds=1))
            note = f"Demo (synthetic): {NOTES[res or to]}."
            out.append((at, next(w.seq), "transition", inc_id, to, res, by, note))
    return out


def _run(s: Session, actions: list[tuple]) -> list[str]:
    """Replay everything in time order, so the audit chain reads as it happened."""
    stored: list[str] = []
    for at, _, kind, *rest in sorted(actions, key=lambda a: (a[0], a[1])):
        if kind == "ingest":
            device, batch = rest
            stored += incidents.ingest(s, device, batch, device.last_ip, now=at)["stored"]
            device.last_seen_at = max(device.last_seen_at, at)
        elif kind == "event":
            s.add(DeviceEvent(**rest[0]))
        else:
            inc_id, to, res, by, note = rest
            inc = s.get(Incident, inc_id)
            incidents.transition(
                s, inc, to, by=by, resolution=res, note=note, actor_kind="user", ip=None, now=at
            )
    return stored
