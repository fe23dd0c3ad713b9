"""A window whose first words Whisper skipped is told by the VAD's speech before its first word."""

from __future__ import annotations

import pytest

from talkavocado_transcribe.core.coverage import skipped_start, speech_before_first_word
from talkavocado_transcribe.core.merge import TimedSegment, TimedWord
from talkavocado_transcribe.core.windows import Window

WINDOW = Window(60.0, 120.0)
SPEECH = [(58.0, 61.0), (61.5, 64.0), (66.0, 70.0), (119.0, 125.0)]


def starting_at(t: float) -> list[TimedSegment]:
    word = TimedWord(t, t + 0.4, " word", 0.9)
    return [TimedSegment(t, t + 0.4, " word", (word,))]


def test_words_from_the_speech_onset_skip_nothing() -> None:
    assert speech_before_first_word(starting_at(60.1), SPEECH, WINDOW) == 0.0
    assert not skipped_start(starting_at(60.1), SPEECH, WINDOW)


def test_a_late_first_word_leaves_speech_unworded() -> None:
    # Speech 60-61 and 61.5-64 in the window before 66.0 - 0.5 slack.
    assert speech_before_first_word(starting_at(66.0), SPEECH, WINDOW) == pytest.approx(3.5)
    assert skipped_start(starting_at(66.0), SPEECH, WINDOW)


def test_a_little_unworded_onset_is_tolerated() -> None:
    assert not skipped_start(starting_at(61.9), SPEECH, WINDOW)


def test_no_words_in_a_window_with_speech() -> None:
    assert speech_before_first_word([], SPEECH, WINDOW) == pytest.approx(1.0 + 2.5 + 4.0 + 1.0)
    assert skipped_start([], SPEECH, WINDOW)
    assert not skipped_start([], [], WINDOW)
