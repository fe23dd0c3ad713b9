"""Is a probed file a recording the pipeline can edit, and why not."""

from __future__ import annotations

import pytest

from talkavocado_api.media_check import NO_AUDIO, NO_VIDEO, explain_unreadable, media_problem
from talkavocado_common.media import MediaInfo, StreamInfo
from talkavocado_common.media.sniff import looks_like_text

VIDEO = StreamInfo(index=0, codec_type="video", codec_name="h264", width=2, height=2)
AUDIO = StreamInfo(index=1, codec_type="audio", codec_name="aac")
COVER = StreamInfo(index=2, codec_type="video", codec_name="mjpeg", attached_pic=True)


@pytest.mark.parametrize(
    ("streams", "duration", "problem"),
    [
        ((VIDEO, AUDIO), 3.0, None),
        ((VIDEO,), 3.0, NO_AUDIO),
        ((AUDIO,), 3.0, NO_VIDEO),
        ((AUDIO, COVER), 3.0, NO_VIDEO),  # a song with cover art is not a video
        ((), None, "It holds no audio or video stream."),
        ((VIDEO, AUDIO), 0.0, "The recording is empty"),
    ],
)
def test_media_problem(
    streams: tuple[StreamInfo, ...], duration: float | None, problem: str | None
) -> None:
    found = media_problem(MediaInfo("mp4", duration, 10, streams))
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_unreadable_explanations() -> None:
    assert looks_like_text("héllo wörld\n".encode())
    assert looks_like_text("cut in the middle é".encode()[:-1])
    assert not looks_like_text(b"\x00\x00\x00\x18ftypmp42")
    assert not looks_like_text(b"")
    assert "contains text" in explain_unreadable(b"hello")
    assert "MP4, MOV" in explain_unreadable(b"\x00\x01")
