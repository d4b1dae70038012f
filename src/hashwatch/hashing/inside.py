"""Signals of every item inside a container, from one walk (``media.containers``)."""

from __future__ import annotations

import dataclasses
import time

from ..media.animated import ANIMATED_TYPES
from ..media.containers import walk_inside
from ..media.video import VIDEO_TYPES
from .content import ContentHashes, HashOptions, InnerHashes, hash_bytes


def hash_inside(
    source: bytes | str, mime: str, name: str, sha256: str | None, options: HashOptions
) -> tuple[list[InnerHashes], list[str]]:
    """Every item inside ``source`` with its signals, and the reasons it was not fully
    scanned (empty when it was)."""
    walk = walk_inside(source, mime, name, options.containers, sha256)
    items: list[InnerHashes] = []
    for item in walk:
        if item.error is not None:
            items.append(InnerHashes(item.inner, None, item.error))
            continue
        if item.data is not None:
            opts = options
            if item.media in VIDEO_TYPES or item.media in ANIMATED_TYPES:
                # a video inside gets what is left of the file's time, not a budget of its own
                assert walk.budget is not None
                left = max(0.5, walk.budget.deadline - time.monotonic())
                if left < options.video.max_seconds:
                    opts = dataclasses.replace(
                        options, video=dataclasses.replace(options.video, max_seconds=left)
                    )
            h = hash_bytes(item.data, opts, item.inner.rsplit("!", 1)[-1], inside=True)
        else:
            assert item.digests is not None
            md5, sha1, sha256_ = item.digests
            h = ContentHashes(item.size, item.media, md5, sha1, sha256_)
            if h.media in VIDEO_TYPES or h.media.startswith("image/"):
                h.pdq_error = (
                    "larger than the in-memory limit inside a container; exact hashes only"
                )
        if h.pdq_error:
            walk.incomplete.append(f"{item.inner}: {h.pdq_error}")
        items.append(InnerHashes(item.inner, h))
    return items, walk.incomplete
