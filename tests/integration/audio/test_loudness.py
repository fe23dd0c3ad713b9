"""The EBU R128 measurements the final encode's loudnorm needs, against ffmpeg's own meter."""

from __future__ import annotations

import re
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from talkavocado_audio import audio_extraction
from talkavocado_audio.core import extraction_args
from talkavocado_common.media import run_ffmpeg
from talkavocado_common.models import AudioAnalysis
from tests.mediagen import Recording

from .conftest import Job, Submit

GAIN_DB = -12.0
# Both sides round to 0.1; the quieter copy is re-quantised to 16 bits.
ROUNDING = 0.15


def ffmpeg(*args: str) -> str:
    """ffmpeg's log."""
    command = ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-y", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stderr


def ffmpeg_meter(path: Path) -> dict[str, float]:
    """ebur128 with true peak run alone on the first audio stream; the summary's numbers, read
    independently of the code under test."""
    log = ffmpeg("-i", str(path), "-map", "0:a:0", "-af", "ebur128=peak=true", "-f", "null", "-")
    summary = log[log.rindex("Summary:") :]
    values: dict[str, float] = {}
    for name, value in re.findall(r"(I|Threshold|LRA|Peak):\s+(\S+)", summary):
        values.setdefault(name, float(value))  # the first Threshold is the integrated one
    return values


def sample_peak_dbfs(recording: Recording) -> float:
    with wave.open(str(recording.audio_path)) as reader:
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    return float(20 * np.log10(np.abs(samples.astype(np.float64)).max() / 32768))


async def analyse(job: Job) -> AudioAnalysis:
    await audio_extraction(job.request, job.env)
    data, _ = await job.storage.read_bytes(job.keys.audio_analysis)
    return AudioAnalysis.from_json_bytes(data)


def measured(analysis: AudioAnalysis) -> dict[str, float | None]:
    return {
        "I": analysis.integrated_lufs,
        "Threshold": analysis.loudness_threshold_lufs,
        "LRA": analysis.loudness_range_lu,
        "Peak": analysis.true_peak_dbtp,
    }


async def test_the_step_measures_what_ffmpeg_measures(
    submit: Submit, clean_talk: Recording
) -> None:
    analysis = await analyse(await submit(clean_talk.path, "talk.mp4"))
    assert measured(analysis) == ffmpeg_meter(clean_talk.path)

    loudness, gate = analysis.integrated_lufs, analysis.loudness_threshold_lufs
    assert loudness is not None
    assert gate is not None
    assert analysis.loudness_range_lu is not None
    assert analysis.true_peak_dbtp is not None
    assert -35 < loudness < -10
    # The relative gate sits 10 LU under the loudness of the blocks above the absolute gate,
    # which the quiet blocks left out can only raise: at or under I - 10.
    assert loudness - 20 < gate <= loudness - 10 + 0.1
    # One speaker at a steady level: a small loudness range.
    assert 0 < analysis.loudness_range_lu < 10
    # The true peak is at least the sample peak (the AAC round trip moves it a little).
    peak = sample_peak_dbfs(clean_talk)
    assert peak - 0.5 <= analysis.true_peak_dbtp <= min(peak + 1.5, 1.0)


@pytest.fixture(scope="module")
def quieter_talk(clean_talk: Recording, media_dir: Path) -> Path:
    """The clean talk's own audio, GAIN_DB quieter, as a WAV (no lossy codec in between)."""
    quieter = media_dir / "quieter.wav"
    ffmpeg("-i", str(clean_talk.audio_path), "-af", f"volume={GAIN_DB}dB", str(quieter))
    return quieter


async def test_the_measurements_follow_the_gain(
    submit: Submit, clean_talk: Recording, quieter_talk: Path
) -> None:
    analysis = await analyse(await submit(quieter_talk, "quieter.wav"))
    original = ffmpeg_meter(clean_talk.audio_path)
    shifted = {"I": GAIN_DB, "Threshold": GAIN_DB, "LRA": 0.0, "Peak": GAIN_DB}
    for name, value in measured(analysis).items():
        assert value == pytest.approx(original[name] + shifted[name], abs=ROUNDING), name


async def test_the_log_kept_does_not_grow_with_the_recording(
    clean_talk: Recording, tmp_path: Path
) -> None:
    # ebur128 would log ten lines a second at the default level without framelog=verbose.
    log = await run_ffmpeg(extraction_args(clean_talk.path, tmp_path / "a.mp3", tmp_path / "a.wav"))
    assert "Summary:" in log
    assert "TARGET:" not in log, "no per-frame meter lines"
    assert len(log.splitlines()) < 100 < 10 * clean_talk.duration
