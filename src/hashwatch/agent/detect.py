"""From a scan result to an incident in the outbox, with the context of the moment.

Runs on the endpoint, offline or not: everything here is local. One incident per file
and list (the closest entry of that list); a file and entry reported once are not reported
again, however often the file is scanned. The incident is in the outbox (durable) before
anything else is done with it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

from ..match import Match
from ..scan import FileResult
from .context import NetworkProbe, iso_local, local_now, origin_url, os_account
from .state import Reported, State
from .volumes import VolumeTable

log = logging.getLogger("hashwatch.agent")


def _best_per_list(matches: list[Match]) -> list[Match]:
    """The closest entry of each list, for the file and for each item inside it."""
    best: dict[tuple[str, str | None], Match] = {}
    for m in matches:
        key = (m.list, m.inner)
        if key not in best or m.distance < best[key].distance:
            best[key] = m
    return list(best.values())


def _item(h, inner: str | None):
    """The signals of the matching item: the file's own, or those of the item inside it."""
    if h is None or inner is None:
        return h
    for it in h.items or ():
        if it.inner == inner:
            return it.hashes
    return None


class Detector:
    """Turns matched results into incidents. Thread-safe (scans run in several threads)."""

    def __init__(
        self,
        state: State,
        volumes: VolumeTable | None,
        network: NetworkProbe,
        *,
        server_reachable: Callable[[], bool | None] = lambda: None,
        on_incident: Callable[[dict], None] = lambda body: None,
        hostname: str | None = None,
    ):
        self.state = state
        self.volumes = volumes
        self.network = network
        self.server_reachable = server_reachable
        self.on_incident = on_incident
        self.hostname = hostname or socket.gethostname()
        self._lock = threading.Lock()
        self.raised = 0

    def handle(self, result: FileResult, trigger: str) -> int:
        """Record incidents for a result's matches; returns how many were new."""
        if not result.matches:
            return 0
        new = 0
        for m in _best_per_list(result.matches):
            if self._raise(result, m, trigger):
                new += 1
        return new

    def _raise(self, result: FileResult, m: Match, trigger: str) -> bool:
        path = result.path
        st = result.st
        if st is None:
            try:
                st = os.stat(path)
            except OSError:
                st = None  # a file seen before and gone since: reported as last seen
        h = result.hashes
        sha256 = h.sha256 if h is not None else ""
        if not sha256:
            # an unchanged file whose stored verdict was reused: its identity is needed to
            # tell whether it was reported already (read as bytes only, never decoded)
            sha256 = _sha256_of(path)
            if sha256 is None:
                return False
        # an item inside a container is known by the container's identity and its chain
        inner = m.inner or ""
        with self._lock:
            if self.state.already_reported(path, sha256, m.list, m.signal, inner):
                return False
            body = self._body(path, st, h, m, trigger, sha256)
            stored = self.state.add_incident(
                body,
                Reported(
                    path,
                    sha256,
                    m.list,
                    m.signal,
                    m.signal_type,
                    m.distance,
                    m.entry_id,
                    body["id"],
                    inner,
                ),
            )
        if stored:
            self.raised += 1
            log.warning(
                "incident %s: %s matched list %s (%s, distance %d, trigger %s)",
                body["id"],
                f"{path}!{inner}" if inner else path,
                m.list,
                m.signal_type,
                m.distance,
                trigger,
            )
            self.on_incident(body)
        return stored

    def _body(self, path: str, st, h, m: Match, trigger: str, sha256: str) -> dict:
        vol = self.volumes.volume_for(path) if self.volumes is not None else None
        if trigger in ("realtime", "scheduled", "manual"):
            # found on a stick or share by whatever scan: that is the trigger people filter on
            if vol is not None and vol.kind == "removable":
                trigger = "removable"
            elif vol is not None and vol.kind == "network":
                trigger = "network"
            elif m.inner:
                trigger = "container"
        net = self.network.snapshot(self.server_reachable())
        if m.inner:
            # the item's own signals (unknown only if a stored verdict was reused)
            h = _item(h, m.inner)
            sha256 = h.sha256 if h is not None else None
        file = {
            "path": path[:4096],
            "inner": m.inner[:4096] if m.inner else None,
            "size": h.size if h is not None else (None if m.inner else st.st_size if st else None),
            "sha256": sha256,
            "md5": h.md5 if h is not None else None,
            "sha1": h.sha1 if h is not None else None,
            "pdq": h.pdq if h is not None else None,
            "mtime": iso_local(st.st_mtime) if st is not None else None,
            "ctime": iso_local(st.st_ctime) if st is not None else None,
            "volume": vol.to_dict() if vol is not None else {"kind": "unknown"},
        }
        trail = [
            {
                "path": r.path[:4096],
                "inner": r.inner[:4096] or None,
                "signal_type": r.signal_type[:20],
                "distance": r.distance,
                "list": r.list[:100],
                "entry_id": r.entry_id[:255],
            }
            for r in self.state.reported_in_dir(os.path.dirname(path))
            if (r.path, r.inner) != (path, m.inner or "")
        ]
        return {
            "id": str(uuid.uuid4()),
            "detected_at": local_now().isoformat(timespec="seconds"),
            "trigger": trigger,
            "host": {
                "hostname": self.hostname[:255],
                "os_user": (os_account(st) if st is not None else None),
            },
            "file": file,
            "match": {
                "signal_type": m.signal_type,
                "signal": m.signal,
                "distance": m.distance,
                "list": m.list,
                "list_version": m.list_version,
                "entry_id": (m.entry_id or "")[:255],
                "category": m.category[:100] if m.category else None,
            },
            "context": net.to_dict(),
            "origin_url": origin_url(path),
            "trail": trail,
        }


def _sha256_of(path: str) -> str | None:
    d = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                d.update(chunk)
    except OSError:
        return None
    return d.hexdigest()
