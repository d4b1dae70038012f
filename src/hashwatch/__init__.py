"""hashwatch: find known abuse material by hash, offline-first, without anyone looking at it."""

__version__ = "0.1.0"
