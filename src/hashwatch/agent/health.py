"""Tamper evidence: the agent's journal of its own life.

It records starts and stops (clean or not), gaps in its own running (the time between the
last sign of life before an unclean stop and the next start, or a machine that was off),
and clock jumps (wall clock moved differently from the boot clock, which keeps counting
through suspend). Other parts add list-update and watch failures. Events go to the server
with the heartbeats.
"""

from __future__ import annotations

import os
import time

from .context import iso_local, local_now
from .state import State

#: Seconds between signs of life written to the state.
TICK = 30.0
#: A wall-clock change this much bigger or smaller than the boot clock's is a jump.
JUMP = 120.0


def _boot_clock() -> float:
    """Seconds since boot including suspend (Linux); else the monotonic clock."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock) if clock is not None else time.monotonic()


class Health:
    def __init__(self, state: State):
        self.state = state
        self._wall = time.time()
        self._boot = _boot_clock()
        self._last_tick = 0.0

    def event(self, kind: str, **detail) -> None:
        self.state.journal(kind, local_now().isoformat(timespec="seconds"), **detail)

    def started(self, version: str) -> None:
        """Call once when the service starts."""
        running = self.state.get_json("running")
        now = time.time()
        if running:
            last = float(running.get("alive", running.get("started", now)))
            self.event(
                "agent.unclean_stop",
                pid=running.get("pid"),
                last_alive=iso_local(last),
                down_seconds=round(now - last),
            )
        else:
            stopped = self.state.get("stopped_at")
            off = float(stopped) if stopped is not None else now
            if now - off > 3600:
                self.event("agent.gap", since=iso_local(off), seconds=round(now - off))
        self.state.set_json("running", {"pid": os.getpid(), "started": now, "alive": now})
        self.event("agent.start", pid=os.getpid(), version=version)
        self._wall, self._boot = now, _boot_clock()

    def tick(self) -> None:
        """Call often; writes a sign of life every TICK seconds and checks the clock."""
        wall, boot = time.time(), _boot_clock()
        drift = (wall - self._wall) - (boot - self._boot)
        if abs(drift) > JUMP:
            self.event("clock.jump", seconds=round(drift), now=iso_local(wall))
        self._wall, self._boot = wall, boot
        if boot - self._last_tick >= TICK:
            self._last_tick = boot
            running = self.state.get_json("running") or {}
            running.update(pid=os.getpid(), alive=wall)
            self.state.set_json("running", running)

    def stopped(self, reason: str = "signal") -> None:
        self.event("agent.stop", pid=os.getpid(), reason=reason)
        self.state.delete("running")
        self.state.set("stopped_at", str(time.time()))
