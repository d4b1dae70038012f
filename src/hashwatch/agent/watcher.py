"""Real-time detection: file-system events (watchdog: inotify on Linux, FSEvents on macOS,
ReadDirectoryChangesW on Windows) become a queue of paths to hash.

The queue deduplicates (a file written in 1,000 chunks is hashed once), hashes a file as
soon as its writer closes it (or once it has not changed for ``settle`` seconds), turns a
directory that appears (moved in, unpacked) into a walk of it, and never drops work: past
``max_pending`` paths it collapses them into rescans of their watched trees. When the
kernel's event queue overflows, events are lost; the watcher then rescans the tree
watchdog names (or every watched tree), and the scan cache keeps that cheap.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger("hashwatch.agent")

#: Seconds a newly created file with no further events waits before it is hashed.
CREATED_DELAY = 0.2


class PathQueue:
    """Paths waiting to be hashed. Thread-safe; ``wake`` is set when something is added."""

    def __init__(self, settle: float = 1.0, max_pending: int = 200_000):
        self.settle = settle
        self.max_pending = max_pending
        self._files: dict[str, float] = {}  # path -> when it is due
        self._trees: dict[str, str] = {}  # directory -> trigger
        self._lock = threading.Lock()
        self.wake = threading.Event()
        self.roots: Callable[[], list[str]] = lambda: []
        self.collapsed = 0

    def add_file(self, path: str, closed: bool, delay: float | None = None) -> None:
        """``closed``: its writer closed it (hash now). Else hash once it has not changed
        for ``delay`` (default ``settle``) seconds."""
        wait = 0.0 if closed else (self.settle if delay is None else min(delay, self.settle))
        due = time.monotonic() + wait
        with self._lock:
            if closed or path not in self._files:
                self._files[path] = due
            else:  # still being written: wait until it settles
                self._files[path] = max(self._files[path], due)
            over = len(self._files) > self.max_pending
        if over:
            self._collapse()
        self.wake.set()

    def add_tree(self, path: str, trigger: str = "realtime") -> None:
        with self._lock:
            # a tree inside one already queued adds nothing
            for t in self._trees:
                if path == t or path.startswith(t.rstrip(os.sep) + os.sep):
                    return
            self._trees[path] = trigger
        self.wake.set()

    def discard(self, path: str) -> None:
        with self._lock:
            self._files.pop(path, None)

    def _collapse(self) -> None:
        """Too many single paths: rescan their watched trees instead (nothing is lost)."""
        roots = sorted(self.roots(), key=len, reverse=True)
        with self._lock:
            files, self._files = self._files, {}
        trees = set()
        for p in files:
            root = next((r for r in roots if p.startswith(r.rstrip(os.sep) + os.sep)), None)
            trees.add(root or os.path.dirname(p))
        self.collapsed += 1
        log.warning("%d pending paths collapsed into rescans of %d trees", len(files), len(trees))
        for t in trees:
            self.add_tree(t)

    def take(self, limit: int = 1000) -> tuple[list[str], list[tuple[str, str]], float | None]:
        """(files due now, trees to walk with their trigger, seconds until the next file is
        due or None)."""
        now = time.monotonic()
        with self._lock:
            trees = list(self._trees.items())
            self._trees.clear()
            due = [p for p, t in self._files.items() if t <= now][:limit]
            for p in due:
                del self._files[p]
            nxt = min(self._files.values(), default=None)
        return due, trees, (None if nxt is None else max(0.0, nxt - now))

    def __len__(self) -> int:
        with self._lock:
            return len(self._files) + len(self._trees)


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher):
        self.w = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in ("opened", "closed_no_write"):
            return
        src = os.fsdecode(event.src_path)
        if kind == "moved":
            dest = os.fsdecode(event.dest_path)
            self.w.queue.discard(src)
            if self.w.ignored(dest):
                return
            if event.is_directory:
                self.w.queue.add_tree(dest)
            else:
                self.w.queue.add_file(dest, closed=True)
            return
        if self.w.ignored(src):
            return
        if kind == "deleted":
            self.w.queue.discard(src)
        elif event.is_directory:
            if kind == "created":
                # files can land in a new directory before its watch exists
                self.w.queue.add_tree(src)
        elif kind == "closed":
            self.w.queue.add_file(src, closed=True)
        elif kind == "created":
            # a file moved in from outside the watched trees (a finished download) arrives
            # as "created" with nothing after it: hash it soon. If it is still being
            # written, "modified" events push it back and "closed" brings it forward.
            self.w.queue.add_file(src, closed=False, delay=CREATED_DELAY)
        elif kind == "modified":
            self.w.queue.add_file(src, closed=False)


class _OverflowHandler(logging.Handler):
    """watchdog reports a kernel queue overflow only in its log: turn it into rescans."""

    def __init__(self, watcher: Watcher):
        super().__init__(logging.WARNING)
        self.w = watcher

    def emit(self, record: logging.LogRecord) -> None:
        msg = str(record.msg)
        if "overflow" not in msg.lower():
            return
        tree = record.args[0] if isinstance(record.args, tuple) and record.args else None
        self.w.overflowed(os.fsdecode(tree) if tree else None)


class Watcher:
    def __init__(
        self,
        queue: PathQueue,
        *,
        exclude_dirs: Iterable[str] = (),
        exclude_paths: Iterable[str] = (),
        on_event: Callable[..., None] = lambda kind, **detail: None,
    ):
        self.queue = queue
        self.exclude_names = {d for d in exclude_dirs if os.sep not in d}
        self.exclude_paths = [os.path.abspath(p) for p in exclude_paths]
        self.on_event = on_event
        self._observer = Observer()
        self._watches: dict[str, object] = {}
        self.failed: dict[str, str] = {}
        self._lock = threading.Lock()
        queue.roots = self.watched
        self._overflow = _OverflowHandler(self)
        self.overflows = 0

    def ignored(self, path: str) -> bool:
        for p in self.exclude_paths:
            if path == p or path.startswith(p.rstrip(os.sep) + os.sep):
                return True
        if self.exclude_names:
            parts = path.split(os.sep)
            return any(part in self.exclude_names for part in parts[:-1])
        return False

    def start(self) -> None:
        for name in ("watchdog.observers.inotify", "watchdog.observers.inotify_c"):
            logging.getLogger(name).addHandler(self._overflow)
        self._observer.start()

    def stop(self) -> None:
        for name in ("watchdog.observers.inotify", "watchdog.observers.inotify_c"):
            logging.getLogger(name).removeHandler(self._overflow)
        self._observer.stop()
        self._observer.join(5)

    def watched(self) -> list[str]:
        with self._lock:
            return list(self._watches)

    def add(self, path: str) -> bool:
        """Watch a tree (recursively). A failure is remembered, journalled and retried."""
        path = os.path.abspath(path)
        with self._lock:
            if path in self._watches:
                return True
        try:
            watch = self._observer.schedule(_Handler(self), path, recursive=True)
        except OSError as e:
            reason = e.strerror or str(e)
            if e.errno == 28:  # ENOSPC from inotify_add_watch
                reason = "too many watches (raise fs.inotify.max_user_watches)"
            if self.failed.get(path) != reason:
                self.on_event("watch.failed", path=path, reason=reason)
                log.warning("cannot watch %s: %s", path, reason)
            self.failed[path] = reason
            return False
        with self._lock:
            self._watches[path] = watch
        self.failed.pop(path, None)
        return True

    def remove(self, path: str) -> None:
        path = os.path.abspath(path)
        with self._lock:
            watch = self._watches.pop(path, None)
        if watch is not None:
            try:
                self._observer.unschedule(watch)
            except (KeyError, OSError):
                pass  # its directory is gone (an unmounted stick)

    def retry_failed(self) -> None:
        for path in list(self.failed):
            if os.path.isdir(path):
                self.add(path)

    def overflowed(self, tree: str | None) -> None:
        self.overflows += 1
        roots = [tree] if tree else self.watched()
        self.on_event("watch.overflow", trees=roots[:20])
        for r in roots:
            self.queue.add_tree(r)
