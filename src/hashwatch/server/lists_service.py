"""Hash lists on the server: import any format the engine reads, keep every version, publish
each version as a signed bundle, with deltas between versions, and retire false positives.

An entry lives in versions ``added_version <= v < removed_version``. Importing a file for a
list makes the next version: entries not in the file are removed, new ones added, changed
ones (id, category, tags) replaced. Retired hashes never enter a list and retiring one
removes it from every list in a new version, so agents drop it on their next bundle.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from ..lists import ListEntry, ListFormatError, load_list
from ..lists.bundle import write_bundle
from ..store.db import utcnow
from ..store.models import HashListRow, ListEntryRow, ListVersion, RetiredHash
from . import audit

_CHUNK = 5000
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class ListServiceError(ValueError):
    pass


@dataclass
class ImportReport:
    name: str
    format: str
    source: str
    source_sha256: str
    entries: int
    counts: dict[str, int]
    categories: dict[str, int]
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    retired_skipped: int = 0
    version: int | None = None  # set when applied
    applied: bool = False
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _key(e: ListEntry | ListEntryRow) -> tuple[str, str]:
    return (e.signal_type, e.signal)


def _same(a: ListEntry, b: ListEntryRow) -> bool:
    return (
        a.entry_id == b.entry_id
        and (a.category or None) == (b.category or None)
        and " ".join(a.tags) == (b.tags or "")
        and a.size == b.size
    )


def _alive(list_id: int, version: int):
    return and_(
        ListEntryRow.list_id == list_id,
        ListEntryRow.added_version <= version,
        or_(ListEntryRow.removed_version.is_(None), ListEntryRow.removed_version > version),
    )


def _retired(session: Session) -> set[tuple[str, str]]:
    return set(session.execute(select(RetiredHash.signal_type, RetiredHash.signal)))


def import_file(
    session: Session,
    path: str | Path,
    name: str,
    *,
    actor: str,
    actor_kind: str = "user",
    ip: str | None = None,
    apply: bool = True,
    bare_hex_64: str = "sha256",
    source_name: str | None = None,
    trusted_keys: Iterable = (),
) -> ImportReport:
    """Validate ``path`` and (if ``apply``) publish it as the next version of list ``name``.

    Raises :class:`ListFormatError` naming the file and line if the file cannot be read in
    full: a list is never half-imported.
    """
    import re

    if not re.match(NAME_PATTERN, name):
        raise ListServiceError(
            f"list name {name!r}: use letters, digits, '.', '_' and '-' (at most 100)"
        )
    hl = load_list(path, name=name, bare_hex_64=bare_hex_64, trusted_keys=list(trusted_keys))
    retired = _retired(session)
    wanted: dict[tuple[str, str], ListEntry] = {}
    skipped = 0
    for e in hl.entries:
        if _key(e) in retired:
            skipped += 1
        else:
            wanted.setdefault(_key(e), e)
    report = ImportReport(
        name=name,
        format=hl.format,
        source=source_name or Path(path).name,
        source_sha256=hl.metadata.get("sha256", "") or _sha256(path),
        entries=len(hl.entries),
        counts=hl.counts(),
        categories=hl.categories(),
        retired_skipped=skipped,
    )
    row = session.scalar(select(HashListRow).where(HashListRow.name == name))
    current = {}
    if row is not None and row.version:
        for r in session.scalars(select(ListEntryRow).where(_alive(row.id, row.version))):
            current[_key(r)] = r
    gone = [r for k, r in current.items() if k not in wanted or not _same(wanted[k], r)]
    new = [e for k, e in wanted.items() if k not in current or not _same(e, current[k])]
    report.added, report.removed = len(new), len(gone)
    report.unchanged = len(wanted) - len(new)
    if not wanted:
        report.warnings.append("every entry of the file is retired: nothing to publish")
    if not apply:
        return report
    if row is None:
        row = HashListRow(name=name, version=0, created_at=utcnow())
        session.add(row)
        session.flush()
    if row.version and not new and not gone:
        report.warnings.append("no change from the current version: no new version made")
        report.version = row.version
        return report
    version = _new_version(
        session, row, new, gone, actor, "import", report.source, hl.format, report.source_sha256
    )
    report.version, report.applied = version, True
    audit.append(
        session,
        actor=actor,
        actor_kind=actor_kind,
        action="list.import",
        target_type="list",
        target_id=name,
        detail={
            "version": version,
            "added": report.added,
            "removed": report.removed,
            "source": report.source,
            "sha256": report.source_sha256,
            "format": hl.format,
        },
        ip=ip,
    )
    return report


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _new_version(
    session: Session,
    row: HashListRow,
    new: list[ListEntry],
    gone: list[ListEntryRow],
    actor: str,
    reason: str,
    source: str | None = None,
    fmt: str | None = None,
    sha: str | None = None,
) -> int:
    version = row.version + 1
    ids = [r.id for r in gone]
    for i in range(0, len(ids), _CHUNK):
        session.execute(
            update(ListEntryRow)
            .where(ListEntryRow.id.in_(ids[i : i + _CHUNK]))
            .values(removed_version=version)
        )
    rows = [
        {
            "list_id": row.id,
            "signal_type": e.signal_type,
            "signal": e.signal,
            "entry_id": e.entry_id,
            "category": e.category,
            "tags": " ".join(e.tags),
            "size": e.size,
            "added_version": version,
            "removed_version": None,
        }
        for e in new
    ]
    for i in range(0, len(rows), _CHUNK):
        session.execute(insert(ListEntryRow), rows[i : i + _CHUNK])
    counts: dict[str, int] = {}
    for st, n in session.execute(
        select(ListEntryRow.signal_type, _count())
        .where(_alive(row.id, version))
        .group_by(ListEntryRow.signal_type)
    ):
        counts[st] = n
    session.add(
        ListVersion(
            list_id=row.id,
            version=version,
            created_at=utcnow(),
            created_by=actor,
            reason=reason,
            source_name=source,
            source_format=fmt,
            source_sha256=sha,
            added=len(new),
            removed=len(gone),
            total=sum(counts.values()),
            counts=counts,
        )
    )
    row.version = version
    session.flush()
    return version


def _count():
    from sqlalchemy import func

    return func.count()


def retire(
    session: Session,
    signal_type: str,
    signal: str,
    *,
    reason: str | None,
    actor: str,
    ip: str | None = None,
) -> list[tuple[str, int]]:
    """Retire a hash (false positive): every list holding it gets a new version without it.
    Returns the (list, new version) pairs."""
    from ..signals import get as signal_type_get

    try:
        st = signal_type_get(signal_type)
        signal = st.parse(signal)
    except (KeyError, ValueError) as e:
        raise ListServiceError(f"cannot retire: {e}") from None
    if session.scalar(
        select(RetiredHash).where(RetiredHash.signal_type == st.name, RetiredHash.signal == signal)
    ):
        raise ListServiceError(f"{st.name} {signal} is already retired")
    session.add(
        RetiredHash(
            signal_type=st.name, signal=signal, reason=reason, retired_by=actor, retired_at=utcnow()
        )
    )
    changed = []
    for row in session.scalars(select(HashListRow).order_by(HashListRow.name)):
        hits = session.scalars(
            select(ListEntryRow).where(
                _alive(row.id, row.version),
                ListEntryRow.signal_type == st.name,
                ListEntryRow.signal == signal,
            )
        ).all()
        if hits:
            changed.append((row.name, _new_version(session, row, [], list(hits), actor, "retire")))
    audit.append(
        session,
        actor=actor,
        actor_kind="user",
        action="list.retire",
        target_type="hash",
        target_id=f"{st.name}:{signal}"[:100],
        detail={"reason": reason, "lists": changed},
        ip=ip,
    )
    return changed


# ---- bundles ---------------------------------------------------------------------------


def _entry(r: ListEntryRow) -> ListEntry:
    return ListEntry(
        r.signal_type,
        r.signal,
        r.entry_id,
        r.category,
        tuple(r.tags.split()) if r.tags else (),
        r.size,
    )


@dataclass(frozen=True)
class BundleFile:
    path: Path
    kind: str
    version: int
    base_version: int | None


def bundle(
    session: Session, row: HashListRow, since: int | None, key, cache_dir: Path
) -> BundleFile:
    """The signed bundle taking an agent from ``since`` (None/0: nothing) to the latest."""
    version = row.version
    if version < 1:
        raise ListServiceError(f"list {row.name!r} has no published version yet")
    if since is not None and not 0 <= since <= version:
        raise ListServiceError(
            f"version {since} of list {row.name!r} does not exist (latest is {version})"
        )
    d = cache_dir / str(row.id)
    d.mkdir(parents=True, exist_ok=True)
    if since:
        path = d / f"{version}-from-{since}.hwb"
        if not path.exists():
            added = session.scalars(
                select(ListEntryRow).where(
                    _alive(row.id, version), ListEntryRow.added_version > since
                )
            ).all()
            removed = session.scalars(
                select(ListEntryRow).where(
                    ListEntryRow.list_id == row.id,
                    ListEntryRow.added_version <= since,
                    ListEntryRow.removed_version > since,
                    ListEntryRow.removed_version <= version,
                )
            ).all()
            _write(
                path,
                key,
                row.name,
                version,
                [_entry(r) for r in added],
                [_entry(r) for r in removed],
                since,
            )
        return BundleFile(path, "delta", version, since)
    path = d / f"{version}-full.hwb"
    if not path.exists():
        entries = [
            _entry(r)
            for r in session.scalars(
                select(ListEntryRow).where(_alive(row.id, version)).order_by(ListEntryRow.id)
            )
        ]
        _write(path, key, row.name, version, entries, [], None)
    return BundleFile(path, "full", version, None)


def _write(path, key, name, version, entries, removed, base) -> None:
    """Write atomically, so a concurrent reader never sees half a bundle."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        write_bundle(tmp, key, name, version, entries, removed=removed, base_version=base)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = [
    "BundleFile",
    "ImportReport",
    "ListFormatError",
    "ListServiceError",
    "bundle",
    "import_file",
    "retire",
]
