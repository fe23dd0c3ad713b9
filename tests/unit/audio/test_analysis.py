"""Silence detection on synthetic signals whose gaps are known to the sample."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from talkavocado_audio.core import (
    LEVEL_FLOOR_DB,
    SilenceSettings,
    analyze_audio,
    frame_levels_db,
    silence_threshold_db,
)
from talkavocado_common.models import AudioAnalysis, Interval

from .signals import (
    RATE,
    hiss,
    join,
    pink_noise,
    rms_db,
    silence,
    to_int16,
    voice,
)

CONTRACT = Path(__file__).resolve().parents[3] / "contracts" / "audio-analysis.schema.json"
EDGE_TOLERANCE = 0.02


def assert_silences(found: list[Interval], expected: list[tuple[float, float]], tol: float) -> None:
    assert len(found) == len(expected), found
    for silence_found, (start, end) in zip(found, expected, strict=True):
        assert silence_found.start == pytest.approx(start, abs=tol), (found, expected)
        assert silence_found.end == pytest.approx(end, abs=tol), (found, expected)


def assert_well_formed(analysis: AudioAnalysis) -> None:
    jsonschema.Draft202012Validator(json.loads(CONTRACT.read_text())).validate(
        json.loads(analysis.to_json_bytes())
    )
    previous_end = 0.0
    for interval in analysis.silences:
        assert previous_end <= interval.start < interval.end <= analysis.duration_sec
        previous_end = interval.end


def test_clean_gaps_are_found_at_their_edges() -> None:
    audio = join(silence(0.3), voice(0.8), silence(0.5), voice(1.0), silence(1.2), voice(0.6))
    analysis = analyze_audio(audio, RATE)
    assert_silences(analysis.silences, [(0.0, 0.3), (1.1, 1.6), (2.6, 3.8)], EDGE_TOLERANCE)
    assert analysis.duration_sec == pytest.approx(4.4)
    assert analysis.noise_floor_db == LEVEL_FLOOR_DB
    assert analysis.speech_level_db > -20
    assert analysis.frame_ms == 20
    assert_well_formed(analysis)


def test_stop_closures_inside_words_are_not_silence() -> None:
    # 40-100 ms closures (the p in "stop") sit inside words; 200 ms is a real pause.
    audio = join(
        voice(0.4), silence(0.04), voice(0.3), silence(0.1), voice(0.3), silence(0.2), voice(0.4)
    )
    analysis = analyze_audio(audio, RATE)
    assert_silences(analysis.silences, [(1.14, 1.34)], EDGE_TOLERANCE)


def test_min_silence_is_configurable() -> None:
    audio = join(silence(0.3), voice(0.4), silence(0.1), voice(0.4), silence(0.3))
    assert_silences(analyze_audio(audio, RATE).silences, [(0, 0.3), (1.2, 1.5)], EDGE_TOLERANCE)
    shorter = analyze_audio(audio, RATE, settings=SilenceSettings(min_silence_ms=80))
    assert_silences(shorter.silences, [(0, 0.3), (0.7, 0.8), (1.2, 1.5)], EDGE_TOLERANCE)
    assert shorter.min_silence_ms == 80


def test_noisy_room_pauses_are_found_where_a_fixed_threshold_finds_none() -> None:
    speech = join(voice(1.0), silence(0.6), voice(1.2), silence(0.9), voice(0.8))
    room = pink_noise(len(speech) / RATE, -30.0, seed=1)
    audio = speech + room
    levels = frame_levels_db(audio, RATE)
    assert rms_db(room) == pytest.approx(-30.0, abs=0.01)
    assert float(levels.min()) > -35.0, "a fixed -35 dBFS threshold would see no silence here"

    analysis = analyze_audio(audio, RATE)
    assert analysis.noise_floor_db == pytest.approx(-31.5, abs=2.5)
    assert analysis.noise_floor_db < analysis.silence_threshold_db < analysis.speech_level_db
    # The room masks the faint ends of words, so silence starts wait a little (the hangover).
    assert_silences(analysis.silences, [(1.0, 1.6), (2.8, 3.7)], 0.045)


def test_a_fricative_under_the_room_noise_is_still_sound() -> None:
    # "...s" then a pause: the hiss is as loud as the room across the band but stands out
    # above 2 kHz, where room noise is weak; the pause must start after it, not before.
    speech = join(voice(0.8), hiss(0.15, -36.0, seed=2), silence(0.8), voice(0.8))
    room = pink_noise(len(speech) / RATE, -36.0, seed=3)
    analysis = analyze_audio(speech + room, RATE)
    assert len(analysis.silences) == 1
    pause = analysis.silences[0]
    assert pause.start >= 0.95 - EDGE_TOLERANCE
    assert pause.start == pytest.approx(0.95, abs=0.045)
    assert pause.end == pytest.approx(1.75, abs=EDGE_TOLERANCE)


def test_a_low_thump_does_not_split_a_pause() -> None:
    # A 5 ms low-frequency bump (a table knock, a gust of the room's rumble) has nothing in the
    # presence band: no word is that short, so the pause stays whole.
    t = np.arange(round(0.005 * RATE)) / RATE
    thump = 0.05 * np.sin(2 * np.pi * 100 * t) * np.hanning(len(t))
    audio = join(voice(0.5), silence(0.6), thump, silence(0.6), voice(0.5))
    room = pink_noise(len(audio) / RATE, -50.0, seed=5)
    analysis = analyze_audio(audio + room, RATE)
    assert len(analysis.silences) == 1, analysis.silences


def test_a_sharp_click_is_sound() -> None:
    # A broadband click is a real sound (a mouth click, a key): reported, not smoothed away.
    rng = np.random.default_rng(4)
    click = rng.standard_normal(round(0.005 * RATE)) * 0.05
    audio = join(voice(0.5), silence(0.6), click, silence(0.6), voice(0.5))
    analysis = analyze_audio(audio, RATE)
    assert len(analysis.silences) == 2, analysis.silences


def test_int16_and_float_give_the_same_analysis() -> None:
    audio = join(voice(0.5), silence(0.4), voice(0.5)) + pink_noise(1.4, -50.0, seed=6)
    as_int16 = analyze_audio(to_int16(audio), RATE)
    as_float = analyze_audio(to_int16(audio).astype(np.float64) / 32768, RATE)
    assert as_int16 == as_float


def test_digital_silence_is_one_silence_over_the_whole_recording() -> None:
    analysis = analyze_audio(np.zeros(3 * RATE, dtype=np.int16), RATE)
    assert analysis.silences == [Interval(start=0.0, end=3.0)]
    assert analysis.noise_floor_db == analysis.speech_level_db == LEVEL_FLOOR_DB
    assert_well_formed(analysis)


def test_a_faint_hum_alone_is_silence() -> None:
    analysis = analyze_audio(pink_noise(2.0, -75.0, seed=7), RATE)
    assert analysis.silences == [Interval(start=0.0, end=2.0)]


def test_steady_sound_without_pauses_has_no_silence() -> None:
    analysis = analyze_audio(pink_noise(2.0, -20.0, seed=8), RATE)
    assert analysis.silences == []


@pytest.mark.parametrize("seconds", [0.0, 0.001, 0.015, 0.05, 0.2])
def test_very_short_audio(seconds: float) -> None:
    for audio in (silence(seconds), voice(seconds) if seconds else silence(0)):
        analysis = analyze_audio(audio, RATE)
        assert analysis.duration_sec == pytest.approx(seconds, abs=0.001)
        assert_well_formed(analysis)
    quiet = analyze_audio(silence(seconds), RATE)
    assert quiet.silences == ([] if seconds == 0 else [Interval(start=0.0, end=seconds)])


def test_short_voice_has_no_silence() -> None:
    assert analyze_audio(voice(0.05), RATE).silences == []


def test_other_sample_rates() -> None:
    rate = 8000
    audio = np.concatenate([voice(0.5)[::2], np.zeros(rate // 2), voice(0.5)[::2]])
    analysis = analyze_audio(audio, rate)
    assert analysis.sample_rate == rate
    assert_silences(analysis.silences, [(0.5, 1.0)], EDGE_TOLERANCE)


def test_threshold_in_a_clean_recording_is_bounded_by_the_speech_level() -> None:
    assert silence_threshold_db(-100.0, -18.0) == pytest.approx(-58.0)


def test_threshold_in_a_noisy_room_is_above_the_floor() -> None:
    assert silence_threshold_db(-45.0, -20.0) == pytest.approx(-45.0 + 0.3 * 25)
    assert silence_threshold_db(-32.0, -18.0) == pytest.approx(-26.0)


def test_threshold_without_contrast() -> None:
    assert silence_threshold_db(-80.0, -78.0) > -78.0, "inaudible: everything is quiet"
    assert silence_threshold_db(-22.0, -20.0) < -22.0, "steady sound: only dips are quiet"


def test_multichannel_input_is_refused() -> None:
    with pytest.raises(ValueError, match="mono"):
        analyze_audio(np.zeros((100, 2)), RATE)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window_ms": 25, "hop_ms": 10},
        {"min_silence_ms": 0},
        {"noise_floor_percentile": 95.0, "speech_level_percentile": 10.0},
    ],
)
def test_inconsistent_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        SilenceSettings(**kwargs)  # type: ignore[arg-type]


def test_sample_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="sample rate"):
        analyze_audio(np.zeros(10), 0)
