"""PDQ helpers: packing, distances, thresholds (Meta's defaults)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

PDQ_BITS = 256
PDQ_BYTES = 32
#: Hamming distance at or under which two PDQ hashes are taken as the same picture (Meta's).
PDQ_DEFAULT_THRESHOLD = 31
#: Hashes of lower quality carry too little structure to match (flat or tiny images).
PDQ_MIN_QUALITY = 50

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def pdq_distance(a: str, b: str) -> int:
    """Hamming distance between two PDQ hashes given as 64-digit hex."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def pdq_to_array(hashes: Iterable[str]) -> np.ndarray:
    """Pack hex PDQ hashes into an ``(N, 32)`` uint8 array (big-endian, as the hex reads)."""
    hexes = list(hashes)
    if not hexes:
        return np.zeros((0, PDQ_BYTES), dtype=np.uint8)
    raw = bytes.fromhex("".join(hexes))
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(hexes), PDQ_BYTES).copy()


def pdq_from_array(row: np.ndarray) -> str:
    return bytes(row).hex()


def pdq_from_bits(bits: np.ndarray) -> str:
    """Hex of a 256-element 0/1 vector from ``pdqhash.compute`` (MSB first)."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def hamming_many(query: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Distances from one packed hash ``(32,)`` to every row of ``table`` ``(N, 32)``."""
    return _POPCOUNT8[np.bitwise_xor(table, query)].sum(axis=1, dtype=np.int32)
