"""The analysis fed block by block equals the analysis of the whole signal, to the bit."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest

from talkavocado_audio.core import (
    DEFAULT_SETTINGS,
    LevelMeter,
    Levels,
    SilenceSettings,
    analyze_audio,
    analyze_blocks,
    measure_levels,
    window_geometry,
)
from talkavocado_audio.core import levels as levels_module

from .signals import RATE, hiss, join, pink_noise, silence, to_int16, voice

GEOMETRY = window_geometry(RATE, DEFAULT_SETTINGS)
HOP, WINDOW = GEOMETRY.hop, GEOMETRY.window
# Blocks that split windows everywhere: one sample, less than a hop, a hop, a window, one either
# side of them, odd sizes, a whole batch of windows and more.
BLOCK_SIZES = (1, 37, HOP, WINDOW - 1, WINDOW, WINDOW + 1, 997, 16_000, 40_013)


def talk(seed: int) -> npt.NDArray[np.int16]:
    """Speech-like sounds, fricatives and pauses of random lengths over room noise; the length
    is random too, so the last window usually reaches past the end."""
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(6):
        seconds = float(rng.uniform(0.05, 0.9))
        kind = int(rng.integers(3))
        if kind == 0:
            parts.append(
                voice(seconds, float(rng.uniform(-30, -12)), f0=float(rng.uniform(90, 220)))
            )
        elif kind == 1:
            parts.append(hiss(seconds, float(rng.uniform(-45, -30)), seed=seed))
        else:
            parts.append(silence(seconds))
    speech = join(*parts)
    speech = speech[: len(speech) - int(rng.integers(0, HOP))]
    room = pink_noise(len(speech) / RATE, float(rng.uniform(-70, -35)), seed=seed + 1)
    return to_int16(speech + room)


def blocks_of(samples: npt.NDArray[np.generic], size: int) -> Iterator[npt.NDArray[np.generic]]:
    for start in range(0, len(samples), size):
        yield samples[start : start + size]


def random_blocks(samples: npt.NDArray[np.generic], seed: int) -> Iterator[npt.NDArray[np.generic]]:
    """Blocks of irregular sizes, empty ones included (a reader may hand back nothing)."""
    rng = np.random.default_rng(seed)
    start = 0
    while start < len(samples):
        size = int(rng.choice([0, 1, int(rng.integers(2, 3 * WINDOW)), int(rng.integers(1, 9000))]))
        yield samples[start : start + size]
        start += size


def streamed_levels(blocks: Iterator[npt.NDArray[np.generic]]) -> Levels:
    meter = LevelMeter(GEOMETRY)
    for block in blocks:
        meter.feed(block)
        assert meter.carried_samples < WINDOW, "only a window's overlap is held between blocks"
    return meter.finish()


def assert_same_levels(streamed: Levels, whole: Levels) -> None:
    assert streamed.sample_count == whole.sample_count
    assert np.array_equal(streamed.broadband_db, whole.broadband_db)
    assert streamed.presence_db is not None
    assert whole.presence_db is not None
    assert np.array_equal(streamed.presence_db, whole.presence_db)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("size", BLOCK_SIZES[1:])
def test_levels_do_not_depend_on_the_block_size(seed: int, size: int) -> None:
    samples = talk(seed)
    assert_same_levels(streamed_levels(blocks_of(samples, size)), measure_levels(samples, GEOMETRY))


@pytest.mark.parametrize("seed", range(6))
def test_analysis_of_irregular_blocks_equals_the_whole_signal(seed: int) -> None:
    samples = talk(seed)
    whole = analyze_audio(samples, RATE)
    assert whole.silences, "the signal has pauses to find"
    assert analyze_blocks(random_blocks(samples, seed), RATE) == whole
    assert_same_levels(
        streamed_levels(random_blocks(samples, seed)), measure_levels(samples, GEOMETRY)
    )


def test_one_sample_at_a_time() -> None:
    samples = talk(7)[: RATE // 2]
    assert analyze_blocks(blocks_of(samples, 1), RATE) == analyze_audio(samples, RATE)


@pytest.mark.parametrize("tail", [0, 1, HOP - 1, HOP, HOP + 1, WINDOW - 1])
def test_the_last_window_whatever_the_length(tail: int) -> None:
    # The recording ends anywhere in the last hop: a final window reaching past the end is
    # padded with digital silence, the same streamed as whole, and no sample is left out.
    samples = talk(8)[: 50 * HOP + WINDOW + tail]
    whole = measure_levels(samples, GEOMETRY)
    last_start = (len(whole.broadband_db) - 1) * HOP
    assert last_start < len(samples) <= last_start + WINDOW
    for size in (HOP + 3, WINDOW, 1000):
        assert_same_levels(streamed_levels(blocks_of(samples, size)), whole)


def test_batch_boundaries_mid_block(monkeypatch: pytest.MonkeyPatch) -> None:
    # Big blocks are measured a batch of windows at a time; batches of 3 windows put a batch
    # boundary inside nearly every block.
    samples = talk(9)
    whole = measure_levels(samples, GEOMETRY)
    monkeypatch.setattr(levels_module, "WINDOWS_PER_BATCH", 3)
    for size in (WINDOW + 7, 5000, len(samples)):
        assert_same_levels(streamed_levels(blocks_of(samples, size)), whole)


@pytest.mark.parametrize("length", [0, 1, 100, WINDOW - 1, WINDOW])
def test_audio_shorter_than_a_window_in_pieces(length: int) -> None:
    samples = to_int16(voice(0.1))[:length]
    for size in (1, 30, WINDOW):
        assert analyze_blocks(blocks_of(samples, size), RATE) == analyze_audio(samples, RATE)


def test_float_blocks_and_other_settings() -> None:
    samples = talk(10).astype(np.float64) / 32768
    settings = SilenceSettings(min_silence_ms=80, window_ms=30, hop_ms=10)
    whole = analyze_audio(samples, RATE, settings=settings)
    assert whole.frame_ms == 30
    assert analyze_blocks(blocks_of(samples, 1234), RATE, settings=settings) == whole


def test_other_sample_rate_in_blocks() -> None:
    rate = 8000
    samples = to_int16(join(voice(0.5), silence(0.4), voice(0.5))[::2])
    whole = analyze_audio(samples, rate)
    assert len(whole.silences) == 1
    assert analyze_blocks(blocks_of(samples, 333), rate) == whole


def test_a_rate_too_low_for_the_presence_band() -> None:
    # At 4 kHz nothing lies above 2 kHz: the broadband level alone decides, streamed or not.
    rate = 4000
    samples = to_int16(join(voice(0.5), silence(0.4), voice(0.5))[::4])
    meter = LevelMeter(window_geometry(rate))
    for block in blocks_of(samples, 101):
        meter.feed(block)
    assert meter.finish().presence_db is None
    assert analyze_blocks(blocks_of(samples, 101), rate) == analyze_audio(samples, rate)


def test_multichannel_blocks_are_refused() -> None:
    meter = LevelMeter(GEOMETRY)
    with pytest.raises(ValueError, match="mono"):
        meter.feed(np.zeros((100, 2), dtype=np.int16))
