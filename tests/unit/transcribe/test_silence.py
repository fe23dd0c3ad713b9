"""Pause detection against the noise floor, and word edges moved out of pauses."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from talkavocado_common.models import Word
from talkavocado_transcribe.core import find_silences, frame_levels_db, tighten_words

RATE = 16_000


def tone(seconds: float, amplitude: float = 0.3) -> npt.NDArray[np.float32]:
    t = np.arange(round(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def quiet(seconds: float, noise: float = 0.0, seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    return (noise * rng.standard_normal(round(seconds * RATE))).astype(np.float32)


def test_frame_levels() -> None:
    levels = frame_levels_db(np.concatenate([tone(0.1, 1.0), quiet(0.1)]), RATE)
    assert len(levels) == 10
    assert levels[:5] == pytest.approx(-3.01, abs=0.1)  # full-scale sine: RMS 1/sqrt(2)
    assert (levels[5:] == -100.0).all()
    assert len(frame_levels_db(np.zeros(10, dtype=np.float32), RATE)) == 0


@pytest.mark.parametrize("noise", [0.0, 0.003, 0.02])
def test_silences_found_relative_to_the_noise_floor(noise: float) -> None:
    audio = np.concatenate(
        [quiet(0.5, noise, 1), tone(1.0), quiet(1.2, noise, 2), tone(0.8), quiet(0.1, noise, 3)]
    )
    audio = audio + quiet(len(audio) / RATE, noise, 4)
    silences = find_silences(frame_levels_db(audio, RATE))
    # Pauses of 0.5 s and 1.2 s are found; the 0.1 s tail is too short to count.
    assert len(silences) == 2
    (a0, b0), (a1, b1) = silences
    assert a0 == pytest.approx(0.0, abs=0.03)
    assert b0 == pytest.approx(0.5, abs=0.03)
    assert a1 == pytest.approx(1.5, abs=0.03)
    assert b1 == pytest.approx(2.7, abs=0.03)


def test_no_silences_without_dynamic_range() -> None:
    assert find_silences(frame_levels_db(tone(3.0), RATE)) == []
    assert find_silences(frame_levels_db(quiet(3.0, 0.01), RATE)) == []
    assert find_silences(np.zeros(0, dtype=np.float64)) == []


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


def test_tighten_leaves_words_wholly_inside_a_pause() -> None:
    assert tighten_words([w(2.2, 2.6)], [(2.0, 3.0)]) == [w(2.2, 2.6)]


def test_a_word_spanning_a_whole_pause_keeps_the_side_with_more_sound() -> None:
    # "cut." smeared over the pause into the start of an unwritten "um".
    (word,) = tighten_words([w(9.32, 10.14)], [(9.5, 10.1)])
    assert (word.start, word.end) == pytest.approx((9.32, 9.55))
    # "After" starting in the tail of the previous sentence.
    (word,) = tighten_words([w(57.6, 58.52)], [(57.7, 58.1)])
    assert (word.start, word.end) == pytest.approx((58.05, 58.52))
