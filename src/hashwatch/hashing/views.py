"""Extra PDQ hashes of an image for the altered copies plain PDQ misses.

Plain PDQ hashes the whole frame, so bars, a screenshot's window, a crop or a small rotation
move most of its 256 bits. Two kinds of extra hash fix that, both matched at the same
distance as plain PDQ (``tests`` and ``bench/bench_quality.py`` measure the false matches):

- **Trimmed views** (``pdq_views``, matched against listed PDQ hashes): the picture's content
  box found by :func:`content_boxes` (black, white or blurred letterbox and pillarbox bars,
  frames, a screenshot's window chrome), each with its 8 rotations and flips.
- **Centre regions** (``pdq_regions``, matched against ``pdq_center80`` list entries): a
  list built from pictures also holds the hash of each picture's central 80% (10% cut from
  every side, returned by :func:`views`). A copy cropped by up to ~12% still contains that region,
  at a place that depends on how it was cropped; :data:`REGIONS` are the places for no crop,
  5% and 10% cut from every side, and 5% and 10% cut from one side, each also mirrored. Two
  more regions undo a rotation of about 4 degrees either way.

Everything is computed from one luma plane of at most :data:`MAX_SIDE` pixels, with the
one-pass PDQ of :mod:`.pdq_plane`; a picture costs a few milliseconds more than its decode.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..signals.pdq import PDQ_MIN_QUALITY
from .pdq_plane import _FLIP, _LUMA, coefficients, dihedral_coefficients, hash_of

#: The luma plane the views are cut from is at most this many pixels on its long side.
MAX_SIDE = 512
#: A content box keeps at least this share of each side.
MIN_BOX = 0.3
#: The share of each side cut off for the centre hash of a list entry.
CENTER_MARGIN = 0.1
#: Degrees a rotated copy is turned back by, before its centre region is hashed.
ROTATIONS = (-4.0, 4.0)

_MIRROR = _FLIP[None, :]

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as shares of the width and height


def _regions() -> tuple[Box, ...]:
    """Where the original's central 80% lies in a copy cropped by 0, 5 or 10% (all sides or
    one side): ``[(m - a) / (1 - a - b), (1 - m - a) / (1 - a - b)]`` along an axis cropped by
    ``a`` and ``b``."""
    m = CENTER_MARGIN

    def span(a: float, b: float) -> tuple[float, float]:
        return max(0.0, (m - a) / (1 - a - b)), min(1.0, (1 - m - a) / (1 - a - b))

    out: list[Box] = []
    for c in (0.0, 0.05, 0.1):  # every side
        lo, hi = span(c, c)
        out.append((lo, lo, hi, hi))
    for c in (0.05, 0.1):  # one side: the other axis keeps its centre
        for lo, hi in (span(c, 0.0), span(0.0, c)):
            out.append((lo, m, hi, 1 - m))
            out.append((m, lo, 1 - m, hi))
    return tuple(out)


REGIONS: tuple[Box, ...] = _regions()


def luma_plane(rgb: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """PDQ's luma (``0.299 R + 0.587 G + 0.114 B``) of an RGB ``uint8`` array, box-filtered
    down to ``max_side`` at most. A large picture is converted to 8-bit luma and reduced
    by Pillow first (a third of the data to filter; the rounding moves no PDQ bit that
    matters at this scale)."""
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return rgb.astype(np.float32) @ _LUMA
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    grey = Image.fromarray(rgb, "RGB").convert("L").resize(size, Image.Resampling.BOX)
    return np.asarray(grey, dtype=np.float32)


def _cut(plane: np.ndarray, box: Box) -> np.ndarray:
    h, w = plane.shape
    x0, y0, x1, y1 = box
    return plane[round(y0 * h) : round(y1 * h), round(x0 * w) : round(x1 * w)]


def _center(plane: np.ndarray) -> tuple[str, int]:
    """The ``pdq_center80`` hash of a plane (its central 80%) and that region's quality."""
    m = CENTER_MARGIN
    coef, quality = coefficients(_cut(plane, (m, m, 1 - m, 1 - m)))
    return hash_of(coef), quality


def views(rgb: np.ndarray) -> tuple[list[str], list[str], str | None]:
    """The trimmed views (8 rotations and flips of each content box), the centre regions
    (each region and its mirror, then the turned-back rotations) and the ``pdq_center80``
    hash of a picture. Views, regions and centres of too little quality are left out."""
    plane = luma_plane(rgb)
    if min(plane.shape) < 16:
        return [], [], None
    trimmed: list[str] = []
    for box in content_boxes(plane):
        coef, quality = coefficients(_cut(plane, box))
        if quality >= PDQ_MIN_QUALITY:
            trimmed.extend(hash_of(c) for c in dihedral_coefficients(coef))
    regions: list[str] = []
    for box in REGIONS:
        coef, quality = coefficients(_cut(plane, box))
        if quality >= PDQ_MIN_QUALITY:  # itself and mirrored (odd columns negated)
            regions.extend((hash_of(coef), hash_of(coef * _MIRROR)))
    image = Image.fromarray(plane, "F")
    for degrees in ROTATIONS:
        turned = np.asarray(image.rotate(degrees, resample=Image.Resampling.BILINEAR))
        hashed, quality = _center(turned)
        if quality >= PDQ_MIN_QUALITY:
            regions.append(hashed)
    center, quality = _center(plane)
    return _unique(trimmed), _unique(regions), center if quality >= PDQ_MIN_QUALITY else None


def _unique(hashes: list[str]) -> list[str]:
    return list(dict.fromkeys(hashes))


# ---------------------------------------------------------------------- finding the content


def content_boxes(plane: np.ndarray) -> list[Box]:
    """Candidate boxes of the picture inside bars, frames or window chrome, as shares of the
    plane's width and height; the whole frame is never one of them.

    Three detectors, each cheap and each right where the others are not:

    - peeling lines of one colour from each side (solid bars; a caption written in a bar is
      tolerated), and of any uniform colour (frames, a window's title bar and toolbars);
    - peeling smooth lines up to a sharp edge, where the two sides agree (blurred bars, which
      are the picture itself stretched and blurred, are symmetric);
    - the smallest rectangles whose four sides are long straight edges (a picture pasted into
      a screenshot, whatever surrounds it).
    """
    h, w = plane.shape
    found: list[tuple[int, int, int, int]] = [
        _peel_uniform(plane, same_colour=True),
        _peel_uniform(plane, same_colour=False),
        _symmetric_smooth(plane),
    ]
    found.extend(_rectangles(plane))
    out: list[Box] = []
    for x0, y0, x1, y1 in found:
        if x1 - x0 <= MIN_BOX * w or y1 - y0 <= MIN_BOX * h:
            continue
        box = (x0 / w, y0 / h, x1 / w, y1 / h)
        if box[0] < 0.01 and box[1] < 0.01 and box[2] > 0.99 and box[3] > 0.99:
            continue  # the whole frame: plain PDQ has it
        if any(max(abs(a - b) for a, b in zip(box, o, strict=True)) < 0.01 for o in out):
            continue
        out.append(box)
    return out


def _line(plane: np.ndarray, box: list[int], side: int) -> np.ndarray:
    """The outermost line of ``box`` on ``side`` (0 top, 1 bottom, 2 left, 3 right)."""
    x0, y0, x1, y1 = box
    if side == 0:
        return plane[y0, x0:x1]
    if side == 1:
        return plane[y1 - 1, x0:x1]
    if side == 2:
        return plane[y0:y1, x0]
    return plane[y0:y1, x1 - 1]


def _inward(box: list[int], side: int) -> list[int]:
    b = list(box)
    if side == 0:
        b[1] += 1
    elif side == 1:
        b[3] -= 1
    elif side == 2:
        b[0] += 1
    else:
        b[2] -= 1
    return b


def _big_enough(box: list[int], w: int, h: int) -> bool:
    return box[2] - box[0] > MIN_BOX * w and box[3] - box[1] > MIN_BOX * h


def _peel_uniform(
    plane: np.ndarray, same_colour: bool, tol: float = 8.0
) -> tuple[int, int, int, int]:
    """Peel lines in which most pixels are one grey (within ``tol``): with ``same_colour``
    the grey of a side's first line (60% of a line), else any grey (50%)."""
    h, w = plane.shape
    share = 0.6 if same_colour else 0.5
    box = [0, 0, w, h]
    colour: list[float | None] = [None] * 4
    live = [True] * 4
    while any(live):
        for side in range(4):
            if not live[side]:
                continue
            nxt = _inward(box, side)
            if not _big_enough(nxt, w, h):
                live[side] = False
                continue
            line = _line(plane, box, side)
            ref = colour[side] if same_colour and colour[side] is not None else np.median(line)
            if np.mean(np.abs(line - ref) <= tol) >= share:
                colour[side] = float(ref) if colour[side] is None else colour[side]
                box = nxt
            else:
                live[side] = False
    return box[0], box[1], box[2], box[3]


def _smooth_depth(plane: np.ndarray, side: int, max_share: float = 0.35) -> int:
    """How many smooth lines lie on ``side`` before the first rough line or a sharp step
    (a line differing from the one before it 4 times more than the smooth lines did); 0 if
    neither comes within ``max_share`` of the side."""
    lines = {0: plane, 1: plane[::-1], 2: plane.T, 3: plane.T[::-1]}[side]
    n = min(len(lines) - 1, int(max_share * len(lines)) + 1)
    head = lines[: n + 1]
    smooth = (np.abs(np.diff(head[:n], axis=1)) < 8.0).mean(axis=1) >= 0.9
    steps = np.abs(np.diff(head, axis=0)).mean(axis=1)  # steps[i]: line i to line i+1
    total = 0.0
    for depth in range(n):
        if not smooth[depth]:
            return depth
        step = float(steps[depth])
        if depth and step >= 2.0 and step >= 4.0 * (total / depth + 0.1):
            return depth + 1
        total += step
    return 0


def _symmetric_smooth(plane: np.ndarray) -> tuple[int, int, int, int]:
    h, w = plane.shape
    top, bottom, left, right = (_smooth_depth(plane, s) for s in range(4))
    box = [0, 0, w, h]
    if min(top, bottom) >= 0.02 * h and abs(top - bottom) <= 0.02 * h:
        box[1], box[3] = top, h - bottom
    if min(left, right) >= 0.02 * w and abs(left - right) <= 0.02 * w:
        box[0], box[2] = left, w - right
    return box[0], box[1], box[2], box[3]


def _edge_lines(density: np.ndarray, k: int) -> np.ndarray:
    """Up to ``k`` lines (1..n-1) that are sharper than the lines two away on either side."""
    pad = np.pad(density, 2, mode="edge")
    score = np.maximum(density - pad[:-4], density - pad[4:])
    score[0] = score[-1] = -1
    picked: list[int] = []
    for i in np.argsort(-score, kind="stable"):
        if score[i] <= 0.15 or len(picked) >= k:
            break
        if all(abs(int(i) - j) > 2 for j in picked):
            picked.append(int(i))
    return np.asarray(picked, dtype=np.int64)


def _rectangles(
    plane: np.ndarray, step: float = 6.0, k: int = 12, support: float = 0.45, keep: int = 3
) -> list[tuple[int, int, int, int]]:
    """The ``keep`` smallest rectangles (sides on sharp lines or the frame) along whose
    four sides at least ``support`` of the pixels change by more than ``step``."""
    h, w = plane.shape
    dy = np.abs(np.diff(plane, axis=0)) > step  # dy[y-1]: between rows y-1 and y
    dx = np.abs(np.diff(plane, axis=1)) > step
    dy[:-1] |= dy[1:].copy()  # an edge between two pixels may be shared by two lines
    dx[:, :-1] |= dx[:, 1:].copy()
    cy = np.zeros((h - 1, w + 1), np.int32)
    cy[:, 1:] = np.cumsum(dy, axis=1)
    cx = np.zeros((w - 1, h + 1), np.int32)
    cx[:, 1:] = np.cumsum(dx.T, axis=1)
    rows = np.unique(np.concatenate(([0], _edge_lines(cy[:, -1] / w, k) + 1, [h])))
    cols = np.unique(np.concatenate(([0], _edge_lines(cx[:, -1] / h, k) + 1, [w])))
    y0, y1 = (a.ravel() for a in np.meshgrid(rows, rows, indexing="ij"))
    tall = y1 - y0 > MIN_BOX * h
    y0, y1 = y0[tall][:, None], y1[tall][:, None]
    x0, x1 = (a.ravel() for a in np.meshgrid(cols, cols, indexing="ij"))
    wide = x1 - x0 > MIN_BOX * w
    x0, x1 = x0[wide][None, :], x1[wide][None, :]
    if not y0.size or not x0.size:
        return []

    def across(y: np.ndarray) -> np.ndarray:  # a horizontal side at row boundary y
        yy = np.clip(y - 1, 0, h - 2)
        s = (cy[yy, x1] - cy[yy, x0]) / (x1 - x0)
        return np.where((y == 0) | (y == h), 1.0, s)

    def down(x: np.ndarray) -> np.ndarray:
        xx = np.clip(x - 1, 0, w - 2)
        s = (cx[xx, y1] - cx[xx, y0]) / (y1 - y0)
        return np.where((x == 0) | (x == w), 1.0, s)

    sup = np.minimum.reduce([across(y0), across(y1), down(x0), down(x1)])
    whole = (y0 == 0) & (y1 == h) & (x0 == 0) & (x1 == w)
    sup = np.where(whole, -1.0, sup)
    area = (y1 - y0) * (x1 - x0)
    out: list[tuple[int, int, int, int]] = []
    for flat in np.argsort(area, axis=None, kind="stable"):
        i, j = np.unravel_index(flat, sup.shape)
        if sup[i, j] < support:
            continue
        r = (int(x0[0, j]), int(y0[i, 0]), int(x1[0, j]), int(y1[i, 0]))
        if any(max(abs(a - b) for a, b in zip(r, o, strict=True)) <= 0.02 * max(w, h) for o in out):
            continue
        out.append(r)
        if len(out) >= keep:
            break
    return out
