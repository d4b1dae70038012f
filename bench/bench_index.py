"""PDQ range search: hashwatch's PDQIndex against faiss, side by side, same data and queries.

    .venv/bin/python bench/bench_index.py [--sizes 1000000,10000000] [--queries 2000]
        [--peer-python PY] [--threshold 31] [--repeat 3]

faiss runs in its own interpreter (``--peer-python``, with faiss-cpu and numpy) as
``bench/_faiss_peer.py``: Meta's HMA configuration, ``IndexBinaryMultiHash(256, 16, 16)``
with ``nflip=1`` and ``range_search`` at radius ``threshold + 1`` (faiss keeps distances
strictly below the radius; the peer checks this). Both sides are exact for r <= 31.

Data (fixed seed): uniform random 256-bit hashes; "near" queries are stored hashes with
1..25 random bits flipped (each matches at least its original), "random" queries are fresh
uniform hashes (match nothing, with overwhelming probability).

Each side runs in a fresh process, one after the other, and measures: build time; queries/s
for each query set (wall clock, best of ``--repeat`` runs of the whole batch, on as many
threads as the process may use: faiss through OpenMP, hashwatch through its thread pool);
resident memory attributable to the index (VmRSS after the build with the input array
freed, minus VmRSS at start) and the peak (VmHWM). A third process loads hashwatch's saved
index memory-mapped, as the CLI does, and measures load time, speed and resident memory.
The result sets are compared pair by pair.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np

from _procstat import rss_mb  # noqa: E402
from common import DEFAULT_PEER, ensure_peer_venv  # noqa: E402

HERE = Path(__file__).resolve().parent
PEER = HERE / "_faiss_peer.py"
SETS = ("near", "rand")


def make_data(workdir: Path, n: int, nq: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    picks = rng.integers(0, n, nq)
    bits = np.unpackbits(hashes[picks], axis=1)
    for i, k in enumerate(rng.integers(1, 26, nq)):
        bits[i, rng.choice(256, int(k), replace=False)] ^= 1
    np.save(workdir / "hashes.npy", hashes)
    np.save(workdir / "near.npy", np.packbits(bits, axis=1))
    np.save(workdir / "rand.npy", rng.integers(0, 256, (nq, 32), dtype=np.uint8))


# ------------------------------------------------------------------ hashwatch workers


def _time_queries(index, wd: Path, threshold: int, repeat: int, prefix: str, res: dict) -> None:
    for name in SETS:
        q = np.load(wd / f"{name}.npy")
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            qi, ei, di = index.query(q, threshold)
            times.append(time.perf_counter() - t)
        res[f"{name}_s"] = times
        for key, arr in zip("qed", (qi, ei, di), strict=True):
            np.save(wd / f"{prefix}_{name}_{key}.npy", arr)


def warm_up() -> float:
    """Import and load every numba kernel (from its cache) before the memory baseline."""
    t = time.perf_counter()
    from hashwatch.match.pdq_index import PDQIndex, brute_force

    small = np.random.default_rng(0).integers(0, 256, (30_000, 32), dtype=np.uint8)
    PDQIndex.build(small).query(small[:4], 31)
    brute_force(small[:10], small[:2], 31)
    return time.perf_counter() - t


def worker_build(wd: Path, threshold: int, repeat: int) -> None:
    from hashwatch.match.pdq_index import PDQIndex

    res: dict = {"warm_up_s": warm_up(), "threads": len(os.sched_getaffinity(0))}
    res["rss_start"] = rss_mb()["VmRSS"]
    hashes = np.load(wd / "hashes.npy")
    res["rss_data"] = rss_mb()["VmRSS"]
    t = time.perf_counter()
    index = PDQIndex.build(hashes)
    res["build_s"] = time.perf_counter() - t
    res["rss_built"] = rss_mb()["VmRSS"]
    del hashes
    res["rss_index"] = rss_mb()["VmRSS"]
    res["nbytes"] = index.nbytes / 2**20
    res["repr"] = repr(index)
    _time_queries(index, wd, threshold, repeat, "ours", res)
    mem = rss_mb()
    res["rss_end"], res["rss_peak"] = mem["VmRSS"], mem["VmHWM"]
    t = time.perf_counter()
    index.save(wd / "index")
    res["save_s"] = time.perf_counter() - t
    (wd / "ours.json").write_text(json.dumps(res, indent=2))


def worker_load(wd: Path, threshold: int, repeat: int) -> None:
    from hashwatch.match.pdq_index import PDQIndex

    res: dict = {"warm_up_s": warm_up()}
    res["rss_start"] = rss_mb()["VmRSS"]
    t = time.perf_counter()
    index = PDQIndex.load(wd / "index", mmap=True)
    res["load_s"] = time.perf_counter() - t
    res["rss_loaded"] = rss_mb()["VmRSS"]
    _time_queries(index, wd, threshold, repeat, "mmap", res)
    mem = rss_mb()
    res["rss_end"], res["rss_peak"] = mem["VmRSS"], mem["VmHWM"]
    (wd / "mmap.json").write_text(json.dumps(res, indent=2))


# ------------------------------------------------------------------ driver


def run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")


def results(wd: Path, prefix: str, name: str) -> tuple[np.ndarray, ...]:
    q, e, d = (np.load(wd / f"{prefix}_{name}_{k}.npy") for k in "qed")
    order = np.lexsort((e, q))
    return q[order], e[order], d[order].astype(np.int32)


def same(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def bench_size(n: int, args: argparse.Namespace, root: Path) -> dict:
    wd = root / f"n{n}"
    wd.mkdir()
    print(f"\n[{n:,} hashes] generating data ...", file=sys.stderr, flush=True)
    make_data(wd, n, args.queries, args.seed)
    common = [str(wd), "--threshold", str(args.threshold), "--repeat", str(args.repeat)]
    print(f"[{n:,}] hashwatch build + queries ...", file=sys.stderr, flush=True)
    run([sys.executable, __file__, "--worker", "build", *common])
    print(f"[{n:,}] hashwatch mmap load + queries ...", file=sys.stderr, flush=True)
    run([sys.executable, __file__, "--worker", "load", *common])
    print(f"[{n:,}] faiss build + queries ...", file=sys.stderr, flush=True)
    run([args.peer_python, str(PEER), *common])
    ours = json.loads((wd / "ours.json").read_text())
    mm = json.loads((wd / "mmap.json").read_text())
    peer = json.loads((wd / "faiss.json").read_text())
    out = {"n": n, "queries": args.queries, "ours": ours, "mmap": mm, "faiss": peer}
    for name in SETS:
        ref = results(wd, "faiss", name)
        out[f"{name}_matches"] = int(len(ref[0]))
        out[f"{name}_identical"] = same(results(wd, "ours", name), ref) and same(
            results(wd, "mmap", name), ref
        )
    shutil.rmtree(wd, ignore_errors=True)
    return out


def table(r: dict) -> str:
    n, nq = r["n"], r["queries"]
    ours, mm, peer = r["ours"], r["mmap"], r["faiss"]

    def qps(res: dict, name: str) -> float:
        return nq / min(res[f"{name}_s"])

    rows = [("build time (s)", ours["build_s"], peer["build_s"], "{:.1f}")]
    for name, label in (("near", "near-duplicate"), ("rand", "random")):
        rows.append((f"{label} queries/s", qps(ours, name), qps(peer, name), "{:,.0f}"))
    rows += [
        ("index memory (MB, RSS delta)", ours["rss_index"] - ours["rss_start"],
         peer["rss_index"] - peer["rss_start"], "{:,.0f}"),
        ("peak RSS, whole process (MB)", ours["rss_peak"], peer["rss_peak"], "{:,.0f}"),
    ]  # fmt: skip
    lines = [
        f"N = {n:,} hashes, {nq:,} queries per set, threshold <= 31, "
        f"threads: hashwatch {ours['threads']}, faiss {peer['threads']} (OpenMP); "
        f"best of {len(ours['near_s'])} runs",
        f"{'':32} {'hashwatch':>12} {'faiss':>12} {'hashwatch/faiss':>16}",
    ]
    for label, a, b, fmt in rows:
        lines.append(f"{label:32} {fmt.format(a):>12} {fmt.format(b):>12} {a / b:>15.2f}x")
    lines += [
        f"hashwatch index: {ours['repr']}, arrays {ours['nbytes']:,.0f} MB; save "
        f"{ours['save_s']:.1f} s; import + numba kernels from cache {ours['warm_up_s']:.2f} s",
        f"hashwatch mmap load (fresh process): load {mm['load_s'] * 1000:.0f} ms, RSS "
        f"{mm['rss_loaded'] - mm['rss_start']:,.0f} MB after load, "
        f"{mm['rss_end'] - mm['rss_start']:,.0f} MB after the queries; "
        f"near {qps(mm, 'near'):,.0f} q/s, random {qps(mm, 'rand'):,.0f} q/s",
        f"matches: near {r['near_matches']:,}, random {r['rand_matches']:,}",
        "identical results: "
        + ("yes" if r["near_identical"] and r["rand_identical"] else "NO")
        + f" (near: {'yes' if r['near_identical'] else 'no'}, "
        f"random: {'yes' if r['rand_identical'] else 'no'}; hashwatch built and mmap-loaded "
        "vs faiss, every (query, entry, distance))",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument(
        "--peer-python",
        default=None,
        help="interpreter with faiss-cpu and numpy (default: made on demand in bench/.out)",
    )
    ap.add_argument("--threshold", type=int, default=31)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--json", type=Path, help="also write all measurements here")
    ap.add_argument("--worker", choices=("build", "load"), help=argparse.SUPPRESS)
    ap.add_argument("workdir", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker = worker_build if args.worker == "build" else worker_load
        worker(args.workdir, args.threshold, args.repeat)
        return
    if args.threshold > 31:
        sys.exit("faiss IndexBinaryMultiHash(256, 16, 16), nflip=1 is exact only up to 31")
    if args.peer_python is None:
        args.peer_python = str(ensure_peer_venv(DEFAULT_PEER, ["faiss", "numpy"]))
    if not Path(args.peer_python).exists():
        sys.exit(f"peer interpreter not found: {args.peer_python}")
    sizes = [int(s) for s in args.sizes.split(",")]
    root = Path(tempfile.mkdtemp(prefix="hashwatch-bench-"))
    all_results = []
    try:
        for n in sizes:
            r = bench_size(n, args, root)
            all_results.append(r)
            print("\n" + table(r), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(all_results, indent=2))
    if not all(r["near_identical"] and r["rand_identical"] for r in all_results):
        sys.exit(1)


if __name__ == "__main__":
    main()
