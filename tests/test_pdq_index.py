"""PDQIndex: exactly brute force's answer, on every path (index, scan, saved, memory-mapped)."""

from __future__ import annotations

import json
import mmap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashwatch.match import pdq_index
from hashwatch.match.pdq_index import PDQIndex, PDQIndexError, brute_force
from hashwatch.signals import pdq_distance, pdq_to_array
from tests.conftest import SHARED

N_INDEXED = 30_000  # above BRUTE_FORCE_MAX, so build() makes the multi-index structure


def flip(rows: np.ndarray, nbits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Copies of ``rows`` with ``nbits[i]`` distinct random bits flipped in row i."""
    bits = np.unpackbits(rows, axis=1)
    for i, k in enumerate(nbits):
        bits[i, rng.choice(256, int(k), replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def assert_same(got, want) -> None:
    qi, ei, di = got
    assert qi.dtype == np.int64 and ei.dtype == np.int64 and di.dtype == np.int32
    assert len(qi) == len(ei) == len(di)
    for g, w, name in zip(got, want, ("query_index", "entry_index", "distance"), strict=True):
        np.testing.assert_array_equal(g, w, err_msg=name)


def is_mapped(a: np.ndarray) -> bool:
    while a is not None:
        if isinstance(a, np.memmap | mmap.mmap):
            return True
        a = getattr(a, "base", None)
    return False


def random_hashes(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32), dtype=np.uint8)


@pytest.fixture(scope="module")
def uniform():
    rng = np.random.default_rng(1)
    hashes = random_hashes(N_INDEXED, 2)
    near = flip(hashes[rng.integers(0, N_INDEXED, 150)], rng.integers(0, 45, 150), rng)
    queries = np.vstack([near, random_hashes(50, 3)])
    return hashes, queries, PDQIndex.build(hashes)


@pytest.fixture(scope="module")
def skewed():
    """Duplicates, tight near-duplicate clusters, one chunk shared by many, all-zero hashes."""
    rng = np.random.default_rng(4)
    centers = random_hashes(20, 5)
    parts = [
        np.repeat(centers[:1], 3000, axis=0),  # one picture listed 3000 times
        flip(np.repeat(centers[1:11], 1000, axis=0), rng.integers(0, 12, 10_000), rng),
        np.zeros((500, 32), np.uint8),
        flip(np.zeros((2000, 32), np.uint8), rng.integers(0, 30, 2000), rng),
        random_hashes(15_000, 6),
    ]
    same_chunk = random_hashes(2000, 7)
    same_chunk[:, :3] = centers[12, :3]  # every entry falls in one bucket of chunk 0
    parts.append(same_chunk)
    hashes = np.vstack(parts)
    hashes = hashes[rng.permutation(len(hashes))]
    queries = np.vstack(
        [
            centers,
            flip(centers, rng.integers(1, 25, 20), rng),
            np.zeros((1, 32), np.uint8),
            flip(same_chunk[:20], np.full(20, 20), rng),
            random_hashes(20, 8),
        ]
    )
    return hashes, queries, PDQIndex.build(hashes)


@pytest.fixture
def force_index(monkeypatch):
    """Make even tiny lists and costly radii go through the multi-index path."""
    monkeypatch.setattr(pdq_index, "BRUTE_FORCE_MAX", 0)
    monkeypatch.setattr(pdq_index, "_PROBE_COST", 0)


def test_builds_the_index_structure(uniform):
    _, _, idx = uniform
    assert len(idx) == N_INDEXED
    assert idx._entries is not None and idx._chunk_radius(31) == 2


@pytest.mark.parametrize("threshold", [0, 1, 10, 21, 22, 31, 32, 33, 40, 44, 60])
def test_uniform_equals_brute_force(uniform, threshold):
    hashes, queries, idx = uniform
    want = brute_force(hashes, queries, threshold)
    assert_same(idx.query(queries, threshold), want)
    if threshold == 31:
        assert 100 <= len(want[0]) < 200  # the near-duplicate queries find their originals


@pytest.mark.parametrize("threshold", [0, 1, 10, 31, 40, 50])
def test_skewed_equals_brute_force(skewed, threshold):
    hashes, queries, idx = skewed
    assert idx._entries is not None
    want = brute_force(hashes, queries, threshold)
    got = idx.query(queries, threshold)
    assert_same(got, want)
    if threshold == 31:
        assert len(got[0]) > 10_000  # the duplicate and cluster queries match thousands


def real_frame_hashes() -> np.ndarray:
    """PDQ hashes of real video frames (Meta's vPDQ samples): correlated, many near-equal."""
    files = sorted((SHARED / "data" / "vpdq-reference").glob("*.txt"))
    hexes = [line.split(",")[2] for f in files for line in f.read_text().splitlines() if line]
    return pdq_to_array(hexes)


def test_real_pdq_hashes_equal_brute_force(force_index):
    hashes = real_frame_hashes()
    assert len(hashes) > 1000
    idx = PDQIndex.build(hashes)
    assert idx._entries is not None
    for t in (0, 10, 31, 45):
        want = brute_force(hashes, hashes, t)
        assert_same(idx.query(hashes, t), want)
    assert len(want[0]) > 20 * len(hashes)  # frames of one video are near each other


def test_threads_do_not_change_the_answer(skewed):
    hashes, queries, idx = skewed
    assert_same(idx.query(queries, 31, threads=1), idx.query(queries, 31, threads=3))


def test_results_sorted_unique_and_distances_true(uniform):
    hashes, queries, idx = uniform
    qi, ei, di = idx.query(queries, 31)
    order = np.lexsort((ei, di, qi))
    np.testing.assert_array_equal(order, np.arange(len(qi)))
    assert len(set(zip(qi.tolist(), ei.tolist(), strict=True))) == len(qi)
    hexes = [bytes(h).hex() for h in hashes[ei[:50]]]
    qhex = [bytes(q).hex() for q in queries[qi[:50]]]
    assert [pdq_distance(a, b) for a, b in zip(hexes, qhex, strict=True)] == di[:50].tolist()
    assert np.all(di <= 31)


def test_hex_round_trip_matches():
    hexes = [bytes(h).hex() for h in random_hashes(3, 9)]
    idx = PDQIndex.build(pdq_to_array(hexes))
    qi, ei, di = idx.query(pdq_to_array([hexes[2], hexes[0]]), 0)
    assert qi.tolist() == [0, 1] and ei.tolist() == [2, 0] and di.tolist() == [0, 0]


def test_misaligned_and_strided_inputs(uniform):
    hashes, queries, idx = uniform
    raw = np.frombuffer(b"\0" + hashes.tobytes(), np.uint8)[1:].reshape(-1, 32)
    qraw = np.frombuffer(b"\0" + queries.tobytes(), np.uint8)[1:].reshape(-1, 32)
    assert raw.ctypes.data % 8 and qraw.ctypes.data % 8
    want = idx.query(queries, 31)
    assert_same(PDQIndex.build(raw).query(qraw, 31), want)
    assert_same(brute_force(raw, qraw, 31), want)
    wide = np.zeros((len(queries), 64), np.uint8)
    wide[:, ::2] = queries
    assert_same(idx.query(wide[:, ::2], 31), want)


def test_small_list_uses_brute_force_and_agrees():
    hashes = random_hashes(500, 10)
    queries = np.vstack([hashes[:5], random_hashes(5, 11)])
    idx = PDQIndex.build(hashes)
    assert idx._entries is None
    assert_same(idx.query(queries, 31), brute_force(hashes, queries, 31))
    assert idx.query(queries, 31)[1][:5].tolist() == [0, 1, 2, 3, 4]


def test_tiny_lists_through_the_index(force_index):
    rng = np.random.default_rng(12)
    hashes = np.vstack([random_hashes(300, 13), np.repeat(random_hashes(1, 14), 50, axis=0)])
    queries = flip(hashes[rng.integers(0, len(hashes), 40)], rng.integers(0, 40, 40), rng)
    idx = PDQIndex.build(hashes)
    assert idx._entries is not None
    for t in (0, 5, 31, 43, 44):
        assert_same(idx.query(queries, t), brute_force(hashes, queries, t))


def test_large_result_sets_grow_buffers(skewed):
    hashes, _, idx = skewed
    queries = np.repeat(np.zeros((1, 32), np.uint8), 40, axis=0)  # each matches ~2500
    for t in (31, 60):
        want = brute_force(hashes, queries, t)
        assert len(want[0]) > 40 * 2000
        assert_same(idx.query(queries, t), want)


def test_empty_index_and_empty_queries(uniform):
    _, queries, idx = uniform
    empty = PDQIndex.build(np.zeros((0, 32), np.uint8))
    assert len(empty) == 0
    for got in (
        empty.query(queries, 31),
        idx.query(np.zeros((0, 32), np.uint8), 31),
        brute_force(np.zeros((0, 32), np.uint8), queries, 31),
    ):
        assert [len(a) for a in got] == [0, 0, 0]
        assert [a.dtype for a in got] == [np.int64, np.int64, np.int32]


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((3, 32), np.int64),
        np.zeros((3, 31), np.uint8),
        np.zeros(32, np.uint8),
        np.zeros((2, 3, 32), np.uint8),
        [[1, 2, 3]],
    ],
)
def test_bad_shapes_and_dtypes(bad, uniform):
    _, _, idx = uniform
    with pytest.raises(ValueError, match=r"\(N, 32\) uint8"):
        PDQIndex.build(bad)
    with pytest.raises(ValueError, match="queries"):
        idx.query(bad)
    with pytest.raises(ValueError):
        brute_force(bad, np.zeros((1, 32), np.uint8), 31)


@pytest.mark.parametrize("threshold", [-1, 3.5, "31", True, None])
def test_bad_threshold(threshold, uniform):
    _, queries, idx = uniform
    with pytest.raises(ValueError, match="threshold"):
        idx.query(queries, threshold)


def test_index_is_a_copy():
    hashes = random_hashes(100, 15)
    idx = PDQIndex.build(hashes)
    want = idx.query(hashes[:3], 0)
    hashes[:] = 0
    assert_same(idx.query(idx.hashes[:3], 0), want)
    assert idx.hashes.ctypes.data % 64 == 0 and not idx.hashes.flags.writeable


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(uniform, tmp_path, mmap):
    hashes, queries, idx = uniform
    idx.save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["n"] == N_INDEXED and manifest["version"] == 1 and manifest["kind"] == "mih"
    loaded = PDQIndex.load(tmp_path / "idx", mmap=mmap)
    assert len(loaded) == N_INDEXED
    assert is_mapped(loaded._entries) == mmap and is_mapped(loaded.hashes) == mmap
    np.testing.assert_array_equal(loaded.hashes, hashes)
    for t in (0, 31, 50):
        assert_same(loaded.query(queries, t), idx.query(queries, t))


def test_save_load_small_and_empty(tmp_path):
    for n in (0, 7):
        hashes = random_hashes(n, 16)
        PDQIndex.build(hashes).save(tmp_path / str(n))
        loaded = PDQIndex.load(str(tmp_path / str(n)))
        assert len(loaded) == n
        assert_same(loaded.query(hashes, 3), brute_force(hashes, hashes, 3))


def test_save_over_its_own_memory_mapped_files(uniform, tmp_path):
    hashes, queries, idx = uniform
    idx.save(tmp_path)
    loaded = PDQIndex.load(tmp_path)
    loaded.save(tmp_path)
    assert_same(PDQIndex.load(tmp_path).query(queries, 31), idx.query(queries, 31))
    assert_same(loaded.query(queries, 31), idx.query(queries, 31))


@pytest.fixture
def saved(uniform, tmp_path):
    uniform[2].save(tmp_path)
    return tmp_path


def _edit_manifest(path, **changes):
    m = json.loads((path / "manifest.json").read_text())
    m.update(changes)
    (path / "manifest.json").write_text(json.dumps(m))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: (p / "manifest.json").unlink(), "manifest.json: missing"),
        (lambda p: (p / "manifest.json").write_text("{not json"), "unreadable manifest"),
        (lambda p: (p / "manifest.json").write_text("[]"), "not a hashwatch-pdq-index"),
        (lambda p: _edit_manifest(p, version=99), "format version 99"),
        (lambda p: _edit_manifest(p, n=N_INDEXED + 1), "hashes.npy: expected shape"),
        (lambda p: _edit_manifest(p, n=-3), "bad entry count"),
        (lambda p: _edit_manifest(p, kind="lsh"), "unknown index kind"),
        (lambda p: _edit_manifest(p, dir_bits=40), "bad chunk layout"),
        (lambda p: _edit_manifest(p, chunk_widths=[128, 128]), "bad chunk layout"),
        (lambda p: (p / "entries.npy").unlink(), "entries.npy: missing"),
        (lambda p: (p / "hashes.npy").unlink(), "hashes.npy: missing"),
        (lambda p: (p / "hashes.npy").write_bytes(b"garbage"), "hashes.npy: unreadable"),
        (
            lambda p: (p / "entries.npy").write_bytes((p / "entries.npy").read_bytes()[:5000]),
            "entries.npy: unreadable or truncated",
        ),
        (
            lambda p: np.save(p / "offsets.npy", np.zeros_like(np.load(p / "offsets.npy"))),
            "offsets.npy: directory of chunk 0 is inconsistent",
        ),
        (
            lambda p: np.save(p / "entries.npy", np.zeros((11, N_INDEXED), np.uint64)),
            "entries.npy: expected shape",
        ),
    ],
)
def test_corrupt_or_incomplete_index(saved, damage, message):
    damage(saved)
    with pytest.raises(PDQIndexError, match=message) as exc:
        PDQIndex.load(saved)
    assert str(saved) in str(exc.value)


def test_load_missing_directory(tmp_path):
    with pytest.raises(PDQIndexError, match="no such PDQ index directory"):
        PDQIndex.load(tmp_path / "nope")


def test_corrupt_entry_ids_are_caught(saved, uniform):
    _, queries, idx = uniform
    entries = np.load(saved / "entries.npy")
    entries[:] = np.uint32(0xFFFFFFFF)  # every id far out of range
    np.save(saved / "entries.npy", entries)
    loaded = PDQIndex.load(saved)
    with pytest.raises(PDQIndexError, match="corrupt"):
        loaded.query(queries, 31)


def test_verify_passes_on_a_good_index(saved, uniform):
    PDQIndex.load(saved).verify()
    uniform[2].verify()
    PDQIndex.build(random_hashes(10, 17)).verify()


def test_verify_finds_damage_that_load_does_not_read(saved, uniform):
    _, queries, idx = uniform
    offsets = np.load(saved / "offsets.npy")
    offsets[3, 100:200] = np.uint32(2**32 - 1)  # far past the end of the entries
    offsets[5, 1000:1010] = 0  # runs that go backwards
    np.save(saved / "offsets.npy", offsets)
    loaded = PDQIndex.load(saved)  # only the endpoints are checked, to stay fast
    loaded.query(queries, 31)  # may be wrong, must not crash
    with pytest.raises(PDQIndexError, match=r"offsets\.npy: chunk 3 does not match"):
        loaded.verify()

    idx.save(saved)
    entries = np.load(saved / "entries.npy")
    entries[7, :50] = entries[7, 50:100]  # valid ids, wrong places
    np.save(saved / "entries.npy", entries)
    with pytest.raises(PDQIndexError, match=r"entries\.npy: chunk 7 does not match") as exc:
        PDQIndex.load(saved).verify()
    assert str(saved) in str(exc.value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    n=st.integers(1, 120),
    nq=st.integers(0, 12),
    threshold=st.integers(0, 70),
)
def test_property_equals_brute_force(data, n, nq, threshold):
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # Few distinct rows and sparse bits make duplicates and close pairs common.
    base = rng.integers(0, 256, (max(1, n // 3), 32), dtype=np.uint8)
    base &= rng.integers(0, 256, base.shape, dtype=np.uint8)
    hashes = flip(base[rng.integers(0, len(base), n)], rng.integers(0, 6, n), rng)
    queries = flip(hashes[rng.integers(0, n, nq)], rng.integers(0, 40, nq), rng)
    want = brute_force(hashes, queries, threshold)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pdq_index, "BRUTE_FORCE_MAX", 0)
        mp.setattr(pdq_index, "_PROBE_COST", 0)
        idx = PDQIndex.build(hashes)
        assert_same(idx.query(queries, threshold), want)
    assert_same(PDQIndex.build(hashes).query(queries, threshold), want)
