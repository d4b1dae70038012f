"""Detection quality against plain PDQ, on real photographs and the test kit, in one run.

    python bench/bench_quality.py [--corpus DIR] [--quick] [--json OUT]

Sources: the distinct originals of ``shared/bench/make-photo-corpus.sh`` (built into
``--corpus`` if missing) plus the test kit's originals. "Distinct": a picture that is the
same as one kept before under any transform the shipped matcher knows, or within PDQ
distance 90 of it (the desktop packages hold the same artwork at several aspect ratios and
in several colourings), is left out; so are pictures of PDQ quality < 50, which no list
holds — they become distractors.

Distractors (must match nothing, as they are and under every transform): those low-quality
originals, Meta's PDQ reference photos (``shared/data/pdq-reference``, each set of rotations
counted once), and test-kit pictures made with other seeds (``generate_clean`` and more
originals), each checked to be distinct from every source.

Each source is listed as ``hashwatch lists build`` lists it (PDQ plus the derived
``pdq_center80``); each copy is made from the source at most 1600 px on its long side,
stored as JPEG quality 90 (the screenshot as PNG) and matched as a scan matches it:

  plain PDQ   pdqhash of the picture as it is, distance <= 31 (the field's baseline);
  hashwatch   the shipped defaults: also its rotations and mirrors, its trimmed views and
              its centre regions, each at distance <= 31 (``hashwatch scan``'s defaults).

Printed: recall per transform and group, false matches (a copy matched to another source,
or a distractor matched at all), hashing time per copy and the list's PDQ hashes per picture
for both.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_CORPUS, REPO, SHARED, ensure_corpus, table  # noqa: E402
from hashwatch.testkit.images import generate_clean, generate_originals  # noqa: E402
from hashwatch.testkit.quality import (  # noqa: E402
    distinct,
    encode_source,
    evaluate,
    ratio,
    share,
)
from hashwatch.testkit.transforms import TRANSFORM_NAMES  # noqa: E402

QUICK = (
    "jpeg-q30",
    "crop5",
    "crop10-one",
    "pad-blur-letterbox",
    "caption",
    "mirror",
    "rotate-4",
    "screenshot",
)


def _files(folder: Path) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()]


def collect(corpus: Path) -> tuple[list, list, list]:
    photos = _files(corpus / "originals")
    kit = [(n, encode_source(im)) for n, im in generate_originals()]
    sources, dropped, low = distinct(photos + kit)
    extra = [(f"other-{n}", encode_source(im)) for n, im in generate_originals(40, seed=99)]
    extra += [(f"clean-{n}", encode_source(im)) for n, im in generate_clean(generate_originals())]
    ref = SHARED / "data" / "pdq-reference"
    meta = [
        (p.name, p.read_bytes()) for p in sorted(ref.rglob("*.jpg")) + sorted(ref.rglob("*.png"))
    ]
    candidates = [(f"low-{n}", d) for n, d in low] + meta + extra
    distractors, same, low2 = distinct(candidates, against=sources)
    distractors += low2
    return sources, distractors, dropped + same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / ".out" / "quality.json")
    args = ap.parse_args()
    corpus = ensure_corpus(args.corpus)
    t0 = time.time()
    sources, distractors, dropped = collect(corpus)
    print(
        f"sources: {len(sources)} distinct pictures; distractors: {len(distractors)}; "
        f"left out as the same picture as another: {len(dropped)}",
        flush=True,
    )
    names = QUICK if args.quick else TRANSFORM_NAMES

    def progress(done: int, total: int) -> None:
        if done % 500 == 0:
            print(f"  {done}/{total} copies ({time.time() - t0:.0f} s)", flush=True)

    r = evaluate(sources, distractors, names, progress=progress)
    rows = []
    for name, o in r.by_transform.items():
        rows.append(
            (
                name,
                r.groups[name],
                f"{share(o.found_plain, o.copies):.0f}%",
                f"{share(o.found, o.copies):.0f}%",
                str(o.wrong_plain),
                str(o.wrong),
            )
        )
    print()
    print(
        table(
            rows,
            ("transform", "group", "plain PDQ", "hashwatch", "wrong (plain)", "wrong (hashwatch)"),
        )
    )
    print()
    grows = [
        (g, f"{share(o.found_plain, o.copies):.1f}%", f"{share(o.found, o.copies):.1f}%")
        for g, o in r.group_totals().items()
    ]
    t = r.total()
    grows.append(
        ("overall", f"{share(t.found_plain, t.copies):.1f}%", f"{share(t.found, t.copies):.1f}%")
    )
    print(table(grows, ("group", "plain PDQ", "hashwatch")))
    print()
    per = 1000 * r.seconds / r.queries
    per_plain = 1000 * r.seconds_plain / r.queries
    facts = [
        ("copies of sources", str(t.copies), str(t.copies)),
        ("copies matched to a wrong source", str(t.wrong_plain), str(t.wrong)),
        (
            f"distractor queries matched ({r.distractor_queries})",
            str(r.distractor_wrong_plain),
            str(r.distractor_wrong),
        ),
        (
            "hash + match, ms per copy",
            f"{per_plain:.1f}",
            f"{per:.1f} ({ratio(per, per_plain):.2f}x)",
        ),
        (
            "list PDQ hashes per picture",
            f"{r.list_pdq_hashes_plain / r.sources:.2f}",
            f"{r.list_pdq_hashes / r.sources:.2f} "
            f"({ratio(r.list_pdq_hashes, r.list_pdq_hashes_plain):.2f}x)",
        ),
        (
            "scan-cache perceptual bytes per copy",
            f"{r.cache_bytes_plain / r.queries:.0f}",
            f"{r.cache_bytes / r.queries:.0f}",
        ),
    ]
    print(table(facts, ("", "plain PDQ", "hashwatch")))
    print(f"\nfound how (hashwatch): {json.dumps(r.via)}; {time.time() - t0:.0f} s in all")
    for fm in r.false_matches:
        print("false match: {} ({}) matched {} [{}]".format(*fm))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "sources": r.sources,
                "distractors": r.distractors,
                "dropped": dropped,
                "transforms": {n: vars(o) for n, o in r.by_transform.items()},
                "distractor_queries": r.distractor_queries,
                "distractor_wrong": r.distractor_wrong,
                "distractor_wrong_plain": r.distractor_wrong_plain,
                "ms_per_copy": per,
                "ms_per_copy_plain": per_plain,
                "false_matches": r.false_matches,
                "via": r.via,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
