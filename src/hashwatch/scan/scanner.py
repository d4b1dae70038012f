"""The scan pipeline: walk → scan cache → hashing processes → matcher → results."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import __version__
from ..hashing import ContentHashes, HashOptions
from ..match import Match, Matcher
from .cache import ScanCache, default_cache_path
from .pool import Failure, HashPool
from .walk import FileItem, WalkOptions, walk


@dataclass(frozen=True, slots=True)
class ScanOptions:
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    walk: WalkOptions = field(default_factory=WalkOptions)
    hashing: HashOptions = field(default_factory=lambda: HashOptions(dihedral=True, views=True))
    #: Seconds a single file may take to read, decode and hash.
    file_timeout: float = 60.0
    #: None: the default cache file; False-y ``use_cache`` turns it off.
    cache_path: Path | None = None
    use_cache: bool = True
    #: Niceness added to the hashing processes (and idle I/O class where the OS has one):
    #: background scans run at low priority.
    worker_nice: int = 0
    #: How hashing processes start: "fork" (fast; the CLI) or "forkserver" (safe in a
    #: multi-threaded process such as the agent).
    start_method: str = "fork"


@dataclass(slots=True)
class FileResult:
    """One file's outcome. ``hashes`` is None when the file could not be read, and for an
    unchanged file whose stored verdict was reused (nothing was looked up)."""

    path: str
    hashes: ContentHashes | None
    matches: list[Match]
    error: str | None = None
    from_cache: bool = False
    #: The file's identity and times when it was scanned.
    st: os.stat_result | None = None


@dataclass(slots=True)
class ScanSummary:
    files: int = 0
    hashed: int = 0
    from_cache: int = 0
    bytes_read: int = 0
    matched_files: int = 0
    matches: int = 0
    #: Items found inside containers (archives, compressed files, documents).
    items: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: Files not fully scanned: images or videos that got exact hashes but no (or a partial)
    #: perceptual hash, containers cut short by a limit, encrypted or corrupt.
    partial: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    worker_restarts: int = 0


ResultHandler = Callable[[FileResult], None]
ProgressHandler = Callable[[ScanSummary, int], None]


def hash_config(options: HashOptions) -> str:
    d = options.decode
    c, v = options.containers, options.video
    return (
        f"engine={__version__};min_side={d.min_side};reduce={d.reduce_min_side};"
        f"max_pixels={d.max_pixels};dihedral=1;views={int(options.views)};"
        f"inside={int(options.look_inside)};"
        f"containers={c.max_depth},{c.max_items},{c.max_total_bytes},{c.max_item_in_memory},"
        f"{c.max_ratio:g},{c.ratio_min_bytes};video={v.seconds_per_hash:g},{v.max_frames}"
    )


def within_timeout(options: HashOptions, file_timeout: float) -> HashOptions:
    """Hashing options whose own time budgets (inside containers, decoding a video) end
    before the pool kills a worker at ``file_timeout``: a long video or a big archive is
    then reported with what was done and why it stopped, instead of as a timed-out file."""
    budget = max(1.0, 0.75 * file_timeout)
    c, v = options.containers, options.video
    return replace(
        options,
        containers=replace(c, max_seconds=budget),
        video=replace(v, max_seconds=budget),
    )


def _stored_matches(verdict_json: str) -> list[Match]:
    return [Match(**m) for m in json.loads(verdict_json)] if verdict_json != "[]" else []


class Scanner:
    """Runs one scan. ``matcher`` None means hash only (``hashwatch hash``)."""

    def __init__(self, matcher: Matcher | None, options: ScanOptions = ScanOptions()):
        self.matcher = matcher
        self.options = options

    def session(self, preload: bool = True) -> ScanSession:
        """A session that keeps its cache and hashing processes open between runs."""
        return ScanSession(self.matcher, self.options, preload)

    def run(
        self,
        paths: Sequence[str | os.PathLike],
        on_result: ResultHandler,
        on_progress: ProgressHandler | None = None,
        progress_every: float = 0.25,
    ) -> ScanSummary:
        with self.session() as s:
            return s.run(paths, on_result, on_progress, progress_every)


class ScanSession:
    """Scans run one after another with one cache connection and one pool of hashing
    processes (started at the first file that must be read), as a long-running service
    needs. ``preload`` reads every stored verdict into memory at the start of the first run
    after the lists or the verdicts changed (worth it for a full scan, not for a few files).
    The matcher can be swapped between runs (a new list)."""

    def __init__(self, matcher: Matcher | None, options: ScanOptions, preload: bool = True):
        self.options = options
        self.cache: ScanCache | None = None
        if options.use_cache:
            self.cache = ScanCache(
                options.cache_path or default_cache_path(), hash_config(options.hashing)
            )
        self._preload = preload
        self._pool: HashPool | None = None
        self.set_matcher(matcher)

    def set_matcher(self, matcher: Matcher | None) -> None:
        self.matcher = matcher
        self._key = matcher.fingerprint if matcher else None
        # the 8 dihedral PDQs are read back from the cache only when they will be matched
        self._dihedral = matcher is None or matcher.settings.dihedral
        # stored verdicts are (re)read into memory at the next run, not now: a re-match
        # may change them first
        self._index_stale = True

    def __enter__(self) -> ScanSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._close_pool()
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _get_pool(self) -> HashPool:
        if self._pool is None:
            o = self.options
            self._pool = HashPool(
                o.jobs,
                within_timeout(o.hashing, o.file_timeout),
                o.file_timeout,
                nice=o.worker_nice,
                start_method=o.start_method,
            )
        return self._pool

    def rematch_stored(self, on_result: ResultHandler) -> int:
        """Match every file the cache holds against the current matcher, from its stored
        signals (no file is read), and store the new verdicts. ``on_result`` gets each
        file (``from_cache`` True, no ``st``). Returns the number of files re-matched."""
        if self.cache is None or self.matcher is None or self._key is None:
            return 0
        n = 0
        for batch in self.cache.iter_stored(dihedral=self._dihedral):
            found = self.matcher.match_files([f.hashes for f in batch])
            for f, matches in zip(batch, found, strict=True):
                self.cache.put_verdict_id(f.dev, f.ino, self._key, [m.to_dict() for m in matches])
                on_result(FileResult(f.path, f.hashes, matches, None, True, None))
            n += len(batch)
        self.cache.flush()
        self._index_stale = True
        return n

    def run(
        self,
        paths: Sequence[str | os.PathLike],
        on_result: ResultHandler,
        on_progress: ProgressHandler | None = None,
        progress_every: float = 0.25,
    ) -> ScanSummary:
        """Scan ``paths``. If a handler raises (e.g. to stop a scan), the hashing processes
        are stopped and the scan cache keeps what was done: the next run resumes cheaply."""
        try:
            return self._run(paths, on_result, on_progress, progress_every)
        except BaseException:
            self._close_pool()  # its queue holds this run's tasks
            raise
        finally:
            if self.cache is not None:
                self.cache.flush()

    def _run(self, paths, on_result, on_progress, progress_every) -> ScanSummary:
        opts = self.options
        summary = ScanSummary()
        start = time.monotonic()
        cache = self.cache
        if cache is None and opts.use_cache:
            raise RuntimeError("scan session is closed")
        if cache is not None and self._preload and self._index_stale and self.matcher:
            cache.preload()
            self._index_stale = False
        restarts_before = self._pool.restarts if self._pool else 0
        inflight: dict[int, FileItem] = {}
        rematch: list[tuple[FileItem, ContentHashes]] = []
        next_id = 0
        last_progress = 0.0

        def skipped(path: str, reason: str) -> None:
            summary.skipped.append((path, reason))

        def deliver(
            item: FileItem,
            h: ContentHashes | None,
            matches: list[Match],
            error: str | None = None,
            cached: bool = False,
            partial: str | None = None,
        ) -> None:
            summary.files += 1
            if h is not None and h.items:
                summary.items += len(h.items)
            partial = partial or (h.not_fully_scanned if h is not None else None)
            if error:
                summary.errors.append((item.path, error))
            elif partial:
                summary.partial.append((item.path, partial))
            if matches:
                summary.matched_files += 1
                summary.matches += len(matches)
            on_result(FileResult(item.path, h, matches, error, cached, item.st))

        def flush_rematch() -> None:
            if not rematch:
                return
            assert self.matcher is not None
            found = self.matcher.match_files([h for _, h in rematch])
            for (item, h), matches in zip(rematch, found, strict=True):
                if cache is not None and self._key is not None:
                    cache.put_verdict(item.st, self._key, [m.to_dict() for m in matches])
                deliver(item, h, matches, cached=True)
            rematch.clear()

        def handle_result(task_id: int, result: ContentHashes | Failure) -> None:
            item = inflight.pop(task_id)
            if isinstance(result, Failure):
                deliver(item, None, [], result.reason)
                return
            summary.hashed += 1
            summary.bytes_read += result.size
            matches = self.matcher.match_file(result) if self.matcher else []
            if cache is not None:
                verdict = [m.to_dict() for m in matches] if self.matcher else None
                cache.put(item.path, item.st, result, self._key, verdict)
            deliver(item, result, matches)

        def progress(force: bool = False) -> None:
            nonlocal last_progress
            now = time.monotonic()
            if on_progress and (force or now - last_progress >= progress_every):
                last_progress = now
                summary.seconds = now - start
                on_progress(summary, len(inflight) + len(rematch))

        for item in walk(paths, opts.walk, skipped):
            if cache is not None and self._key is not None:
                stored = cache.stored_verdict(item.st, self._key)
                if stored is not None:  # unchanged file, same lists: nothing to do
                    summary.from_cache += 1
                    verdict, partial = stored
                    matches = _stored_matches(verdict)
                    deliver(item, None, matches, cached=True, partial=partial)
                    progress()
                    continue
            cached = cache.get(item.st, self._dihedral) if cache is not None else None
            if cached is not None:
                summary.from_cache += 1
                if self.matcher is None:
                    deliver(item, cached.hashes, [], cached=True)
                elif cached.verdict_key == self._key and cached.verdict is not None:
                    deliver(item, cached.hashes, _stored_matches(cached.verdict), cached=True)
                else:
                    rematch.append((item, cached.hashes))
                    if len(rematch) >= 1024:
                        flush_rematch()
            else:
                pool = self._get_pool()
                inflight[next_id] = item
                pool.submit(next_id, item.path, item.st.st_size, item.via_link)
                next_id += 1
                # keep the walk ahead of the workers, but not unboundedly
                while pool.queued > 64 * pool.jobs:
                    for task_id, result in pool.poll(0.05):
                        handle_result(task_id, result)
                    progress()
                for task_id, result in pool.poll(0):
                    handle_result(task_id, result)
            progress()
        flush_rematch()
        while inflight:
            pool = self._get_pool()
            for task_id, result in pool.poll(0.1):
                handle_result(task_id, result)
            progress()
        if self._pool is not None:
            summary.worker_restarts = self._pool.restarts - restarts_before
        summary.seconds = time.monotonic() - start
        progress(force=True)
        return summary
