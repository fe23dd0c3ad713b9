"""Local filesystem backend: objects are files under a root; writes are atomic renames."""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from pathlib import Path

import anyio
import anyio.to_thread

from .base import CHUNK_SIZE, NotFound, ObjectInfo, PreconditionFailed, Storage
from .keys import InvalidKey, validate_relative_path

# mkstemp makes owner-only files; objects are ordinary files (the umask of a shared root applies
# to their directory, not to each object).
_FILE_MODE = 0o644
# A write this small (a manifest, an index entry, an idempotency record) is done on the event
# loop: its few page-cache syscalls take less than handing it to a thread and back, which cost
# `POST /jobs` a quarter of a millisecond of lock hand-offs and a wake-up of the loop.
_INLINE_WRITE_BYTES = 64 * 1024


def _etag_of(st: os.stat_result) -> str:
    # Size + mtime_ns + inode change on every atomic replace; cheap even for large files.
    return hashlib.sha1(f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}".encode()).hexdigest()


def _etag(path: Path) -> str:
    return _etag_of(path.stat())


class LocalStorage(Storage):
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    @property
    def location(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        validate_relative_path(key)
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidKey(f"key {key!r} leaves the storage root")
        return path

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        """Serialise conditional writes to one key across processes."""
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = path.parent / f".{path.name}.lock"
        with open(lock_path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _atomic_write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    # read_bytes and write_bytes check the key in their thread: resolving it (one lstat per
    # component) on the event loop was a good part of a small request's time in the API.
    async def read_bytes(self, key: str) -> tuple[bytes, str]:
        def read() -> tuple[bytes, str]:
            path = self._path(key)
            try:
                with open(path, "rb") as handle:
                    return handle.read(), _etag_of(os.fstat(handle.fileno()))
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                raise NotFound(key) from None

        return await anyio.to_thread.run_sync(read)

    async def write_bytes(
        self, key: str, data: bytes, *, if_match: str | None = None, if_none_match: bool = False
    ) -> str:
        def write() -> str:
            path = self._path(key)
            if if_match is None and not if_none_match:
                self._atomic_write(path, data)
                return _etag(path)
            with self._locked(path):
                exists = path.is_file()
                if if_none_match and exists:
                    raise PreconditionFailed(key)
                if if_match is not None and (not exists or _etag(path) != if_match):
                    raise PreconditionFailed(key)
                self._atomic_write(path, data)
                return _etag(path)

        if len(data) <= _INLINE_WRITE_BYTES:
            return write()
        return await anyio.to_thread.run_sync(write)

    async def stream(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await anyio.open_file(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(key) from None
        async with handle:
            await handle.seek(start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                size = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
                chunk = await handle.read(size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    async def write_stream(self, key: str, chunks: AsyncIterable[bytes]) -> ObjectInfo:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        os.close(fd)
        size = 0
        try:
            async with await anyio.open_file(tmp, "wb") as handle:
                async for chunk in chunks:
                    size += len(chunk)
                    await handle.write(chunk)
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return ObjectInfo(key=key, size=size, etag=_etag(path))

    async def info(self, key: str) -> ObjectInfo:
        path = self._path(key)
        if not path.is_file():
            raise NotFound(key)
        return ObjectInfo(key=key, size=path.stat().st_size, etag=_etag(path))

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    async def list(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root

        def walk() -> list[str]:
            if not base.is_dir():
                return []
            keys = [
                p.relative_to(self.root).as_posix()
                for p in base.rglob("*")
                if p.is_file() and not p.name.startswith(".")
            ]
            return sorted(keys)

        return await anyio.to_thread.run_sync(walk)

    async def list_children(self, prefix: str) -> builtins.list[str]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root

        def children() -> list[str]:
            if not base.is_dir():
                return []
            return sorted(
                p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")
            )

        return await anyio.to_thread.run_sync(children)

    async def download_to(self, key: str, path: Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise NotFound(key)
        await anyio.to_thread.run_sync(shutil.copyfile, source, path)

    async def upload_from(self, path: Path, key: str) -> ObjectInfo:
        target = self._path(key)

        def copy() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
            os.close(fd)
            try:
                shutil.copyfile(path, tmp)
                os.chmod(tmp, _FILE_MODE)
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise

        await anyio.to_thread.run_sync(copy)
        return await self.info(key)
