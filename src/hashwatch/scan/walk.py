"""Walking file systems: regular files only, no symlink loops, one file system by default."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WalkOptions:
    follow_symlinks: bool = False
    #: Stay on the file system of each starting path (like ``find -xdev``).
    one_file_system: bool = True
    #: Names (not paths) of directories never entered, e.g. ``.git``.
    exclude_dirs: frozenset[str] = frozenset()
    #: Directories (absolute, normalised paths) never entered, e.g. ``/proc``.
    exclude_paths: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class FileItem:
    path: str
    st: os.stat_result
    #: Reached through a symbolic link (so it must be opened following links).
    via_link: bool = False


#: Called with (path, reason) for everything the walk passes over.
SkipHandler = Callable[[str, str], None]


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def walk(
    paths: Sequence[str | os.PathLike],
    options: WalkOptions = WalkOptions(),
    on_skip: SkipHandler | None = None,
) -> Iterator[FileItem]:
    """Yield every regular file under ``paths`` (files are yielded as given).

    Symlinks named on the command line are followed (like ``find -H``); symlinks met during
    the walk are not, unless ``follow_symlinks``, and then directories already visited (by
    device and inode) are not entered again, so loops end.
    """
    skip = on_skip or (lambda p, r: None)
    seen_dirs: set[tuple[int, int]] = set()
    for top in paths:
        top = os.fspath(top)
        try:
            st = os.stat(top)
        except OSError as e:
            skip(top, f"cannot access: {e.strerror}")
            continue
        if stat.S_ISREG(st.st_mode):
            yield FileItem(top, st, os.path.islink(top))
        elif stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(top, st.st_dev, options, seen_dirs, skip, st)
        else:
            skip(top, f"not a regular file ({_kind(st.st_mode)})")


def _walk_dir(top, root_dev, options, seen_dirs, skip, top_st) -> Iterator[FileItem]:
    stack = [(top, top_st, os.path.islink(top))]
    follow = options.follow_symlinks
    while stack:
        d, dst, via_link = stack.pop()
        ident = (dst.st_dev, dst.st_ino)
        if ident in seen_dirs:
            skip(d, "directory already visited (symlink loop or bind mount)")
            continue
        seen_dirs.add(ident)
        try:
            it = os.scandir(d)
        except OSError as e:
            skip(d, f"cannot list directory: {e.strerror}")
            continue
        subdirs = []
        with it:
            while True:
                try:
                    entry = next(it)
                except StopIteration:
                    break
                except OSError as e:
                    skip(d, f"error while listing directory: {e.strerror}")
                    break
                try:
                    is_link = entry.is_symlink()
                    if is_link and not follow:
                        skip(entry.path, "symbolic link (not followed)")
                        continue
                    st = entry.stat(follow_symlinks=follow)
                except OSError as e:
                    skip(entry.path, f"cannot stat: {e.strerror}")
                    continue
                mode = st.st_mode
                if stat.S_ISREG(mode):
                    yield FileItem(entry.path, st, is_link or via_link)
                elif stat.S_ISDIR(mode):
                    if entry.name in options.exclude_dirs or entry.path in options.exclude_paths:
                        continue
                    if options.one_file_system and st.st_dev != root_dev:
                        skip(entry.path, "on another file system (use --cross-filesystems)")
                        continue
                    subdirs.append((entry.path, st, is_link or via_link))
                else:
                    skip(entry.path, f"not a regular file ({_kind(mode)})")
        # depth-first, in name order, so output order is stable
        subdirs.sort(reverse=True)
        stack.extend(subdirs)
