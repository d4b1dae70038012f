"""Everything the agent exchanges with the server: outbox delivery, heartbeats (with the
journal) and list updates. The server is never needed to detect anything; this only
delivers, at least once, in order, with backoff and jitter while the server is away.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .. import __version__
from .client import AuthError, ClientError, RejectedError, ServerClient
from .liststore import ListStore, ListUpdateError
from .state import State

log = logging.getLogger("hashwatch.agent")

BATCH = 500
BACKOFF_BASE = 5.0
BACKOFF_CAP = 900.0


def backoff_delay(failures: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so a fleet coming
    back after an outage does not knock on the server all at the same second."""
    d = min(cap, base * (2 ** min(failures - 1, 20))) if failures > 0 else 0.0
    return d / 2 + random.uniform(0, d / 2)


@dataclass(slots=True)
class Delivery:
    delivered: int = 0
    waiting: int = 0
    rejected: int = 0
    error: str | None = None


_INDEX = re.compile(r"incidents\D+(\d+)")


def _bad_index(detail) -> int | None:
    """Which incident of a batch the server's 422 names (``body.incidents.3.file.path``)."""
    if isinstance(detail, list):
        for d in detail:
            loc = d.get("loc") if isinstance(d, dict) else None
            if loc and len(loc) > 2 and loc[1] == "incidents" and isinstance(loc[2], int):
                return loc[2]
    m = _INDEX.search(str(detail))
    return int(m.group(1)) if m else None


def deliver_outbox(client: ServerClient, state: State, max_batches: int | None = None) -> Delivery:
    """Send waiting incidents, oldest first, in batches, until the outbox is empty or the
    server cannot be reached. Safe to repeat: the server stores each id once."""
    out = Delivery()
    batches = 0
    while max_batches is None or batches < max_batches:
        items = state.pending(BATCH)
        if not items:
            break
        batches += 1
        try:
            client.post_incidents([i.body for i in items])
        except RejectedError as e:
            bad = _bad_index(e.detail)
            if e.status == 422 and bad is not None and bad < len(items):
                # set the one bad incident aside (kept, reported by status), send the rest
                state.mark_rejected(items[bad].seq, str(e.detail))
                out.rejected += 1
                log.error("server refused incident %s: %s", items[bad].id, e.detail)
                continue
            state.mark_failed([i.seq for i in items], str(e))
            out.error = str(e)
            break
        except ClientError as e:
            state.mark_failed([i.seq for i in items], str(e))
            out.error = str(e)
            if isinstance(e, AuthError):
                raise
            break
        state.mark_delivered([i.seq for i in items])
        out.delivered += len(items)
    out.waiting = state.queue_depth()
    return out


class Syncer:
    """The agent's side of the conversation, run in its own thread by the service."""

    def __init__(
        self,
        state: State,
        client: ServerClient,
        store: ListStore,
        *,
        status: Callable[[], dict],
        on_list: Callable[[str, object], None],
        current_list: Callable[[str], object | None],
        journal: Callable[..., None],
        heartbeat_override: float | None = None,
    ):
        self._journal = journal
        self.state = state
        self.client = client
        self.store = store
        self.status = status
        self.on_list = on_list
        self.current_list = current_list
        self.heartbeat_override = heartbeat_override
        self.heartbeat_seconds = heartbeat_override or float(
            state.get("heartbeat_seconds", "900") or 900
        )
        self.wake = threading.Event()
        self.reachable: bool | None = None
        self.failures = 0
        self.revoked = False
        self._refused: dict[tuple[str, int], float] = {}

    # -- lists ---------------------------------------------------------------------------

    def update_lists(self, wanted: dict[str, int]) -> list[str]:
        """Fetch, verify and apply newer list versions; returns the names updated."""
        have = self.store.versions()
        updated = []
        thresholds = None
        for name, version in sorted(wanted.items()):
            if version <= have.get(name, 0):
                continue
            if self._refused.get((name, version), 0) > time.monotonic():
                continue  # refused recently: do not download it again every heartbeat
            since = None if self.store.wants_full(name) else have.get(name)
            try:
                b = self.client.bundle(name, since)
                if b is None:
                    continue
                try:
                    new = self.store.apply(name, b.data, self.current_list(name))
                except ListUpdateError as first:
                    if since is None:
                        raise
                    log.warning("%s; asking for the full list instead", first)
                    b = self.client.bundle(name, None)
                    if b is None:
                        continue
                    new = self.store.apply(name, b.data, self.current_list(name))
            except ListUpdateError as e:
                self._refused[(name, version)] = time.monotonic() + 3600
                self._journal("list.update_failed", list=name, version=version, reason=str(e))
                log.error("%s", e)
                continue
            if thresholds is None:
                thresholds = self._thresholds()
            new.pdq_threshold = thresholds.get(name)
            self._journal("list.updated", list=name, version=new.version, entries=len(new))
            log.info("list %s is now version %d (%d entries)", name, new.version, len(new))
            self.on_list(name, new)
            updated.append(name)
        return updated

    def _thresholds(self) -> dict[str, int | None]:
        try:
            t = {li["name"]: li.get("pdq_threshold") for li in self.client.lists()}
        except (ClientError, KeyError, TypeError):
            return self.state.get_json("pdq_thresholds", {})
        self.state.set_json("pdq_thresholds", t)
        return t

    # -- heartbeat -----------------------------------------------------------------------

    def heartbeat(self) -> dict:
        events = self.state.unshipped_events(100)
        body = dict(self.status())
        body["agent_version"] = __version__
        body["queue_depth"] = self.state.queue_depth()
        body["events"] = [
            {"at": at, "kind": kind[:50], "detail": detail} for _, at, kind, detail in events
        ]
        answer = self.client.heartbeat(body)
        self.state.mark_shipped([seq for seq, *_ in events])
        self.state.set("last_contact", str(time.time()))
        if not self.heartbeat_override and answer.get("heartbeat_seconds"):
            self.heartbeat_seconds = max(5.0, float(answer["heartbeat_seconds"]))
            self.state.set("heartbeat_seconds", str(self.heartbeat_seconds))
        return answer

    # -- the loop ------------------------------------------------------------------------

    def cycle(self) -> float:
        """One round: deliver, heartbeat, lists. Returns seconds until the next round."""
        try:
            d = deliver_outbox(self.client, self.state)
            if d.error:
                raise ClientError(d.error)
            answer = self.heartbeat()
            self.update_lists({k: int(v) for k, v in (answer.get("lists") or {}).items()})
            # incidents found while lists were updated go out at once
            deliver_outbox(self.client, self.state)
        except AuthError as e:
            if not self.revoked:
                self._journal("server.refused", reason=str(e))
                log.error("%s; incidents stay in the outbox", e)
            self.revoked = True
            self.reachable = True
            return min(3600.0, self.heartbeat_seconds * 4)
        except ClientError as e:
            self.failures += 1
            if self.reachable is not False:
                log.warning("server unreachable (%s); will retry with backoff", e)
            self.reachable = False
            return backoff_delay(self.failures)
        if self.reachable is False:
            log.info("server reachable again")
        self.failures = 0
        self.reachable = True
        self.revoked = False
        return self.heartbeat_seconds

    def run(self, stop: threading.Event) -> None:
        """Rounds every heartbeat interval (or after the backoff); a new incident (``wake``)
        is delivered at once unless the server is in backoff."""
        next_at = 0.0
        while not stop.is_set():
            woke = self.wake.wait(max(0.0, next_at - time.monotonic()))
            if stop.is_set():
                break
            self.wake.clear()
            if woke and time.monotonic() < next_at:
                if self.reachable is False or self.revoked:
                    continue  # keep the backoff: it ends on its own
                try:
                    if not deliver_outbox(self.client, self.state).error:
                        continue
                except ClientError:
                    pass
                # fall through to a full round, which backs off
            next_at = time.monotonic() + self.cycle()
