"""A harmless test kit, like the EICAR file for antivirus: abstract generated pictures.

``write_kit(dir)`` writes deterministic originals, the altered copies a perceptual matcher must
catch, the same pictures in every container the engine reads, and clean files that must match
nothing, with a ``manifest.json``. Hash lists built from ``originals/`` let anyone check a
deployment end to end. No picture shows people or text: fields, shapes, stripes, cells, rings.
"""

from .alter import ALTERATIONS, alterations, encode_jpeg, format_variants
from .images import generate_clean, generate_originals
from .kit import build_kit, write_kit
from .listing import write_testkit

__all__ = [
    "ALTERATIONS",
    "alterations",
    "build_kit",
    "encode_jpeg",
    "format_variants",
    "generate_clean",
    "generate_originals",
    "write_kit",
    "write_testkit",
]
