"""Object storage: one async interface, backends behind it (local filesystem, S3)."""

from .base import NotFound, ObjectInfo, PreconditionFailed, Storage, StorageError
from .keys import InvalidKey, JobKeys, validate_tenant_id
from .local import LocalStorage
from .open import open_storage

__all__ = [
    "InvalidKey",
    "JobKeys",
    "LocalStorage",
    "NotFound",
    "ObjectInfo",
    "PreconditionFailed",
    "Storage",
    "StorageError",
    "open_storage",
    "validate_tenant_id",
]
