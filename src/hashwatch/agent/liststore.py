"""The agent's hash lists: the signed bundles the server sent, kept as they arrived.

Each list lives in ``lists/<name>/``: one full bundle and the deltas applied to it since,
named by a ``manifest.json`` that is replaced atomically. Every bundle is verified against
the key pinned at enrolment *before* it is stored, and again whenever the lists are loaded,
so a file altered on disk is refused too. A bad signature, an older or same version, a
delta for another base or a corrupt download is refused and the current list kept.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..lists.bundle import BundleInfo, apply_delta, read_bundle
from ..lists.model import HashList, ListFormatError
from ..lists.readers.common import ReadOptions

#: After this many deltas the next update asks for a full bundle (keeps loading fast).
MAX_DELTAS = 8
_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class ListUpdateError(Exception):
    """A bundle that was refused; the current list is kept."""


@dataclass(slots=True)
class Manifest:
    name: str
    version: int
    files: list[str]  # the full bundle first, then deltas in order
    key_id: str

    def to_json(self) -> str:
        return json.dumps(
            {"name": self.name, "version": self.version, "files": self.files, "key_id": self.key_id}
        )


def _dirname(name: str) -> str:
    """A list's directory: its name if that is a safe file name, else a digest of it."""
    if _SAFE.match(name) and name not in (".", ".."):
        return name
    return "list-" + hashlib.sha256(name.encode()).hexdigest()[:24]


def _sync_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ListStore:
    def __init__(self, directory: Path, trusted: Ed25519PublicKey):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.trusted = trusted
        self._opts = ReadOptions(skip_unknown_types=True)

    def manifests(self) -> dict[str, Manifest]:
        out = {}
        for mf in sorted(self.dir.glob("*/manifest.json")):
            try:
                d = json.loads(mf.read_text())
                out[d["name"]] = Manifest(
                    d["name"], int(d["version"]), list(d["files"]), d["key_id"]
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue  # reported by load()
        return out

    def versions(self) -> dict[str, int]:
        return {n: m.version for n, m in self.manifests().items()}

    def _read(self, path: Path, data: bytes | None = None):
        raw = data if data is not None else path.read_bytes()
        return read_bundle(path, io.BytesIO(raw), [self.trusted], self._opts)

    def _build(self, m: Manifest) -> HashList:
        d = self.dir / _dirname(m.name)
        current: HashList | None = None
        for fname in m.files:
            info, entries, removed = self._read(d / fname)
            if info.name != m.name:
                raise ListFormatError(d / fname, f"bundle is for list {info.name!r}")
            current = self._apply(current, info, entries, removed, d / fname)
        if current is None or current.version != m.version:
            raise ListFormatError(d / "manifest.json", "bundles do not add up to its version")
        return current

    def _apply(self, current, info: BundleInfo, entries, removed, where) -> HashList:
        if info.kind == "full":
            return HashList(info.name, list(entries), str(where), "bundle", info.version)
        if current is None:
            raise ListFormatError(where, "a delta bundle with no full list to apply it to")
        try:
            return apply_delta(current, entries, removed, info)
        except ValueError as e:
            raise ListFormatError(where, str(e)) from None

    def load(self) -> tuple[list[HashList], list[str]]:
        """Every stored list, each verified again; (lists, problems). A list whose files
        fail verification is left out and named in the problems."""
        lists, problems = [], []
        for name, m in sorted(self.manifests().items()):
            try:
                lists.append(self._build(m))
            except (OSError, ListFormatError) as e:
                problems.append(f"list {name!r}: {e}")
        for mf in self.dir.glob("*/manifest.json"):
            try:
                json.loads(mf.read_text())["name"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                problems.append(f"{mf}: unreadable manifest ({e})")
        return lists, problems

    def wants_full(self, name: str) -> bool:
        m = self.manifests().get(name)
        return m is None or len(m.files) > MAX_DELTAS

    def apply(self, name: str, data: bytes, current: HashList | None) -> HashList:
        """Verify a bundle from the server and make it the list's new version (atomically).
        ``current`` is the loaded list (needed for a delta). Raises ListUpdateError."""
        d = self.dir / _dirname(name)
        try:
            info, entries, removed = self._read(d / "incoming.bundle", data)
        except ListFormatError as e:
            raise ListUpdateError(f"list {name!r}: bundle refused: {e.reason}") from None
        if info.name != name:
            raise ListUpdateError(f"list {name!r}: the bundle is for list {info.name!r}")
        m = self.manifests().get(name)
        have = m.version if m else 0
        if info.version <= have:
            raise ListUpdateError(
                f"list {name!r}: bundle version {info.version} is not newer than the "
                f"version in use ({have}); refused"
            )
        if info.kind == "delta":
            if m is None or current is None or info.base_version != have:
                raise ListUpdateError(
                    f"list {name!r}: delta from version {info.base_version} does not apply to "
                    f"the version in use ({have}); refused"
                )
        try:
            new = self._apply(current, info, entries, removed, d)
        except ListFormatError as e:
            raise ListUpdateError(f"list {name!r}: {e.reason}") from None
        d.mkdir(parents=True, exist_ok=True)
        if info.kind == "full":
            fname = f"full-{info.version}.bundle"
            files = [fname]
        else:
            fname = f"delta-{info.base_version}-{info.version}.bundle"
            files = [*m.files, fname]
        _sync_write(d / fname, data)
        _sync_write(
            d / "manifest.json", Manifest(name, info.version, files, info.key_id).to_json().encode()
        )
        # files no longer named by the manifest are not needed
        for old in d.glob("*.bundle"):
            if old.name not in files:
                old.unlink(missing_ok=True)
        new.source = str(d / fname)
        return new

    def remove(self, name: str) -> None:
        shutil.rmtree(self.dir / _dirname(name), ignore_errors=True)
