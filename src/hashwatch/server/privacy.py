"""Masking of file paths and names for roles that should not read them. Paths are evidence
and shown in full by default; the ``mask_paths_for`` setting names the roles that see only
each component's first character and the file's extension (``/h•••/a•••/P•••/h•••.jpg``)."""

from __future__ import annotations

import re

MASK = "•••"
_SPLIT = re.compile(r"([\\/!])")  # keep the separators, the container chain's "!" included
_DRIVE = re.compile(r"^[A-Za-z]:$")


def mask_component(c: str) -> str:
    if not c or _DRIVE.match(c):
        return c
    stem, dot, ext = c.rpartition(".")
    if dot and stem and len(ext) <= 5 and ext.isalnum():
        return f"{stem[0]}{MASK}.{ext}"
    return f"{c[0]}{MASK}"


def mask_path(path: str | None) -> str | None:
    if path is None:
        return None
    return "".join(p if _SPLIT.fullmatch(p) else mask_component(p) for p in _SPLIT.split(path))


_FIELDS = ("path", "inner")


def mask_incident(d: dict) -> dict:
    """A copy of an incident's JSON (summary or detail) with every path masked."""
    out = dict(d)
    for k in _FIELDS:
        if k in out:
            out[k] = mask_path(out[k])
    if isinstance(out.get("file"), dict):
        f = out["file"] = dict(out["file"])
        for k in _FIELDS:
            if k in f:
                f[k] = mask_path(f[k])
        if isinstance(f.get("volume"), dict):
            f["volume"] = {**f["volume"], "mount": mask_path(f["volume"].get("mount"))}
    if isinstance(out.get("trail"), list):
        out["trail"] = [
            {**t, **{k: mask_path(t.get(k)) for k in _FIELDS if k in t}} for t in out["trail"]
        ]
    out["paths_masked"] = True
    return out


def masks_paths(settings: dict, role: str | None) -> bool:
    return role in (settings.get("mask_paths_for") or [])
