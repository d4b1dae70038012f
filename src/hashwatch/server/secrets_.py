"""Tokens and passwords.

People's passwords are hashed with Argon2id (argon2-cffi). Machine secrets (agent secrets,
enrolment and API tokens) are 256-bit random values, so a plain SHA-256 of them is as safe
to store as a slow hash and costs microseconds per request instead of tens of milliseconds —
which is what lets one server take hundreds of heartbeats a second.

A token reads ``<prefix>_<id>_<secret>``: the id finds the row, the secret is checked in
constant time against the stored hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PREFIXES = {"agent": "hwa", "enroll": "hwe", "api": "hwu"}
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("hashwatch-dummy-password")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    id: str
    secret: str

    def __str__(self) -> str:
        return f"{PREFIXES[self.kind]}_{self.id}_{self.secret}"


def make_token(kind: str, token_id: str | None = None) -> Token:
    return Token(kind, token_id or new_id(), new_secret())


def parse_token(text: str, kind: str) -> Token | None:
    """The parts of a token of ``kind``, or None if it is not one."""
    prefix, sep, rest = text.strip().partition("_")
    if not sep or prefix != PREFIXES[kind]:
        return None
    token_id, sep, secret = rest.partition("_")
    if not sep or not token_id or not secret or len(text) > 200:
        return None
    return Token(kind, token_id, secret)


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(sha256_hex(secret), stored_hash)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password: str, stored: str | None) -> bool:
    """Constant work whether or not the account exists (``stored`` None)."""
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    return secrets.token_urlsafe(15)
