"""Signal types: the kinds of hash hashwatch computes and matches.

A signal type knows how to parse, validate, format and compare one kind of hash. New kinds plug
in by registering a :class:`SignalType`; nothing else needs to change.
"""

from .base import InvalidSignal, SignalType, get, known_names, register, resolve
from .pdq import (
    PDQ_BITS,
    PDQ_BYTES,
    PDQ_DEFAULT_THRESHOLD,
    PDQ_MIN_QUALITY,
    pdq_distance,
    pdq_from_bits,
    pdq_to_array,
)
from .types import MD5, PDQ, SHA1, SHA256, VPDQ, VpdqFrame, parse_vpdq

__all__ = [
    "InvalidSignal",
    "SignalType",
    "get",
    "known_names",
    "register",
    "resolve",
    "MD5",
    "SHA1",
    "SHA256",
    "PDQ",
    "VPDQ",
    "VpdqFrame",
    "parse_vpdq",
    "PDQ_BITS",
    "PDQ_BYTES",
    "PDQ_DEFAULT_THRESHOLD",
    "PDQ_MIN_QUALITY",
    "pdq_distance",
    "pdq_from_bits",
    "pdq_to_array",
]
