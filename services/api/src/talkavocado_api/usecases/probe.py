"""Is a stored upload a recording the pipeline can edit? ffprobe (or a test's prober) on it,
within a time limit; a refusal is InputRejected with one sentence its owner understands."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

from talkavocado_common.media import MediaInfo, ProbeError, probe
from talkavocado_common.media.sniff import looks_like_text
from talkavocado_common.storage import ObjectInfo, Storage

from .. import media_check
from ..settings import ApiSettings
from .errors import InputRejected

Prober = Callable[[Path], Awaitable[MediaInfo]]


def _always() -> bool:
    return True


def _ffprobe_on_path() -> bool:
    return shutil.which("ffprobe") is not None


def _read_head(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(4096)


class MediaProbe:
    def __init__(
        self,
        settings: ApiSettings,
        storage: Storage,
        *,
        prober: Prober | None = None,
        available: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self._probe = prober or probe
        if available is None:
            # A custom prober (tests) needs no ffprobe binary.
            available = _always if prober else _ffprobe_on_path
        self.available: Callable[[], bool] = available

    async def inspect(self, stored: ObjectInfo) -> MediaInfo:
        """The stored object's media info; InputRejected unless it is a usable recording."""
        local = self.storage.local_path(stored.key)
        if local is not None and local.is_file():
            return await self._probe_path(local)
        with tempfile.TemporaryDirectory(prefix="avocado-api-probe-") as scratch:
            copy = Path(scratch) / ("input" + Path(stored.key).suffix)
            await self.storage.download_to(stored.key, copy)
            return await self._probe_path(copy)

    async def _probe_path(self, path: Path) -> MediaInfo:
        try:
            with anyio.fail_after(self.settings.probe_timeout_seconds):
                info = await self._probe(path)
        except ProbeError:
            head = await anyio.to_thread.run_sync(_read_head, path)
            raise InputRejected(media_check.explain_unreadable(head)) from None
        except TimeoutError:
            raise InputRejected(
                f"{media_check.NOT_MEDIA} Reading it took longer than "
                f"{self.settings.probe_timeout_seconds:g} s."
            ) from None
        problem = media_check.media_problem(info)
        if problem is not None:
            head = await anyio.to_thread.run_sync(_read_head, path)
            if looks_like_text(head):  # ffprobe read a text file as a "video"
                raise InputRejected(media_check.explain_unreadable(head))
            raise InputRejected(problem)
        return info
