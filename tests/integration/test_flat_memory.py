"""The audio and transcription steps' memory does not grow with the recording's length: on an
8-minute generated talk each step peaks within 15 % of what it takes on a 2-minute one.

Each step runs alone in a fresh process (tests.support.step_memory), so its peak RSS is its own:
the larger of the Python process and the ffmpeg it starts. Run with `-s` to see the figures.
Before issue 8 the audio step went 127 → 214 MiB (1.68x) and transcription 342 → 612 MB (1.79x).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from talkavocado_common.models import JobOptions
from tests.mediagen import Piece, long_script, make_audio
from tests.support.step_memory import StepMeasure, create_job, run_step_measured

SHORT_TALK_SEC = 120.0
LONG_TALK_SEC = 480.0
MAX_GROWTH = 1.15
MIB = 2**20

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Talk:
    path: Path
    duration: float
    pieces: tuple[Piece, ...]

    def long_pauses(self) -> list[Piece]:
        return [p for p in self.pieces if p.kind == "pause" and p.duration >= 1.0]


@dataclass(frozen=True)
class Measured:
    recording: Talk
    audio: StepMeasure
    transcription: StepMeasure


def _measure(workdir: Path, seconds: float) -> Measured:
    # Sound only: these two steps ignore the picture, and a WAV is made in a fraction of a
    # second where an MP4 with video takes ~3 s a minute.
    path = workdir / f"talk-{seconds:g}s.wav"
    duration, pieces = make_audio(long_script(seconds), path)
    recording = Talk(path, duration, pieces)
    storage = workdir / f"storage-{seconds:g}"
    keys = create_job(storage, recording.path, JobOptions())
    audio = run_step_measured(storage, keys, "audio-extraction")
    assert audio.ok, audio.error
    transcription = run_step_measured(storage, keys, "transcription")
    assert transcription.ok, transcription.error
    for measured in (audio, transcription):
        print(
            f"\n{measured.step} on {recording.duration / 60:.1f} min: {measured.seconds:.1f} s "
            f"wall, peak RSS {measured.peak_rss_bytes / MIB:.1f} MiB"
        )
    return Measured(recording, audio, transcription)


@pytest.fixture(scope="module")
def talks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Measured, Measured]:
    workdir = tmp_path_factory.mktemp("flat-memory")
    short, long = _measure(workdir, SHORT_TALK_SEC), _measure(workdir, LONG_TALK_SEC)
    assert long.recording.duration >= 3.5 * short.recording.duration
    return short, long


def test_audio_step_peak_memory_is_flat_in_the_length(talks: tuple[Measured, Measured]) -> None:
    short, long = talks
    for measured in (short, long):
        result = measured.audio.result
        assert result is not None
        assert result["durationSec"] == pytest.approx(measured.recording.duration, abs=0.15)
        pauses = measured.recording.long_pauses()
        assert result["silences"] >= len(pauses), "every long pause is found"
    growth = long.audio.peak_rss_bytes / short.audio.peak_rss_bytes
    print(f"audio-extraction peak RSS growth 2 → 8 min: {growth:.3f}x (limit {MAX_GROWTH})")
    assert growth <= MAX_GROWTH


def test_transcription_peak_memory_is_flat_in_the_length(
    talks: tuple[Measured, Measured],
) -> None:
    short, long = talks
    result = long.transcription.result
    assert result is not None
    # The long one really went through several windows, and the VAD measured its speech.
    assert isinstance(result["windows"], int)
    assert result["windows"] >= 3
    assert isinstance(result["speechSec"], float)
    assert result["speechSec"] > 240
    growth = long.transcription.peak_rss_bytes / short.transcription.peak_rss_bytes
    print(f"transcription peak RSS growth 2 → 8 min: {growth:.3f}x (limit {MAX_GROWTH})")
    assert growth <= MAX_GROWTH
