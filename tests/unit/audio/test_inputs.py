"""Telling a usable recording from what is not one, in words the uploader understands."""

from __future__ import annotations

from fractions import Fraction

import pytest

from talkavocado_audio.core import (
    explain_decode_failure,
    explain_unreadable,
    looks_like_iso_media,
    media_problem,
    truncation_problem,
)
from talkavocado_common.media import MediaInfo, StreamInfo
from talkavocado_common.media.sniff import looks_like_text

MP4_HEAD = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
VIDEO = StreamInfo(0, "video", "h264", width=320, height=240, frame_rate=Fraction(25))
AUDIO = StreamInfo(1, "audio", "aac", sample_rate=44100, channels=2, duration=3.0)
COVER = StreamInfo(2, "video", "mjpeg", width=600, height=600, attached_pic=True)
JARGON = ("moov", "atom", "ffprobe", "ffmpeg", "demux", "codec")


def info(*streams: StreamInfo, duration: float | None = 3.0) -> MediaInfo:
    return MediaInfo("mov,mp4,m4a,3gp,3g2,mj2", duration, 1000, streams)


def assert_plain(sentence: str) -> None:
    assert sentence.endswith("."), sentence
    assert not any(word in sentence.lower() for word in JARGON), sentence


@pytest.mark.parametrize(
    "media",
    [info(VIDEO, AUDIO), info(AUDIO), info(AUDIO, COVER), info(AUDIO, duration=None)],
)
def test_recordings_with_sound_are_usable(media: MediaInfo) -> None:
    assert media_problem(media) is None


def test_video_without_sound() -> None:
    problem = media_problem(info(VIDEO))
    assert problem is not None
    assert "no sound track" in problem
    assert_plain(problem)


def test_nothing_playable() -> None:
    problem = media_problem(info(COVER))
    assert problem is not None
    assert "not a video or audio recording" in problem


def test_zero_length() -> None:
    assert media_problem(info(AUDIO, duration=0.0)) is not None


def test_sniffing() -> None:
    assert looks_like_iso_media(MP4_HEAD)
    assert not looks_like_iso_media(b"hello world, not a box")
    assert looks_like_text(b"hello\nthis is a note\twith tabs\n")
    assert looks_like_text("caf\u00e9 ".encode() + "\u00e9".encode()[:1])
    assert not looks_like_text(MP4_HEAD)
    assert not looks_like_text(b"")
    assert not looks_like_text(b"\xff\xfb\x90\x64" + bytes(range(40)))


def test_unreadable_text_file() -> None:
    sentence = explain_unreadable("text.mp4: Invalid data found when processing input", b"hi\n")
    assert "contains text" in sentence
    assert_plain(sentence)


def test_unreadable_empty_file() -> None:
    sentence = explain_unreadable("", b"")
    assert "empty" in sentence
    assert_plain(sentence)


def test_unreadable_cut_off_mp4() -> None:
    sentence = explain_unreadable("moov atom not found", MP4_HEAD)
    assert "incomplete" in sentence
    assert_plain(sentence)


def test_unreadable_binary_of_another_kind() -> None:
    sentence = explain_unreadable("Invalid data found", b"\x89PNG\r\n\x1a\n\x00\x00")
    assert "not a video or audio recording" in sentence
    assert_plain(sentence)


def test_decode_failure_from_damaged_data() -> None:
    sentence = explain_decode_failure("[aac @ 0x1] Error while decoding stream #0:1")
    assert sentence is not None
    assert "damaged or incomplete" in sentence
    assert_plain(sentence)


def test_decode_failure_that_is_not_the_input() -> None:
    assert explain_decode_failure("Error opening output file: No space left on device") is None


@pytest.mark.parametrize(
    ("decoded", "expected", "truncated"),
    [
        (23.2, 23.24, False),
        (23.0, 23.24, False),  # within the tolerance of encoder priming and rounding
        (6.97, 23.24, True),
        (3.0, None, False),
        (3.0, 0.0, False),
    ],
)
def test_truncation(decoded: float, expected: float | None, truncated: bool) -> None:
    problem = truncation_problem(decoded, expected)
    assert (problem is not None) == truncated
    if problem is not None:
        assert "7.0 s" in problem
        assert "23.2 s" in problem
        assert_plain(problem)
