"""Pick a backend from a location: a directory path, a file:// URL or s3://bucket/prefix."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from .base import Storage
from .local import LocalStorage

if TYPE_CHECKING:
    from ..settings import StorageSettings


class UnsupportedStorage(ValueError):
    pass


def open_storage(location: str | Path, settings: StorageSettings | None = None) -> Storage:
    """`settings` gives the S3 endpoint, region, credentials and part size (read from the
    environment when not given); a local location ignores them."""
    text = str(location)
    parsed = urlparse(text)
    if parsed.scheme in ("", "file"):
        return LocalStorage(Path(parsed.path if parsed.scheme == "file" else text))
    if parsed.scheme == "s3":
        from ..settings import StorageSettings
        from .s3 import S3Storage

        return S3Storage.from_url(text, (settings or StorageSettings()).s3_options())
    raise UnsupportedStorage(
        f"storage {text!r}: use a directory, file:///path or s3://bucket/prefix"
    )
