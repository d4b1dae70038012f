"""The scan pipeline: walk → scan cache → hashing processes → matcher → results."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
    hashing: HashOptions = field(default_factory=lambda: HashOptions(dihedral=True))
    #: Seconds a single file may take to read, decode and hash.
    file_timeout: float = 60.0
    #: None: the default cache file; False-y ``use_cache`` turns it off.
    cache_path: Path | None = None
    use_cache: bool = True


@dataclass(slots=True)
class FileResult:
    """One file's outcome. ``hashes`` is None when the file could not be read, and for an
    unchanged file whose stored verdict was reused (nothing was looked up)."""

    path: str
    hashes: ContentHashes | None
    matches: list[Match]
    error: str | None = None
    from_cache: bool = False


@dataclass(slots=True)
class ScanSummary:
    files: int = 0
    hashed: int = 0
    from_cache: int = 0
    bytes_read: int = 0
    matched_files: int = 0
    matches: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: Images that got exact hashes but no PDQ (undecodable, over a limit): not fully scanned.
    partial: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    worker_restarts: int = 0


ResultHandler = Callable[[FileResult], None]
ProgressHandler = Callable[[ScanSummary, int], None]


def hash_config(options: HashOptions) -> str:
    d = options.decode
    return (
        f"engine={__version__};min_side={d.min_side};reduce={d.reduce_min_side};"
        f"max_pixels={d.max_pixels};dihedral=1"
    )


def _stored_matches(verdict_json: str) -> list[Match]:
    return [Match(**m) for m in json.loads(verdict_json)] if verdict_json != "[]" else []


class Scanner:
    """Runs one scan. ``matcher`` None means hash only (``hashwatch hash``)."""

    def __init__(self, matcher: Matcher | None, options: ScanOptions = ScanOptions()):
        self.matcher = matcher
        self.options = options
        self._key = matcher.fingerprint if matcher else None
        # the 8 dihedral PDQs are read back from the cache only when they will be matched
        self._dihedral = matcher is None or matcher.settings.dihedral

    def run(
        self,
        paths: Sequence[str | os.PathLike],
        on_result: ResultHandler,
        on_progress: ProgressHandler | None = None,
        progress_every: float = 0.25,
    ) -> ScanSummary:
        opts = self.options
        summary = ScanSummary()
        start = time.monotonic()
        cache = None
        if opts.use_cache:
            cache = ScanCache(opts.cache_path or default_cache_path(), hash_config(opts.hashing))
        if cache is not None and self.matcher is not None:
            cache.preload()
        pool: HashPool | None = None  # started at the first file that must be read
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
            partial = partial or (h.pdq_error if h is not None else None)
            if error:
                summary.errors.append((item.path, error))
            elif partial:
                summary.partial.append((item.path, partial))
            if matches:
                summary.matched_files += 1
                summary.matches += len(matches)
            on_result(FileResult(item.path, h, matches, error, cached))

        def flush_rematch() -> None:
            if not rematch:
                return
            assert self.matcher is not None
            found = self.matcher.match_many([h for _, h in rematch])
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
            matches = self.matcher.match(result) if self.matcher else []
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

        try:
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
                    if pool is None:
                        pool = HashPool(opts.jobs, opts.hashing, opts.file_timeout)
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
                assert pool is not None
                for task_id, result in pool.poll(0.1):
                    handle_result(task_id, result)
                progress()
        finally:
            if pool is not None:
                summary.worker_restarts = pool.restarts
                pool.close()
            if cache is not None:
                cache.close()
        summary.seconds = time.monotonic() - start
        progress(force=True)
        return summary
