"""The loudness filters (core/loudness.py) run through ffmpeg on known sound: the gain is exact,
the limiter holds the true peak (between samples too) at the ceiling, and neither moves the
sound by a sample or changes its length."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from talkavocado_render.core.loudness import Normalisation
from tests.mediagen import Pause, Say, make_audio

from .conftest import measure_loudness

RATE = 48_000
Samples = npt.NDArray[np.float32]


def run_filters(samples: Samples, filters: tuple[str, ...], tmp_path: Path) -> Samples:
    """Stereo float PCM through the filters, as the render feeds them (f32le at 48 kHz)."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "f32le", "-ar", str(RATE), "-ac", "2", "-i", "pipe:0",
         "-af", ",".join(filters), "-f", "f32le", "-ar", str(RATE), "-ac", "2", "pipe:1"],
        input=np.repeat(samples[:, None], 2, axis=1).astype("<f4").tobytes(),
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    stereo = np.frombuffer(out, "<f4").reshape(-1, 2)
    assert np.array_equal(stereo[:, 0], stereo[:, 1])
    return stereo[:, 0].copy()


def true_peak_db(samples: Samples, tmp_path: Path) -> float:
    wav = tmp_path / "measured.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(RATE), "-ac", "1",
         "-i", "pipe:0", "-c:a", "pcm_f32le", str(wav)],
        input=samples.astype("<f4").tobytes(), check=True,
    )  # fmt: skip
    return measure_loudness(wav).true_peak_dbtp


def lag_of(reference: Samples, shifted: Samples, most: int = 200) -> int:
    """The shift (in samples) at which `shifted` best matches `reference`."""
    core = slice(most, len(reference) - most)
    scores = {
        lag: float(np.dot(reference[core], shifted[most + lag : len(reference) - most + lag]))
        for lag in range(-most, most + 1)
    }
    return max(scores, key=lambda lag: scores[lag])


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    """Generated speech at 48 kHz, scaled so its sample peak is -12 dBFS."""
    wav = tmp_path_factory.mktemp("speech") / "speech.wav"
    make_audio((Say("Peaks and plosives: pick a proper pop, Peter."), Pause(0.3)), wav)
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(wav), "-ar", str(RATE), "-ac", "1", "-f", "f32le",
         "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    samples = np.frombuffer(raw, "<f4")
    return (samples * (10 ** (-12 / 20) / np.abs(samples).max())).astype(np.float32)


def test_a_gain_under_the_ceiling_is_applied_exactly(speech: Samples, tmp_path: Path) -> None:
    gain = Normalisation(-16.0, -1.5, -22.0, -12.0)  # +6 dB: peaks to -6 dBFS
    assert gain.mode() == "linear"

    out = run_filters(speech, gain.filters(), tmp_path)

    assert len(out) == len(speech)
    np.testing.assert_allclose(out, speech * 10 ** (6 / 20), atol=1e-6)


def test_the_limiter_holds_the_peaks_and_leaves_the_rest(speech: Samples, tmp_path: Path) -> None:
    # +14 dB lifts the -12 dBFS peaks to +2: 3.5 dB over the ceiling.
    limited = Normalisation(-16.0, -1.5, -30.0, -12.0)
    assert limited.mode() == "limited"
    gained = speech * 10 ** (14 / 20)

    out = run_filters(speech, limited.filters(), tmp_path)

    assert len(out) == len(speech)
    assert lag_of(gained, out) == 0
    assert true_peak_db(out, tmp_path) <= -1.5 + 0.1
    assert true_peak_db(gained.astype(np.float32), tmp_path) > 1.5  # it had work to do
    # Away from the peaks (the limiter's release is 50 ms) the sound is the gain's alone, but
    # for the round trip through 192 kHz.
    loud = np.flatnonzero(np.abs(gained) > 10 ** (-1.5 / 20))
    untouched = np.ones(len(gained), dtype=bool)
    for index in loud:
        untouched[max(0, index - RATE // 100) : index + RATE // 5] = False
    assert untouched.mean() > 0.3
    assert np.abs(out - gained)[untouched].max() < 1e-4


def test_peaks_between_samples_are_held_too(tmp_path: Path) -> None:
    """A tone at a quarter of the rate sampled at 45 degrees: every sample at 0.707 of the
    wave's true peak. A limiter on the 48 kHz samples would let its 0 dBTP through."""
    n = np.arange(RATE * 2)
    tone = (0.5 * np.sin(np.pi / 2 * n + np.pi / 4)).astype(np.float32)  # -9 dBFS samples
    assert float(np.abs(tone).max()) == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)
    limited = Normalisation(-16.0, -1.5, -22.0, true_peak_db(tone, tmp_path))  # +6 dB
    assert limited.mode() == "limited"

    out = run_filters(tone, limited.filters(), tmp_path)

    # The gain alone: samples at -3 dBFS, under the ceiling, the wave itself at 0 dBTP.
    assert float(np.abs(tone * 2).max()) < 10 ** (-1.5 / 20)
    assert true_peak_db(tone * 2, tmp_path) > -0.5
    assert true_peak_db(out, tmp_path) <= -1.5 + 0.1
