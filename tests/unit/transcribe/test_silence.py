"""The audio step's silences as pauses, silence of a whole recording, word edges out of pauses."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from talkavocado_audio.core.analysis import analyze_audio
from talkavocado_common.models import AudioAnalysis, Interval, Word
from talkavocado_transcribe.core import is_silent, pauses_for_tightening, tighten_words

RATE = 16_000


def analysis(duration: float, silences: list[tuple[float, float]]) -> AudioAnalysis:
    return AudioAnalysis(
        duration_sec=duration,
        sample_rate=RATE,
        integrated_lufs=None,
        noise_floor_db=-60.0,
        speech_level_db=-20.0,
        silence_threshold_db=-48.0,
        frame_ms=20,
        min_silence_ms=120,
        silences=[Interval(start=a, end=b) for a, b in silences],
    )


def test_only_pauses_long_enough_to_hold_no_word_are_used() -> None:
    measured = analysis(10.0, [(0.0, 0.5), (2.0, 2.12), (3.0, 3.249), (4.0, 4.25), (6.1, 7.3)])
    # 120 ms and 249 ms quiet stretches can lie inside a word (stop closures, breaths).
    assert pauses_for_tightening(measured) == [(0.0, 0.5), (4.0, 4.25), (6.1, 7.3)]
    assert pauses_for_tightening(measured, min_silence_sec=1.0) == [(6.1, 7.3)]
    assert pauses_for_tightening(analysis(3.0, [])) == []


@pytest.mark.parametrize(
    ("duration", "silences", "silent"),
    [
        (2.0, [(0.0, 2.0)], True),
        (2.0, [(0.02, 1.985)], True),  # edges quantised to the analysis windows
        (0.0, [], True),
        (2.0, [], False),
        (2.0, [(0.0, 1.0)], False),
        (2.0, [(0.0, 0.9), (1.0, 2.0)], False),  # a 100 ms sound between two silences
        (2.0, [(0.05, 2.0)], False),
    ],
)
def test_silent_when_one_silence_covers_the_whole_recording(
    duration: float, silences: list[tuple[float, float]], silent: bool
) -> None:
    assert is_silent(analysis(duration, silences)) is silent


def tone(seconds: float, amplitude: float = 0.3) -> npt.NDArray[np.float64]:
    t = np.arange(round(seconds * RATE)) / RATE
    return amplitude * np.sin(2 * np.pi * 220 * t)


def quiet(seconds: float, noise: float = 0.0, seed: int = 0) -> npt.NDArray[np.float64]:
    return noise * np.random.default_rng(seed).standard_normal(round(seconds * RATE))


@pytest.mark.parametrize(
    ("samples", "silent"),
    [
        (quiet(2.0), True),  # digital silence
        (quiet(2.0, 10**-4), True),  # -80 dBFS hiss: nothing audible
        (quiet(2.0, 0.01), False),  # room tone at -40 dBFS: left to Whisper, as before
        (np.concatenate([quiet(29.0), tone(0.6, 0.01), quiet(30.0)]), False),  # 1 % quiet speech
    ],
)
def test_the_audio_steps_analysis_tells_silent_recordings(
    samples: npt.NDArray[np.float64], silent: bool
) -> None:
    assert is_silent(analyze_audio(samples, RATE)) is silent


def w(start: float, end: float) -> Word:
    return Word(start=start, end=end, word=" x", probability=1.0)


def test_tighten_moves_edges_inside_pauses_to_the_pause_edge() -> None:
    silences = [(0.0, 0.4), (2.0, 3.0)]
    words = [w(0.0, 0.8), w(1.5, 2.9), w(2.95, 3.5), w(1.0, 1.5)]
    assert [(x.start, x.end) for x in tighten_words(words, silences)] == [
        pytest.approx((0.35, 0.8)),
        pytest.approx((1.5, 2.05)),
        pytest.approx((2.95, 3.5)),  # starts within the margin of the pause's end: kept
        pytest.approx((1.0, 1.5)),
    ]


def test_a_word_wholly_inside_a_pause_moves_to_the_nearer_edge() -> None:
    (near_start,) = tighten_words([w(2.2, 2.6)], [(2.0, 3.0)])
    assert (near_start.start, near_start.end) == pytest.approx((1.65, 2.05))
    (near_end,) = tighten_words([w(2.7, 2.8)], [(2.0, 3.0)])
    assert (near_end.start, near_end.end) == pytest.approx((2.95, 3.05))
    # Whisper's zero-length last word parked in the pause after its sentence.
    (parked,) = tighten_words([w(3.66, 3.66)], [(2.93, 4.9)])
    assert (parked.start, parked.end) == pytest.approx((2.98, 2.98))


def test_a_word_spanning_a_whole_pause_keeps_the_side_with_more_sound() -> None:
    # "cut." smeared over the pause into the start of an unwritten "um".
    (word,) = tighten_words([w(9.32, 10.14)], [(9.5, 10.1)])
    assert (word.start, word.end) == pytest.approx((9.32, 9.55))
    # "After" starting in the tail of the previous sentence.
    (word,) = tighten_words([w(57.6, 58.52)], [(57.7, 58.1)])
    assert (word.start, word.end) == pytest.approx((58.05, 58.52))
