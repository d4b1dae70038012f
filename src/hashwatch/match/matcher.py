"""The matcher: signals of a content item in, matches against every loaded list out."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from ..lists.model import HashList, ListEntry
from ..signals import PDQ_DEFAULT_THRESHOLD, PDQ_MIN_QUALITY, pdq_to_array
from ..signals.types import parse_vpdq
from .exact import ExactIndex
from .pdq_small import pdq_index_for

#: The derived signal type holding the PDQ of a picture's central 80%.
CENTER = "pdq_center80"
_VIA = {0: None, 1: "rotated", 2: "trimmed", 3: "region"}

#: Signal types matched by equality, with their width in bytes.
EXACT_TYPES = {"md5": 16, "sha1": 20, "sha256": 32}


def vpdq_digest(canonical: str) -> str:
    """How a matched video entry is named: the sha256 of its canonical vPDQ text (the text
    itself runs to thousands of frames)."""
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Match:
    """One list entry that a content item matched. ``signal`` is the entry's own hash (for a
    vPDQ entry, :func:`vpdq_digest` of it); ``distance`` for a video is the median distance
    of its matching frames."""

    signal_type: str
    signal: str
    distance: int
    list: str
    entry_id: str
    category: str | None
    list_version: int | None = None
    derived_from: str | None = None
    #: Where inside the scanned file the matching item is (``a.zip!dir/b.jpg``); None for
    #: the file itself.
    inner: str | None = None
    #: How a perceptual match was found when not on the whole picture as it is: ``rotated``
    #: (a rotation or mirror of it), ``trimmed`` (its content inside bars or a window),
    #: ``region`` (a centre region against a ``pdq_center80`` entry: cropped or turned).
    via: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class MatchSettings:
    pdq_threshold: int = PDQ_DEFAULT_THRESHOLD
    pdq_min_quality: int = PDQ_MIN_QUALITY
    dihedral: bool = False
    #: vPDQ: a video matches a listed one when at least this share of its distinct frames
    #: (quality >= pdq_min_quality) lie within pdq_threshold of the listed video's frames...
    vpdq_query_share: float = 0.8
    #: ...and at least this share of the listed video's frames match it (Meta's defaults).
    vpdq_compared_share: float = 0.0
    #: Match the trimmed views and centre regions of pictures (when they were hashed).
    views: bool = False


class Matcher:
    """Indexes a set of hash lists once and matches content hashes against all of them."""

    def __init__(self, lists: Sequence[HashList], settings: MatchSettings = MatchSettings()):
        self.lists = list(lists)
        self.settings = settings
        self._entries: list[tuple[int, ListEntry]] = []
        by_type: dict[str, list[int]] = {}
        for li, hl in enumerate(self.lists):
            for e in hl.entries:
                by_type.setdefault(e.signal_type, []).append(len(self._entries))
                self._entries.append((li, e))
        self._exact: dict[str, tuple[ExactIndex, np.ndarray]] = {}
        for st, width in EXACT_TYPES.items():
            ids = by_type.get(st, [])
            if ids:
                idx = ExactIndex.build(width, [self._entries[i][1].signal for i in ids])
                self._exact[st] = (idx, np.asarray(ids, dtype=np.int64))
        pdq_ids = by_type.get("pdq", []) + by_type.get(CENTER, [])
        self._pdq_ids = np.asarray(pdq_ids, dtype=np.int64)
        #: which indexed hashes are ``pdq_center80`` (derived) ones
        self._pdq_center = np.asarray(
            [self._entries[i][1].signal_type == CENTER for i in pdq_ids], dtype=bool
        )
        self._originals = self._original_pdqs()
        self._pdq_thresholds = np.asarray(
            [self._threshold(self._entries[i][0]) for i in pdq_ids], dtype=np.int32
        )
        packed = pdq_to_array(self._entries[i][1].signal for i in pdq_ids)
        self._pdq = pdq_index_for(packed)  # numba only for lists over SMALL_MAX
        self._pdq_max = int(self._pdq_thresholds.max()) if len(pdq_ids) else 0
        self._vpdq_ids = by_type.get("vpdq", [])
        self._vpdq = None
        if self._vpdq_ids:
            from .vpdq import VpdqIndex

            self._vpdq = VpdqIndex(
                [parse_vpdq(self._entries[i][1].signal) for i in self._vpdq_ids],
                settings.pdq_threshold,
                settings.pdq_min_quality,
            )
        self.unsupported = {
            st: len(v)
            for st, v in by_type.items()
            if st not in EXACT_TYPES and st not in ("pdq", CENTER, "vpdq")
        }

    def _original_pdqs(self) -> dict[tuple[int, str], str]:
        """(list, entry id) -> the entry's own PDQ, which its derived hashes come from."""
        out: dict[tuple[int, str], str] = {}
        if not self._pdq_center.any():
            return out  # no derived hashes (lists imported as hashes): nothing to look up
        for li, e in self._entries:
            if e.signal_type == "pdq":
                out.setdefault((li, e.entry_id), e.signal)
        return out

    def _threshold(self, list_index: int) -> int:
        t = self.lists[list_index].pdq_threshold
        return self.settings.pdq_threshold if t is None else t

    @property
    def fingerprint(self) -> str:
        """Identifies the lists and settings, so a stored verdict is reused only if both agree."""
        h = hashlib.sha256(repr(self.settings).encode())
        for hl in self.lists:
            counts = sorted(hl.counts().items())
            h.update(repr((hl.name, hl.version, hl.pdq_threshold, counts)).encode())
            h.update(hl.metadata.get("sha256", "").encode())
            if "sha256" not in hl.metadata:
                for e in hl.entries:
                    h.update(f"{e.signal_type}:{e.signal}:{e.entry_id}:{e.category}".encode())
        return h.hexdigest()

    def match(self, hashes: object) -> list[Match]:
        """Matches for one item: anything with ``md5``, ``sha1``, ``sha256``, ``pdq``,
        ``pdq_quality`` and ``pdq_dihedral`` attributes (a :class:`ContentHashes`)."""
        return self.match_many([hashes])[0]

    def match_file(self, hashes: object) -> list[Match]:
        """Matches for a file and every item inside it (a container), each item's matches
        carrying its chain in ``inner``."""
        return self.match_files([hashes])[0]

    def match_files(self, files: Sequence[object]) -> list[list[Match]]:
        """:meth:`match_file` for many files at once (all their items in one batch)."""
        flat: list[object] = []
        where: list[tuple[int, str | None]] = []
        for n, h in enumerate(files):
            flat.append(h)
            where.append((n, None))
            for it in getattr(h, "items", None) or ():
                if it.hashes is not None:
                    flat.append(it.hashes)
                    where.append((n, it.inner))
        out: list[list[Match]] = [[] for _ in files]
        for (n, inner), found in zip(where, self.match_many(flat), strict=True):
            if inner is None:
                out[n].extend(found)
            else:
                out[n].extend(replace(m, inner=inner) for m in found)
        return out

    def match_many(self, items: Sequence[object]) -> list[list[Match]]:
        """Matches for many items at once (PDQ queries are batched)."""
        out: list[list[Match]] = [[] for _ in items]
        for st, (idx, ids) in self._exact.items():
            for n, positions in idx.lookup_many([getattr(item, st, None) for item in items]):
                for pos in positions:
                    out[n].append(self._make(int(ids[pos]), 0))
        if len(self._pdq):
            self._match_pdq(items, out)
        if self._vpdq is not None:
            self._match_vpdq(items, out)
        for found in out:
            found.sort(key=lambda m: (m.list, m.distance, m.signal_type, m.entry_id))
        return out

    def _match_pdq(self, items: Sequence[object], out: list[list[Match]]) -> None:
        # every query hash with its owner and how it was made: 0 the picture, 1 a rotation
        # or mirror, 2 a trimmed view (against listed PDQs), 3 a centre region (against
        # pdq_center80 entries only)
        queries: list[str] = []
        owner: list[int] = []
        kind: list[int] = []
        s = self.settings
        for n, item in enumerate(items):
            pdq = getattr(item, "pdq", None)
            quality = getattr(item, "pdq_quality", None)
            if not pdq or quality is None or quality < s.pdq_min_quality:
                continue
            variants = getattr(item, "pdq_dihedral", None) if s.dihedral else None
            for v, h in enumerate(variants or [pdq]):
                queries.append(h)
                owner.append(n)
                kind.append(0 if v == 0 else 1)
            if s.views:
                for k, name in ((2, "pdq_views"), (3, "pdq_regions")):
                    for h in getattr(item, name, None) or ():
                        queries.append(h)
                        owner.append(n)
                        kind.append(k)
        if not queries:
            return
        qi, ei, dist = self._pdq.query(pdq_to_array(queries), self._pdq_max)
        # one match per (item, list entry): the closest, the whole picture first
        best: dict[tuple[int, int, str, str], tuple[int, int, int]] = {}
        for q, e, d in zip(qi.tolist(), ei.tolist(), dist.tolist(), strict=True):
            if d > self._pdq_thresholds[e]:
                continue
            center = bool(self._pdq_center[e])
            if (kind[q] == 2 and center) or (kind[q] == 3 and not center):
                continue  # views match listed PDQs; regions match centre hashes only
            li, entry = self._entries[int(self._pdq_ids[e])]
            root = self._originals.get((li, entry.entry_id), "") if center else entry.signal
            key = (owner[q], li, entry.entry_id, root)
            rank = (kind[q] > 0, d, kind[q])
            if key not in best or rank < (best[key][2] > 0, best[key][1], best[key][2]):
                best[key] = (e, d, kind[q])
        for (n, *_), (e, d, k) in best.items():
            out[n].append(self._make(int(self._pdq_ids[e]), d, _VIA[k]))

    def _match_vpdq(self, items: Sequence[object], out: list[list[Match]]) -> None:
        assert self._vpdq is not None
        s = self.settings
        for n, item in enumerate(items):
            text = getattr(item, "vpdq", None)
            if not text:
                continue
            for hit in self._vpdq.query(
                parse_vpdq(text), s.vpdq_query_share, s.vpdq_compared_share
            ):
                out[n].append(self._make(self._vpdq_ids[hit.entry], hit.distance))

    def _make(self, entry_index: int, distance: int, via: str | None = None) -> Match:
        li, e = self._entries[entry_index]
        hl = self.lists[li]
        derived = e.derived_from
        if derived is None and e.signal_type == CENTER:
            derived = self._originals.get((li, e.entry_id))
        return Match(
            e.signal_type,
            vpdq_digest(e.signal) if e.signal_type == "vpdq" else e.signal,
            distance,
            hl.name,
            e.entry_id,
            e.category,
            hl.version,
            derived,
            via=via,
        )
