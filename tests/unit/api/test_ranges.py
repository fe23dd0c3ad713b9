"""HTTP Range parsing (one range; invalid or multi-range ignored, past the end unsatisfiable)
and the content types artifacts are served with."""

from __future__ import annotations

import pytest

from talkavocado_api.ranges import ByteRange, Unsatisfiable, content_type_for, parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 100, None),
        ("bytes=0-9", 100, ByteRange(0, 9)),
        ("bytes=10-", 100, ByteRange(10, 99)),
        ("bytes=-5", 100, ByteRange(95, 99)),
        ("bytes=-500", 100, ByteRange(0, 99)),
        ("bytes=90-1000", 100, ByteRange(90, 99)),
        ("bytes=99-99", 100, ByteRange(99, 99)),
        ("bytes = 1-2", 100, ByteRange(1, 2)),
        ("bytes=5-1", 100, None),  # invalid: ignored
        ("bytes=0-1,5-6", 100, None),  # multi-range: whole
        ("items=0-1", 100, None),
        ("bytes=-", 100, None),
        ("bytes=abc", 100, None),
        # Positions of any length (a 5,000-digit one was a 500): past every object's end.
        ("bytes=0-" + "9" * 5000, 100, ByteRange(0, 99)),
        ("bytes=-" + "9" * 5000, 100, ByteRange(0, 99)),
        ("bytes=" + "0" * 5000 + "7-9", 100, ByteRange(7, 9)),
        ("bytes=\u0663-\u0665", 100, None),  # digits, but not ASCII ones: invalid
    ],
)
def test_parse_range(header: str | None, size: int, expected: ByteRange | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=100-", 100),
        ("bytes=100-200", 100),
        ("bytes=-0", 100),
        ("bytes=0-", 0),
        ("bytes=-1", 0),
        ("bytes=" + "9" * 5000 + "-", 100),
        ("bytes=" + "9" * 5000 + "-" + "9" * 5001, 100),
    ],
)
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, size)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("renders/final.mp4", "video/mp4"),
        ("audio/job.mp3", "audio/mpeg"),
        ("audio/asr-16k-mono.wav", "audio/wav"),
        ("subtitles/final.srt", "application/x-subrip; charset=utf-8"),
        ("subtitles/final.vtt", "text/vtt; charset=utf-8"),
        ("plan/cut_plan.json", "application/json"),
        ("input/talk.MOV", "video/quicktime"),
        ("weird/no_extension", "application/octet-stream"),
    ],
)
def test_content_types(path: str, content_type: str) -> None:
    assert content_type_for(path) == content_type
