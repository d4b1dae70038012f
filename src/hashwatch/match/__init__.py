"""Matching: exact and PDQ indices, and the matcher over loaded lists."""

from .exact import ExactIndex
from .matcher import EXACT_TYPES, Match, Matcher, MatchSettings


def __getattr__(name: str):  # the index needs numba: imported on first use only
    if name in ("PDQIndex", "PDQIndexError"):
        from . import pdq_index

        return getattr(pdq_index, name)
    raise AttributeError(name)


__all__ = [
    "EXACT_TYPES",
    "ExactIndex",
    "Match",
    "Matcher",
    "MatchSettings",
    "PDQIndex",
    "PDQIndexError",
]
