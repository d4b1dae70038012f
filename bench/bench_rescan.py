"""Rescan of an unchanged tree (every file a scan-cache hit) against ``find TREE -type f``.

    python bench/bench_rescan.py [--files 100000] [--dir DIR]

Builds a tree of small files (once), scans it once to fill the cache, then times, in the
same run, ``find TREE -type f`` and ``hashwatch scan`` of the unchanged tree (same lists:
stored verdicts reused) and after a list change (stored signals re-matched, no file read).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, table, timed  # noqa: E402


def build_tree(root: Path, n: int) -> None:
    marker = root / f".complete-{n}"
    if marker.exists():
        return
    per_dir = 100
    for i in range(n):
        d = root / f"d{i // (per_dir * 50):03d}" / f"s{(i // per_dir) % 50:02d}"
        if i % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:06d}.dat").write_bytes(f"file {i}\n".encode() * (1 + i % 7))
    marker.touch()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--dir", type=Path, default=REPO / "bench" / ".out" / "rescan")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    tree = args.dir / "tree"
    tree.mkdir(parents=True, exist_ok=True)
    build_tree(tree, args.files)
    hw = str(Path(sys.executable).parent / "hashwatch")
    cache = args.dir / "cache.sqlite"
    list_a, list_b = args.dir / "a.txt", args.dir / "b.txt"
    list_a.write_text("md5 " + "0" * 32 + "\n")
    list_b.write_text("md5 " + "1" * 32 + "\n")
    t_fill, cp = timed(
        [hw, "scan", "--quiet", "--cache", str(cache), "--list", str(list_a), str(tree)]
    )
    assert cp.returncode == 0, cp.stderr
    print(f"tree: {args.files} files; first scan (fills the cache): {t_fill:.1f} s")

    def best(cmd):
        times = []
        for _ in range(args.repeat):
            t, cp = timed(cmd)
            assert cp.returncode == 0, cp.stderr
            times.append(t)
        return min(times), statistics.median(times)

    find = best(["find", str(tree), "-type", "f"])
    same = best([hw, "scan", "--quiet", "--cache", str(cache), "--list", str(list_a), str(tree)])
    # alternate lists so every run re-matches stored signals
    t_new = []
    for i in range(args.repeat):
        lst = list_b if i % 2 == 0 else list_a
        t, cp = timed([hw, "scan", "--quiet", "--cache", str(cache), "--list", str(lst), str(tree)])
        t_new.append(t)
    new = (min(t_new), statistics.median(t_new))
    rows = [
        ["find TREE -type f", f"{find[0]:.3f}", f"{find[1]:.3f}", "1.0x"],
        [
            "hashwatch scan, unchanged tree and lists",
            f"{same[0]:.3f}",
            f"{same[1]:.3f}",
            f"{same[0] / find[0]:.1f}x",
        ],
        [
            "hashwatch scan, unchanged tree, new list",
            f"{new[0]:.3f}",
            f"{new[1]:.3f}",
            f"{new[0] / find[0]:.1f}x",
        ],
    ]
    print(table(rows, ["what", "best s", "median s", "time vs find"]))
    print(f"cpu count {os.cpu_count()}; {args.repeat} runs each")


if __name__ == "__main__":
    main()
