"""Inside containers: archives, compressed streams and documents, with limits."""

from .base import Budget, ContainerError, ContainerLimits, EncryptedError, LimitReached, Member
from .walk import CONTAINER_TYPES, InnerItem, Walk, is_container, walk_inside

__all__ = [
    "Budget",
    "CONTAINER_TYPES",
    "ContainerError",
    "ContainerLimits",
    "EncryptedError",
    "InnerItem",
    "LimitReached",
    "Member",
    "Walk",
    "is_container",
    "walk_inside",
]
