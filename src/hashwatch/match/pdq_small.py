"""Brute-force PDQ matching for small lists in plain numpy (no JIT start-up cost).

Same ``query`` contract as :class:`PDQIndex`; lists up to a few thousand hashes are matched
faster this way than the index can be imported.
"""

from __future__ import annotations

import numpy as np

from ..signals.pdq import hamming_many

#: Lists up to this many PDQ hashes use this class instead of :class:`PDQIndex`.
SMALL_MAX = 4096


class SmallPDQIndex:
    def __init__(self, hashes: np.ndarray):
        if hashes.ndim != 2 or hashes.shape[1] != 32 or hashes.dtype != np.uint8:
            raise ValueError("hashes must be an (N, 32) uint8 array")
        self._hashes = hashes

    def __len__(self) -> int:
        return len(self._hashes)

    def query(
        self, queries: np.ndarray, threshold: int = 31
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        qi: list[np.ndarray] = []
        ei: list[np.ndarray] = []
        dd: list[np.ndarray] = []
        for n, q in enumerate(queries):
            d = hamming_many(q, self._hashes)
            hit = np.flatnonzero(d <= threshold)
            if hit.size:
                order = np.lexsort((hit, d[hit]))
                hit = hit[order]
                qi.append(np.full(hit.size, n, dtype=np.int64))
                ei.append(hit.astype(np.int64))
                dd.append(d[hit].astype(np.int32))
        if not qi:
            return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32))
        return np.concatenate(qi), np.concatenate(ei), np.concatenate(dd)


def pdq_index_for(packed: np.ndarray):
    """The index for these packed hashes: brute force up to :data:`SMALL_MAX`, else the
    numba :class:`PDQIndex` (imported only then)."""
    if len(packed) <= SMALL_MAX:
        return SmallPDQIndex(packed)
    from .pdq_index import PDQIndex

    return PDQIndex.build(packed)
