import os
import socket

from hashwatch.scan import WalkOptions, walk


def _walk(paths, base, **kw):
    skipped = []
    files = sorted(
        os.path.relpath(i.path, base)
        for i in walk(paths, WalkOptions(**kw), lambda p, r: skipped.append((p, r)))
    )
    return files, skipped


def test_regular_files_only_and_no_symlink_loops(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one.jpg").write_bytes(b"1")
    (tmp_path / "a" / "b" / "two").write_bytes(b"2")
    os.mkfifo(tmp_path / "a" / "fifo")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp_path / "a" / "sock"))
    (tmp_path / "a" / "b" / "loop").symlink_to(tmp_path / "a")
    (tmp_path / "a" / "link-to-file").symlink_to(tmp_path / "a" / "one.jpg")

    files, skipped = _walk([tmp_path], base=tmp_path)
    assert files == ["a/b/two", "a/one.jpg"]
    reasons = {os.path.basename(p): r for p, r in skipped}
    assert "FIFO" in reasons["fifo"] and "socket" in reasons["sock"]
    assert "symbolic link" in reasons["loop"]

    files, skipped = _walk([tmp_path], base=tmp_path, follow_symlinks=True)
    # the loop is entered once, noticed, and not followed again; files reached by link count
    assert "a/one.jpg" in files and "a/link-to-file" in files
    assert any("already visited" in r for _, r in skipped)
    s.close()


def test_devices_and_missing_paths(tmp_path):
    files, skipped = _walk(["/dev/null", str(tmp_path / "nope")], base=tmp_path)
    assert files == []
    assert ("/dev/null", "not a regular file (device)") in skipped
    assert any("cannot access" in r for _, r in skipped)


def test_stays_on_one_file_system(tmp_path):
    # /proc is another file system: walking / with one_file_system must not descend into it
    seen = []
    for item in walk(
        ["/"],
        WalkOptions(exclude_dirs=frozenset({"work", "usr", "root", "tmp", "var", "opt", "home"})),
        lambda p, r: seen.append((p, r)),
    ):
        assert not item.path.startswith("/proc/")
    assert any(p == "/proc" and "another file system" in r for p, r in seen)


def test_explicit_file_and_symlink_arguments(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"x")
    link = tmp_path / "l"
    link.symlink_to(f)
    files, _ = _walk([f, link], base=tmp_path)
    assert files == ["f", "l"]
