"""The storage interface every backend implements.

Streaming both ways (video never whole in memory); small JSON documents read and written whole
with an ETag so the manifest can be updated with compare-and-swap.
"""

from __future__ import annotations

import abc
import builtins
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path

CHUNK_SIZE = 1024 * 1024


class StorageError(Exception):
    """Base of storage failures."""


class NotFound(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no object at {key!r}")
        self.key = key


class PreconditionFailed(StorageError):
    """A conditional write lost the race: the object changed (or exists) since it was read."""

    def __init__(self, key: str) -> None:
        super().__init__(f"object {key!r} changed concurrently")
        self.key = key


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str


class Storage(abc.ABC):
    """Keys are '/'-separated relative paths built by storage.keys; backends never see others."""

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the objects are, for messages: a directory or s3://bucket/prefix."""

    @abc.abstractmethod
    async def read_bytes(self, key: str) -> tuple[bytes, str]:
        """Whole object and its ETag (for small documents). Raises NotFound."""

    @abc.abstractmethod
    async def write_bytes(
        self, key: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False
    ) -> str:
        """Write whole; returns the new ETag. `if_match`: only if the current ETag equals it;
        `if_none_match`: only if no object exists. Raises PreconditionFailed otherwise."""

    @abc.abstractmethod
    def stream(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Yield the object's bytes [start, end) in chunks. Raises NotFound."""

    @abc.abstractmethod
    async def write_stream(self, key: str, chunks: AsyncIterable[bytes]) -> ObjectInfo:
        """Write from chunks; the object appears only when complete."""

    @abc.abstractmethod
    async def info(self, key: str) -> ObjectInfo:
        """Size and ETag. Raises NotFound."""

    @abc.abstractmethod
    async def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove an object; no error if absent."""

    @abc.abstractmethod
    async def list(self, prefix: str) -> list[str]:
        """Keys under a prefix, sorted."""

    @abc.abstractmethod
    async def list_children(self, prefix: str) -> builtins.list[str]:
        """Names of the 'folders' right under a prefix, sorted: a job list reads only the job
        folders, not every artifact's key."""

    @abc.abstractmethod
    async def download_to(self, key: str, path: Path) -> None:
        """Copy an object to a local file (ffmpeg needs files). Raises NotFound."""

    @abc.abstractmethod
    async def upload_from(self, path: Path, key: str) -> ObjectInfo:
        """Copy a local file to an object."""

    def local_path(self, key: str) -> Path | None:
        """A path ffmpeg can read in place, if the backend has one (saves a copy)."""
        return None

    async def presigned_url(
        self, key: str, *, expires_seconds: int, download_name: str | None = None
    ) -> str | None:
        """A time-limited URL a client can GET the object from directly, if the backend has
        such URLs (S3 does, a local directory does not)."""
        return None

    async def aclose(self) -> None:  # noqa: B027  (an optional hook: a no-op by default)
        """Release connections (nothing to do for backends without any)."""
