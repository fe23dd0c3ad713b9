"""The upload check's allowlist decisions, with a fake prober: a playlist is refused from its
first bytes without probing, and a probed format off the list is refused whatever it holds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from talkavocado_api.usecases.errors import InputRejected
from talkavocado_api.usecases.probe import MediaProbe
from talkavocado_common.media import MediaInfo, StreamInfo
from talkavocado_common.storage import LocalStorage

from ..support import make_settings

VIDEO = StreamInfo(index=0, codec_type="video", codec_name="h264", width=320, height=240)
AUDIO = StreamInfo(index=1, codec_type="audio", codec_name="aac", sample_rate=48000)


class Prober:
    """Answers `format_name` with picture and sound, and counts its calls."""

    def __init__(self, format_name: str) -> None:
        self.format_name = format_name
        self.calls = 0

    async def __call__(self, path: Path) -> MediaInfo:
        self.calls += 1
        return MediaInfo(self.format_name, 2.0, 100, (VIDEO, AUDIO))


async def check(tmp_path: Path, content: bytes, prober: Prober) -> MediaInfo:
    storage = LocalStorage(tmp_path / "s")
    await storage.write_bytes("test/x/talk.mp4", content)
    media_probe = MediaProbe(make_settings(), storage, prober=prober)
    return await media_probe.inspect(await storage.info("test/x/talk.mp4"))


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"#EXTM3U\n#EXTINF:10,\n/srv/storage/other/input/talk.mp4\n", "HLS (M3U) playlist"),
        (b"ffconcat version 1.0\nfile '/srv/x.mp4'\n", "ffconcat list"),
        (b"file '/srv/x.mp4'\n", "concat list"),
    ],
)
async def test_a_playlist_is_refused_before_probing(
    tmp_path: Path, content: bytes, phrase: str
) -> None:
    prober = Prober("mov,mp4,m4a,3gp,3g2,mj2")
    with pytest.raises(InputRejected, match=re.escape(phrase)):
        await check(tmp_path, content, prober)
    assert prober.calls == 0, "ffprobe never sees a playlist"


@pytest.mark.parametrize("format_name", ["hls", "concat", "image2", "png_pipe", "sdp"])
async def test_a_probed_format_off_the_list_is_refused(tmp_path: Path, format_name: str) -> None:
    prober = Prober(format_name)
    with pytest.raises(InputRejected, match="playlists, lists of files and image sequences"):
        await check(tmp_path, b"\x00\x00\x00\x18ftypisom" + bytes(100), prober)
    assert prober.calls == 1


async def test_a_container_on_the_list_passes(tmp_path: Path) -> None:
    info = await check(tmp_path, b"\x1a\x45\xdf\xa3" + bytes(100), Prober("matroska,webm"))
    assert info.format_name == "matroska,webm"
