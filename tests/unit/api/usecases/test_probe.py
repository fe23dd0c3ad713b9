"""The media check of a stored upload: where it is probed, and the refusals it explains."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from talkavocado_api.usecases.errors import InputRejected
from talkavocado_api.usecases.probe import MediaProbe
from talkavocado_common.media import MediaInfo
from talkavocado_common.storage import LocalStorage

from ..support import Api, build_api, fake_probe, make_settings, media


class RemoteLikeStorage(LocalStorage):
    """A backend without local paths (like S3): the probe works on a temporary copy."""

    def local_path(self, key: str) -> Path | None:
        return None


async def test_probe_uses_a_temporary_copy_when_storage_has_no_local_path(
    tmp_path: Path,
) -> None:
    built = build_api(tmp_path, storage=RemoteLikeStorage(tmp_path / "remote"))
    async with built.client:
        job = await built.create_job()
        assert (await built.upload(job, media(1000))).status_code == 202
        bad = await built.create_job(size=20)
        response = await built.upload(bad, b"definitely not video")
    assert response.status_code == 422
    assert "contains text" in response.json()["detail"]


async def test_inspect_returns_the_info_or_rejects_with_a_reason(api: Api) -> None:
    probe = MediaProbe(api.settings, api.storage, prober=fake_probe)
    assert probe.available()
    await api.storage.write_bytes("test/x/good.mp4", media(100))
    info = await probe.inspect(await api.storage.info("test/x/good.mp4"))
    assert info.video is not None
    await api.storage.write_bytes("test/x/notes.mp4", b"notes\n" * 20)
    with pytest.raises(InputRejected, match="It contains text"):
        await probe.inspect(await api.storage.info("test/x/notes.mp4"))


async def test_a_probe_that_takes_too_long_is_a_rejection(tmp_path: Path) -> None:
    async def hangs(path: Path) -> MediaInfo:
        await anyio.sleep(10)
        raise AssertionError("not reached")

    storage = LocalStorage(tmp_path / "s")
    probe = MediaProbe(make_settings(probe_timeout_seconds=0.05), storage, prober=hangs)
    await storage.write_bytes("test/x/slow.mp4", media(100))
    with pytest.raises(InputRejected, match=r"took longer than 0\.05 s\.$"):
        await probe.inspect(await storage.info("test/x/slow.mp4"))
