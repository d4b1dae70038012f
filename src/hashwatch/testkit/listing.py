"""The kit's own hash list: every signal of each original, named after the original."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..hashing import hash_file
from ..lists import write_csv
from ..lists.build import entries_for
from .kit import write_kit

LIST_NAME = "hashwatch-testkit"
LIST_FILE = "testkit-list.csv"
CATEGORY = "test-kit"


def write_testkit(directory: str | Path) -> dict[str, Any]:
    """Write the kit and ``testkit-list.csv`` (md5, sha1, sha256 and PDQ of every original).

    Returns ``{"files": N, "list": path, "manifest": manifest}``.
    """
    root = Path(directory)
    manifest = write_kit(root)
    originals = [Path(f["path"]) for f in manifest["files"] if f["kind"] == "original"]
    entries, _ = entries_for(
        (hash_file(root / p) for p in originals), CATEGORY, (p.stem for p in originals)
    )
    list_path = root / LIST_FILE
    write_csv(entries, list_path, name=LIST_NAME)
    return {"files": len(manifest["files"]), "list": str(list_path), "manifest": manifest}
