"""Hashing worker processes with a per-file time limit.

Decoders run in separate processes (they hold the GIL and can crash or hang on hostile
input). Each worker gets small batches of paths and answers one result per file. A worker
silent for longer than the per-file limit is killed and replaced: its current file is
reported as timed out and the rest of its batch is handed out again. A worker that dies
(a decoder crash) is replaced the same way and its current file reported with the reason.
"""

from __future__ import annotations

import faulthandler
import multiprocessing as mp
import os
import signal
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from ..hashing import ContentHashes, HashOptions, ReadError, hash_file

#: Files at least this large go to a worker alone; smaller ones travel in batches.
_BATCH_SIZE_LIMIT = 256 << 10
_BATCH_MAX = 16


@dataclass(slots=True)
class Failure:
    reason: str


def _lower_priority(nice: int) -> None:
    """Background scans: lower CPU priority and, on Linux, the idle I/O class."""
    if nice <= 0:
        return
    try:
        os.nice(nice)
    except (AttributeError, OSError):
        pass
    try:
        import psutil

        p = psutil.Process()
        if hasattr(psutil, "IOPRIO_CLASS_IDLE"):
            p.ionice(psutil.IOPRIO_CLASS_IDLE)
    except Exception:  # not supported here: CPU niceness still applies
        pass


def _worker_main(conn: Connection, options: HashOptions, nice: int = 0) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _lower_priority(nice)
    # a decoder crash is reported by the parent with the file's name; no trace dump on stderr
    faulthandler.disable()
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        for task_id, path, follow in batch:
            try:
                result: ContentHashes | Failure = hash_file(path, options, follow)
            except ReadError as e:
                result = Failure(e.strerror or str(e))
            except MemoryError:
                result = Failure("out of memory while hashing")
            except Exception as e:  # a bug or an unexpected library error: report, go on
                result = Failure(f"internal error: {type(e).__name__}: {e}")
            conn.send((task_id, result))


class _Worker:
    def __init__(self, ctx, options: HashOptions, nice: int = 0):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, options, nice), daemon=True)
        self.proc.start()
        child.close()
        self.batch: deque[tuple[int, str, bool]] = deque()
        self.since = 0.0

    def send(self, batch: list[tuple[int, str, bool]]) -> None:
        self.batch.extend(batch)
        self.since = time.monotonic()
        self.conn.send(batch)

    def kill(self) -> None:
        try:
            self.proc.kill()
        except Exception:
            pass
        self.proc.join(5)
        self.conn.close()


class HashPool:
    """Hashes files in ``jobs`` processes; :meth:`results` yields (task_id, result)."""

    def __init__(
        self,
        jobs: int,
        options: HashOptions,
        file_timeout: float = 60.0,
        nice: int = 0,
        start_method: str = "fork",
    ):
        self.jobs = max(1, jobs)
        self.options = options
        self.file_timeout = file_timeout
        self.nice = nice
        self._ctx = mp.get_context(start_method)
        if start_method == "forkserver":
            self._ctx.set_forkserver_preload(["hashwatch.hashing", "hashwatch.scan.pool"])
        self._workers = [_Worker(self._ctx, options, nice) for _ in range(self.jobs)]
        self._queue: deque[tuple[int, str, int, bool]] = deque()
        self.restarts = 0

    def submit(self, task_id: int, path: str, size: int, follow_symlinks: bool = False) -> None:
        self._queue.append((task_id, path, size, follow_symlinks))

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def busy(self) -> int:
        return sum(1 for w in self._workers if w.batch)

    def _next_batch(self) -> list[tuple[int, str, bool]]:
        batch: list[tuple[int, str, bool]] = []
        while self._queue and len(batch) < _BATCH_MAX:
            task_id, path, size, follow = self._queue[0]
            if size >= _BATCH_SIZE_LIMIT and batch:
                break
            self._queue.popleft()
            batch.append((task_id, path, follow))
            if size >= _BATCH_SIZE_LIMIT:
                break
        return batch

    def _dispatch(self) -> None:
        for w in self._workers:
            if not w.batch and self._queue:
                w.send(self._next_batch())

    def _replace(self, w: _Worker) -> None:
        w.kill()
        i = self._workers.index(w)
        self._workers[i] = _Worker(self._ctx, self.options, self.nice)
        self.restarts += 1
        # the rest of its batch goes back to the front of the queue
        for task_id, path, follow in reversed(w.batch):
            self._queue.appendleft((task_id, path, 0, follow))

    def poll(self, timeout: float) -> Iterator[tuple[int, ContentHashes | Failure]]:
        """Dispatch work and yield whatever results arrive within ``timeout`` seconds."""
        self._dispatch()
        active = [w for w in self._workers if w.batch]
        if not active:
            return
        now = time.monotonic()
        wait_for = min([timeout] + [max(0.0, w.since + self.file_timeout - now) for w in active])
        handles = {}
        for w in active:
            handles[w.conn] = w
            handles[w.proc.sentinel] = w
        ready = wait(list(handles), timeout=wait_for)
        done: set[int] = set()
        for h in ready:
            w = handles[h]
            if id(w) in done:
                continue
            if h is w.conn:
                try:
                    while w.conn.poll():
                        task_id, result = w.conn.recv()
                        if w.batch and w.batch[0][0] == task_id:
                            w.batch.popleft()
                        w.since = time.monotonic()
                        yield task_id, result
                    continue
                except (EOFError, OSError):
                    pass
            # the process ended (crash) or its pipe broke
            done.add(id(w))
            if w.batch:
                task_id = w.batch.popleft()[0]
                w.proc.join(2)  # the pipe may close before the process is reaped
                code = w.proc.exitcode
                why = f"signal {-code}" if code is not None and code < 0 else f"exit {code}"
                yield task_id, Failure(f"hashing process crashed on this file ({why})")
            self._replace(w)
        now = time.monotonic()
        for w in list(self._workers):
            if w.batch and now - w.since > self.file_timeout:
                task_id = w.batch.popleft()[0]
                self._replace(w)
                yield (
                    task_id,
                    Failure(f"took longer than the per-file limit of {self.file_timeout:g} s"),
                )
        self._dispatch()

    def close(self) -> None:
        for w in self._workers:
            try:
                w.conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + 2
        for w in self._workers:
            w.proc.join(max(0.0, deadline - time.monotonic()))
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(1)
            w.conn.close()
