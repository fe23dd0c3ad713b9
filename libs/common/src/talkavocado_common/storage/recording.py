"""A storage that remembers what it was asked to write: the step runner hands one to each
handler, so the objects a step run wrote can be removed when its job was cancelled meanwhile."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from .base import ObjectInfo, Storage


class RecordingStorage(Storage):
    """Delegates every call to `inner`; `written` lists the keys written (recorded before the
    write starts, so a write interrupted half-way, or one that landed just as it was cancelled,
    is listed too). Closing it leaves `inner` open: the caller owns that."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.written: list[str] = []

    def _record(self, key: str) -> None:
        if key not in self.written:
            self.written.append(key)

    @property
    def location(self) -> str:
        return self.inner.location

    async def read_bytes(self, key: str) -> tuple[bytes, str]:
        return await self.inner.read_bytes(key)

    async def write_bytes(
        self, key: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False
    ) -> str:
        self._record(key)
        return await self.inner.write_bytes(
            key, data, if_match=if_match, if_none_match=if_none_match
        )

    def stream(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        return self.inner.stream(key, start, end)

    async def write_stream(self, key: str, chunks: AsyncIterable[bytes]) -> ObjectInfo:
        self._record(key)
        return await self.inner.write_stream(key, chunks)

    async def info(self, key: str) -> ObjectInfo:
        return await self.inner.info(key)

    async def exists(self, key: str) -> bool:
        return await self.inner.exists(key)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def list(self, prefix: str) -> builtins.list[str]:
        return await self.inner.list(prefix)

    async def list_children(self, prefix: str) -> builtins.list[str]:
        return await self.inner.list_children(prefix)

    async def download_to(self, key: str, path: Path) -> None:
        await self.inner.download_to(key, path)

    async def upload_from(self, path: Path, key: str) -> ObjectInfo:
        self._record(key)
        return await self.inner.upload_from(path, key)

    def local_path(self, key: str) -> Path | None:
        return self.inner.local_path(key)

    async def presigned_url(
        self, key: str, *, expires_seconds: int, download_name: str | None = None
    ) -> str | None:
        return await self.inner.presigned_url(
            key, expires_seconds=expires_seconds, download_name=download_name
        )
