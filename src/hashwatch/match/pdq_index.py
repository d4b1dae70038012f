"""Exact PDQ Hamming range index (multi-index hashing).

:class:`PDQIndex` answers "which stored hashes are within Hamming distance ``threshold`` of
this query?" for batches of 256-bit PDQ hashes, and returns exactly what a brute-force scan
returns (:func:`brute_force` is the reference and the fallback).

Design
------
Multi-index hashing by the pigeonhole principle (Norouzi et al., "Fast exact search in Hamming
space with multi-index hashing"). The 256 bits are cut into ``m = 11`` contiguous chunks
(3 of 24 bits, 8 of 23 bits). If ``distance(q, h) <= r`` then at least one chunk is within
``s = r // m`` of the query's chunk, because ``m * (s + 1) > r``. So for ``r <= 32`` every
match lies within radius ``s = 2`` of the query in at least one chunk.

For each chunk ``c`` the index keeps, over the entries sorted (stably) by the chunk's top
``d`` bits (the *directory key*):

- ``offsets[c]`` (``uint32[2**d + 1]``): where each directory key's run starts and ends;
- ``entries[c]`` (``uint32[N]``): per entry, ``id << lowbits | low`` where ``low`` are the
  chunk's remaining ``lowbits = width - d`` bits, so one load gives both.

``d`` grows with the list (``ceil(log2(N)) - 1``, 8..23) so a run holds one or two entries.
A query probes, per chunk, every directory key within ``k <= s`` flipped bits of its own
(the flip masks are enumerated once per ``(d, s)``) and scans the run, keeping entries whose
low bits differ in at most ``s - k`` bits: that visits exactly the entries whose chunk lies
within ``s`` of the query's, each once. A candidate is verified with a full popcount over the
stored hashes (4 x uint64), and reported only from the first chunk in which it is within ``s``
(earlier chunks are re-checked on the stored hash), so there are no duplicates and no set.
The probes of one (query, chunk) run in stages with software prefetches, so the random
memory reads of a stage overlap instead of waiting on each other.

Thresholds with ``s > 3`` (``r >= 44``), or where probing would cost more than a scan, and
lists under :data:`BRUTE_FORCE_MAX` entries use the brute-force kernel, which gives identical
results. Batches are split over threads (the kernels release the GIL).

Storage: ``save`` writes ``.npy`` files and a ``manifest.json`` (format, version, N, layout);
``load`` memory-maps them (``np.load(..., mmap_mode="r")``) and checks them against the
manifest without reading them through (``verify`` does that). Kernels bound every read, so a
damaged file cannot make them read outside the arrays.

At 10M hashes the index holds 320 MB of hashes, 440 MB of entries and 369 MB of directories
(1.08 GiB); it takes up to 2**30 hashes.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral
from pathlib import Path

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ..signals.pdq import PDQ_BYTES, PDQ_DEFAULT_THRESHOLD

__all__ = ["BRUTE_FORCE_MAX", "PDQIndex", "PDQIndexError", "brute_force"]

FORMAT_NAME = "hashwatch-pdq-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

#: Lists with fewer entries than this are matched by brute force (no index structure).
BRUTE_FORCE_MAX = 20_000
#: Chunk widths in bits (sum 256): 11 chunks, so per-chunk radius 2 covers r <= 32.
CHUNK_WIDTHS = (24, 24, 24, 23, 23, 23, 23, 23, 23, 23, 23)
#: Largest per-chunk radius probed through the index; above it queries use brute force.
MAX_CHUNK_RADIUS = 3
_MIN_DIR_BITS = 8
_MAX_DIR_BITS = 23
#: Most hashes an index holds (ids and low bits share a uint32).
MAX_ENTRIES = 2**30
#: A probe costs about this many brute-force comparisons (chooses index or scan per query).
_PROBE_COST = 16

_FILES = {
    "hashes": ("hashes.npy", np.uint8),
    "offsets": ("offsets.npy", np.uint32),
    "entries": ("entries.npy", np.uint32),
}


class PDQIndexError(ValueError):
    """A saved PDQ index is missing, incomplete, corrupt or of an unknown format."""


# --------------------------------------------------------------------------- kernels


@intrinsic
def _popcount(typingctx, x):
    """``llvm.ctpop`` on a 64-bit integer (one ``popcnt`` instruction)."""
    if not isinstance(x, types.Integer):
        return None
    sig = types.int64(types.uint64)

    def codegen(context, builder, signature, args):
        (val,) = args
        fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(fn, [val])

    return sig, codegen


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint that ``arr[idx]`` (1-d) will be read soon (``prefetcht0``; never faults)."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None
    sig = types.void(arr, types.intp)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True)
def _chunk(words, row, start, width):
    """Bits ``start .. start+width-1`` of row ``row`` (bit p is bit p%64 of word p//64)."""
    wi = start >> 6
    off = start & 63
    v = words[row, wi] >> np.uint64(off)
    if off + width > 64:
        v |= words[row, wi + 1] << np.uint64(64 - off)
    return v & ((np.uint64(1) << np.uint64(width)) - np.uint64(1))


@njit(cache=True, nogil=True)
def _mih_query(words, qwords, q_lo, q_hi, starts, widths, dir_bits,
               offsets, entries, masks, flips, s, r, out_q, out_e, out_d):  # fmt: skip
    """Multi-index range search for queries ``q_lo..q_hi-1``; see the module docstring.

    Writes results to ``out_*``. Returns ``(count, next_query, bad_ids)``: when the buffers
    fill up, the query in progress is rolled back and ``next_query`` says where to resume.

    Each (query, chunk) runs in stages so that the random memory accesses of a stage are
    independent and overlap: directory keys (prefetch offsets) -> bucket bounds (prefetch
    entries) -> scan low bits, collect ids (prefetch stored hashes) -> verify.
    """
    n = words.shape[0]
    flat = words.reshape(-1)
    m = starts.shape[0]
    nmasks = masks.shape[0]
    cap = out_q.shape[0]
    cnt = 0
    bad = 0
    qch = np.empty(m, np.uint64)
    keys = np.empty(nmasks, np.int64)
    lo_b = np.empty(nmasks, np.int64)
    hi_b = np.empty(nmasks, np.int64)
    ccap = 4096
    cand = np.empty(ccap, np.int64)
    for qi in range(q_lo, q_hi):
        cnt0 = cnt
        q0 = qwords[qi, 0]
        q1 = qwords[qi, 1]
        q2 = qwords[qi, 2]
        q3 = qwords[qi, 3]
        for c in range(m):
            qch[c] = _chunk(qwords, qi, starts[c], widths[c])
        for c in range(m):
            off_c = offsets[c]
            ent_c = entries[c]
            lowbits = np.uint64(widths[c] - dir_bits)
            lowmask = (np.uint64(1) << lowbits) - np.uint64(1)
            qh = qch[c] >> lowbits
            ql = qch[c] & lowmask
            for mi in range(nmasks):
                k = np.int64(qh ^ masks[mi])
                keys[mi] = k
                _prefetch(off_c, k)
            for mi in range(nmasks):
                a = np.int64(off_c[keys[mi]])
                lo_b[mi] = a
                hi_b[mi] = min(np.int64(off_c[keys[mi] + 1]), n)  # safe on a corrupt file
                _prefetch(ent_c, a)
            mi = 0
            p = lo_b[0]
            while mi < nmasks:
                # Collect candidates (entry ids) into ``cand``, up to ``ccap`` at a time.
                nc = 0
                while mi < nmasks and nc < ccap:
                    rem = s - flips[mi]
                    z = hi_b[mi]
                    while p < z and nc < ccap:
                        v = np.uint64(ent_c[p])
                        if _popcount((v & lowmask) ^ ql) <= rem:
                            e = np.int64(v >> lowbits)
                            cand[nc] = e
                            nc += 1
                            _prefetch(flat, 4 * e)
                        p += 1
                    if p >= z:
                        mi += 1
                        if mi < nmasks:
                            p = lo_b[mi]
                # Verify them.
                for i in range(nc):
                    e = cand[i]
                    if e >= n:
                        bad += 1
                        continue
                    d = (_popcount(words[e, 0] ^ q0) + _popcount(words[e, 1] ^ q1)
                         + _popcount(words[e, 2] ^ q2) + _popcount(words[e, 3] ^ q3))  # fmt: skip
                    if d > r:
                        continue
                    # Report each entry from the first chunk that reaches it only.
                    first = True
                    for c2 in range(c):
                        if _popcount(_chunk(words, e, starts[c2], widths[c2]) ^ qch[c2]) <= s:
                            first = False
                            break
                    if not first:
                        continue
                    if cnt == cap:
                        return cnt0, qi, bad
                    out_q[cnt] = qi
                    out_e[cnt] = e
                    out_d[cnt] = d
                    cnt += 1
    return cnt, q_hi, bad


@njit(cache=True, nogil=True)
def _brute_query(words, qwords, q_lo, q_hi, r, out_q, out_e, out_d):
    """All pairs within ``r`` for queries ``q_lo..q_hi-1``, scanning entries once per 4 queries.

    Same buffer protocol as :func:`_mih_query` (a group of 4 queries is rolled back).
    """
    n = words.shape[0]
    cap = out_q.shape[0]
    cnt = 0
    for g in range(q_lo, q_hi, 4):
        cnt0 = cnt
        gq = min(4, q_hi - g)
        if gq == 4:
            a0 = qwords[g, 0]
            a1 = qwords[g, 1]
            a2 = qwords[g, 2]
            a3 = qwords[g, 3]
            b0 = qwords[g + 1, 0]
            b1 = qwords[g + 1, 1]
            b2 = qwords[g + 1, 2]
            b3 = qwords[g + 1, 3]
            c0 = qwords[g + 2, 0]
            c1 = qwords[g + 2, 1]
            c2 = qwords[g + 2, 2]
            c3 = qwords[g + 2, 3]
            d0 = qwords[g + 3, 0]
            d1 = qwords[g + 3, 1]
            d2 = qwords[g + 3, 2]
            d3 = qwords[g + 3, 3]
            for e in range(n):
                w0 = words[e, 0]
                w1 = words[e, 1]
                w2 = words[e, 2]
                w3 = words[e, 3]
                da = (_popcount(w0 ^ a0) + _popcount(w1 ^ a1)
                      + _popcount(w2 ^ a2) + _popcount(w3 ^ a3))  # fmt: skip
                db = (_popcount(w0 ^ b0) + _popcount(w1 ^ b1)
                      + _popcount(w2 ^ b2) + _popcount(w3 ^ b3))  # fmt: skip
                dc = (_popcount(w0 ^ c0) + _popcount(w1 ^ c1)
                      + _popcount(w2 ^ c2) + _popcount(w3 ^ c3))  # fmt: skip
                dd = (_popcount(w0 ^ d0) + _popcount(w1 ^ d1)
                      + _popcount(w2 ^ d2) + _popcount(w3 ^ d3))  # fmt: skip
                if min(min(da, db), min(dc, dd)) > r:
                    continue
                if cnt + 4 > cap:
                    return cnt0, g, 0
                if da <= r:
                    out_q[cnt] = g
                    out_e[cnt] = e
                    out_d[cnt] = da
                    cnt += 1
                if db <= r:
                    out_q[cnt] = g + 1
                    out_e[cnt] = e
                    out_d[cnt] = db
                    cnt += 1
                if dc <= r:
                    out_q[cnt] = g + 2
                    out_e[cnt] = e
                    out_d[cnt] = dc
                    cnt += 1
                if dd <= r:
                    out_q[cnt] = g + 3
                    out_e[cnt] = e
                    out_d[cnt] = dd
                    cnt += 1
        else:
            for qi in range(g, g + gq):
                q0 = qwords[qi, 0]
                q1 = qwords[qi, 1]
                q2 = qwords[qi, 2]
                q3 = qwords[qi, 3]
                for e in range(n):
                    d = (_popcount(words[e, 0] ^ q0) + _popcount(words[e, 1] ^ q1)
                         + _popcount(words[e, 2] ^ q2) + _popcount(words[e, 3] ^ q3))  # fmt: skip
                    if d <= r:
                        if cnt == cap:
                            return cnt0, g, 0
                        out_q[cnt] = qi
                        out_e[cnt] = e
                        out_d[cnt] = d
                        cnt += 1
    return cnt, q_hi, 0


@njit(cache=True, nogil=True)
def _build_chunk(words, start, width, dir_bits, offsets, entries):
    """Counting sort of all entries by the chunk's top ``dir_bits`` bits (stable).

    ``offsets`` doubles as the counter array, so the build needs no scratch memory.
    """
    n = words.shape[0]
    lowbits = np.uint64(width - dir_bits)
    lowmask = (np.uint64(1) << lowbits) - np.uint64(1)
    nkeys = offsets.shape[0] - 1
    offsets[:] = 0
    for e in range(n):
        offsets[np.int64(_chunk(words, e, start, width) >> lowbits) + 1] += 1
    for k in range(nkeys):
        offsets[k + 1] += offsets[k]  # offsets[k]: where key k's run starts
    for e in range(n):
        v = _chunk(words, e, start, width)
        k = np.int64(v >> lowbits)
        p = np.int64(offsets[k])
        offsets[k] = p + 1
        entries[p] = (np.uint64(e) << lowbits) | (v & lowmask)
    for k in range(nkeys, 0, -1):  # offsets[k] is now where key k's run ends: shift
        offsets[k] = offsets[k - 1]
    offsets[0] = 0


# --------------------------------------------------------------------------- helpers


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _check_hashes(a: object, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype != np.uint8 or arr.ndim != 2 or arr.shape[1] != PDQ_BYTES:
        raise ValueError(
            f"{what} must be an (N, {PDQ_BYTES}) uint8 array of packed PDQ hashes "
            f"(see hashwatch.signals.pdq_to_array); got shape {arr.shape} dtype {arr.dtype}"
        )
    return arr


def _check_threshold(threshold: object) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, Integral):
        raise ValueError(f"threshold must be a non-negative integer; got {threshold!r}")
    t = int(threshold)
    if t < 0:
        raise ValueError(f"threshold must be a non-negative integer; got {t}")
    return min(t, 8 * PDQ_BYTES)


def _as_words(hashes: np.ndarray) -> np.ndarray:
    """A read-only ``(N, 4)`` uint64 view (read-only so every kernel compiles once)."""
    a = np.ascontiguousarray(hashes)
    if a.ctypes.data % 8:
        a = a.copy()
    w = a.view(np.uint64)
    if w.flags.writeable:
        w = w.view()
        w.flags.writeable = False
    return w


def _aligned_copy(a: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous copy starting on a 64-byte boundary.

    A 32-byte hash row then never straddles two cache lines; malloc'd numpy buffers start
    16 bytes into a page, which costs a second cache miss on half the verifications.
    """
    buf = np.empty(a.nbytes + 64, np.uint8)
    off = (-buf.ctypes.data) % 64
    out = buf[off : off + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    out.flags.writeable = False
    return out


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


@functools.lru_cache(maxsize=16)
def _flip_masks(dir_bits: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Every ``dir_bits``-bit mask with at most ``s`` bits set, by number of bits set."""
    masks: list[int] = []
    flips: list[int] = []
    for k in range(s + 1):
        for bits in itertools.combinations(range(dir_bits), k):
            masks.append(sum(1 << b for b in bits))
            flips.append(k)
    return _readonly(np.array(masks, np.uint64)), _readonly(np.array(flips, np.int64))


def _dir_bits_for(n: int) -> int:
    """One or two entries per directory key (measured fastest from 30k to 10M hashes)."""
    return max(_MIN_DIR_BITS, min(_MAX_DIR_BITS, math.ceil(math.log2(max(n, 2))) - 1))


def _chunk_starts(widths: tuple[int, ...]) -> np.ndarray:
    return _readonly(np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64))


def _empty_result() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32)


def _drive(kernel, lo: int, hi: int):
    """Call ``kernel(lo, hi, out_q, out_e, out_d)`` until every query is done, growing buffers."""
    cap = 1024 + 16 * (hi - lo)
    parts = []
    bad = 0
    while True:
        out_q = np.empty(cap, np.int64)
        out_e = np.empty(cap, np.int64)
        out_d = np.empty(cap, np.int32)
        cnt, nxt, nbad = kernel(lo, hi, out_q, out_e, out_d)
        bad += nbad
        if cnt:
            parts.append((out_q[:cnt].copy(), out_e[:cnt].copy(), out_d[:cnt].copy()))
        if nxt >= hi:
            break
        if nxt == lo:
            cap *= 4  # one query (or group) alone overflowed
        lo = nxt
    if not parts:
        return (*_empty_result(), bad)
    if len(parts) == 1:
        return (*parts[0], bad)
    return (*(np.concatenate([p[i] for p in parts]) for i in range(3)), bad)


def _run_blocks(kernel, nq: int, threads: int | None):
    """Run ``kernel`` over query blocks on a thread pool; concatenate and sort."""
    nthreads = _threads() if threads is None else max(1, int(threads))
    if nthreads == 1 or nq < 64:
        parts = [_drive(kernel, 0, nq)]
    else:
        step = max(16, -(-nq // (nthreads * 8)))
        bounds = [(lo, min(lo + step, nq)) for lo in range(0, nq, step)]
        with ThreadPoolExecutor(nthreads) as pool:
            parts = list(pool.map(lambda b: _drive(kernel, *b), bounds))
    qi = np.concatenate([p[0] for p in parts])
    ei = np.concatenate([p[1] for p in parts])
    di = np.concatenate([p[2] for p in parts])
    bad = sum(int(p[3]) for p in parts)
    order = np.lexsort((ei, di, qi))
    return (qi[order], ei[order], di[order]), bad


def _brute(words: np.ndarray, qwords: np.ndarray, r: int, threads: int | None):
    (qi, ei, di), _ = _run_blocks(
        lambda lo, hi, oq, oe, od: _brute_query(words, qwords, lo, hi, r, oq, oe, od),
        qwords.shape[0],
        threads,
    )
    return qi, ei, di


def brute_force(
    hashes: np.ndarray, queries: np.ndarray, threshold: int = PDQ_DEFAULT_THRESHOLD
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference scan: every ``(query_index, entry_index, distance)`` with distance <= threshold.

    Same inputs and output order as :meth:`PDQIndex.query`.
    """
    hashes = _check_hashes(hashes, "hashes")
    queries = _check_hashes(queries, "queries")
    r = _check_threshold(threshold)
    if hashes.shape[0] == 0 or queries.shape[0] == 0:
        return _empty_result()
    return _brute(_as_words(hashes), _as_words(queries), r, None)


# --------------------------------------------------------------------------- the index


class PDQIndex:
    """Exact Hamming range index over packed PDQ hashes; see the module docstring."""

    def __init__(
        self,
        hashes: np.ndarray,
        dir_bits: int = 0,
        offsets: np.ndarray | None = None,
        entries: np.ndarray | None = None,
        widths: tuple[int, ...] = CHUNK_WIDTHS,
    ) -> None:
        self._hashes = hashes
        self._words = _as_words(hashes)
        self._dir_bits = dir_bits
        self._offsets = None if offsets is None else _readonly(offsets)
        self._entries = None if entries is None else _readonly(entries)
        self._widths = tuple(widths)
        self._starts = _chunk_starts(self._widths)
        self._widths_arr = _readonly(np.array(self._widths, np.int64))
        self._source: Path | None = None

    # -- construction

    @classmethod
    def build(cls, hashes: np.ndarray, *, dir_bits: int | None = None) -> PDQIndex:
        """Index ``(N, 32)`` uint8 hashes (rows as :func:`hashwatch.signals.pdq_to_array`).

        The hashes are copied. ``dir_bits`` overrides the directory width (tuning only).
        """
        hashes = _check_hashes(hashes, "hashes")
        n = hashes.shape[0]
        if n > MAX_ENTRIES:
            raise ValueError(f"PDQIndex holds at most {MAX_ENTRIES} hashes; got {n}")
        hashes = _aligned_copy(hashes)
        if n < BRUTE_FORCE_MAX:
            return cls(hashes)
        d = _dir_bits_for(n) if dir_bits is None else int(dir_bits)
        if not _MIN_DIR_BITS <= d <= _MAX_DIR_BITS or n > 2 ** (32 - max(CHUNK_WIDTHS) + d):
            raise ValueError(f"dir_bits={d} does not suit {n} hashes")
        return cls(hashes, d, *_build_arrays(_as_words(hashes), d))

    def __len__(self) -> int:
        return int(self._hashes.shape[0])

    def __repr__(self) -> str:
        if self._entries is None:
            return f"PDQIndex(n={len(self)}, brute force)"
        return f"PDQIndex(n={len(self)}, chunks={len(self._widths)}, dir_bits={self._dir_bits})"

    @property
    def hashes(self) -> np.ndarray:
        """The stored ``(N, 32)`` uint8 hashes (read-only)."""
        return self._hashes

    @property
    def nbytes(self) -> int:
        """Bytes held by the index arrays (hashes included)."""
        arrays = (self._hashes, self._offsets, self._entries)
        return sum(int(a.nbytes) for a in arrays if a is not None)

    # -- queries

    def _chunk_radius(self, r: int) -> int | None:
        """Per-chunk radius for ``r``, or None where a scan is exact and about as fast."""
        if self._entries is None:
            return None
        s = r // len(self._widths)
        if s > MAX_CHUNK_RADIUS:
            return None
        nprobe = len(self._widths) * len(_flip_masks(self._dir_bits, s)[0])
        if _PROBE_COST * nprobe > len(self):
            return None
        return s

    def query(
        self,
        queries: np.ndarray,
        threshold: int = PDQ_DEFAULT_THRESHOLD,
        *,
        threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every stored hash within ``threshold`` of each query.

        ``queries`` is ``(Q, 32)`` uint8. Returns ``(query_index int64, entry_index int64,
        distance int32)`` sorted by query, distance, entry: exactly :func:`brute_force`'s
        answer. ``threads`` defaults to the CPUs this process may use.
        """
        queries = _check_hashes(queries, "queries")
        r = _check_threshold(threshold)
        if len(self) == 0 or queries.shape[0] == 0:
            return _empty_result()
        qwords = _as_words(queries)
        s = self._chunk_radius(r)
        if s is None:
            return _brute(self._words, qwords, r, threads)
        masks, flips = _flip_masks(self._dir_bits, s)
        words, starts, widths, d = self._words, self._starts, self._widths_arr, self._dir_bits
        offsets, entries = self._offsets, self._entries

        def kernel(lo: int, hi: int, oq: np.ndarray, oe: np.ndarray, od: np.ndarray):
            return _mih_query(
                words, qwords, lo, hi, starts, widths, d, offsets, entries, masks, flips, s, r,
                oq, oe, od,
            )  # fmt: skip

        result, bad = _run_blocks(kernel, qwords.shape[0], threads)
        if bad:
            raise PDQIndexError(
                f"PDQ index is corrupt: {bad} entry ids out of range (N={len(self)})"
            )
        return result

    # -- storage

    def save(self, directory: str | Path) -> None:
        """Write the index to ``directory`` (created if needed): .npy files and a manifest.

        Each file is written under a temporary name and renamed (a memory-mapped index may
        be saved over itself); the manifest goes last and is removed first, so an interrupted
        save never leaves a manifest that points at half-written files.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        manifest_path = directory / MANIFEST
        manifest_path.unlink(missing_ok=True)
        arrays = {"hashes": self._hashes}
        if self._entries is not None:
            arrays.update(offsets=self._offsets, entries=self._entries)
        for key, arr in arrays.items():
            name = _FILES[key][0]
            tmp = directory / f".{name}.tmp"
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(arr), allow_pickle=False)
            os.replace(tmp, directory / name)
        manifest = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "n": len(self),
            "kind": "flat" if self._entries is None else "mih",
            "byteorder": sys.byteorder,
            "chunk_widths": list(self._widths),
            "dir_bits": self._dir_bits,
            "files": {key: _FILES[key][0] for key in arrays},
        }
        tmp = directory / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, manifest_path)

    @classmethod
    def load(cls, directory: str | Path, mmap: bool = True) -> PDQIndex:
        """Open an index written by :meth:`save` (memory-mapped unless ``mmap=False``).

        Raises :class:`PDQIndexError` naming the directory or file when something is missing,
        truncated, inconsistent or of another format version.
        """
        directory = Path(directory)
        manifest_path = directory / MANIFEST
        if not directory.is_dir():
            raise PDQIndexError(f"{directory}: no such PDQ index directory")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PDQIndexError(
                f"{manifest_path}: missing; {directory} is not a complete PDQ index"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PDQIndexError(f"{manifest_path}: unreadable manifest: {exc}") from exc

        def bad(msg: str, path: Path = manifest_path) -> PDQIndexError:
            return PDQIndexError(f"{path}: {msg}")

        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise bad(f"not a {FORMAT_NAME} manifest")
        version = manifest.get("version")
        if version != FORMAT_VERSION:
            raise bad(f"format version {version!r} is not supported (expected {FORMAT_VERSION})")
        n = manifest.get("n")
        kind = manifest.get("kind")
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_ENTRIES:
            raise bad(f"bad entry count n={n!r}")
        if kind not in ("flat", "mih"):
            raise bad(f"unknown index kind {kind!r}")
        if manifest.get("byteorder") != sys.byteorder:
            raise bad(f"written on a {manifest.get('byteorder')}-endian machine; rebuild it here")
        files = manifest.get("files")
        if not isinstance(files, dict):
            raise bad("no file list")
        widths = manifest.get("chunk_widths")
        d = manifest.get("dir_bits")
        if kind == "mih" and not _valid_layout(widths, d, n):
            raise bad(f"bad chunk layout chunk_widths={widths!r} dir_bits={d!r}")

        def array(key: str, shape: tuple[int, ...]) -> np.ndarray:
            name, dtype = _FILES[key]
            if files.get(key) != name:
                raise bad(f"file list does not name {name}")
            path = directory / name
            if not path.is_file():
                raise bad("missing (the index is incomplete)", path)
            try:
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError, EOFError) as exc:
                raise bad(f"unreadable or truncated: {exc}", path) from exc
            if arr.dtype != np.dtype(dtype) or arr.shape != shape:
                raise bad(
                    f"expected shape {shape} dtype {np.dtype(dtype)}, "
                    f"found shape {arr.shape} dtype {arr.dtype}",
                    path,
                )
            if not arr.flags.c_contiguous:
                raise bad("not C-contiguous", path)
            if not mmap:
                return _aligned_copy(arr)
            if key == "hashes" and arr.ctypes.data % 64:
                return _aligned_copy(arr)  # not written by save(): keep rows in one cache line
            return np.asarray(arr)

        hashes = array("hashes", (n, PDQ_BYTES))
        if kind == "flat":
            return cls(hashes)
        m = len(widths)
        offsets = array("offsets", (m, (1 << d) + 1))
        entries = array("entries", (m, n))
        for c in range(m):  # cheap; verify() checks everything
            if offsets[c, 0] != 0 or offsets[c, -1] != n:
                raise bad(f"directory of chunk {c} is inconsistent", directory / "offsets.npy")
        index = cls(hashes, d, offsets, entries, tuple(widths))
        index._source = directory
        return index

    def verify(self) -> None:
        """Check every array against the stored hashes (rebuilds the index and compares).

        :meth:`load` checks the manifest, shapes and sizes only, so that a memory-mapped load
        stays fast; a damaged file can then give wrong answers (never a crash) until this
        finds it. Raises :class:`PDQIndexError` naming the file that does not agree.
        """
        if self._entries is None:
            return
        where = self._source or Path("<memory>")
        if self._widths != CHUNK_WIDTHS:
            raise PDQIndexError(f"{where}: chunk layout {self._widths} is not this version's")
        offsets, entries = _build_arrays(self._words, self._dir_bits)
        for key, mine, want in (
            ("offsets", self._offsets, offsets),
            ("entries", self._entries, entries),
        ):
            for c in range(len(self._widths)):
                if not np.array_equal(mine[c], want[c]):
                    raise PDQIndexError(
                        f"{where / _FILES[key][0]}: chunk {c} does not match the stored hashes"
                    )


def _build_arrays(words: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Directories and entries of every chunk (chunks built in parallel)."""
    m, n = len(CHUNK_WIDTHS), words.shape[0]
    offsets = np.empty((m, (1 << d) + 1), np.uint32)
    entries = np.empty((m, n), np.uint32)
    starts = _chunk_starts(CHUNK_WIDTHS)

    def one(c: int) -> None:
        _build_chunk(words, starts[c], CHUNK_WIDTHS[c], d, offsets[c], entries[c])

    with ThreadPoolExecutor(min(_threads(), m)) as pool:
        list(pool.map(one, range(m)))
    return offsets, entries


def _valid_layout(widths: object, d: object, n: int) -> bool:
    if not isinstance(widths, list) or not widths or not isinstance(d, int):
        return False
    if not all(isinstance(w, int) and not isinstance(w, bool) for w in widths):
        return False
    return (
        sum(widths) == 8 * PDQ_BYTES
        and _MIN_DIR_BITS <= d <= _MAX_DIR_BITS
        and all(d <= w <= 32 for w in widths)
        and n <= 2 ** (32 - max(widths) + d)
    )
