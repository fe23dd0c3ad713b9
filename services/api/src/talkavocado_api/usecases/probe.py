"""Is a stored upload a recording the pipeline can edit? Its first bytes, then ffprobe (or a
test's prober) on it within a time limit; a refusal is InputRejected with one sentence its owner
understands.

Text is refused from its first bytes, before ffprobe runs: a playlist or a list of files
(`#EXTM3U`, `ffconcat`, `file '...'`) would make ffprobe open what it names. ffprobe itself runs
confined to real containers and local files (talkavocado_common.media.allowlist), so what the
first bytes miss it refuses (FormatRefused).

No full copy: a backend with local files is probed in place; a remote object is probed from a
sparse file holding only the bytes ffprobe reads (media/partial.py: head, tail, MP4 index), in a
scratch directory removed however the check ends (success, refusal, error, cancellation).
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio

from talkavocado_common.media import (
    FormatRefused,
    MediaInfo,
    ProbeError,
    ProbeTimeout,
    format_allowed,
    partial,
    probe,
)
from talkavocado_common.media.probe import REFUSED_FORMAT
from talkavocado_common.media.sniff import HEAD_BYTES, looks_like_text, reference_refusal
from talkavocado_common.storage import ObjectInfo, Storage

from .. import media_check
from ..settings import ApiSettings
from .errors import InputRejected

Prober = Callable[[Path], Awaitable[MediaInfo]]
SCRATCH_PREFIX = "avocado-api-probe-"


def _always() -> bool:
    return True


def _ffprobe_on_path() -> bool:
    return shutil.which("ffprobe") is not None


def refuse_by_head(head: bytes) -> None:
    """InputRejected when the first bytes already tell the file is no recording."""
    refusal = reference_refusal(head)
    if refusal is not None:
        raise InputRejected(refusal)
    if looks_like_text(head):
        raise InputRejected(media_check.explain_unreadable(head))


class MediaProbe:
    # How much of a remote object's start and end the sparse copy holds (besides an MP4 index).
    head_bytes = partial.HEAD_BYTES
    tail_bytes = partial.TAIL_BYTES

    def __init__(
        self,
        settings: ApiSettings,
        storage: Storage,
        *,
        prober: Prober | None = None,
        available: Callable[[], bool] | None = None,
        scratch_root: Path | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        # ffprobe's own limit is the setting, like the one around the call (either may fire).
        self._probe = prober or functools.partial(probe, time_limit=settings.probe_timeout_seconds)
        if available is None:
            # A custom prober (tests) needs no ffprobe binary.
            available = _always if prober else _ffprobe_on_path
        self.available: Callable[[], bool] = available
        # Where sparse copies go (None: the system's temporary directory).
        self.scratch_root = scratch_root

    async def inspect(self, stored: ObjectInfo) -> MediaInfo:
        """The stored object's media info; InputRejected unless it is a usable recording."""
        head = await self._read(stored.key, 0, min(stored.size, HEAD_BYTES))
        refuse_by_head(head)
        local = self.storage.local_path(stored.key)
        if local is not None and local.is_file():
            return await self._probe_path(local, head)
        async with self._sparse_copy(stored, head) as copy:
            return await self._probe_path(copy, head)

    async def _read(self, key: str, start: int, end: int) -> bytes:
        """The object's bytes [start, end)."""
        if end <= start:
            return b""
        return b"".join([chunk async for chunk in self.storage.stream(key, start, end)])

    @contextlib.asynccontextmanager
    async def _sparse_copy(self, stored: ObjectInfo, head: bytes) -> AsyncIterator[Path]:
        """A file of the object's size holding the ranges ffprobe reads; removed on exit."""
        scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=self.scratch_root))
        try:
            copy = scratch / ("input" + Path(stored.key).suffix)
            index = await partial.find_iso_index(
                lambda start, end: self._read(stored.key, start, end), head, stored.size
            )
            async with await anyio.open_file(copy, "wb") as out:
                await out.truncate(stored.size)  # holes read as zeros and use no space
                ranges = partial.probe_ranges(
                    stored.size, index, head=self.head_bytes, tail=self.tail_bytes
                )
                for start, end in ranges:
                    await out.seek(start)
                    async for chunk in self.storage.stream(stored.key, start, end):
                        await out.write(chunk)
            yield copy
        finally:
            # Synchronous on purpose: it runs even when the task is being cancelled.
            shutil.rmtree(scratch, ignore_errors=True)

    async def _probe_path(self, path: Path, head: bytes) -> MediaInfo:
        try:
            with anyio.fail_after(self.settings.probe_timeout_seconds):
                info = await self._probe(path)
        except FormatRefused as exc:
            raise InputRejected(str(exc)) from None
        except (TimeoutError, ProbeTimeout):
            # ffprobe was killed (media.probe kills it when its awaiting task is cancelled).
            raise InputRejected(
                f"{media_check.NOT_MEDIA} Reading it took longer than "
                f"{self.settings.probe_timeout_seconds:g} s."
            ) from None
        except ProbeError:
            raise InputRejected(media_check.explain_unreadable(head)) from None
        if not format_allowed(info.format_name):
            raise InputRejected(REFUSED_FORMAT)
        problem = media_check.media_problem(info)
        if problem is not None:
            raise InputRejected(problem)
        return info
