"""The scan pipeline: cache behaviour, failure paths, limits."""

import os
import time

import pytest

from hashwatch.hashing import HashOptions, hash_bytes
from hashwatch.lists import HashList, ListEntry
from hashwatch.match import Matcher
from hashwatch.scan import Scanner, ScanOptions
from tests.conftest import encode, photo


def _list(name, entries):
    return HashList(name, [ListEntry(st, v, str(i + 1)) for i, (st, v) in enumerate(entries)])


def _scan(matcher, paths, cache_path=None, **kw):
    opts = ScanOptions(jobs=2, cache_path=cache_path, use_cache=cache_path is not None, **kw)
    results = []
    summary = Scanner(matcher, opts).run([str(p) for p in paths], results.append)
    return summary, {os.path.basename(r.path): r for r in results}


@pytest.fixture
def tree(tmp_path):
    d = tmp_path / "tree"
    (d / "sub").mkdir(parents=True)
    known = photo(11, (900, 700))
    (d / "known.png").write_bytes(encode(known, "PNG"))
    (d / "sub" / "resized.jpg").write_bytes(encode(known.resize((450, 350)), "JPEG", quality=70))
    (d / "other.jpg").write_bytes(encode(photo(12), "JPEG"))
    (d / "notes.txt").write_bytes(b"minutes of the meeting\n")
    (d / "broken.jpg").write_bytes(encode(photo(13), "JPEG")[:2000])
    return d, hash_bytes(encode(known, "PNG"))


def test_exact_and_pdq_matches(tree, cache_path):
    d, known = tree
    notes = hash_bytes((d / "notes.txt").read_bytes())
    m = Matcher([_list("kit", [("pdq", known.pdq), ("sha1", notes.sha1)])])
    summary, res = _scan(m, [d], cache_path)
    assert summary.files == 5 and summary.hashed == 5
    assert {k for k, r in res.items() if r.matches} == {"known.png", "resized.jpg", "notes.txt"}
    assert res["known.png"].matches[0].distance == 0
    assert 0 < res["resized.jpg"].matches[0].distance <= 31
    assert res["notes.txt"].matches[0].signal_type == "sha1"
    # the truncated JPEG: exact hashes, but listed as not fully scanned, never silently clean
    assert [p for p, _ in summary.partial] == [str(d / "broken.jpg")]


def test_cache_hits_skip_reading_and_rematch_new_lists(tree, cache_path):
    d, known = tree
    m1 = Matcher([_list("empty-ish", [("md5", "0" * 32)])])
    s1, _ = _scan(m1, [d], cache_path)
    assert s1.hashed == 5 and s1.from_cache == 0
    # same lists: nothing read, same (no) verdicts
    s2, res2 = _scan(m1, [d], cache_path)
    assert s2.hashed == 0 and s2.from_cache == 5 and s2.bytes_read == 0
    assert not any(r.matches for r in res2.values())
    # a new list: stored signals re-matched without reading a file
    m2 = Matcher([_list("new", [("pdq", known.pdq)])])
    s3, res3 = _scan(m2, [d], cache_path)
    assert s3.hashed == 0 and s3.bytes_read == 0
    assert res3["known.png"].matches and res3["resized.jpg"].matches
    # a changed file is read again
    time.sleep(0.01)
    (d / "notes.txt").write_bytes(b"changed")
    s4, res4 = _scan(m2, [d], cache_path)
    assert s4.hashed == 1 and res4["notes.txt"].from_cache is False


def test_dihedral_from_cache(tree, cache_path):
    d, known = tree
    (d / "mirror.png").write_bytes(encode(photo(11, (900, 700)).transpose(0), "PNG"))
    plain = Matcher([_list("l", [("pdq", known.pdq)])])
    _, res = _scan(plain, [d], cache_path)
    assert not res["mirror.png"].matches
    from hashwatch.match import MatchSettings

    dih = Matcher([_list("l", [("pdq", known.pdq)])], MatchSettings(dihedral=True))
    s, res = _scan(dih, [d], cache_path)
    assert s.hashed == 0 and res["mirror.png"].matches


def test_unreadable_and_vanishing_files_do_not_stop_the_scan(tmp_path, cache_path):
    d = tmp_path / "t"
    d.mkdir()
    (d / "ok.bin").write_bytes(b"ok")
    os.symlink("/proc/self/mem", d / "mem")  # followed only when asked; read fails with EIO
    summary, res = _scan(None, [d, "/proc/self/mem"], cache_path)
    assert "ok.bin" in res and res["ok.bin"].hashes
    assert [r for _, r in summary.errors] == ["read failed: Input/output error"]


def test_per_file_time_limit_kills_and_goes_on(tmp_path, monkeypatch):
    import hashwatch.scan.pool as pool

    real = pool.hash_file

    def slow(path, *args):
        if path.endswith("slow.bin"):
            time.sleep(30)
        return real(path, *args)

    monkeypatch.setattr(pool, "hash_file", slow)  # inherited by the forked workers
    d = tmp_path / "t"
    d.mkdir()
    for i in range(6):
        (d / f"f{i}.bin").write_bytes(bytes([i]))
    (d / "slow.bin").write_bytes(b"s")
    t0 = time.monotonic()
    summary, res = _scan(None, [d], file_timeout=1.0)
    assert time.monotonic() - t0 < 10
    assert summary.files == 7 and summary.worker_restarts == 1
    assert summary.errors == [(str(d / "slow.bin"), "took longer than the per-file limit of 1 s")]
    assert all(res[f"f{i}.bin"].hashes for i in range(6))


def test_crashing_decoder_is_reported_and_replaced(tmp_path, monkeypatch):
    import hashwatch.scan.pool as pool

    real = pool.hash_file

    def crashy(path, *args):
        if path.endswith("crash.bin"):
            os.kill(os.getpid(), 11)
        return real(path, *args)

    monkeypatch.setattr(pool, "hash_file", crashy)
    d = tmp_path / "t"
    d.mkdir()
    for i in range(4):
        (d / f"f{i}.bin").write_bytes(bytes([i]))
    (d / "crash.bin").write_bytes(b"c")
    summary, res = _scan(None, [d])
    assert summary.errors == [
        (str(d / "crash.bin"), "hashing process crashed on this file (signal 11)")
    ]
    assert all(res[f"f{i}.bin"].hashes for i in range(4))


def test_quality_below_50_never_matches(tmp_path):
    from PIL import Image

    flat = Image.new("RGB", (300, 300), (120, 130, 140))
    p = tmp_path / "flat.png"
    p.write_bytes(encode(flat, "PNG"))
    h = hash_bytes(p.read_bytes(), HashOptions())
    assert h.pdq_quality < 50
    summary, res = _scan(Matcher([_list("l", [("pdq", h.pdq)])]), [p])
    assert summary.matches == 0


def test_corrupt_cache_file_is_a_clear_error(tmp_path):
    from hashwatch.scan import CacheError

    bad = tmp_path / "cache.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CacheError, match="not a usable scan cache"):
        _scan(None, [tmp_path / "cache.sqlite"], bad)


def test_files_that_vanish_or_change_while_scanning(tmp_path, monkeypatch):
    import hashwatch.hashing.content as content
    import hashwatch.scan.pool as pool

    real_hash, real_read = pool.hash_file, content._read_all

    def vanishing(path, *args):
        if path.endswith("gone.bin"):
            os.unlink(path)
        return real_hash(path, *args)

    def read_then_append(f, limit):
        data = real_read(f, limit)
        link = f"/proc/self/fd/{f.fileno()}"
        if os.readlink(link).endswith("grows.bin"):
            with open(link, "ab") as w:  # another writer appends while we hash
                w.write(b"more")
        return data

    monkeypatch.setattr(pool, "hash_file", vanishing)
    monkeypatch.setattr(content, "_read_all", read_then_append)
    d = tmp_path / "t"
    d.mkdir()
    (d / "gone.bin").write_bytes(b"soon gone")
    (d / "grows.bin").write_bytes(b"log line\n")
    (d / "steady.bin").write_bytes(b"steady")
    summary, res = _scan(None, [d])
    errors = dict(summary.errors)
    assert errors[str(d / "gone.bin")] == "cannot open: No such file or directory"
    assert errors[str(d / "grows.bin")] == "file changed while it was being read"
    assert res["steady.bin"].hashes is not None and summary.files == 3


def test_session_keeps_one_pool_swaps_lists_and_rematches_stored_signals(tree, cache_path):
    d, known = tree
    m_empty = Matcher([_list("v1", [("md5", "0" * 32)])])
    opts = ScanOptions(jobs=1, cache_path=cache_path, start_method="forkserver", worker_nice=5)
    with Scanner(m_empty, opts).session(preload=False) as s:
        seen = []
        first = s.run([str(d)], seen.append)
        assert first.hashed == 5 and not any(r.matches for r in seen)
        assert all(r.st is not None and r.st.st_size >= 0 for r in seen)
        pool = s._pool
        # a later list names a file seen before: re-matched from stored signals alone
        s.set_matcher(Matcher([_list("v2", [("pdq", known.pdq)])]))
        again = []
        assert s.rematch_stored(again.append) == 5
        hits = {os.path.basename(r.path) for r in again if r.matches}
        assert hits == {"known.png", "resized.jpg"}
        assert all(r.from_cache and r.st is None for r in again)
        # the stored verdicts are reused: a new file is hashed by the same worker process
        (d / "new.txt").write_bytes(b"new")
        second = s.run([str(d)], lambda r: None)
        assert second.hashed == 1 and second.from_cache == 5
        assert s._pool is pool


def test_session_stopped_by_a_handler_resumes_from_the_cache(tmp_path, cache_path):
    d = tmp_path / "many"
    d.mkdir()
    for i in range(12):
        (d / f"f{i:02}.png").write_bytes(encode(photo(100 + i, (64, 64)), "PNG"))
    m = Matcher([_list("kit", [("md5", "0" * 32)])])

    class Stop(Exception):
        pass

    done = []

    def stop_after_five(r):
        done.append(r.path)
        if len(done) == 5:
            raise Stop

    with Scanner(m, ScanOptions(jobs=1, cache_path=cache_path)).session() as s:
        with pytest.raises(Stop):
            s.run([str(d)], stop_after_five)
        rest = s.run([str(d)], lambda r: None)
    assert rest.files == 12 and rest.from_cache >= 5 and rest.hashed <= 7
