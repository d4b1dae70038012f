"""Media: recognise content by its magic bytes and decode images, with limits."""

from .decode import DecodeError, DecodeLimits, decode_for_pdq
from .sniff import IMAGE_TYPES, is_image, sniff

__all__ = ["DecodeError", "DecodeLimits", "decode_for_pdq", "IMAGE_TYPES", "is_image", "sniff"]
