"""Scheduled full scans: low priority, within a CPU budget, paused on battery, resumable.

A full scan walks its roots one after another; each finished root is recorded, so after a
restart the scan carries on with the roots not yet done, and inside the interrupted root
the scan cache makes every file already hashed cost one ``stat``. Hashing processes run
niced and in the idle I/O class. The throttle measures the CPU time the scan's processes
used and sleeps whenever they are ahead of ``cpu_budget`` (a share of one core).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psutil

from ..scan import ScanSession, ScanSummary
from .health import Health
from .state import State

log = logging.getLogger("hashwatch.agent")


#: How often a running full scan asks whether the machine went on battery.
POWER_CHECK_SECONDS = 5.0


class Interrupted(Exception):
    """The scan was stopped (agent stopping) or pre-empted (a new list to re-match)."""


def on_battery() -> bool:
    """True only when the OS says the machine runs on battery."""
    try:
        b = psutil.sensors_battery()
    except (AttributeError, NotImplementedError, OSError):
        return False
    return b is not None and b.power_plugged is False


class Throttle:
    """Keeps the processes' CPU use at or below ``budget`` cores on average."""

    def __init__(self, budget: float, pids: Callable[[], list[int]]):
        self.budget = budget
        self.pids = pids
        self._cpu: dict[int, float] = {}
        self._procs: dict[int, psutil.Process] = {}
        self._used = 0.0
        self._start = time.monotonic()

    def _cpu_now(self) -> float:
        for pid in self.pids():
            try:
                proc = self._procs.get(pid) or self._procs.setdefault(pid, psutil.Process(pid))
                t = proc.cpu_times()
            except (psutil.Error, OSError):
                self._procs.pop(pid, None)
                continue
            total = t.user + t.system
            prev = self._cpu.get(pid, 0.0)
            if total >= prev:
                self._used += total - prev
            self._cpu[pid] = total
        return self._used

    def pause_needed(self) -> float:
        """Seconds to sleep now to get back within the budget."""
        used = self._cpu_now()
        elapsed = time.monotonic() - self._start
        return max(0.0, used / self.budget - elapsed)


class FullScans:
    def __init__(
        self,
        state: State,
        health: Health,
        *,
        roots: list[str],
        every_hours: float,
        cpu_budget: float,
        pause_on_battery: bool,
        stop: threading.Event,
        preempt: threading.Event,
        battery: Callable[[], bool] = on_battery,
    ):
        self.state = state
        self.health = health
        self.roots = roots
        self.every = every_hours * 3600
        self.cpu_budget = cpu_budget
        self.pause_on_battery = pause_on_battery
        self.stop = stop
        self.preempt = preempt
        self.battery = battery
        self.running = False
        self._power_checked = float("-inf")

    def due_in(self) -> float:
        """Seconds until the next full scan is due (0: now, or one is unfinished)."""
        if self.state.unfinished_scan() is not None:
            return 0.0
        last = self.state.last_finished_scan()
        if last is None:
            return 0.0
        return max(0.0, last.started_at + self.every - time.time())

    def _wait_for_power(self) -> None:
        # asked at most every few seconds: the scan's progress ticks come ten times a second
        now = time.monotonic()
        if not self.pause_on_battery or now - self._power_checked < POWER_CHECK_SECONDS:
            return
        self._power_checked = now
        if not self.battery():
            return
        self.health.event("scan.paused", reason="on battery")
        log.info("full scan paused: running on battery")
        while self.battery():
            if self.stop.wait(30) or self.preempt.is_set():
                raise Interrupted
        self.health.event("scan.resumed")

    def run(self, session: ScanSession, on_result: Callable, pids: Callable[[], list[int]]) -> bool:
        """Run (or resume) the full scan. True if it finished; False if interrupted (it
        resumes on the next call)."""
        scan = self.state.unfinished_scan()
        if scan is None:
            scan = self.state.start_scan(list(self.roots))
            self.health.event("scan.started", roots=scan.roots[:20])
        else:
            self.health.event("scan.resumed", done=len(scan.done_roots), roots=len(scan.roots))
        throttle = Throttle(self.cpu_budget, pids)

        def progress(summary: ScanSummary, queued: int) -> None:
            if self.stop.is_set() or self.preempt.is_set():
                raise Interrupted
            self._wait_for_power()
            pause = throttle.pause_needed()
            if pause > 0 and self.stop.wait(min(pause, 5.0)):
                raise Interrupted

        self.running = True
        try:
            for root in scan.roots:
                if root in scan.done_roots:
                    continue
                summary = session.run([root], on_result, progress, progress_every=0.1)
                self.state.root_done(scan, root, summary.files, summary.hashed)
        except Interrupted:
            return False
        finally:
            self.running = False
        self.state.finish_scan(scan)
        self.state.set("last_full_scan", str(scan.finished_at))
        self.health.event("scan.finished", roots=len(scan.roots))
        return True
