"""Videos and animations through the whole engine: lists built from videos, vPDQ matching
in scans (also inside archives), Meta's reference hashes as a list."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest

from hashwatch.signals.types import format_vpdq, parse_vpdq

from .conftest import SHARED
from .test_video import picture, write_video

VPDQ_REF = SHARED / "data" / "vpdq-reference"


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    known = d / "known" / "clip.mp4"
    known.parent.mkdir()
    write_video(known, seconds=8)
    # the same clip re-encoded: other codec, other size, other container
    copy = d / "seen" / "copy.mkv"
    copy.parent.mkdir()
    write_video(copy, seconds=8, codec="mpeg4", fmt="matroska", size=(160, 120))
    other = d / "seen" / "other.mp4"
    buf = io.BytesIO()
    write_video(buf, seconds=8, fmt="mp4", size=(192, 144))
    # an unrelated clip: pictures 20..27 instead of 0..7
    import av

    with av.open(str(other), "w") as out:
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 192, 144, "yuv420p"
        for i in range(80):
            for p in s.encode(av.VideoFrame.from_image(picture(20 + i // 10))):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    z = d / "seen" / "stick.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(copy, "films/copy.mkv")
    return {"known": known, "copy": copy, "other": other, "zip": z, "seen": copy.parent}


def _vpdq_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if r["signal_type"] == "vpdq"]


def test_list_built_from_a_video_finds_its_copies_and_nothing_else(videos, tmp_path, cli):
    lst = tmp_path / "videos.csv"
    r = cli("lists", "build", "--output", str(lst), "--category", "V1", str(videos["known"]))
    assert r.returncode == 0, r.stderr
    (row,) = _vpdq_rows(lst)
    frames = parse_vpdq(row["signal"])
    # ten frames a second of an 8 s clip, each distinct hash once
    assert 8 <= len(frames) <= 80
    assert len({f.pdq for f in frames}) == len(frames)
    assert frames[-1].timestamp >= 7.0
    r = cli("scan", "--list", str(lst), "--json", "--no-cache", str(videos["seen"]))
    assert r.returncode == 1, r.stderr
    found = [json.loads(line) for line in r.stdout.splitlines()]
    where = sorted((Path(f["path"]).name, f["inner"], f["signal_type"]) for f in found)
    assert where == [("copy.mkv", None, "vpdq"), ("stick.zip", "films/copy.mkv", "vpdq")]
    assert all(f["category"] == "V1" and f["distance"] <= 31 for f in found)
    assert len(found[0]["signal"]) == 64  # a video entry is named by its digest


def test_hash_prints_vpdq_for_videos(videos, cli):
    r = cli("hash", "--no-cache", "--frame-interval", "2", str(videos["known"]))
    assert r.returncode == 0, r.stderr
    (rec,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert rec["media"] == "video/mp4" and rec["pdq"] is None
    assert 3 <= len(parse_vpdq(rec["vpdq"])) <= 5  # one frame every 2 s
    assert "not_fully_scanned" not in rec


def test_share_thresholds_are_configurable(videos, tmp_path, cli):
    lst = tmp_path / "v.csv"
    cli("lists", "build", "--output", str(lst), str(videos["known"]))
    # require all of the listed video to be present: a half-length copy no longer matches
    half = tmp_path / "seen" / "half.mp4"
    half.parent.mkdir()
    write_video(half, seconds=4)
    r = cli("scan", "--list", str(lst), "--json", "--no-cache", str(half))
    assert r.returncode == 1  # all of its frames are in the listed video
    r = cli(
        "scan", "--list", str(lst), "--json", "--no-cache", "--video-compared-pct", "90", str(half)
    )
    assert r.returncode == 0 and r.stdout == ""


def test_animated_gif_matches_its_webp_copy(tmp_path, cli):
    frames = [picture(k, (160, 120)) for k in range(6)]
    gif = tmp_path / "known" / "anim.gif"
    gif.parent.mkdir()
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=1000, loop=0)
    webp = tmp_path / "seen" / "anim.webp"
    webp.parent.mkdir()
    frames[0].save(webp, save_all=True, append_images=frames[1:], duration=1000, quality=70)
    still = tmp_path / "seen" / "still.png"
    frames[3].save(still)
    lst = tmp_path / "a.csv"
    assert cli("lists", "build", "--output", str(lst), str(gif)).returncode == 0
    assert len(_vpdq_rows(lst)) == 1
    r = cli("scan", "--list", str(lst), "--json", "--no-cache", str(webp.parent))
    found = {
        (Path(f["path"]).name, f["signal_type"]) for f in map(json.loads, r.stdout.split("\n")[:-1])
    }
    # the animation by vPDQ (and by the PDQ of its first frame); a still frame is no video
    assert ("anim.webp", "vpdq") in found
    assert ("still.png", "vpdq") not in found


@pytest.mark.skipif(not VPDQ_REF.is_dir(), reason="vpdq reference data not present")
def test_list_built_from_a_fast_moving_video_finds_another_encoding(tmp_path, cli):
    """The chair videos: the camera moves fast (a frame's hash moves past 31 within three
    frames), and the two encodings are offset by 111 frames. A list built with the default
    (dense) sampling still finds the other encoding scanned at one frame a second."""
    lst = tmp_path / "chair.csv"
    r = cli("lists", "build", "--output", str(lst), str(VPDQ_REF / "chair-19-sd-bar.mp4"))
    assert r.returncode == 0, r.stderr
    names = ("chair-orig-22-sd-bar", "pattern-hd-no-bar", "doorknob-hd-no-bar")
    files = [str(VPDQ_REF / f"{n}.mp4") for n in names]
    r = cli("scan", "--list", str(lst), "--json", "--no-cache", *files)
    found = sorted(Path(json.loads(x)["path"]).name for x in r.stdout.splitlines())
    assert found == ["chair-orig-22-sd-bar.mp4"], r.stderr


@pytest.mark.skipif(not VPDQ_REF.is_dir(), reason="vpdq reference data not present")
def test_meta_reference_hashes_as_a_list(tmp_path, cli):
    """A list holding Meta's own vPDQ of chair-19 finds the other chair encoding, and neither
    the pattern nor the doorknob video."""
    frames = parse_vpdq((VPDQ_REF / "chair-19-sd-bar.vpdq.txt").read_text())
    lst = tmp_path / "meta.te"
    lst.write_text(f"vpdq {format_vpdq(frames)}\n")
    names = ("chair-orig-22-sd-bar", "pattern-hd-no-bar", "doorknob-hd-no-bar")
    files = [str(VPDQ_REF / f"{n}.mp4") for n in names]
    r = cli("scan", "--list", str(lst), "--json", "--no-cache", *files)
    found = sorted(Path(json.loads(x)["path"]).name for x in r.stdout.splitlines())
    assert found == ["chair-orig-22-sd-bar.mp4"], r.stderr
