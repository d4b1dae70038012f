"""Matching: exact and PDQ indices, and the matcher over loaded lists."""

from .exact import ExactIndex
from .matcher import EXACT_TYPES, Match, Matcher, MatchSettings
from .pdq_index import PDQIndex, PDQIndexError

__all__ = [
    "EXACT_TYPES",
    "ExactIndex",
    "Match",
    "Matcher",
    "MatchSettings",
    "PDQIndex",
    "PDQIndexError",
]
