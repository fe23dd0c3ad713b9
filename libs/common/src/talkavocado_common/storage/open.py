"""Pick a backend from a location: a directory path or file:// URL (s3:// comes with the S3 backend)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from .base import Storage
from .local import LocalStorage


class UnsupportedStorage(ValueError):
    pass


def open_storage(location: str | Path) -> Storage:
    text = str(location)
    parsed = urlparse(text)
    if parsed.scheme in ("", "file"):
        return LocalStorage(Path(parsed.path if parsed.scheme == "file" else text))
    raise UnsupportedStorage(
        f"storage {text!r}: only local directories are supported in this build (s3:// is planned)"
    )
