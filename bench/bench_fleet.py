"""Fleet simulator: N agents against a real `hashwatch server run` process on loopback.

    python bench/bench_fleet.py [--devices 270000] [--steady-seconds 60] [--backend both]
    python bench/bench_fleet.py --quick          # 27,000 devices, 20 s, for a fast check

Phases, on SQLite and on a throwaway real PostgreSQL cluster:

* **steady**: heartbeats every 15 minutes spread evenly (devices / 900 per second; 300/s for
  270,000 devices), sent open-loop at their scheduled times (latency is measured from the
  scheduled time, so a slow server cannot hide behind a slow client); each heartbeat's
  device has the field chance (1 in 500) of also posting an incident.
* **storm** ("Monday morning"): a tenth of the fleet reconnects at once: each agent sends a
  heartbeat and flushes a queue of 10 incidents, with bounded concurrency; failures are
  retried with the same ids (at-least-once, as the agent does), 1% of batches are sent again
  on purpose and 1% are sent twice at the same moment.

Afterwards the database must hold every incident id sent exactly once. Devices are seeded
straight into the database (enrolling 270,000 over HTTP would only time enrolment); a few are
enrolled through the API to show that path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _fleet_http import HttpError, Pool  # noqa: E402
from common import table  # noqa: E402
from hashwatch.server import operations  # noqa: E402
from hashwatch.server.config import load  # noqa: E402
from hashwatch.server.secrets_ import sha256_hex  # noqa: E402
from hashwatch.store import Database  # noqa: E402
from hashwatch.store.db import utcnow  # noqa: E402
from hashwatch.store.models import Device, Incident  # noqa: E402

HEARTBEAT = 900.0
FIELD_RATE = 1 / 500


def seed(data: Path, n: int) -> list[str]:
    """Insert n devices; returns their agent tokens."""
    from sqlalchemy import insert

    db = Database(load(data).database)
    tokens, now = [], utcnow()
    rows = []
    for i in range(n):
        dev, secret = str(uuid.uuid4()), secrets.token_urlsafe(32)
        tokens.append(f"hwa_{dev}_{secret}")
        rows.append(
            {
                "id": dev,
                "secret_hash": sha256_hex(secret),
                "hostname": f"PC-{i:06d}",
                "enrolled_at": now,
                "list_versions": {},
                "queue_depth": 0,
                "watched_paths": [],
            }
        )
        if len(rows) == 10_000:
            with db.transaction() as s:
                s.execute(insert(Device), rows)
            rows = []
    if rows:
        with db.transaction() as s:
            s.execute(insert(Device), rows)
    # settle the seeding before timing: it is set-up, not the server's work
    raw = db.engine.raw_connection()
    try:
        if db.engine.dialect.name == "sqlite":
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            raw.driver_connection.autocommit = True
            raw.driver_connection.execute("VACUUM ANALYZE devices")
    finally:
        raw.close()
    db.dispose()
    os.sync()
    return tokens


def incident(hostname: str) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "detected_at": "2026-11-21T23:14:05+01:00",
        "trigger": "removable",
        "host": {"hostname": hostname, "os_user": "user"},
        "file": {
            "path": "/media/user/STICK/img.jpg",
            "size": 1234,
            "sha256": "ab" * 32,
            "volume": {"kind": "removable", "label": "STICK"},
        },
        "match": {
            "signal_type": "md5",
            "signal": "cd" * 16,
            "distance": 0,
            "list": "demo",
            "entry_id": "1",
        },
        "context": {"online": False},
    }


class Stats:
    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}

    def add(self, kind: str, seconds: float, ok: bool) -> None:
        self.lat.setdefault(kind, []).append(seconds)
        if not ok:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def row(self, kind: str, wall: float, offered: float | None) -> list[str]:
        xs = sorted(self.lat.get(kind, []))
        if not xs:
            return [kind, "-", "0", "-", "-", "-", "0"]

        def q(p: float) -> float:
            return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000

        return [
            kind,
            f"{offered:.0f}" if offered else "-",
            f"{len(xs) / wall:.0f}",
            f"{q(0.5):.1f}",
            f"{q(0.99):.1f}",
            f"{xs[-1] * 1000:.0f}",
            str(self.errors.get(kind, 0)),
        ]


async def post(pool, stats, kind, url, token, body, scheduled=None) -> dict | None:
    start = scheduled if scheduled is not None else time.perf_counter()
    try:
        status, out = await pool.post(url, token, body)
        ok = status == 200
        out = out if ok else None
    except HttpError:
        ok, out = False, None
    stats.add(kind, time.perf_counter() - start, ok)
    return out


async def steady(port, tokens, seconds, rng, sent_ids) -> tuple[Stats, float, float]:
    rate = len(tokens) / HEARTBEAT
    n = int(rate * seconds)
    stats = Stats()
    c = Pool("127.0.0.1", port, 400)
    if True:
        t0 = time.perf_counter()
        tasks = []
        for i in range(n):
            at = t0 + i / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tok = tokens[rng.randrange(len(tokens))]
            tasks.append(
                asyncio.create_task(
                    post(
                        c,
                        stats,
                        "heartbeat",
                        "/api/v1/agent/heartbeat",
                        tok,
                        {"status": "ok", "queue_depth": 0, "agent_version": "0.1.0"},
                        at,
                    )
                )
            )
            if rng.random() < FIELD_RATE:
                inc = incident("PC")
                sent_ids.add(inc["id"])
                tasks.append(
                    asyncio.create_task(
                        post(
                            c,
                            stats,
                            "incident",
                            "/api/v1/agent/incidents",
                            tok,
                            {"incidents": [inc]},
                            at,
                        )
                    )
                )
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
    await c.close()
    return stats, wall, rate


async def storm(port, tokens, queue, concurrency, rng, sent_ids) -> tuple[Stats, float, dict]:
    stats = Stats()
    sem = asyncio.Semaphore(concurrency)
    counts = {"batches": 0, "resent": 0, "twin": 0, "retries": 0, "dup_answers": 0, "stored": 0}

    async def deliver(c, tok, body) -> None:
        for attempt in range(20):
            out = await post(c, stats, "incidents", "/api/v1/agent/incidents", tok, body)
            if out is not None:
                counts["stored"] += len(out["stored"])
                counts["dup_answers"] += len(out["duplicates"])
                return
            counts["retries"] += 1
            await asyncio.sleep(min(5, 0.2 * 2**attempt) * rng.random())
        raise RuntimeError("an incident batch could not be delivered after 20 attempts")

    async def agent(c, tok, i) -> None:
        async with sem:
            await post(
                c,
                stats,
                "heartbeat",
                "/api/v1/agent/heartbeat",
                tok,
                {"status": "ok", "queue_depth": queue},
            )
            body = {"incidents": [incident(f"PC-{i}") for _ in range(queue)]}
            sent_ids.update(x["id"] for x in body["incidents"])
            counts["batches"] += 1
            roll = rng.random()
            if roll < 0.01:  # two identical posts at the same moment
                counts["twin"] += 1
                await asyncio.gather(deliver(c, tok, body), deliver(c, tok, body))
            else:
                await deliver(c, tok, body)
                if roll < 0.02:  # the answer was "lost": sent again later
                    counts["resent"] += 1
                    await deliver(c, tok, body)

    c = Pool("127.0.0.1", port, concurrency + 10)
    t0 = time.perf_counter()
    await asyncio.gather(*(agent(c, t, i) for i, t in enumerate(tokens)))
    wall = time.perf_counter() - t0
    await c.close()
    return stats, wall, counts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hashwatch",
            "server",
            "run",
            "--data-dir",
            str(data),
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ]
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def enrol_some(base: str, data: Path, n: int) -> int:
    from datetime import timedelta

    token, _ = operations.enroll_token(data, n, timedelta(hours=1), None, "bench")
    ok = 0
    with httpx.Client(base_url=base) as c:
        for i in range(n):
            r = c.post("/api/v1/agent/enroll", json={"token": token, "hostname": f"E-{i}"})
            ok += r.status_code == 201
    return ok


def verify(data: Path, sent: set[str]) -> tuple[int, int]:
    """(stored, missing): every id sent must be in the database, once (it is the key)."""
    from sqlalchemy import func, select

    db = Database(load(data).database)
    with db.reading() as s:
        stored = s.scalar(select(func.count()).select_from(Incident))
        have: set[str] = set()
        ids = list(sent)
        for i in range(0, len(ids), 5000):
            have.update(s.scalars(select(Incident.id).where(Incident.id.in_(ids[i : i + 5000]))))
    db.dispose()
    return stored, len(sent - have)


def run_backend(backend: str, args, pg) -> dict:
    work = Path(tempfile.mkdtemp(prefix="hw-fleet-"))
    proc = None
    try:
        database = pg.create_database() if backend == "postgresql" else None
        data = work / "srv"
        operations.init(data, database=database, admin="admin", password=secrets.token_hex(8))
        t = time.perf_counter()
        tokens = seed(data, args.devices)
        seed_s = time.perf_counter() - t
        proc, base = start_server(data, args.workers)
        enrolled = enrol_some(base, data, 20)
        rng = random.Random(7)
        sent: set[str] = set()
        port = int(base.rsplit(":", 1)[1])
        st, st_wall, rate = asyncio.run(steady(port, tokens, args.steady_seconds, rng, sent))
        k = 0 if args.skip_storm else int(args.devices * args.storm_fraction)
        storm_tokens = rng.sample(tokens, k)
        sm, sm_wall, counts = asyncio.run(
            storm(port, storm_tokens, args.storm_queue, args.storm_concurrency, rng, sent)
        )
        stored, missing = verify(data, sent)
        xs = sorted(st.lat.get("heartbeat", [0]))
        p99 = xs[min(len(xs) - 1, int(0.99 * len(xs)))] * 1000
        rows = [
            st.row("heartbeat", st_wall, rate),
            st.row("incident", st_wall, None),
            [f"storm ({k} agents)", "-", "-", "-", "-", "-", "-"],
            sm.row("heartbeat", sm_wall, None),
            sm.row("incidents", sm_wall, None),
        ]
        header = [
            "phase / request",
            "offered/s",
            "achieved/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "errors",
        ]
        print(
            f"\n## {backend}: {args.devices} devices, {args.workers} worker(s); "
            f"seeded in {seed_s:.1f} s, {enrolled}/20 enrolled over HTTP"
        )
        print(table(rows, header))
        print(
            f"storm drained in {sm_wall:.1f} s: {counts['batches']} batches of "
            f"{args.storm_queue}, {counts['retries']} retries, {counts['resent']} resent, "
            f"{counts['twin']} sent twice at once; duplicates answered "
            f"{counts['dup_answers']}"
        )
        print(
            f"incidents: sent {len(sent)} distinct ids, stored {stored}, missing {missing}, "
            f"duplicated {stored - (len(sent) - missing)}"
        )
        steady_ok = p99 < 100 and not st.errors
        storm_ok = missing == 0 and stored == len(sent)
        print(
            f"steady p99 < 100 ms at {rate:.0f} heartbeats/s: "
            f"{'PASS' if steady_ok else 'FAIL'} ({p99:.1f} ms); storm nothing lost: "
            f"{'PASS' if storm_ok else 'FAIL'}"
        )
        return {
            "backend": backend,
            "devices": args.devices,
            "workers": args.workers,
            "heartbeat_rate": rate,
            "steady_p99_ms": p99,
            "steady_wall": st_wall,
            "steady": {k: len(v) for k, v in st.lat.items()},
            "steady_errors": st.errors,
            "storm_agents": k,
            "storm_seconds": sm_wall,
            "storm_counts": counts,
            "storm_incidents": sm.row("incidents", sm_wall or 1, None),
            "storm_heartbeats": sm.row("heartbeat", sm_wall or 1, None),
            "sent": len(sent),
            "stored": stored,
            "missing": missing,
            "steady_pass": steady_ok,
            "storm_pass": storm_ok,
        }
    finally:
        if proc:
            proc.terminate()
            proc.wait(15)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--devices", type=int, default=270_000)
    ap.add_argument("--steady-seconds", type=float, default=60)
    ap.add_argument("--storm-fraction", type=float, default=0.1)
    ap.add_argument("--storm-queue", type=int, default=10)
    ap.add_argument("--storm-concurrency", type=int, default=200)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--skip-storm", action="store_true", help="steady phase only")
    ap.add_argument("--quick", action="store_true", help="27,000 devices, 20 s steady")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if args.quick:
        args.devices, args.steady_seconds = 27_000, 20
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    pg = None
    results = []
    try:
        if "postgresql" in backends:
            from tests.pgserver import start_postgres

            pg = start_postgres()
        for b in backends:
            results.append(run_backend(b, args, pg))
    finally:
        if pg:
            pg.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    sys.exit(0 if all(r["storm_pass"] for r in results) else 1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
