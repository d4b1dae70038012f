"""The append-only audit log with a hash chain.

Each entry's ``hash`` is the SHA-256 of the previous entry's hash and the entry's canonical
JSON, so removing, changing or reordering any entry breaks every hash after it;
``verify_chain`` walks the log and says where. The table also refuses UPDATE and DELETE by
trigger (migration 0002). Entries are appended inside the transaction of the change they
record, so a change and its audit entry are committed together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ..store.db import utcnow
from ..store.models import AuditEntry

GENESIS = "0" * 64
_PG_LOCK = 0x68617368  # advisory lock key serialising appends on PostgreSQL


def _canonical(e: AuditEntry) -> bytes:
    body = {
        "id": e.id,
        "at": e.at.isoformat(timespec="microseconds"),
        "actor": e.actor,
        "actor_kind": e.actor_kind,
        "action": e.action,
        "target_type": e.target_type,
        "target_id": e.target_id,
        "detail": e.detail,
        "ip": e.ip,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def entry_hash(prev_hash: str, e: AuditEntry) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + _canonical(e)).hexdigest()


def append(
    session: Session,
    *,
    actor: str,
    actor_kind: str,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    detail: dict | None = None,
    ip: str | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add an entry to the chain, in ``session``'s transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    last = session.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    prev_id, prev_hash = (last[0], last[1]) if last else (0, GENESIS)
    e = AuditEntry(
        id=prev_id + 1,
        at=at or utcnow(),
        actor=actor,
        actor_kind=actor_kind,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        detail=json.dumps(detail or {}, sort_keys=True, separators=(",", ":"), default=str),
        ip=ip,
        prev_hash=prev_hash,
    )
    e.hash = entry_hash(prev_hash, e)
    session.add(e)
    session.flush()
    return e


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    entries: int
    head: str
    problem: str | None = None
    at_id: int | None = None


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Recompute every hash in order; report the first entry that does not fit."""
    prev_hash, expected_id, count, last_id = GENESIS, 1, 0, 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)
        ).all()
        if not rows:
            return ChainReport(True, count, prev_hash)
        for e in rows:
            if e.id != expected_id:
                return ChainReport(
                    False, count, prev_hash, f"entry {expected_id} is missing", expected_id
                )
            if e.prev_hash != prev_hash:
                return ChainReport(
                    False, count, prev_hash, "link to the previous entry is broken", e.id
                )
            if entry_hash(prev_hash, e) != e.hash:
                return ChainReport(False, count, prev_hash, "entry was altered", e.id)
            prev_hash, expected_id, count, last_id = e.hash, e.id + 1, count + 1, e.id
        session.expunge_all()
