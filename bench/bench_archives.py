"""Scanning a folder of archives against scanning the same files unpacked.

    python bench/bench_archives.py [--sets web,thumbs] [--per-archive 25] [--repeat 2]

Takes the real-photo corpus (``shared/bench/make-photo-corpus.sh``), packs its files into
archives of ``--per-archive`` files each (zip deflate, zip stored, tar.gz, tar.xz, 7z, and
zips nested inside a tar.gz), and times ``hashwatch scan --no-cache`` of each folder
against the unpacked folder, in the same run. Every variant must find the same matches
(a list of the PDQ and md5 of every fifth file), or the benchmark stops.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_CORPUS, REPO, ensure_corpus, table, timed  # noqa: E402


def _tar(files: list[Path], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for f in files:
            tf.add(f, arcname=f"photos/{f.parent.name}/{f.name}")
    return buf.getvalue()


def _zip(files: list[Path], method: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for f in files:
            zf.write(f, f"photos/{f.parent.name}/{f.name}")
    return buf.getvalue()


def _7z(files: list[Path], out: Path) -> None:
    import py7zr

    with py7zr.SevenZipFile(out, "w") as z:
        for f in files:
            z.write(f, f"photos/{f.parent.name}/{f.name}")


def build(root: Path, files: list[Path], per: int) -> dict[str, Path]:
    variants = {
        "unpacked": root / "unpacked",
        "zip (deflate)": root / "zip-deflate",
        "zip (stored)": root / "zip-stored",
        "tar.gz": root / "tar-gz",
        "tar.xz": root / "tar-xz",
        "7z": root / "7z",
        "zip in tar.gz": root / "nested",
    }
    marker = root / f".complete-{len(files)}-{per}"
    if marker.exists():
        return variants
    shutil.rmtree(root, ignore_errors=True)
    for d in variants.values():
        d.mkdir(parents=True)
    for f in files:
        (variants["unpacked"] / f.parent.name).mkdir(exist_ok=True)
        shutil.copy(f, variants["unpacked"] / f.parent.name / f.name)
    groups = [files[i : i + per] for i in range(0, len(files), per)]
    for n, g in enumerate(groups):
        name = f"batch{n:03d}"
        (variants["zip (deflate)"] / f"{name}.zip").write_bytes(_zip(g, zipfile.ZIP_DEFLATED))
        (variants["zip (stored)"] / f"{name}.zip").write_bytes(_zip(g, zipfile.ZIP_STORED))
        (variants["tar.gz"] / f"{name}.tar.gz").write_bytes(_tar(g, "w:gz"))
        (variants["tar.xz"] / f"{name}.tar.xz").write_bytes(_tar(g, "w:xz"))
        _7z(g, variants["7z"] / f"{name}.7z")
        halves = [g[: len(g) // 2], g[len(g) // 2 :]]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            for k, half in enumerate(halves):
                data = _zip(half, zipfile.ZIP_DEFLATED)
                info = tarfile.TarInfo(f"part{k}.zip")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        (variants["zip in tar.gz"] / f"{name}.tar.gz").write_bytes(buf.getvalue())
    marker.touch()
    return variants


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--sets", default="web,thumbs", help="corpus folders to use")
    ap.add_argument("--per-archive", type=int, default=25)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=REPO / "bench" / ".out" / "archives")
    args = ap.parse_args()
    corpus = ensure_corpus(args.corpus)
    files = sorted(p for s in args.sets.split(",") for p in (corpus / s).iterdir())
    variants = build(args.dir, files, args.per_archive)
    hw = str(Path(sys.executable).parent / "hashwatch")

    # the list: every fifth file by PDQ and md5, hashed by hashwatch itself
    cp = timed([hw, "hash", "--no-cache", "--quiet", *map(str, files[::5])])[1]
    assert cp.returncode == 0, cp.stderr
    lines = ["signal_type,signal,id"]
    for n, line in enumerate(cp.stdout.splitlines()):
        rec = json.loads(line)
        lines.append(f"md5,{rec['md5']},f{n}")
        if rec["pdq"] and rec["pdq_quality"] >= 50:
            lines.append(f"pdq,{rec['pdq']},f{n}")
    list_file = args.dir / "list.csv"
    list_file.write_text("\n".join(lines) + "\n")

    size = sum(f.stat().st_size for f in files)
    print(
        f"{len(files)} photos, {size / 1e6:.0f} MB, {args.per_archive} per archive; "
        f"--jobs {args.jobs}; best of {args.repeat}"
    )
    rows = []
    base = None
    expect = None
    for label, d in variants.items():
        best = None
        for _ in range(args.repeat):
            t, cp = timed(
                [
                    hw,
                    "scan",
                    "--no-cache",
                    "--json",
                    "--quiet",
                    "--jobs",
                    str(args.jobs),
                    "--list",
                    str(list_file),
                    str(d),
                ]
            )
            assert cp.returncode in (0, 1), cp.stderr
            best = t if best is None else min(best, t)
        found = sorted(
            (json.loads(x)["entry_id"], json.loads(x)["signal_type"])
            for x in cp.stdout.splitlines()
        )
        if expect is None:
            expect = found
        elif found != expect:
            sys.exit(f"{label}: found {len(found)} matches, unpacked found {len(expect)}")
        base = base or best
        on_disk = sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
        rows.append(
            [
                label,
                f"{on_disk / 1e6:.0f} MB",
                f"{best:.2f} s",
                f"{len(files) / best:.0f}",
                f"{best / base:.2f}x",
                str(len(found)),
            ]
        )
    print(table(rows, ["folder", "on disk", "scan time", "photos/s", "vs unpacked", "matches"]))


if __name__ == "__main__":
    main()
