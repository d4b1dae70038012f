"""Hash lists: entries, file formats (read and write), signed bundles."""

from .bundle import BundleInfo, apply_delta, read_bundle, write_bundle
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
