"""Hash lists: entries, file formats (read and write), signed bundles."""

from .csvwrite import write_csv
from .formats import (
    FormatSpec,
    ReadOptions,
    ReadResult,
    default_name,
    detect_format,
    load_list,
    read_clamav,
    read_csv,
    read_hex,
    read_threatexchange,
    read_vics,
    register_format,
)
from .model import HashList, ListEntry, ListFormatError

_BUNDLE_NAMES = ("BundleInfo", "apply_delta", "read_bundle", "write_bundle")


def __getattr__(name: str):  # bundles need cryptography: imported on first use only
    if name in _BUNDLE_NAMES:
        from . import bundle

        return getattr(bundle, name)
    raise AttributeError(name)


__all__ = [
    "BundleInfo",
    "apply_delta",
    "read_bundle",
    "write_bundle",
    "FormatSpec",
    "HashList",
    "ListEntry",
    "ListFormatError",
    "ReadOptions",
    "ReadResult",
    "default_name",
    "detect_format",
    "load_list",
    "read_clamav",
    "read_csv",
    "read_hex",
    "read_threatexchange",
    "read_vics",
    "register_format",
    "write_csv",
]
