"""The transcription step's peak memory does not grow with the recording: an 8-minute talk peaks
within 15 % of a 2-minute one (each step in its own process, as tests.support.step_memory runs
it). Before windowing, Whisper was handed the whole recording: 342 MB at 2 min, 612 MB at 8."""

from __future__ import annotations

from pathlib import Path

import pytest

from talkavocado_common.models import JobOptions
from tests.mediagen import long_script, make_recording
from tests.support.step_memory import StepMeasure, create_job, run_step_measured

MAX_GROWTH = 1.15


def transcription_measured(tmp: Path, seconds: float) -> StepMeasure:
    source = tmp / f"talk-{seconds:.0f}.mp4"
    make_recording(long_script(seconds), source, width=160, height=120)
    storage = tmp / f"storage-{seconds:.0f}"
    keys = create_job(storage, source, JobOptions())
    audio = run_step_measured(storage, keys, "audio-extraction")
    assert audio.ok, audio.error
    step = run_step_measured(storage, keys, "transcription")
    assert step.ok, step.error
    return step


@pytest.mark.slow
def test_transcription_peak_memory_is_flat_in_the_length(tmp_path: Path) -> None:
    short = transcription_measured(tmp_path, 120)
    long = transcription_measured(tmp_path, 480)
    mb = 2**20
    print(
        f"\ntranscription peak RSS: 2 min {short.peak_rss_bytes / mb:.0f} MB "
        f"({short.seconds:.0f} s), 8 min {long.peak_rss_bytes / mb:.0f} MB ({long.seconds:.0f} s)"
    )
    assert short.result is not None
    assert long.result is not None
    # The long one really went through several windows, and the VAD measured its speech.
    assert isinstance(long.result["windows"], int)
    assert long.result["windows"] >= 4
    assert isinstance(long.result["speechSec"], float)
    assert long.result["speechSec"] > 240
    assert long.peak_rss_bytes <= MAX_GROWTH * short.peak_rss_bytes
