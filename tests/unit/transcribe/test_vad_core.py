"""Silero probabilities → speech stretches (the rule of faster_whisper.vad.get_speech_timestamps,
on probabilities computed block by block)."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper.vad import VadOptions, get_speech_timestamps

from talkavocado_transcribe.core.vad import (
    FRAME_SAMPLES,
    VadSettings,
    speech_seconds,
    speech_stretches,
)

RATE = 16_000
FRAME = FRAME_SAMPLES / RATE  # 32 ms
NO_PAD = VadSettings(speech_pad_ms=0)


def probs(*runs: tuple[float, int]) -> list[float]:
    """(probability, frames) runs."""
    return [p for p, n in runs for _ in range(n)]


def test_one_stretch_of_speech() -> None:
    p = probs((0.0, 10), (0.9, 20), (0.0, 20))
    assert speech_stretches(p, 50 * FRAME_SAMPLES, settings=NO_PAD) == [
        pytest.approx((10 * FRAME, 30 * FRAME))
    ]


def test_a_gap_shorter_than_min_silence_is_bridged() -> None:
    # 4 frames (128 ms) under the end threshold < 150 ms: one stretch.
    p = probs((0.9, 10), (0.1, 4), (0.9, 10), (0.0, 20))
    assert len(speech_stretches(p, 44 * FRAME_SAMPLES, settings=NO_PAD)) == 1


def test_a_breath_pause_splits_the_speech() -> None:
    # 8 frames (256 ms) of non-speech: two stretches, the pause between them.
    p = probs((0.9, 10), (0.1, 8), (0.9, 10), (0.0, 20))
    stretches = speech_stretches(p, 48 * FRAME_SAMPLES, settings=NO_PAD)
    assert stretches == [pytest.approx((0.0, 10 * FRAME)), pytest.approx((18 * FRAME, 28 * FRAME))]


def test_hysteresis_keeps_speech_between_the_two_thresholds() -> None:
    # 0.4 is under the start threshold but over the end threshold (0.35): still speech.
    p = probs((0.9, 5), (0.4, 20), (0.0, 10))
    assert speech_stretches(p, 35 * FRAME_SAMPLES, settings=NO_PAD) == [
        pytest.approx((0.0, 25 * FRAME))
    ]
    # ... but it does not start speech.
    assert speech_stretches(probs((0.4, 20)), 20 * FRAME_SAMPLES, settings=NO_PAD) == []


def test_padding_never_overlaps_and_stays_inside_the_recording() -> None:
    settings = VadSettings(speech_pad_ms=100, min_silence_ms=50)
    p = probs((0.9, 3), (0.0, 4), (0.9, 3))  # gap 128 ms < two pads
    stretches = speech_stretches(p, 10 * FRAME_SAMPLES, settings=settings)
    assert len(stretches) == 2
    assert stretches[0][0] == 0.0
    assert stretches[0][1] == pytest.approx(stretches[1][0])  # the gap split between them
    assert stretches[1][1] == pytest.approx(10 * FRAME)


def test_min_speech_drops_blips() -> None:
    p = probs((0.0, 10), (0.9, 2), (0.0, 20))
    assert speech_stretches(p, 32 * FRAME_SAMPLES, settings=VadSettings(min_speech_ms=100)) == []
    assert len(speech_stretches(p, 32 * FRAME_SAMPLES, settings=VadSettings())) == 1


def test_speech_running_to_the_end() -> None:
    total = 10 * FRAME_SAMPLES - 100  # the last frame was zero-padded
    assert speech_stretches(probs((0.9, 10)), total, settings=NO_PAD) == [
        pytest.approx((0.0, total / RATE))
    ]


def test_nothing() -> None:
    assert speech_stretches([], 0) == []
    assert speech_seconds([]) == 0.0
    assert speech_seconds([(1.0, 2.5), (3.0, 3.5)]) == 2.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_rule_as_faster_whisper(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """Given the same probabilities, the same stretches as faster-whisper's own helper."""
    rng = np.random.default_rng(seed)
    # Runs of speech-like and silence-like probabilities with noise across both thresholds.
    runs = [(float(rng.choice([0.05, 0.42, 0.95])), int(rng.integers(1, 30))) for _ in range(60)]
    p = np.clip(np.array(probs(*runs)) + rng.normal(0, 0.05, sum(n for _, n in runs)), 0, 1)
    total = len(p) * FRAME_SAMPLES

    class FakeModel:
        def __call__(self, audio: np.ndarray) -> np.ndarray:
            return p[: len(audio) // FRAME_SAMPLES]

    import faster_whisper.vad as fw_vad

    monkeypatch.setattr(fw_vad, "get_vad_model", FakeModel)
    settings = VadSettings(min_silence_ms=150, speech_pad_ms=30)
    theirs = get_speech_timestamps(
        np.zeros(total - 1, dtype=np.float32),
        VadOptions(min_silence_duration_ms=150, speech_pad_ms=30),
    )
    ours = speech_stretches(p.tolist(), total - 1, settings=settings)
    assert ours == [pytest.approx((s["start"] / RATE, s["end"] / RATE)) for s in theirs]
