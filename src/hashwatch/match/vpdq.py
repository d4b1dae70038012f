"""Matching videos by vPDQ, with Meta's semantics.

A video's vPDQ is an unordered bag of frame hashes. To compare a query video with a listed
one, both are reduced to their *distinct* frame hashes of quality >= ``quality`` (50); a
frame of one matches if some frame of the other lies within Hamming distance ``distance``
(31, inclusive). The *query share* is the fraction of the query's frames that match the
listed video, the *compared share* the fraction of the listed video's frames that match the
query. Meta's python-threatexchange index (``vpdq_util.py``: ``VPDQ_QUERY_MATCH_THRESHOLD_
PERCENT = 80``, ``VPDQ_INDEX_MATCH_THRESHOLD_PERCENT = 0``) reports a match when the query
share is >= 80% and the compared share >= 0%: the file found is (mostly) made of the
listed video. (vpdq's README gives the mirror image as its example, 80% of the compared
video and 0% of the query, which also catches a listed video inside a longer file; pass
``query_threshold=0, compared_threshold=0.8`` for that, or check both.)

:class:`VpdqIndex` indexes the distinct frame hashes of every listed video once in the
project's exact PDQ index, so a query costs one range search per query frame rather than a
comparison with every listed frame. Shares are fractions (0..1), not percentages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from ..signals.pdq import PDQ_DEFAULT_THRESHOLD, PDQ_MIN_QUALITY, pdq_to_array
from ..signals.types import VpdqFrame
from .pdq_small import pdq_index_for

#: Meta's defaults (python-threatexchange ``vpdq_util.py``).
VPDQ_DISTANCE = PDQ_DEFAULT_THRESHOLD
VPDQ_QUALITY = PDQ_MIN_QUALITY
VPDQ_QUERY_THRESHOLD = 0.8
VPDQ_COMPARED_THRESHOLD = 0.0

__all__ = [
    "VPDQ_COMPARED_THRESHOLD",
    "VPDQ_DISTANCE",
    "VPDQ_QUALITY",
    "VPDQ_QUERY_THRESHOLD",
    "VpdqHit",
    "VpdqIndex",
    "compare",
    "distinct_hashes",
]


class VpdqHit(NamedTuple):
    """One listed video a query matches."""

    entry: int
    query_share: float
    compared_share: float
    #: Median over the matching query frames of the distance to their nearest frame of the
    #: listed video (rounded down): how alike the matching frames are.
    distance: int


def distinct_hashes(frames: Iterable[VpdqFrame], quality: int = VPDQ_QUALITY) -> list[str]:
    """The distinct PDQ hashes of the frames of quality >= ``quality``, in first-seen order
    (vpdq's ``dedupe(quality_filter(...))``)."""
    seen: dict[str, None] = {}
    for f in frames:
        if f.quality >= quality:
            seen.setdefault(f.pdq.lower(), None)
    return list(seen)


def _pairs(a: np.ndarray, b: np.ndarray, distance: int):
    return pdq_index_for(b).query(a, distance)


def compare(
    query: Sequence[VpdqFrame],
    compared: Sequence[VpdqFrame],
    distance: int = VPDQ_DISTANCE,
    quality: int = VPDQ_QUALITY,
) -> tuple[float, float]:
    """``(query_share, compared_share)`` of two videos (0.0 when either has no usable frame)."""
    a = pdq_to_array(distinct_hashes(query, quality))
    b = pdq_to_array(distinct_hashes(compared, quality))
    if not len(a) or not len(b):
        return 0.0, 0.0
    qi, ei, _ = _pairs(a, b, distance)
    return len(np.unique(qi)) / len(a), len(np.unique(ei)) / len(b)


class VpdqIndex:
    """Listed videos' vPDQ, for matching many query videos; see the module docstring.

    ``entries[i]`` is listed video ``i``'s frames; a video without a frame of quality >=
    ``quality`` never matches.
    """

    def __init__(
        self,
        entries: Sequence[Sequence[VpdqFrame]],
        distance: int = VPDQ_DISTANCE,
        quality: int = VPDQ_QUALITY,
    ) -> None:
        self.distance = int(distance)
        self.quality = int(quality)
        position: dict[str, int] = {}  # distinct hash -> row in the PDQ index
        owners_of: list[list[int]] = []
        sizes = np.zeros(len(entries), np.int64)
        for e, frames in enumerate(entries):
            hashes = distinct_hashes(frames, self.quality)
            sizes[e] = len(hashes)
            for h in hashes:
                row = position.setdefault(h, len(position))
                if row == len(owners_of):
                    owners_of.append([])
                owners_of[row].append(e)
        self._sizes = sizes
        # owners of row r: _owners[_start[r]:_start[r + 1]] (CSR)
        counts = np.fromiter((len(o) for o in owners_of), np.int64, len(owners_of))
        self._start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._owners = np.fromiter(
            (e for o in owners_of for e in o), np.int64, int(counts.sum()) if len(counts) else 0
        )
        packed = pdq_to_array(position)
        self._index = pdq_index_for(packed)

    def __len__(self) -> int:
        return len(self._sizes)

    @property
    def frame_count(self) -> int:
        """Distinct frame hashes indexed (over all listed videos)."""
        return len(self._start) - 1

    def query(
        self,
        frames: Sequence[VpdqFrame],
        query_threshold: float = VPDQ_QUERY_THRESHOLD,
        compared_threshold: float = VPDQ_COMPARED_THRESHOLD,
    ) -> list[VpdqHit]:
        """Listed videos the query video matches, best (highest query share) first."""
        hashes = distinct_hashes(frames, self.quality)
        if not hashes or not self.frame_count:
            return []
        qi, rows, dist = self._index.query(pdq_to_array(hashes), self.distance)
        if not len(qi):
            return []
        # one (entry, query frame, listed frame row, distance) per owner of each hit row
        n_owners = self._start[rows + 1] - self._start[rows]
        rep = np.repeat(np.arange(len(rows)), n_owners)
        first = np.repeat(self._start[rows], n_owners)
        within = np.arange(len(rep)) - np.repeat(np.cumsum(n_owners) - n_owners, n_owners)
        entry = self._owners[first + within]
        q, r, d = qi[rep], rows[rep], dist[rep]
        return self._hits(entry, q, r, d, len(hashes), query_threshold, compared_threshold)

    def _hits(self, entry, q, r, d, nq, query_threshold, compared_threshold) -> list[VpdqHit]:
        # best distance per (entry, query frame): sort by entry, query frame, distance
        order = np.lexsort((d, q, entry))
        entry, q, r, d = entry[order], q[order], r[order], d[order]
        firsts = np.ones(len(entry), bool)
        firsts[1:] = (entry[1:] != entry[:-1]) | (q[1:] != q[:-1])
        eq, best = entry[firsts], d[firsts]
        uniq_e, q_counts = np.unique(eq, return_counts=True)
        er = np.unique(entry * (len(self._start)) + r)  # distinct (entry, listed frame)
        r_counts = np.bincount(er // len(self._start), minlength=len(self._sizes))
        out: list[VpdqHit] = []
        starts = np.concatenate([[0], np.cumsum(q_counts)])
        for k, e in enumerate(uniq_e):
            qs = q_counts[k] / nq
            cs = r_counts[e] / self._sizes[e]
            if qs >= query_threshold and cs >= compared_threshold:
                med = int(np.median(best[starts[k] : starts[k + 1]]))
                out.append(VpdqHit(int(e), float(qs), float(cs), med))
        out.sort(key=lambda h: (-h.query_share, -h.compared_share, h.entry))
        return out
