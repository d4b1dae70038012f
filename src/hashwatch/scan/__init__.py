"""Scanning: walking file systems, the scan cache, the parallel pipeline, limits, progress."""

from .cache import CacheError, ScanCache, StoredFile, default_cache_path
from .scanner import FileResult, Scanner, ScanOptions, ScanSession, ScanSummary
from .walk import WalkOptions, walk

__all__ = [
    "CacheError",
    "FileResult",
    "ScanCache",
    "ScanOptions",
    "ScanSession",
    "StoredFile",
    "ScanSummary",
    "Scanner",
    "WalkOptions",
    "default_cache_path",
    "walk",
]
