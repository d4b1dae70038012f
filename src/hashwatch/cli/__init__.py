"""The ``hashwatch`` command: argument parsing and printing only; the work is in the engine."""

from .app import app, main

__all__ = ["app", "main"]
