"""Hashing: content to signals. One read of a file feeds every hasher."""

from .content import (
    ContentHashes,
    HashOptions,
    InnerHashes,
    ReadError,
    hash_bytes,
    hash_file,
    pdq_dihedral_of_array,
    pdq_of_array,
)

__all__ = [
    "InnerHashes",
    "ContentHashes",
    "HashOptions",
    "ReadError",
    "hash_bytes",
    "hash_file",
    "pdq_dihedral_of_array",
    "pdq_of_array",
]
