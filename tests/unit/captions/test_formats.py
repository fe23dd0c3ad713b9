"""SRT and WebVTT: writing, reading, round trips."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest

from talkavocado_common.captions import (
    Cue,
    CueWord,
    build_cues,
    format_srt,
    format_vtt,
    parse_srt,
    parse_vtt,
)

CUES = [
    Cue(0.4, 1.78, ("Welcome to the show.",)),
    Cue(2.1, 5.48, ("Today we talk about editing", "video with open tools.")),
    Cue(3725.25, 3727.0, ("An hour in & <counting>",)),
]


def test_format_srt() -> None:
    assert format_srt(CUES) == (
        "1\n00:00:00,400 --> 00:00:01,780\nWelcome to the show.\n"
        "\n"
        "2\n00:00:02,100 --> 00:00:05,480\nToday we talk about editing\nvideo with open tools.\n"
        "\n"
        "3\n01:02:05,250 --> 01:02:07,000\nAn hour in & <counting>\n"
    )


def test_format_vtt_escapes_markup() -> None:
    assert format_vtt(CUES) == (
        "WEBVTT\n"
        "\n"
        "00:00:00.400 --> 00:00:01.780\nWelcome to the show.\n"
        "\n"
        "00:00:02.100 --> 00:00:05.480\nToday we talk about editing\nvideo with open tools.\n"
        "\n"
        "01:02:05.250 --> 01:02:07.000\nAn hour in &amp; &lt;counting&gt;\n"
    )


def test_empty_documents() -> None:
    assert format_srt([]) == ""
    assert parse_srt("") == []
    assert format_vtt([]) == "WEBVTT\n"
    assert parse_vtt(format_vtt([])) == []


def test_round_trips() -> None:
    assert parse_srt(format_srt(CUES)) == CUES
    assert parse_vtt(format_vtt(CUES)) == CUES


def test_timestamps_round_to_milliseconds() -> None:
    text = format_srt([Cue(1 / 3, 2 / 3, ("x",))])
    assert "00:00:00,333 --> 00:00:00,667" in text


def test_hours_beyond_99() -> None:
    text = format_srt([Cue(360_000.0, 360_001.0, ("late",))])
    assert "100:00:00,000 --> 100:00:01,000" in text
    assert parse_srt(text)[0].start == 360_000.0


def test_parse_srt_tolerates_crlf_bom_and_extra_blank_lines() -> None:
    text = "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\nHello\r\n\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\nWorld\r\n"
    assert parse_srt(text) == [Cue(1.0, 2.5, ("Hello",)), Cue(3.0, 4.0, ("World",))]


def test_parse_vtt_skips_notes_styles_ids_and_settings() -> None:
    text = (
        "WEBVTT - a title\n\n"
        "NOTE written by hand\nover two lines\n\n"
        "STYLE\n::cue { color: yellow }\n\n"
        "intro\n00:01.000 --> 00:02.000 align:start position:10%\nShort &amp; sweet\n\n"
        "01:00:00.000 --> 01:00:01.500\nTwo\nlines\n"
    )
    assert parse_vtt(text) == [
        Cue(1.0, 2.0, ("Short & sweet",)),
        Cue(3600.0, 3601.5, ("Two", "lines")),
    ]


def test_parse_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="timing"):
        parse_srt("1\nnot a timing line\ntext\n")
    with pytest.raises(ValueError, match="timestamp"):
        parse_srt("1\n00:00:xx,000 --> 00:00:01,000\ntext\n")
    with pytest.raises(ValueError, match="WEBVTT"):
        parse_vtt("1\n00:00:00.000 --> 00:00:01.000\ntext\n")


@pytest.mark.parametrize("seed", range(10))
def test_built_cues_survive_a_round_trip_within_a_millisecond(seed: int) -> None:
    rng = random.Random(seed)
    words = []
    t = 0.0
    for i in range(rng.randint(1, 200)):
        d = rng.uniform(0.05, 0.6)
        words.append(CueWord(f" w{i}{rng.choice(['', '', ',', '.'])}", t, t + d))
        t += d + rng.choice([0.0, 0.1, 1.3])
    frame = rng.choice([None, 1 / 25, 1001 / 30000])
    cues = build_cues(words, frame_duration=frame)
    for parsed in (parse_srt(format_srt(cues)), parse_vtt(format_vtt(cues))):
        assert [c.lines for c in parsed] == [c.lines for c in cues]
        for a, b in zip(parsed, cues, strict=True):
            assert abs(a.start - b.start) <= 0.0005 + 1e-9
            assert abs(a.end - b.end) <= 0.0005 + 1e-9
            assert a.start < a.end
        for a, b in pairwise(parsed):
            assert a.end <= b.start
