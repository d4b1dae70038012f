"""The agent service (``hashwatch agent run``): the parts started, wired and stopped.

Threads: the real-time scanner (watch events and new volumes, normal priority), the
background scanner (scheduled full scans and re-matching after a list update, low
priority), the server conversation (outbox, heartbeats, lists) and the mount monitor.
Each scanner owns a scan session (its own cache connection and hashing process); both
share one matcher, swapped when a list changes.
"""

from __future__ import annotations

import fcntl
import glob
import logging
import os
import signal
import threading
import time
from pathlib import Path

from .. import __version__
from ..lists.model import HashList
from ..match import Matcher, MatchSettings
from ..scan import FileResult, Scanner, ScanOptions, ScanSession, WalkOptions
from .client import ServerClient
from .config import AgentConfig
from .context import NetworkProbe, iso_local, local_now
from .detect import Detector
from .enrolment import Credentials
from .fullscan import FullScans
from .health import Health
from .liststore import ListStore
from .state import State
from .sync import Syncer
from .volumes import MountMonitor, Volume, VolumeTable, default_source
from .watcher import PathQueue, Watcher

log = logging.getLogger("hashwatch.agent")


class AlreadyRunning(Exception):
    pass


class Lock:
    """One service per state directory (``agent.lock``, an flock held while running)."""

    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / "agent.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise AlreadyRunning(
                f"an agent already runs with state directory {self.path.parent}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def held_by_other(self) -> bool:
        """Is a service running with this state directory now?"""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False


def scan_options(cfg: AgentConfig, state: State, *, background: bool) -> ScanOptions:
    excludes = {os.path.abspath(p) for p in cfg.schedule.exclude_paths}
    excludes.add(str(state.dir.resolve()))
    return ScanOptions(
        jobs=cfg.schedule.jobs if background else cfg.scan.jobs,
        walk=WalkOptions(
            one_file_system=not cfg.schedule.cross_filesystems if background else True,
            exclude_dirs=frozenset(d for d in cfg.watch.exclude_dirs if "/" not in d),
            exclude_paths=frozenset(excludes),
        ),
        file_timeout=cfg.scan.file_timeout_seconds,
        cache_path=state.cache_path,
        worker_nice=cfg.schedule.nice if background else 0,
        start_method="forkserver",
    )


def make_client(cfg: AgentConfig, creds: Credentials, timeout: float | None = None) -> ServerClient:
    """The client for this agent's server (the configuration's URL overrides enrolment's)."""
    return ServerClient(
        cfg.server.url or creds.server_url,
        creds.token,
        ca_file=cfg.server.ca_file,
        allow_insecure_http=cfg.server.allow_insecure_http,
        timeout=timeout or cfg.server.timeout_seconds,
    )


class Lists:
    """The lists in use and the matcher built from them; ``generation`` counts changes."""

    def __init__(self, lists: list[HashList]):
        self._lock = threading.Lock()
        self.by_name = {hl.name: hl for hl in lists}
        self.generation = 0
        self.matcher = self._build()

    def _build(self) -> Matcher:
        return Matcher(list(self.by_name.values()), MatchSettings(dihedral=True, views=True))

    def get(self, name: str) -> HashList | None:
        return self.by_name.get(name)

    def replace(self, hl: HashList) -> None:
        with self._lock:
            self.by_name[hl.name] = hl
            self.matcher = self._build()
            self.generation += 1

    def versions(self) -> dict[str, int]:
        return {n: hl.version or 0 for n, hl in self.by_name.items()}


def load_lists(store: ListStore, state: State, health: Health | None = None) -> Lists:
    lists, problems = store.load()
    thresholds = state.get_json("pdq_thresholds", {})
    for hl in lists:
        hl.pdq_threshold = thresholds.get(hl.name)
    for p in problems:
        log.error("%s", p)
        if health is not None:
            health.event("list.load_failed", reason=p[:500])
    return Lists(lists)


class Agent:
    def __init__(self, cfg: AgentConfig, creds: Credentials):
        self.cfg = cfg
        self.creds = creds
        self.state = State(cfg.state_dir)
        self.health = Health(self.state)
        self.stop_event = threading.Event()
        self.preempt = threading.Event()  # a new list: the background scanner re-matches
        self.store = ListStore(self.state.lists_dir, creds.public_key())
        self.lists = load_lists(self.store, self.state, self.health)
        self.client = make_client(cfg, creds)
        self.volumes = VolumeTable(default_source(cfg.volumes.removable_mounts))
        self.volumes.refresh()
        self.network = NetworkProbe(cfg.context.org_networks, cfg.context.dns_suffixes)
        self.syncer = Syncer(
            self.state,
            self.client,
            self.store,
            status=self._status,
            on_list=self._on_list,
            current_list=self.lists.get,
            journal=self.health.event,
            heartbeat_override=cfg.server.heartbeat_seconds,
        )
        self.detector = Detector(
            self.state,
            self.volumes,
            self.network,
            server_reachable=lambda: self.syncer.reachable,
            on_incident=lambda body: self.syncer.wake.set(),
            hostname=creds.hostname,
        )
        self.queue = PathQueue(cfg.watch.settle_seconds, cfg.watch.max_pending)
        self.watcher = Watcher(
            self.queue,
            exclude_dirs=cfg.watch.exclude_dirs,
            exclude_paths=[str(self.state.dir.resolve())],
            on_event=self.health.event,
        )
        self.full = FullScans(
            self.state,
            self.health,
            roots=[os.path.abspath(p) for p in cfg.schedule.paths],
            every_hours=cfg.schedule.every_hours,
            cpu_budget=cfg.schedule.cpu_budget,
            pause_on_battery=cfg.schedule.pause_on_battery,
            stop=self.stop_event,
            preempt=self.preempt,
        )
        self.monitor = MountMonitor(
            self.volumes, self._volumes_changed, interval=cfg.volumes.poll_seconds
        )
        self._threads: list[threading.Thread] = []
        self._rematch_generation = 0

    # -- status --------------------------------------------------------------------------

    def _status(self) -> dict:
        last = self.state.get("last_full_scan")
        degraded = bool(self.watcher.failed) or self.syncer.revoked
        return {
            "status": "degraded" if degraded else "ok",
            "hostname": self.creds.hostname[:255],
            "list_versions": self.lists.versions(),
            "last_full_scan": iso_local(float(last)) if last else None,
            "watched_paths": [p[:4096] for p in self.watcher.watched()][:200],
        }

    # -- lists ---------------------------------------------------------------------------

    def _on_list(self, name: str, hl) -> None:
        self.lists.replace(hl)
        self.preempt.set()  # the background scanner re-matches everything it has seen

    # -- volumes -------------------------------------------------------------------------

    def _volumes_changed(self, added: list[Volume], removed: list[Volume]) -> None:
        for v in removed:
            self.watcher.remove(v.mount)
            if v.kind in ("removable", "network"):
                self.health.event("volume.unmounted", volume=v.to_dict())
        for v in added:
            if v.kind not in ("removable", "network"):
                continue
            self.health.event("volume.mounted", volume=v.to_dict())
            log.info("%s volume mounted at %s (label %s)", v.kind, v.mount, v.label)
            wanted = (
                self.cfg.volumes.scan_removable
                if v.kind == "removable"
                else (self.cfg.volumes.scan_network)
            )
            if wanted:
                self.queue.add_tree(v.mount, v.kind)
                if self.cfg.watch.enabled:
                    self.watcher.add(v.mount)

    # -- scanning threads ----------------------------------------------------------------

    def _session(self, background: bool) -> ScanSession:
        opts = scan_options(self.cfg, self.state, background=background)
        return Scanner(self.lists.matcher, opts).session(preload=background)

    def _handler(self, trigger: str):
        def on_result(r: FileResult) -> None:
            if r.matches:
                self.detector.handle(r, trigger)

        return on_result

    def _realtime_loop(self) -> None:
        session = self._session(background=False)
        generation = self.lists.generation
        try:
            while not self.stop_event.is_set():
                files, trees, wait = self.queue.take()
                if not files and not trees:
                    self.queue.wake.wait(wait if wait is not None else 1.0)
                    self.queue.wake.clear()
                    continue
                if self.lists.generation != generation:
                    generation = self.lists.generation
                    session.set_matcher(self.lists.matcher)
                if files:
                    retry: list[str] = []

                    def on_result(r: FileResult, retry=retry) -> None:
                        if r.error and "changed while" in r.error:
                            retry.append(r.path)  # still being written: later
                        elif r.matches:
                            self.detector.handle(r, "realtime")

                    session.run(files, on_result)
                    for p in retry:
                        self.queue.add_file(p, closed=False)
                for tree, trigger in trees:
                    if os.path.isdir(tree):
                        session.run([tree], self._handler(trigger))
        except Exception:
            log.exception("real-time scanner failed")
            self.health.event("agent.error", part="realtime")
            raise
        finally:
            session.close()

    def _background_loop(self) -> None:
        session = self._session(background=True)
        generation = self.lists.generation

        def pids() -> list[int]:
            pool = session._pool
            return [w.proc.pid for w in pool._workers] if pool is not None else []

        try:
            while not self.stop_event.is_set():
                if self.preempt.is_set() or self.lists.generation != generation:
                    self.preempt.clear()
                    generation = self.lists.generation
                    session.set_matcher(self.lists.matcher)
                    t = time.monotonic()
                    n = session.rematch_stored(self._handler("rematch"))
                    log.info("re-matched %d stored files in %.1f s", n, time.monotonic() - t)
                    self.health.event("lists.rematched", files=n, versions=self.lists.versions())
                    continue
                if self.cfg.schedule.enabled and self.full.due_in() == 0:
                    self.full.run(session, self._handler("scheduled"), pids)
                    continue
                wait = self.full.due_in() if self.cfg.schedule.enabled else 3600.0
                self.preempt.wait(min(wait, 60.0))
        except Exception:
            log.exception("background scanner failed")
            self.health.event("agent.error", part="background")
            raise
        finally:
            session.close()

    def _sync_loop(self) -> None:
        try:
            self.syncer.run(self.stop_event)
        except Exception:
            log.exception("server sync failed")
            self.health.event("agent.error", part="sync")
            raise

    # -- life cycle ----------------------------------------------------------------------

    def _start_thread(self, name: str, target) -> None:
        t = threading.Thread(target=target, name=f"hashwatch-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def start(self) -> None:
        self.health.started(__version__)
        if self.cfg.watch.enabled:
            self.watcher.start()
            for p in self.cfg.watch_paths():
                self.watcher.add(p)
            for v in self.volumes.current():
                if v.kind in ("removable", "network"):
                    self.watcher.add(v.mount)
            for pattern in self.cfg.watch.paths:
                p = os.path.abspath(os.path.expanduser(pattern))
                if not glob.has_magic(p) and not os.path.isdir(p):
                    self.watcher.failed[p] = "does not exist (yet)"
        self.state.set_json("watched_paths", self.watcher.watched())
        self.monitor.start()
        self._start_thread("realtime", self._realtime_loop)
        self._start_thread("background", self._background_loop)
        self._start_thread("sync", self._sync_loop)
        log.info(
            "agent %s running: device %s, lists %s, watching %d paths",
            __version__,
            self.creds.device_id,
            self.lists.versions() or "none yet",
            len(self.watcher.watched()),
        )

    def serve(self) -> None:
        """Run until SIGTERM/SIGINT (or ``stop()``)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        self.start()
        last_retry = time.monotonic()
        try:
            while not self.stop_event.wait(1.0):
                self.health.tick()
                if time.monotonic() - last_retry > self.cfg.watch.retry_seconds:
                    last_retry = time.monotonic()
                    self.watcher.retry_failed()
                    if self.cfg.watch.enabled:
                        for p in self.cfg.watch_paths():  # e.g. a new home folder
                            self.watcher.add(p)
                    self.state.set_json("watched_paths", self.watcher.watched())
                for t in self._threads:
                    if not t.is_alive():
                        raise RuntimeError(f"agent thread {t.name} stopped unexpectedly")
        finally:
            self.shutdown()

    def stop(self) -> None:
        self.stop_event.set()

    def shutdown(self) -> None:
        self.stop_event.set()
        self.preempt.set()
        self.queue.wake.set()
        self.syncer.wake.set()
        self.monitor.stop()
        if self.cfg.watch.enabled:
            self.watcher.stop()
        for t in self._threads:
            t.join(15)
        self.health.stopped()
        self.client.close()
        self.state.close()


__all__ = ["Agent", "AlreadyRunning", "Lock", "local_now"]
