"""Hashing speed on real photographs, side by side with the peers, and PDQ fidelity.

    python bench/bench_hash.py [--corpus DIR] [--fidelity]

Peers, same files, same machine, one run:
  (a) ``threatexchange hash photo`` (Meta's python-threatexchange CLI), in its own venv;
  (b) a naive loop: Pillow full decode + pdqhash + sha1, one process;
and the floor: decode-only at hashwatch's DCT scale on all cores.
hashwatch is timed as ``hashwatch hash --no-cache`` (every signal: md5, sha1, sha256, PDQ +
the 8 dihedral PDQs) on all cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    DEFAULT_CORPUS,
    DEFAULT_PEER,
    corpus_files,
    ensure_corpus,
    ensure_peer_venv,
    table,
    timed,
)

NAIVE = """
import hashlib, sys, numpy as np, pdqhash
from PIL import Image
for p in sys.argv[1:]:
    data = open(p, "rb").read()
    hashlib.sha1(data).hexdigest()
    with Image.open(p) as im:
        bits, q = pdqhash.compute(np.asarray(im.convert("RGB")))
"""


def _decode_only(path: str) -> int:
    from hashwatch.media import decode_for_pdq, sniff

    data = open(path, "rb").read()
    return decode_for_pdq(data, sniff(data[:512])).shape[0]


def _fidelity_one(path: str) -> tuple[int, int | None, int]:
    from hashwatch.hashing import HashOptions, hash_bytes
    from hashwatch.media import DecodeLimits
    from hashwatch.signals import pdq_distance

    data = open(path, "rb").read()
    fast = hash_bytes(data)
    full = hash_bytes(data, HashOptions(decode=DecodeLimits(min_side=10**9, reduce_min_side=10**9)))
    d = pdq_distance(fast.pdq, full.pdq) if fast.pdq and full.pdq else None
    return full.pdq_quality or 0, d, 1 if fast.media == "image/jpeg" else 0


def fidelity(files: list[Path], jobs: int) -> None:
    with ProcessPoolExecutor(jobs) as ex:
        res = list(ex.map(_fidelity_one, map(str, files), chunksize=4))
    jpeg_q80 = [d for q, d, j in res if q >= 80 and d is not None and j]
    all_q80 = [d for q, d, _ in res if q >= 80 and d is not None]
    print("\nPDQ fidelity: reduced-scale decode vs full decode (quality >= 80)")
    for label, ds in (("JPEGs (DCT-scaled)", jpeg_q80), ("all images", all_q80)):
        if not ds:
            continue
        arr = np.array(ds)
        hist = {k: int((arr == k).sum()) for k in range(0, int(arr.max()) + 1) if (arr == k).any()}
        print(
            f"  {label}: n={len(arr)}, within 10: {np.mean(arr <= 10):.1%}, "
            f"median {np.median(arr):.0f}, p99 {np.percentile(arr, 99):.0f}, max {arr.max()}"
        )
        print(f"    distance histogram: {hist}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--peer-venv", type=Path, default=DEFAULT_PEER)
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    ap.add_argument("--fidelity", action="store_true", help="also measure PDQ fidelity")
    ap.add_argument("--skip-peers", action="store_true")
    args = ap.parse_args()

    files = corpus_files(ensure_corpus(args.corpus))
    size = sum(f.stat().st_size for f in files)
    print(f"corpus: {len(files)} files, {size / 1e6:.0f} MB, {args.jobs} cores")
    hw = Path(sys.executable).parent / "hashwatch"
    rows = []

    t_hw, cp = timed(
        [str(hw), "hash", "--no-cache", "--quiet", "--jobs", str(args.jobs), *map(str, files)]
    )
    n_hw = len(cp.stdout.splitlines())
    assert cp.returncode == 0, cp.stderr

    with ProcessPoolExecutor(args.jobs) as ex:
        list(ex.map(_decode_only, map(str, files[:4])))  # warm up the workers
        t0 = time.perf_counter()
        list(ex.map(_decode_only, map(str, files), chunksize=2))
        t_floor = time.perf_counter() - t0

    t_naive, cp = timed([sys.executable, "-c", NAIVE, *map(str, files)])
    assert cp.returncode == 0, cp.stderr

    if not args.skip_peers:
        py = ensure_peer_venv(args.peer_venv, ["threatexchange"])
        te = py.parent / "threatexchange"
        t_te, cp = timed(
            [str(te), "hash", "photo", *map(str, files)],
            env={**os.environ, "HOME": str(args.peer_venv)},
        )
        n_te = sum(1 for line in cp.stdout.splitlines() if line.startswith("pdq "))
        rows.append(
            [
                "threatexchange hash photo (a)",
                f"{t_te:.1f}",
                f"{len(files) / t_te:.1f}",
                f"{n_te} PDQ",
                "1.0x",
            ]
        )
    else:
        t_te = float("nan")
    base = t_te if not args.skip_peers else t_naive
    rows.append(
        [
            "naive loop: Pillow + pdqhash + sha1 (b)",
            f"{t_naive:.1f}",
            f"{len(files) / t_naive:.1f}",
            f"{len(files)} PDQ+sha1",
            f"{base / t_naive:.1f}x",
        ]
    )
    rows.append(
        [
            f"hashwatch hash, {args.jobs} processes",
            f"{t_hw:.1f}",
            f"{len(files) / t_hw:.1f}",
            f"{n_hw} x all signals",
            f"{base / t_hw:.1f}x",
        ]
    )
    rows.append(
        [
            f"floor: decode only at hashwatch's scale, {args.jobs} processes",
            f"{t_floor:.1f}",
            f"{len(files) / t_floor:.1f}",
            "-",
            f"{base / t_floor:.1f}x",
        ]
    )
    print(table(rows, ["what", "seconds", "files/s", "output", "speed vs (a)"]))
    print(
        f"hashwatch vs naive loop: {t_naive / t_hw:.1f}x; hashwatch vs floor: "
        f"{t_hw / t_floor:.2f}x the floor's time"
    )
    if args.fidelity:
        fidelity(files, args.jobs)


if __name__ == "__main__":
    main()
