"""Detection quality: how many altered copies a matcher finds, and how many it gets wrong.

:func:`evaluate` lists the sources (as ``hashwatch lists build`` would: every signal plus the
derived ``pdq_center80``), alters each with every transform of :mod:`.transforms`, stores
each copy as a file would be stored (JPEG quality 90; the screenshot as PNG), and matches it
as a scan does: with the shipped settings (rotations, trimmed views, centre regions) and,
side by side, with plain PDQ (pdqhash, distance 31, the picture as it is). Distractors, and
their altered copies, must match nothing. Used by ``bench/bench_quality.py`` (real photos)
and by the test suite (test-kit pictures).
"""

from __future__ import annotations

import functools
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from PIL import Image

from ..hashing import ContentHashes, HashOptions, hash_bytes
from ..lists.build import entries_for
from ..lists.model import HashList
from ..match import Matcher, MatchSettings
from .alter import encode
from .transforms import TRANSFORMS, transform

#: What a scan computes, and how it matches (the shipped defaults).
SHIPPED_HASHING = HashOptions(dihedral=True, views=True)
SHIPPED_MATCHING = MatchSettings(dihedral=True, views=True)
#: Plain PDQ: the picture as it is, Meta's distance 31.
PLAIN_HASHING = HashOptions()
PLAIN_MATCHING = MatchSettings()
#: Altered copies are made from the source at most this many pixels on its long side.
WORK_SIDE = 1600


@dataclass
class Outcome:
    """Per transform: copies made, found by each matcher, and wrong matches of each."""

    copies: int = 0
    found: int = 0
    found_plain: int = 0
    wrong: int = 0
    wrong_plain: int = 0

    def add(self, other: Outcome) -> None:
        self.copies += other.copies
        self.found += other.found
        self.found_plain += other.found_plain
        self.wrong += other.wrong
        self.wrong_plain += other.wrong_plain


@dataclass
class Report:
    sources: int = 0
    distractors: int = 0
    by_transform: dict[str, Outcome] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    #: wrong matches of distractors and their copies (each copy counted once)
    distractor_wrong: int = 0
    distractor_wrong_plain: int = 0
    distractor_queries: int = 0
    seconds: float = 0.0
    seconds_plain: float = 0.0
    queries: int = 0
    list_pdq_hashes: int = 0
    list_pdq_hashes_plain: int = 0
    cache_bytes: int = 0
    cache_bytes_plain: int = 0
    #: how the shipped matcher found the copies it found (``as is`` or a Match.via)
    via: dict[str, int] = field(default_factory=dict)
    #: every false match: (copy's source or distractor, transform, matched entry, matcher)
    false_matches: list[tuple[str, str, str, str]] = field(default_factory=list)

    def total(self) -> Outcome:
        t = Outcome()
        for o in self.by_transform.values():
            t.add(o)
        return t

    def group_totals(self) -> dict[str, Outcome]:
        out: dict[str, Outcome] = {}
        for name, o in self.by_transform.items():
            out.setdefault(self.groups[name], Outcome()).add(o)
        return out


def encode_copy(img: Image.Image, name: str) -> bytes:
    """An altered copy as a file holds it: PNG for a screenshot, else JPEG quality 90."""
    if name == "screenshot":
        return encode(img, "PNG", compress_level=1)
    return encode(img.convert("RGB"), "JPEG", quality=90)


def _work_copy(img: Image.Image) -> Image.Image:
    img = img.convert("RGB")
    if max(img.size) > WORK_SIDE:
        img = img.copy()
        img.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    return img


def _cache_bytes(h: ContentHashes) -> int:
    n = len(h.pdq_dihedral or []) + len(h.pdq_views or []) + len(h.pdq_regions or [])
    return 32 * (n + (1 if h.pdq else 0) + (1 if h.pdq_center else 0))


def build_lists(sources: Sequence[tuple[str, bytes]]) -> tuple[HashList, HashList]:
    """The list built from the sources' files (shipped) and its plain-PDQ counterpart."""
    hashed = [_shipped(data, name) for name, data in sources]
    entries, _ = entries_for(hashed, ids=[name for name, _ in sources])
    shipped = HashList("sources", entries)
    plain = HashList("sources", [e for e in entries if e.signal_type == "pdq"])
    return shipped, plain


def evaluate(
    sources: Sequence[tuple[str, bytes]],
    distractors: Sequence[tuple[str, bytes]],
    transforms: Sequence[str] | None = None,
    seed: int = 2026,
    distractor_transforms: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Match every altered copy of every source (and every distractor and its copies)."""
    names = list(transforms) if transforms is not None else [t for t, _, _ in TRANSFORMS]
    groups = {t: g for t, g, _ in TRANSFORMS}
    shipped_list, plain_list = build_lists(sources)
    shipped = Matcher([shipped_list], SHIPPED_MATCHING)
    plain = Matcher([plain_list], PLAIN_MATCHING)
    report = Report(
        sources=len(sources),
        distractors=len(distractors),
        groups={t: groups[t] for t in names},
        list_pdq_hashes=sum(
            1 for e in shipped_list.entries if e.signal_type in ("pdq", "pdq_center80")
        ),
        list_pdq_hashes_plain=len(plain_list.entries),
    )
    report.by_transform = {t: Outcome() for t in names}
    jobs: list[tuple[int, str | None, str]] = []  # (owner, transform or None, source name)
    owners = [(name, data, True) for name, data in sources] + [
        (name, data, False) for name, data in distractors
    ]
    for k, (name, _, is_source) in enumerate(owners):
        if not is_source:
            jobs.append((k, None, name))
        if is_source or distractor_transforms:
            jobs.extend((k, t, name) for t in names)
    images: dict[int, Image.Image] = {}
    for done, (k, tname, name) in enumerate(jobs):
        if progress is not None:
            progress(done, len(jobs))
        _, data, is_source = owners[k]
        if tname is None:
            copy = data
        else:
            if k not in images:
                images.clear()
                with Image.open(io.BytesIO(data)) as im:
                    images[k] = _work_copy(im)
            altered = transform(images[k], tname, seed + k)
            copy = encode_copy(altered, tname)
        t0 = time.perf_counter()
        h = hash_bytes(copy, SHIPPED_HASHING)
        found = {m.entry_id: m for m in shipped.match(h)}
        t1 = time.perf_counter()
        p = hash_bytes(copy, PLAIN_HASHING)
        found_plain = {m.entry_id for m in plain.match(p)}
        t2 = time.perf_counter()
        report.seconds += t1 - t0
        report.seconds_plain += t2 - t1
        report.queries += 1
        report.cache_bytes += _cache_bytes(h)
        report.cache_bytes_plain += _cache_bytes(p)
        for wrong in sorted(set(found) - {name}):
            report.false_matches.append((name, tname or "as is", wrong, "hashwatch"))
        for wrong in sorted(found_plain - {name}):
            report.false_matches.append((name, tname or "as is", wrong, "plain PDQ"))
        if is_source and tname is not None:
            o = report.by_transform[tname]
            o.copies += 1
            o.found += name in found
            o.found_plain += name in found_plain
            o.wrong += bool(set(found) - {name})
            o.wrong_plain += bool(found_plain - {name})
            if name in found:
                via = found[name].via or "as is"
                report.via[via] = report.via.get(via, 0) + 1
        else:
            report.distractor_queries += 1
            report.distractor_wrong += bool(found)
            report.distractor_wrong_plain += bool(found_plain)
    return report


def encode_source(img: Image.Image) -> bytes:
    """A generated picture as a source file (PNG, lossless)."""
    return encode(img.convert("RGB"), "PNG", compress_level=1)


@functools.lru_cache(maxsize=1024)
def _shipped(data: bytes, name: str) -> ContentHashes:
    """A source or candidate hashed as a scan hashes it, once per run (``distinct`` and
    ``build_lists`` meet the same pictures; nothing mutates the result)."""
    return hash_bytes(data, SHIPPED_HASHING, name)


def distinct(
    candidates: Sequence[tuple[str, bytes]], against: Sequence[tuple[str, bytes]] = ()
) -> tuple[list[tuple[str, bytes]], list[tuple[str, str]], list[tuple[str, bytes]]]:
    """The candidates that are distinct pictures: not the same picture as one kept before
    (nor as one of ``against``) under any transform the shipped matcher knows, nor within
    PDQ distance 90 of one (a recolouring or re-cropping of the same artwork).

    Returns (distinct with PDQ quality >= 50, [(dropped, same as)], low quality ones)."""
    kept: list[tuple[str, bytes]] = []
    kept_hashes: list[ContentHashes] = []
    dropped: list[tuple[str, str]] = []
    low: list[tuple[str, bytes]] = []
    ref = [(n, _shipped(d, n)) for n, d in against]
    for name, data in candidates:
        h = _shipped(data, name)
        same = _same_picture(h, ref + list(zip([n for n, _ in kept], kept_hashes, strict=True)))
        if same is not None:
            dropped.append((name, same))
            continue
        if h.pdq is None or (h.pdq_quality or 0) < 50:
            low.append((name, data))
            continue
        kept.append((name, data))
        kept_hashes.append(h)
    return kept, dropped, low


def _same_picture(h: ContentHashes, others: list[tuple[str, ContentHashes]]) -> str | None:
    if not others:
        return None
    entries, _ = entries_for([o for _, o in others], ids=[n for n, _ in others])
    loose = Matcher([HashList("kept", entries)], MatchSettings(90, 0, True, views=True))
    strict = Matcher([HashList("kept", entries)], replace(SHIPPED_MATCHING, pdq_min_quality=0))
    for m in loose.match(h) + strict.match(h):
        if m.signal_type in ("pdq", "pdq_center80") and (m.via in (None, "rotated")):
            return m.entry_id
        if m.signal_type in ("pdq", "pdq_center80") and m.distance <= 31:
            return m.entry_id
    return None


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def share(n: int, d: int) -> float:
    return 100.0 * n / d if d else float("nan")


__all__ = ["Outcome", "Report", "distinct", "encode_copy", "encode_source", "evaluate"]
