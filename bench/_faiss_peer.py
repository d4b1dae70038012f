"""faiss side of bench_index.py; runs under the peer interpreter (faiss-cpu + numpy only).

    python _faiss_peer.py WORKDIR --threshold 31 --repeat 3

Reads WORKDIR/hashes.npy, near.npy, rand.npy; writes WORKDIR/faiss.json and the result
sets as WORKDIR/faiss_{near,rand}_{q,e,d}.npy. Meta's HMA configuration:
IndexBinaryMultiHash(256, 16, 16) with nflip=1, range_search radius threshold+1 (faiss keeps
distances strictly below the radius).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from _procstat import rss_mb  # noqa: E402


def self_check() -> None:
    """range_search(q, radius) must return distances < radius: 31 in, 32 out for radius 32."""
    q = np.zeros((1, 32), np.uint8)
    rows = []
    for k in (0, 31, 32):
        bits = np.zeros(256, np.uint8)
        bits[:k] = 1
        rows.append(np.packbits(bits))
    index = faiss.IndexBinaryMultiHash(256, 16, 16)
    index.nflip = 1
    index.add(np.vstack(rows))
    lims, dist, ids = index.range_search(q, 32)
    found = sorted(zip(ids.tolist(), dist.astype(int).tolist(), strict=True))
    if found != [(0, 0), (1, 31)]:
        sys.exit(f"faiss range_search semantics differ from expected: {found}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--threshold", type=int, default=31)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    wd = args.workdir
    self_check()
    res: dict = {"threads": faiss.omp_get_max_threads(), "faiss": faiss.__version__}
    res["rss_start"] = rss_mb()["VmRSS"]
    hashes = np.load(wd / "hashes.npy")
    queries = {name: np.load(wd / f"{name}.npy") for name in ("near", "rand")}
    res["rss_data"] = rss_mb()["VmRSS"]

    t = time.perf_counter()
    index = faiss.IndexBinaryMultiHash(256, 16, 16)
    index.nflip = 1
    index.add(hashes)
    res["build_s"] = time.perf_counter() - t
    res["rss_built"] = rss_mb()["VmRSS"]
    del hashes
    res["rss_index"] = rss_mb()["VmRSS"]

    radius = args.threshold + 1
    for name, q in queries.items():
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            lims, dist, ids = index.range_search(q, radius)
            times.append(time.perf_counter() - t)
        res[f"{name}_s"] = times
        qi = np.repeat(np.arange(len(q), dtype=np.int64), np.diff(lims.astype(np.int64)))
        np.save(wd / f"faiss_{name}_q.npy", qi)
        np.save(wd / f"faiss_{name}_e.npy", ids.astype(np.int64))
        np.save(wd / f"faiss_{name}_d.npy", dist.astype(np.int32))
    mem = rss_mb()
    res["rss_end"], res["rss_peak"] = mem["VmRSS"], mem["VmHWM"]
    (wd / "faiss.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
