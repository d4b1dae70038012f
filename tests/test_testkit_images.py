"""The generated test kit: deterministic, PDQ-robust, no cross-matches, no false positives."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pdqhash
import pytest
from PIL import Image, features

from hashwatch.signals import PDQ_DEFAULT_THRESHOLD, pdq_distance, pdq_from_bits
from hashwatch.testkit import ALTERATIONS, alterations, encode_jpeg, generate_originals, write_kit
from hashwatch.testkit.alter import decode

try:
    import pillow_heif

    pillow_heif.register_heif_opener()
    HAVE_HEIF = True
except ImportError:  # pragma: no cover
    HAVE_HEIF = False

#: Originals must be at least this far apart (and from clean pictures), mirrors included.
MIN_APART = 90
MIN_QUALITY = 80
MAX_KIT_BYTES = 15_000_000

Kit = tuple[Path, dict[str, Any], float]


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    root = tmp_path_factory.mktemp("kit")
    start = time.perf_counter()
    manifest = write_kit(root)
    return root, manifest, time.perf_counter() - start


def _decoded(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB")))


def _pdq(arr: np.ndarray) -> tuple[str, float]:
    bits, quality = pdqhash.compute(arr)
    return pdq_from_bits(bits), float(quality)


@pytest.fixture(scope="module")
def original_hashes(kit: Kit) -> dict[str, tuple[str, str]]:
    """name -> (PDQ of the decoded original file, PDQ of its mirror image)."""
    root, manifest, _ = kit
    out = {}
    for f in manifest["files"]:
        if f["kind"] == "original":
            arr = _decoded(root / f["path"])
            out[f["source"]] = (_pdq(arr)[0], _pdq(np.ascontiguousarray(arr[:, ::-1]))[0])
    return out


def _files(manifest: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in manifest["files"] if f["kind"] == kind]


def _is_picture(entry: dict[str, Any]) -> bool:
    return entry["path"].endswith((".jpg", ".png")) and "not-a-picture" not in entry["path"]


# --- layout and manifest --------------------------------------------------------------------


def test_manifest_lists_every_written_file(kit: Kit) -> None:
    root, manifest, _ = kit
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    listed = [f["path"] for f in manifest["files"]]
    assert len(listed) == len(set(listed))
    assert on_disk == set(listed) | {"manifest.json"}
    assert json.loads((root / "manifest.json").read_text()) == manifest
    for f in manifest["files"]:
        data = (root / f["path"]).read_bytes()
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
        assert f["size"] == len(data)
        assert f["kind"] in {"original", "altered", "format", "clean"}
        if f["kind"] == "clean":
            assert f["source"] is None and f["alteration"] is None
        else:
            assert (root / "originals" / f"{f['source']}.jpg").is_file()


def test_kit_contents(kit: Kit) -> None:
    _, manifest, _ = kit
    originals = _files(manifest, "original")
    assert [f["source"] for f in originals] == [f"hw-test-{i:03d}" for i in range(24)]
    altered = {(f["source"], f["alteration"]) for f in _files(manifest, "altered")}
    assert altered == {(f["source"], kind) for f in originals for kind in ALTERATIONS}
    exts = {f["path"].rsplit(".", 1)[1] for f in _files(manifest, "format")}
    expected = {"png", "webp", "bmp", "gif"}
    assert expected <= exts and exts & {"tif", "tiff"}
    if HAVE_HEIF:
        assert exts & {"heic", "heif"}
    if features.check("avif"):
        assert "avif" in exts
    clean = _files(manifest, "clean")
    assert sum(_is_picture(f) for f in clean) >= 5
    assert sum(not _is_picture(f) for f in clean) >= 3


def test_kit_is_small_and_quick(kit: Kit) -> None:
    root, manifest, seconds = kit
    assert sum(f["size"] for f in manifest["files"]) < MAX_KIT_BYTES
    assert seconds < 60  # ~5 s on 2 cores; a loose bound so slow CI does not flake


def test_originals_carry_no_metadata(kit: Kit) -> None:
    root, manifest, _ = kit
    for f in _files(manifest, "original"):
        with Image.open(root / f["path"]) as im:
            assert im.format == "JPEG"
            assert not {"exif", "icc_profile", "comment"} & set(im.info)
        assert b"Exif" not in (root / f["path"]).read_bytes()[:4096]


def test_sizes_vary(kit: Kit) -> None:
    root, manifest, _ = kit
    sizes = []
    for f in _files(manifest, "original"):
        with Image.open(root / f["path"]) as im:
            sizes.append(im.size)
    assert all(400 <= side <= 1600 for size in sizes for side in size)
    assert any(w > h for w, h in sizes) and any(h > w for w, h in sizes)
    assert any(min(s) > 1536 for s in sizes)  # exercises reduced-scale JPEG decoding
    assert len(set(sizes)) == len(sizes)


# --- determinism ----------------------------------------------------------------------------


def test_second_run_in_a_fresh_process_writes_identical_bytes(kit: Kit, tmp_path: Path) -> None:
    root, manifest, _ = kit
    code = "import sys; from hashwatch.testkit import write_kit; write_kit(sys.argv[1])"
    env = os.environ | {"PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env)
    for f in manifest["files"]:
        again = hashlib.sha256((tmp_path / f["path"]).read_bytes()).hexdigest()
        assert again == hashlib.sha256((root / f["path"]).read_bytes()).hexdigest(), f["path"]
    assert (tmp_path / "manifest.json").read_bytes() == (root / "manifest.json").read_bytes()


def test_global_random_state_is_not_used(kit: Kit) -> None:
    root, _, _ = kit
    random.seed(1)
    np.random.seed(1)
    first = generate_originals(2)
    random.seed(2)
    np.random.seed(2)
    assert [im.tobytes() for _, im in generate_originals(2)] == [im.tobytes() for _, im in first]
    # a smaller n gives a prefix of the full kit
    for name, img in first:
        assert encode_jpeg(img, 92) == (root / "originals" / f"{name}.jpg").read_bytes()


# --- PDQ properties -------------------------------------------------------------------------


def test_originals_quality(kit: Kit) -> None:
    root, manifest, _ = kit
    for f in _files(manifest, "original"):
        assert _pdq(_decoded(root / f["path"]))[1] >= MIN_QUALITY, f["path"]


def test_originals_never_match_each_other_or_mirrors(
    original_hashes: dict[str, tuple[str, str]],
) -> None:
    names = sorted(original_hashes)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            (ha, ma), (hb, mb) = original_hashes[a], original_hashes[b]
            for x, y in ((ha, hb), (ha, mb), (ma, hb)):
                assert pdq_distance(x, y) >= MIN_APART, (a, b)


def test_every_altered_copy_matches_its_original(
    kit: Kit, original_hashes: dict[str, tuple[str, str]]
) -> None:
    root, manifest, _ = kit
    worst: dict[str, int] = {}
    for f in _files(manifest, "altered") + _files(manifest, "format"):
        h, _ = _pdq(_decoded(root / f["path"]))
        d = pdq_distance(h, original_hashes[f["source"]][0])
        assert d <= PDQ_DEFAULT_THRESHOLD, (f["path"], d)
        worst[f["alteration"]] = max(worst.get(f["alteration"], 0), d)
    print("max PDQ distance per alteration:", worst)


def test_lossless_formats_keep_the_pixels(kit: Kit) -> None:
    root, manifest, _ = kit
    lossless = {"png", "png-rgba", "bmp-24bit", "tiff-raw", "tiff-deflate", "webp-lossless"}
    seen = set()
    for f in _files(manifest, "format"):
        if f["alteration"] in lossless:
            original = _decoded(root / "originals" / f"{f['source']}.jpg")
            assert np.array_equal(_decoded(root / f["path"]), original), f["path"]
            seen.add(f["alteration"])
    assert seen == lossless


def test_clean_pictures_match_nothing(
    kit: Kit, original_hashes: dict[str, tuple[str, str]]
) -> None:
    root, manifest, _ = kit
    for f in _files(manifest, "clean"):
        path = root / f["path"]
        if not _is_picture(f):
            with pytest.raises(Exception):  # noqa: B017 - any decode failure will do
                Image.open(path).load()
            continue
        h, _ = _pdq(_decoded(path))
        for plain, mirror in original_hashes.values():
            assert min(pdq_distance(h, plain), pdq_distance(h, mirror)) >= MIN_APART, f["path"]


# --- the alterations API --------------------------------------------------------------------


def test_alterations_api() -> None:
    ((_, img),) = generate_originals(1)
    small = img.resize((img.width // 4, img.height // 4))
    out = alterations(small, seed=7)
    assert [name for name, _ in out] == list(ALTERATIONS)
    named = dict(out)
    assert all(im.mode == "RGB" for im in named.values())
    assert named["resized-50"].size == (small.width // 2, small.height // 2)
    assert named["resized-25"].size == (small.width // 4, small.height // 4)
    assert named["crop-2"].size == (
        small.width - 2 * (small.width // 50),
        small.height - 2 * (small.height // 50),
    )
    assert named["jpeg-q50"].tobytes() == decode(encode_jpeg(small, 50)).tobytes()
    gray = np.asarray(named["grayscale"])
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    again = dict(alterations(small, seed=7))
    assert all(again[k].tobytes() == v.tobytes() for k, v in named.items())
    with Image.open(io.BytesIO(encode_jpeg(small, 92))) as im:
        assert im.format == "JPEG"
