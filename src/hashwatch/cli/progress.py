"""Progress and summaries on stderr: a live line on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ..scan import ScanSummary


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class Progress:
    """Renders :class:`ScanSummary` snapshots. Terminal: one line redrawn in place.
    Not a terminal: one plain line every ``plain_every`` seconds."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False, plain_every: float = 5.0):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self.plain_every = plain_every
        self._last_plain = time.monotonic()
        self._drawn = False

    def _line(self, s: ScanSummary, pending: int) -> str:
        rate = s.files / s.seconds if s.seconds > 0 else 0.0
        return (
            f"scanned {s.files} files ({s.from_cache} from cache), {pending} in progress, "
            f"{s.matched_files} matched, {len(s.errors)} errors, {_mb(s.bytes_read)} read, "
            f"{rate:.0f} files/s"
        )

    def update(self, s: ScanSummary, pending: int) -> None:
        if self.quiet:
            return
        if self.tty:
            line = self._line(s, pending)
            self.stream.write("\r\x1b[2K" + line[:200])
            self.stream.flush()
            self._drawn = True
        elif time.monotonic() - self._last_plain >= self.plain_every:
            self._last_plain = time.monotonic()
            self.stream.write("progress: " + self._line(s, pending) + "\n")
            self.stream.flush()

    def clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False

    def summary(self, s: ScanSummary, lists_desc: list[str] | None, verbose: bool = False) -> None:
        self.clear()
        w = self.stream.write
        for path, reason in s.errors:
            w(f"ERROR {path}: {reason}\n")
        for path, reason in s.partial:
            w(f"NOT FULLY SCANNED {path}: {reason}\n")
        if verbose:
            for path, reason in s.skipped:
                w(f"SKIPPED {path}: {reason}\n")
        rate = s.files / s.seconds if s.seconds > 0 else 0.0
        w("----------- SCAN SUMMARY -----------\n")
        if lists_desc is not None:
            w(f"Lists: {'; '.join(lists_desc) if lists_desc else 'none'}\n")
        w(f"Files: {s.files} ({s.hashed} read and hashed, {s.from_cache} from the scan cache)\n")
        if s.items:
            w(f"Items inside containers: {s.items}\n")
        if lists_desc is not None:
            w(f"Matches: {s.matches} in {s.matched_files} files\n")
        w(f"Not fully scanned: {len(s.partial)}\n")
        w(f"Errors: {len(s.errors)}\n")
        w(
            f"Skipped: {len(s.skipped)}"
            f"{'' if verbose or not s.skipped else ' (--verbose lists them)'}\n"
        )
        if s.worker_restarts:
            w(f"Hashing processes restarted: {s.worker_restarts}\n")
        w(f"Data read: {_mb(s.bytes_read)}\n")
        w(f"Time: {s.seconds:.2f} s ({rate:.0f} files/s)\n")
        self.stream.flush()
