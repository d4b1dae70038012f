"""The matcher: Meta's dihedral reference set, quality floor, thresholds, many lists."""

import numpy as np
import pytest

from hashwatch.hashing import HashOptions, hash_file
from hashwatch.lists import HashList, ListEntry
from hashwatch.match import Matcher, MatchSettings
from hashwatch.match.pdq_index import brute_force
from hashwatch.match.pdq_small import SmallPDQIndex
from tests.conftest import PDQ_REF

DIH = sorted((PDQ_REF / "reg-test-input" / "dih").glob("*.jpg"))
OPTS = HashOptions(dihedral=True)


def _pdq_list(name, hashes, threshold=None):
    entries = [ListEntry("pdq", h, str(i + 1)) for i, h in enumerate(hashes)]
    return HashList(name, entries, pdq_threshold=threshold)


def test_dihedral_reference_set():
    assert len(DIH) == 8 and DIH[0].name == "bridge-1-original.jpg"
    original = hash_file(DIH[0], OPTS)
    lst = [_pdq_list("bridge", [original.pdq])]
    on = Matcher(lst, MatchSettings(dihedral=True))
    off = Matcher(lst, MatchSettings(dihedral=False))
    for path in DIH:
        h = hash_file(path, OPTS)
        assert on.match(h), f"{path.name} must match the original with dihedral matching on"
        if path != DIH[0]:
            assert not off.match(h), f"{path.name} must not match with dihedral matching off"


def test_low_quality_reference_images_never_match():
    for rel in (
        "misc-images/small.jpg",
        "reg-test-input/labelme-subset/q0003.jpg",
        "reg-test-input/labelme-subset/q0004.jpg",
    ):
        h = hash_file(PDQ_REF / rel, OPTS)
        assert h.pdq_quality < 50
        m = Matcher([_pdq_list("self", [h.pdq])], MatchSettings(dihedral=True, pdq_threshold=256))
        assert m.match(h) == []


def test_per_list_threshold_and_names():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, 32, dtype=np.uint8)
    flipped = base.copy()
    flipped[:3] ^= 0xFF  # 24 bits away

    class H:
        pdq, pdq_quality, pdq_dihedral = bytes(flipped).hex(), 100, None
        md5 = sha1 = sha256 = None

    strict = _pdq_list("strict", [bytes(base).hex()], threshold=10)
    loose = _pdq_list("loose", [bytes(base).hex()])
    found = Matcher([strict, loose]).match(H())
    assert [(m.list, m.distance) for m in found] == [("loose", 24)]


def test_exact_matches_across_lists_keep_each_lists_id_and_category():
    a = HashList("a", [ListEntry("md5", "1" * 32, "A-7", "cat-A")])
    b = HashList("b", [ListEntry("md5", "1" * 32, "B-9", "cat-B")])

    class H:
        md5, sha1, sha256, pdq, pdq_quality = "1" * 32, None, None, None, None

    found = Matcher([a, b]).match(H())
    assert [(m.list, m.entry_id, m.category) for m in found] == [
        ("a", "A-7", "cat-A"),
        ("b", "B-9", "cat-B"),
    ]


@pytest.mark.parametrize("threshold", [0, 8, 31, 64])
def test_small_list_path_equals_brute_force(threshold):
    rng = np.random.default_rng(threshold)
    hashes = rng.integers(0, 256, (500, 32), dtype=np.uint8)
    queries = hashes[rng.integers(0, 500, 40)].copy()
    queries[:, :2] ^= rng.integers(0, 256, (40, 2), dtype=np.uint8)
    queries = np.vstack([queries, rng.integers(0, 256, (20, 32), dtype=np.uint8)])
    got = SmallPDQIndex(hashes).query(queries, threshold)
    want = brute_force(hashes, queries, threshold)
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w)
