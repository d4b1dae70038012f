"""Shared helpers for the benchmarks: the corpus, the peer interpreter, timing, tables."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HASHWATCH_SHARED", REPO.parent / "shared"))
DEFAULT_CORPUS = Path(os.environ.get("HASHWATCH_CORPUS", REPO / "bench" / ".out" / "corpus"))
DEFAULT_PEER = Path(os.environ.get("HASHWATCH_PEER_VENV", REPO / "bench" / ".out" / "peer-venv"))


def ensure_corpus(path: Path) -> Path:
    """Build the real-photo corpus with shared/bench/make-photo-corpus.sh if it is missing."""
    if not (path / ".complete").exists():
        script = SHARED / "bench" / "make-photo-corpus.sh"
        print(f"building the photo corpus at {path} ...", file=sys.stderr)
        subprocess.run(
            ["bash", str(script), str(path)],
            check=True,
            env={**os.environ, "PYTHON": sys.executable},
        )
    return path


def ensure_peer_venv(path: Path, packages: list[str]) -> Path:
    """A separate virtual environment for the peers (threatexchange, faiss), made on demand."""
    py = path / "bin" / "python"
    if not py.exists():
        print(f"creating the peer environment at {path} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    missing = subprocess.run(
        [
            str(py),
            "-c",
            "import sys, importlib.util as u; "
            f"sys.exit(any(u.find_spec(m) is None for m in {packages!r}))",
        ]
    )
    if missing.returncode:
        pip_names = {"faiss": "faiss-cpu", "threatexchange": "threatexchange", "PIL": "pillow"}
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", *[pip_names.get(p, p) for p in packages]],
            check=True,
        )
    return py


def corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for sub in ("originals", "web", "thumbs") for p in (corpus / sub).iterdir())


def timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    cp = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return time.perf_counter() - t0, cp


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep, *map(line, rows)])
