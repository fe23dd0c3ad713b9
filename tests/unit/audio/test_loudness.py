"""Reading the integrated loudness out of ffmpeg's ebur128 summary."""

from __future__ import annotations

import pytest

from talkavocado_audio.core import parse_integrated_loudness

SUMMARY = """\
[Parsed_ebur128_3 @ 0x558222bc4980] Summary:

  Integrated loudness:
    I:         {value} LUFS
    Threshold: -31.0 LUFS

  Loudness range:
    LRA:         4.4 LU
    Threshold: -41.9 LUFS
    LRA low:   -24.7 LUFS
    LRA high:  -20.3 LUFS
"""


def summary(value: str) -> str:
    return SUMMARY.format(value=value)


def test_reads_the_integrated_loudness() -> None:
    log = "Input #0, mov,mp4\nsize=N/A time=00:00:23.26\n" + summary("-20.6")
    assert parse_integrated_loudness(log) == pytest.approx(-20.6)


def test_the_last_summary_wins() -> None:
    assert parse_integrated_loudness(summary("-30.0") + summary("-23.0")) == pytest.approx(-23.0)


@pytest.mark.parametrize("value", ["-70.0", "-inf", "nan", "-91.2"])
def test_silence_has_no_integrated_loudness(value: str) -> None:
    assert parse_integrated_loudness(summary(value)) is None


def test_no_summary() -> None:
    assert parse_integrated_loudness("ffmpeg version 5.1\nInput #0, wav") is None


def test_loud_positive_value() -> None:
    assert parse_integrated_loudness(summary("+1.5")) == pytest.approx(1.5)
