"""Typer application: ``hashwatch hash | scan | lists | testkit``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="hashwatch",
    help="Find known abuse material by hash (exact and PDQ), offline, without looking at it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
lists_app = typer.Typer(help="Build and check hash lists.", no_args_is_help=True)
app.add_typer(lists_app, name="lists")

from .server_cmd import server_app  # noqa: E402

app.add_typer(server_app, name="server")

from .agent_cmd import agent_app  # noqa: E402

app.add_typer(agent_app, name="agent")

#: Exit statuses, as clamscan: nothing found, something found, an error stopped the scan.
EXIT_CLEAN, EXIT_FOUND, EXIT_ERROR = 0, 1, 2

Paths = Annotated[list[Path], typer.Argument(help="Files or folders.", show_default=False)]
Jobs = Annotated[int, typer.Option("--jobs", "-j", help="Hashing processes (default: all cores).")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the scan cache.")]
CachePath = Annotated[
    Path | None, typer.Option("--cache", help="Scan cache file (default ~/.cache/hashwatch).")
]
FollowLinks = Annotated[
    bool, typer.Option("--follow-symlinks", help="Follow symbolic links met in folders.")
]
CrossFs = Annotated[
    bool, typer.Option("--cross-filesystems", help="Descend into other mounted file systems.")
]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds allowed per file.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")]
FrameInterval = Annotated[
    float,
    typer.Option(
        "--frame-interval", help="Videos: seconds between sampled frames (0: every frame)."
    ),
]
MaxDepth = Annotated[
    int,
    typer.Option(
        "--max-depth", help="Containers nested deeper than this are not opened (0: none)."
    ),
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Also list skipped paths.")]
TrustedKeys = Annotated[
    list[Path] | None,
    typer.Option(
        "--trusted-key",
        help="Public key that signed bundles must verify with; repeatable "
        "(also $HASHWATCH_TRUSTED_KEYS, paths separated by ':').",
    ),
]


def _fail(message: str) -> typer.Exit:
    sys.stderr.write(f"hashwatch: error: {message}\n")
    return typer.Exit(EXIT_ERROR)


def _scan_options(
    jobs, no_cache, cache, follow, cross, timeout, frame_interval=1.0, max_depth=None
):
    from dataclasses import replace

    from ..scan import ScanOptions, WalkOptions

    if jobs < 0:
        raise _fail("--jobs must be 0 (all cores) or more")
    if timeout <= 0:
        raise _fail("--timeout must be positive")
    if not 0 <= frame_interval <= 3600:
        raise _fail("--frame-interval must be between 0 and 3600 seconds")
    if max_depth is not None and not 0 <= max_depth <= 64:
        raise _fail("--max-depth must be between 0 and 64")
    opts = ScanOptions(
        jobs=jobs or (os.cpu_count() or 1),
        walk=WalkOptions(follow_symlinks=follow, one_file_system=not cross),
        file_timeout=timeout,
        cache_path=cache,
        use_cache=not no_cache,
    )
    h = opts.hashing
    h = replace(h, video=replace(h.video, seconds_per_hash=frame_interval))
    if max_depth is not None:
        h = replace(
            h, look_inside=max_depth > 0, containers=replace(h.containers, max_depth=max_depth)
        )
    return replace(opts, hashing=h)


def _check_paths(paths: list[Path]) -> None:
    for p in paths:
        if not os.path.lexists(p):
            raise _fail(f"{p}: no such file or folder")


def _run(scanner, paths, on_result, quiet, verbose, lists_desc):
    from ..scan import CacheError
    from .progress import Progress

    progress = Progress(quiet=quiet)
    try:
        summary = scanner.run([str(p) for p in paths], on_result, progress.update)
    except CacheError as e:
        raise _fail(f"{e} (use --cache elsewhere or --no-cache)") from e
    except KeyboardInterrupt:
        progress.clear()
        sys.stderr.write("hashwatch: interrupted\n")
        raise typer.Exit(130) from None
    if not quiet:
        progress.summary(summary, lists_desc, verbose)
    return summary


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, separators=(", ", ": ")) + "\n")


def _hash_record(path: str, inner: str | None, h) -> dict:
    rec = {
        "path": path,
        "inner": inner,
        "size": h.size,
        "media": h.media,
        "md5": h.md5,
        "sha1": h.sha1,
        "sha256": h.sha256,
        "pdq": h.pdq,
        "pdq_quality": h.pdq_quality,
    }
    if h.vpdq:
        rec["vpdq"] = h.vpdq
    if h.not_fully_scanned:
        rec["not_fully_scanned"] = h.not_fully_scanned
    return rec


@app.command("hash")
def hash_cmd(
    paths: Paths,
    jobs: Jobs = 0,
    no_cache: NoCache = False,
    cache: CachePath = None,
    follow_symlinks: FollowLinks = False,
    cross_filesystems: CrossFs = False,
    timeout: Timeout = 60.0,
    frame_interval: FrameInterval = 1.0,
    max_depth: MaxDepth = 8,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Print every signal of every file, and of every item inside archives and documents,
    as one JSON object per line."""
    from ..scan import Scanner

    _check_paths(paths)
    opts = _scan_options(
        jobs,
        no_cache,
        cache,
        follow_symlinks,
        cross_filesystems,
        timeout,
        frame_interval,
        max_depth,
    )

    def on_result(r) -> None:
        if r.hashes is None:
            return
        _emit(_hash_record(r.path, None, r.hashes))
        for it in r.hashes.items or ():
            if it.hashes is not None:
                _emit(_hash_record(r.path, it.inner, it.hashes))

    summary = _run(Scanner(None, opts), paths, on_result, quiet, verbose, None)
    raise typer.Exit(
        EXIT_ERROR if summary.errors and not summary.files - len(summary.errors) else EXIT_CLEAN
    )


def _trusted_keys(paths: list[Path] | None):
    from ..lists.keys import KeyError_, load_public

    env = os.environ.get("HASHWATCH_TRUSTED_KEYS", "")
    all_paths = list(paths or []) + [Path(p) for p in env.split(":") if p]
    try:
        return [load_public(p) for p in all_paths]
    except KeyError_ as e:
        raise _fail(str(e)) from e


def _load_lists(list_files: list[Path], pdq_hint: bool, trusted: list[Path] | None = None):
    from ..lists import ListFormatError, load_list

    keys = _trusted_keys(trusted)
    loaded = []
    for f in list_files:
        try:
            loaded.append(
                load_list(f, bare_hex_64="pdq" if pdq_hint else "sha256", trusted_keys=keys)
            )
        except ListFormatError as e:
            raise _fail(f"invalid hash list {e}") from e
    return loaded


@app.command("scan")
def scan_cmd(
    paths: Paths,
    list_files: Annotated[
        list[Path],
        typer.Option("--list", "-l", help="Hash list (any supported format); repeatable."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per match.")] = False,
    hex_type: Annotated[
        str, typer.Option("--type", help="Bare 64-digit hex lists hold: sha256 or pdq.")
    ] = "sha256",
    threshold: Annotated[
        int, typer.Option("--threshold", help="PDQ distance at or under which images match.")
    ] = 31,
    min_quality: Annotated[int, typer.Option(help="PDQ quality below which no match.")] = 50,
    dihedral: Annotated[
        bool,
        typer.Option("--dihedral/--no-dihedral", help="Also match rotated and mirrored copies."),
    ] = True,
    views: Annotated[
        bool,
        typer.Option(
            "--views/--no-views",
            help="Also match pictures inside bars, frames or screenshots, and (against lists "
            "built from pictures) cropped or slightly turned copies.",
        ),
    ] = True,
    video_query: Annotated[
        float,
        typer.Option(
            "--video-query-pct",
            help="Videos match when this % of their distinct frames match a listed video...",
        ),
    ] = 80.0,
    video_compared: Annotated[
        float,
        typer.Option(
            "--video-compared-pct", help="...and this % of the listed video's frames match."
        ),
    ] = 0.0,
    trusted_key: TrustedKeys = None,
    jobs: Jobs = 0,
    no_cache: NoCache = False,
    cache: CachePath = None,
    follow_symlinks: FollowLinks = False,
    cross_filesystems: CrossFs = False,
    timeout: Timeout = 60.0,
    frame_interval: FrameInterval = 1.0,
    max_depth: MaxDepth = 8,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Report every file whose content matches an entry of a hash list.

    Exit status: 0 nothing found, 1 at least one match, 2 an error stopped the scan.
    """
    from ..match import Matcher, MatchSettings
    from ..scan import Scanner

    if hex_type not in ("sha256", "pdq"):
        raise _fail("--type must be sha256 or pdq")
    if not 0 <= threshold <= 256:
        raise _fail("--threshold must be between 0 and 256")
    if not 0 <= min_quality <= 100:
        raise _fail("--min-quality must be between 0 and 100")
    if not (0 <= video_query <= 100 and 0 <= video_compared <= 100):
        raise _fail("--video-query-pct and --video-compared-pct must be between 0 and 100")
    _check_paths(paths)
    opts = _scan_options(
        jobs,
        no_cache,
        cache,
        follow_symlinks,
        cross_filesystems,
        timeout,
        frame_interval,
        max_depth,
    )
    lists = _load_lists(list_files, hex_type == "pdq", trusted_key)
    settings = MatchSettings(
        threshold, min_quality, dihedral, video_query / 100, video_compared / 100, views
    )
    matcher = Matcher(lists, settings)

    def on_result(r) -> None:
        for m in r.matches:
            if as_json:
                _emit(
                    {
                        "path": r.path,
                        "inner": m.inner,
                        "signal_type": m.signal_type,
                        "signal": m.signal,
                        "distance": m.distance,
                        "list": m.list,
                        "entry_id": m.entry_id,
                        "category": m.category,
                    }
                )
            else:
                cat = f" category={m.category}" if m.category else ""
                where = f"{r.path}!{m.inner}" if m.inner else r.path
                sys.stdout.write(
                    f"{where}: FOUND {m.signal_type} distance={m.distance} list={m.list} "
                    f"entry={m.entry_id}{cat}\n"
                )
        if r.matches:
            sys.stdout.flush()

    desc = [f"{hl.name} ({len(hl)} entries)" for hl in lists]
    summary = _run(Scanner(matcher, opts), paths, on_result, quiet, verbose, desc)
    raise typer.Exit(EXIT_FOUND if summary.matches else EXIT_CLEAN)


@lists_app.command("build")
def lists_build(
    paths: Paths,
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV file to write.")],
    name: Annotated[str | None, typer.Option(help="The list's name.")] = None,
    category: Annotated[str | None, typer.Option(help="Category of every entry.")] = None,
    jobs: Jobs = 0,
    no_cache: NoCache = False,
    timeout: Timeout = 600.0,
    frame_interval: Annotated[
        float,
        typer.Option(
            "--frame-interval",
            help="Videos: seconds between sampled frames (0: every frame). Denser than the "
            "1 s of scans, so a scan's samples find a listed frame wherever they fall.",
        ),
    ] = 0.1,
    quiet: Quiet = False,
) -> None:
    """Write a hash list (CSV) of every signal of every file under PATHS (and of every item
    inside archives and documents); videos and animated images get a vPDQ entry."""
    from ..lists import write_csv
    from ..lists.build import entries_for
    from ..scan import Scanner

    _check_paths(paths)
    opts = _scan_options(jobs, no_cache, None, False, False, timeout, frame_interval)
    results = []

    def on_result(r) -> None:
        if r.hashes is not None:
            results.append(r.hashes)
            results.extend(it.hashes for it in r.hashes.items or () if it.hashes is not None)

    summary = _run(Scanner(None, opts), paths, on_result, quiet, False, None)
    entries, low_quality = entries_for(results, category)
    list_name = name or output.stem
    try:
        write_csv(entries, output, name=list_name)
    except OSError as e:
        raise _fail(f"{output}: cannot write: {e.strerror}") from e
    if not quiet:
        sys.stderr.write(
            f"wrote {len(entries)} entries for {len(results)} files and items to {output} "
            f"(list name {list_name!r}; {low_quality} PDQ hashes of quality < 50 left out)\n"
        )
    raise typer.Exit(EXIT_ERROR if summary.errors else EXIT_CLEAN)


@lists_app.command("check")
def lists_check(
    list_file: Annotated[Path, typer.Argument(help="The list to validate.")],
    hex_type: Annotated[
        str, typer.Option("--type", help="Bare 64-hex lists: sha256|pdq")
    ] = "sha256",
    trusted_key: TrustedKeys = None,
) -> None:
    """Validate a hash list and print its counts by signal type."""
    (hl,) = _load_lists([list_file], hex_type == "pdq", trusted_key)
    version = f" version {hl.version}" if hl.version is not None else ""
    sys.stdout.write(
        f"{list_file}: valid {hl.format} list {hl.name!r}{version}, {len(hl)} entries\n"
    )
    if "key_id" in hl.metadata:
        sys.stdout.write(f"  signed by key {hl.metadata['key_id']} on {hl.metadata['created']}\n")
    for st, n in sorted(hl.counts().items()):
        sys.stdout.write(f"  {st}: {n}\n")
    dup = hl.metadata.get("duplicates")
    if dup and str(dup) != "0":
        sys.stdout.write(f"  duplicates dropped: {dup}\n")


@lists_app.command("keygen")
def lists_keygen(
    prefix: Annotated[Path, typer.Argument(help="Writes PREFIX.key (private) and PREFIX.pub.")],
) -> None:
    """Make an Ed25519 key pair for signing list bundles (private key readable by owner only)."""
    from ..lists.keys import generate

    try:
        key, pub = generate(prefix)
    except FileExistsError as e:
        raise _fail(f"{prefix}.key already exists; not overwriting a key") from e
    except OSError as e:
        raise _fail(f"{prefix}: cannot write keys: {e.strerror}") from e
    sys.stderr.write(f"private key: {key} (keep it secret)\npublic key: {pub}\n")


@lists_app.command("sign")
def lists_sign(
    list_file: Annotated[Path, typer.Argument(help="The list to sign (any supported format).")],
    key: Annotated[Path, typer.Option("--key", help="Ed25519 private key (PEM).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Bundle file to write.")],
    version: Annotated[int, typer.Option(help="The list's version number (>= 1).")] = 1,
    name: Annotated[str | None, typer.Option(help="The list's name.")] = None,
    hex_type: Annotated[
        str, typer.Option("--type", help="Bare 64-hex lists: sha256|pdq")
    ] = "sha256",
) -> None:
    """Write a signed bundle of a list, for agents and scans that trust the key."""
    from ..lists import write_bundle
    from ..lists.keys import KeyError_, load_private

    (hl,) = _load_lists([list_file], hex_type == "pdq")
    try:
        private = load_private(key)
    except KeyError_ as e:
        raise _fail(str(e)) from e
    if version < 1:
        raise _fail("--version must be 1 or more")
    try:
        info = write_bundle(output, private, name or hl.name, version, hl.entries)
    except OSError as e:
        raise _fail(f"{output}: cannot write: {e.strerror}") from e
    sys.stderr.write(
        f"wrote {output}: list {info.name!r} version {info.version}, {info.added} entries, "
        f"signed by key {info.key_id}\n"
    )


@app.command("testkit")
def testkit_cmd(
    directory: Annotated[Path, typer.Argument(help="Folder to write the kit into.")],
) -> None:
    """Write harmless generated test images, altered copies and a hash list of the originals."""
    from ..testkit import write_testkit

    try:
        info = write_testkit(directory)
    except OSError as e:
        raise _fail(f"{directory}: cannot write the test kit: {e.strerror or e}") from e
    sys.stderr.write(
        f"test kit written to {directory}: {info['files']} files; list of the originals: "
        f"{info['list']}\ntry: hashwatch scan --list {info['list']} {directory}\n"
    )


def main() -> None:
    app()
