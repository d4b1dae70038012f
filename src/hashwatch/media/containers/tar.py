"""tar archives, plain or compressed with gzip, bzip2 or xz, read as a stream.

Streaming mode reads every member in order and never seeks, so a compressed tar is never
decompressed whole in memory or on disk. Links, devices and FIFOs inside are not content
and are passed over; sparse members are read as tarfile expands them (bytes counted).
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from .base import Budget, ContainerError, Member


def members(source: BinaryIO, budget: Budget, name: str) -> Iterator[Member]:
    try:
        tf = tarfile.open(fileobj=source, mode="r|*")
    except (tarfile.TarError, OSError, EOFError, ValueError) as e:
        raise ContainerError(f"corrupt tar archive: {e}") from e
    with tf:
        while True:
            budget.check_time()
            try:
                info = tf.next()
            except (tarfile.TarError, OSError, EOFError, ValueError, LookupError) as e:
                raise ContainerError(f"corrupt tar archive: {e}") from e
            if info is None:
                return
            if not info.isreg():
                continue

            def opener(info: tarfile.TarInfo = info) -> BinaryIO:
                f = tf.extractfile(info)
                if f is None:  # pragma: no cover - isreg() members always have data
                    raise ContainerError(f"{info.name}: no data")
                return f

            yield Member(info.name, info.size, opener)
