"""``hashwatch agent scan-now``: a scan on demand, with or without the service running.

It uses the same state directory as the service (scan cache, outbox, what was reported),
so nothing found twice is reported twice. Without the service it also fetches newer lists
first (if the server answers) and delivers what it found before it exits; if the server
cannot be reached the incidents stay in the outbox and the caller says how many.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from ..scan import FileResult, Scanner, ScanSummary
from .client import ClientError
from .config import AgentConfig
from .context import NetworkProbe
from .detect import Detector
from .enrolment import Credentials
from .health import Health
from .liststore import ListStore
from .service import Lock, load_lists, make_client, scan_options
from .state import State
from .sync import Syncer, deliver_outbox
from .volumes import VolumeTable, default_source

log = logging.getLogger("hashwatch.agent")


class NoLists(Exception):
    pass


@dataclass(slots=True)
class ScanNowResult:
    summary: ScanSummary
    new_incidents: int
    delivered: int
    waiting: int
    service_running: bool
    delivery_error: str | None = None
    list_versions: dict[str, int] = field(default_factory=dict)


def scan_now(
    cfg: AgentConfig,
    creds: Credentials | None,
    paths: list[str] | None,
    on_progress: Callable | None = None,
) -> ScanNowResult:
    state = State(cfg.state_dir)
    try:
        return _scan_now(cfg, creds, paths, state, on_progress)
    finally:
        state.close()


def _scan_now(cfg, creds, paths, state: State, on_progress) -> ScanNowResult:
    running = Lock(cfg.state_dir).held_by_other()
    health = Health(state)
    client = make_client(cfg, creds, 15.0) if creds is not None else None
    reachable: bool | None = None
    try:
        store = ListStore(state.lists_dir, creds.public_key()) if creds else None
        lists = load_lists(store, state, health) if store else None
        if client is not None and not running:
            # the service, when it runs, owns list updates (it holds them in memory)
            syncer = Syncer(
                state,
                client,
                store,
                status=lambda: {},
                on_list=lambda name, hl: lists.replace(hl),
                current_list=lists.get,
                journal=health.event,
            )
            try:
                syncer.update_lists({li["name"]: int(li["version"]) for li in client.lists()})
                reachable = True
            except ClientError as e:
                reachable = False
                log.info("server not reachable for list updates: %s", e)
        if lists is None or not lists.by_name:
            raise NoLists(
                "no hash lists yet: this agent has not received any from its server "
                + ("(not enrolled)" if creds is None else "(has it reached the server?)")
            )
        volumes = VolumeTable(default_source(cfg.volumes.removable_mounts))
        volumes.refresh()
        detector = Detector(
            state,
            volumes,
            NetworkProbe(cfg.context.org_networks, cfg.context.dns_suffixes),
            server_reachable=lambda: reachable,
            hostname=creds.hostname if creds else None,
        )
        health.event("scan.manual", paths=(paths or cfg.schedule.paths)[:20])
        roots = [os.path.abspath(p) for p in (paths or cfg.schedule.paths)]
        opts = scan_options(cfg, state, background=False)

        def on_result(r: FileResult) -> None:
            if r.matches:
                detector.handle(r, "manual")

        with Scanner(lists.matcher, opts).session(preload=True) as session:
            summary = session.run(roots, on_result, on_progress)
        result = ScanNowResult(
            summary, detector.raised, 0, state.queue_depth(), running, None, lists.versions()
        )
        if client is not None and result.waiting:
            try:
                d = deliver_outbox(client, state)
                result.delivered, result.waiting, result.delivery_error = (
                    d.delivered,
                    d.waiting,
                    d.error,
                )
            except ClientError as e:
                result.delivery_error = str(e)
                result.waiting = state.queue_depth()
        elif client is None:
            result.delivery_error = "not enrolled with a server"
        return result
    finally:
        if client is not None:
            client.close()
