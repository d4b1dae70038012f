"""Video hashing speed (multiples of real time) and fidelity, fast path against naive.

    python bench/bench_video.py [--minutes 2] [--spf 1.0] [--cache DIR]

Videos: Meta's vpdq reference videos (shared/data/vpdq-reference) and two generated 720p
H.264 videos of harmless test-kit pictures panned and zoomed (written once into the cache):
one with x264's default keyframe interval (up to 250 frames), one with a keyframe every
second, as phones record. Same machine, one run, one video at a time:

  naive   decode every frame, hash each sampled frame's full RGB with pdqhash: vpdq's
          algorithm (and output) through PyAV;
  fast    hashwatch's path: non-reference frames before a sampling target are skipped,
          packets before a keyframe that precedes the target are not decoded, and PDQ runs
          on the RGB frame through the separable-filter equivalent of pdqhash;
  fast/2t the same with 2 decoder threads (scans run one process per core with 1 thread);
  meta    Meta's vpdq Python package, if it is importable (it is not installed here: its
          build needs FFmpeg's development files).

Fidelity: per sampled frame, the PDQ distance between the fast and naive hashes of the same
frame number; "within 10" is PDQ's cross-implementation rule.

``--rejected`` also measures the shortcuts that were tried and left out because they are not
faithful: downscaling frames before PDQ, hashing the Y plane instead of RGB luma, and
switching off H.264's deblocking filter (``skip_loop_filter``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SHARED, table  # noqa: E402
from hashwatch.hashing.vpdq import hash_frames  # noqa: E402
from hashwatch.media.video import VideoLimits, VideoSampler  # noqa: E402
from hashwatch.signals.pdq import pdq_distance  # noqa: E402

REFERENCE = SHARED / "data" / "vpdq-reference"
DEFAULT_CACHE = REPO / "bench" / ".out" / "video"


def make_video(path: Path, seconds: float, keyint: int | None, size=(1280, 720), fps=30) -> None:
    """Pictures from the test kit, each panned and zoomed for 10 s (H.264, x264 veryfast)."""
    import av
    from PIL import Image

    from hashwatch.testkit.images import KINDS, paint

    w, h = size
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "veryfast", "crf": "23", **({"g": str(keyint)} if keyint else {})}
        scene = 10 * fps
        pic = None
        for i in range(int(seconds * fps)):
            k, f = divmod(i, scene)
            if f == 0:
                pic = paint(
                    np.random.default_rng([7, k]), KINDS[k % len(KINDS)], (w * 3 // 2, h * 3 // 2)
                )
            u = f / scene
            z = 1.0 - 0.25 * u
            cw, ch = pic.width * z / 1.5, pic.height * z / 1.5
            x0, y0 = (pic.width - cw) * u, (pic.height - ch) * (0.5 + 0.3 * np.sin(u * 3))
            im = pic.resize((w, h), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
            for p in s.encode(av.VideoFrame.from_image(im)):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    tmp.rename(path)


def videos(cache: Path, minutes: float) -> list[Path]:
    out = sorted(REFERENCE.glob("*.mp4"))
    cache.mkdir(parents=True, exist_ok=True)
    secs = int(minutes * 60)
    for label, keyint in (("gop250", None), ("gop30", 30)):
        p = cache / f"generated-720p-{secs}s-{label}.mp4"
        if not p.exists():
            print(f"writing {p.name} (once) ...", file=sys.stderr, flush=True)
            make_video(p, secs, keyint)
        out.append(p)
    return out


def run(path: Path, limits: VideoLimits, naive: bool) -> tuple[float, list, int, float, str]:
    t0 = time.perf_counter()
    with VideoSampler(path, limits, naive=naive) as vs:
        frames = hash_frames(vs, reference=naive)
        decoded, info = vs.decoded, vs.info
    return (
        time.perf_counter() - t0,
        frames,
        decoded,
        info.duration or 0.0,
        f"{info.width}x{info.height}",
    )


def run_meta(path: Path, spf: float) -> tuple[float, list]:
    import vpdq  # Meta's package, only if it is installed

    t0 = time.perf_counter()
    feats = vpdq.computeHash(str(path), seconds_per_hash=spf)
    return time.perf_counter() - t0, feats


def fidelity(fast: list, naive: list) -> tuple[float, int]:
    ref = {f.frame: f.pdq for f in naive}
    d = np.array([pdq_distance(f.pdq, ref[f.frame]) for f in fast if f.frame in ref])
    return (float(np.mean(d <= 10)), int(d.max())) if len(d) else (float("nan"), -1)


def rejected(path: Path, spf: float) -> list[str]:
    """Fidelity (and decode time) of the shortcuts left out, against the naive hashes."""
    import av

    from hashwatch.hashing.content import pdq_of_array
    from hashwatch.hashing.vpdq import pdq_of_luma, pdq_of_rgb

    def decode(noloop: bool) -> tuple[float, dict[int, object]]:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            s.codec_context.thread_count = 1
            if noloop:
                s.codec_context.options = {"skip_loop_filter": "all"}
            step = max(1, int(spf * float(s.average_rate or 25)))
            t0, keep = time.perf_counter(), {}
            for n, f in enumerate(c.decode(s)):
                if n % step == 0:
                    keep[n] = f
            return time.perf_counter() - t0, keep

    t_full, full = decode(False)
    t_noloop, noloop = decode(True)
    dist: dict[str, list[int]] = {"512": [], "256": [], "Y plane": [], "no deblocking": []}
    for n, f in full.items():
        ref = pdq_of_array(f.to_ndarray(format="rgb24"))[0]
        for side in (512, 256):
            k = side / max(f.width, f.height)
            if k < 1:
                w, h = max(5, round(f.width * k)), max(5, round(f.height * k))
                small = f.reformat(w, h, "rgb24", interpolation="AREA").to_ndarray()
                dist[str(side)].append(pdq_distance(ref, pdq_of_rgb(small)[0]))
        plane = f.planes[0]
        y = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: f.height, : f.width]
        dist["Y plane"].append(pdq_distance(ref, pdq_of_luma(y, 16.0, 255 / 219)[0]))
        if n in noloop:
            other = pdq_of_array(noloop[n].to_ndarray(format="rgb24"))[0]
            dist["no deblocking"].append(pdq_distance(ref, other))

    def cell(ds: list[int]) -> str:
        a = np.array(ds)
        return f"{np.mean(a <= 10):.0%} / {a.max()}" if len(a) else "-"

    return [
        path.stem[:32],
        *(cell(dist[k]) for k in ("512", "256", "Y plane", "no deblocking")),
        f"{t_full / max(t_noloop, 1e-9):.2f}x",
    ]


def _fast_only(args: tuple[str, float]) -> float:
    path, spf = args
    return run(Path(path), VideoLimits(seconds_per_hash=spf, max_seconds=3600), False)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--minutes", type=float, default=2.0, help="length of the generated videos")
    ap.add_argument("--spf", type=float, default=1.0, help="seconds per hash (0: every frame)")
    ap.add_argument("--rejected", action="store_true", help="also measure the unfaithful shortcuts")
    args = ap.parse_args()

    files = videos(args.cache, args.minutes)
    meta = importlib.util.find_spec("vpdq") is not None
    lim1 = VideoLimits(seconds_per_hash=args.spf, max_seconds=3600)
    lim2 = VideoLimits(seconds_per_hash=args.spf, max_seconds=3600, threads=2)
    rows = []
    total = {"dur": 0.0, "naive": 0.0, "fast": 0.0, "fast2": 0.0}
    print(f"{os.cpu_count()} cores, 1 frame every {args.spf:g} s; meta vpdq: "
          f"{'installed' if meta else 'not installed'}", flush=True)  # fmt: skip
    for p in files:
        p.read_bytes()  # warm the page cache for every contender alike
        run(p, lim1, False)  # and the code paths
        tn, naive, dec_n, dur, size = run(p, lim1, True)
        tf, fast, dec_f, _, _ = run(p, lim1, False)
        tf2, _, _, _, _ = run(p, lim2, False)
        within, dmax = fidelity(fast, naive)
        row = [
            p.stem[:32], f"{dur:.1f}", size, str(len(fast)),
            f"{tn:.2f} ({dur / tn:.0f}x)", f"{tf:.2f} ({dur / tf:.0f}x)",
            f"{tf2:.2f} ({dur / tf2:.0f}x)",
        ]  # fmt: skip
        if meta:
            try:
                tm, feats = run_meta(p, args.spf)
                ref = {f.frame: f.pdq for f in naive}
                d = [
                    pdq_distance(f.hex, ref[f.frame_number]) for f in feats if f.frame_number in ref
                ]
                agree = f", {np.mean(np.array(d) <= 10):.0%} within 10" if d else ""
                row.append(f"{tm:.2f} ({dur / tm:.0f}x){agree}")
            except Exception as e:  # a peer failing is reported, not fatal
                row.append(f"failed: {type(e).__name__}")
        row += [f"{tn / tf:.1f}x", f"{dec_n}/{dec_f}", f"{within:.1%}", str(dmax)]
        rows.append(row)
        print("  " + " | ".join(row), file=sys.stderr, flush=True)
        total["dur"] += dur
        total["naive"] += tn
        total["fast"] += tf
        total["fast2"] += tf2
    header = ["video", "seconds", "size", "sampled", "naive s (xRT)", "fast s (xRT)"]
    header += ["fast/2t s (xRT)"] + (["meta vpdq s (xRT)"] if meta else [])
    header += ["fast vs naive", "decoded naive/fast", "within 10", "max dist"]
    print(table(rows, header))
    d = total["dur"]
    print(
        f"all videos, {d:.0f} s of video: naive {d / total['naive']:.0f}x real time, "
        f"fast {d / total['fast']:.0f}x, fast with 2 decoder threads {d / total['fast2']:.0f}x"
    )
    jobs = os.cpu_count() or 1
    with ProcessPoolExecutor(jobs) as ex:
        list(ex.map(_fast_only, [(str(files[0]), args.spf)] * jobs))  # start the workers
        t0 = time.perf_counter()
        list(ex.map(_fast_only, [(str(p), args.spf) for p in files]))
        wall = time.perf_counter() - t0
    print(f"fast, {jobs} worker processes with 1 decoder thread each: {d / wall:.0f}x real time")
    if args.rejected:
        print("\nshortcuts left out (share of sampled frames within distance 10 / max distance):")
        head = ["video", "long side 512", "long side 256", "Y plane", "no deblocking"]
        rows = [rejected(p, args.spf) for p in files]
        print(table(rows, [*head, "decode speed-up, no deblocking"]))


if __name__ == "__main__":
    main()
