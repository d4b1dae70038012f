"""Shared fixtures: generated harmless images, reference data, and a CLI runner."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HASHWATCH_SHARED", REPO.parent / "shared"))
PDQ_REF = SHARED / "data" / "pdq-reference"


def photo(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A deterministic, photo-like abstract image (smooth colour field plus shapes)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        for _ in range(6):
            fx, fy = rng.uniform(0.5, 6, 2) * 2 * np.pi / np.array([w, h])
            ph = rng.uniform(0, 2 * np.pi)
            img[..., c] += np.sin(x * fx + y * fy + ph) * rng.uniform(20, 45)
    img += 128
    for _ in range(8):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.05, 0.2) * min(w, h)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        img[mask] = rng.uniform(0, 255, 3)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def encode(img: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture
def make_photo():
    return photo


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "cache.sqlite"


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 120):
    """Run ``hashwatch`` as a real process; returns CompletedProcess with text output."""
    full_env = {**os.environ, "XDG_CACHE_HOME": str(cwd or REPO / ".pytest_cache"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "hashwatch", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=timeout,
    )


@pytest.fixture
def cli(tmp_path: Path):
    def _run(*args: str, **kw):
        kw.setdefault("env", {"XDG_CACHE_HOME": str(tmp_path / "xdg-cache")})
        return run_cli(*args, **kw)

    return _run
