"""The signal-type plug-in shape and its registry."""

from __future__ import annotations

import string
from collections.abc import Iterable

_HEX = frozenset(string.hexdigits)


class InvalidSignal(ValueError):
    """A hash string that is not a valid value of its signal type; the message says why."""


class SignalType:
    """One kind of hash. Subclasses set the class attributes and may override the methods.

    ``name`` is the canonical name used in output and lists; ``aliases`` are other names that
    list formats use for the same thing (pytx's ``video_md5``, for example). ``exact`` types
    match by equality; the others by ``distance`` under a threshold.
    """

    name: str = ""
    aliases: tuple[str, ...] = ()
    exact: bool = True
    hex_len: int = 0

    def parse(self, text: str) -> str:
        """Return the canonical form (lowercase hex) of ``text`` or raise :class:`InvalidSignal`."""
        value = text.strip().lower()
        if len(value) != self.hex_len:
            raise InvalidSignal(
                f"{self.name} must be {self.hex_len} hex digits, got {len(value)} characters"
            )
        if not _HEX.issuperset(value):
            bad = next(c for c in value if c not in _HEX)
            raise InvalidSignal(f"{self.name} contains a non-hex character {bad!r}")
        return value

    def is_valid(self, text: str) -> bool:
        try:
            self.parse(text)
        except InvalidSignal:
            return False
        return True

    def distance(self, a: str, b: str) -> int:
        """0 when equal; for exact types 1 otherwise."""
        return 0 if a == b else 1

    def __repr__(self) -> str:
        return f"<signal type {self.name}>"


_REGISTRY: dict[str, SignalType] = {}
_BY_ALIAS: dict[str, SignalType] = {}


def register(signal_type: SignalType) -> SignalType:
    """Add a signal type (and its aliases) to the registry."""
    _REGISTRY[signal_type.name] = signal_type
    for alias in (signal_type.name, *signal_type.aliases):
        _BY_ALIAS[alias.lower()] = signal_type
    return signal_type


def resolve(name: str) -> SignalType | None:
    """The signal type called ``name`` (canonical name or alias, any case), else None."""
    return _BY_ALIAS.get(name.strip().lower())


def get(name: str) -> SignalType:
    """Like :func:`resolve` but raises KeyError naming the known types."""
    st = resolve(name)
    if st is None:
        raise KeyError(f"unknown signal type {name!r} (known: {', '.join(known_names())})")
    return st


def known_names() -> list[str]:
    return sorted(_REGISTRY)


def all_types() -> Iterable[SignalType]:
    return _REGISTRY.values()
