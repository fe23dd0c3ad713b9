"""The upload check of an object without a local path (S3): ffprobe reads a sparse copy holding
only what it needs (the head, the tail, an MP4's index found behind its media data), and the
copy is gone however the check ends: success, refusal, error or cancellation."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import anyio
import pytest

from talkavocado_api import ApiSettings
from talkavocado_api.usecases.errors import InputRejected
from talkavocado_api.usecases.probe import MediaProbe
from talkavocado_common.media import MediaInfo, partial, probe
from talkavocado_common.storage import LocalStorage, ObjectInfo
from tests.support.hostile_media import ffmpeg, write_hostile

from .conftest import KEY, TENANT

KEY_OF_UPLOAD = "it/demo-tenant/job-1/input/talk.mp4"


class RemoteLikeStorage(LocalStorage):
    """A backend without local paths, like S3: the probe cannot read the object in place."""

    def local_path(self, key: str) -> Path | None:
        return None


@pytest.fixture(scope="module")
def index_last(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MP4 the way cameras write it: media data first, the index (moov) at the end."""
    path = tmp_path_factory.mktemp("probe-media") / "camera.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3"),
        *("-f", "lavfi", "-i", "sine=frequency=300:duration=3"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(path)),
    )
    data = path.read_bytes()
    assert data.index(b"moov") > data.index(b"mdat") > 0, "the index comes last"
    assert data.index(b"moov") > 2 * 1024, "beyond the head and tail the test copies"
    return path


def checker(tmp_path: Path, prober: object = None) -> tuple[MediaProbe, RemoteLikeStorage, Path]:
    storage = RemoteLikeStorage(tmp_path / "remote")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    settings = ApiSettings(keys=f"{TENANT}:{KEY}", probe_timeout_seconds=20)
    media_probe = MediaProbe(settings, storage, prober=prober, scratch_root=scratch)  # type: ignore[arg-type]
    # Small enough that the index lies outside both: only the walk can find it.
    media_probe.head_bytes = media_probe.tail_bytes = 1024
    return media_probe, storage, scratch


async def store(storage: LocalStorage, path: Path) -> ObjectInfo:
    return await storage.upload_from(path, KEY_OF_UPLOAD)


async def test_an_index_at_the_end_is_found_and_only_needed_bytes_are_copied(
    tmp_path: Path, index_last: Path
) -> None:
    seen: list[tuple[int, int]] = []

    async def ffprobe_watching_the_copy(path: Path) -> MediaInfo:
        stat = os.stat(path)
        seen.append((stat.st_size, stat.st_blocks * 512))
        return await probe(path)

    media_probe, storage, scratch = checker(tmp_path, ffprobe_watching_the_copy)
    stored = await store(storage, index_last)
    info = await media_probe.inspect(stored)

    assert info.video is not None
    assert info.audio is not None
    assert info.duration == pytest.approx(3.0, abs=0.1)
    ((size, allocated),) = seen
    assert size == stored.size
    assert allocated < size / 2, "holes, not a full copy"
    assert list(scratch.iterdir()) == []


async def test_without_the_index_walk_the_same_file_is_unreadable(
    tmp_path: Path, index_last: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_index(*_: object) -> None:
        return None

    monkeypatch.setattr(partial, "find_iso_index", no_index)
    media_probe, storage, scratch = checker(tmp_path)
    with pytest.raises(InputRejected):
        await media_probe.inspect(await store(storage, index_last))
    assert list(scratch.iterdir()) == []


async def test_no_copy_is_left_after_a_refusal_or_an_error(
    tmp_path: Path, index_last: Path
) -> None:
    media_probe, storage, scratch = checker(tmp_path)
    salted = write_hostile(tmp_path / "upload", "hls-salted", index_last)
    with pytest.raises(InputRejected, match="playlists, lists of files"):
        await media_probe.inspect(await store(storage, salted))
    assert list(scratch.iterdir()) == []

    async def breaks(path: Path) -> MediaInfo:
        assert await anyio.Path(path).exists()
        raise RuntimeError("the prober broke")

    broken, storage, scratch = checker(tmp_path / "broken", breaks)
    with pytest.raises(RuntimeError, match="the prober broke"):
        await broken.inspect(await store(storage, index_last))
    assert list(scratch.iterdir()) == []


async def test_no_copy_is_left_when_the_upload_is_cancelled(
    tmp_path: Path, index_last: Path
) -> None:
    probing = asyncio.Event()
    copies: list[Path] = []

    async def stalls(path: Path) -> MediaInfo:
        copies.append(path)
        probing.set()
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    media_probe, storage, scratch = checker(tmp_path, stalls)
    task = asyncio.create_task(media_probe.inspect(await store(storage, index_last)))
    await asyncio.wait_for(probing.wait(), 10)
    assert copies[0].exists()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(scratch.iterdir()) == []
