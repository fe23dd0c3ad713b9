"""The audio step's memory does not grow with the recording's length.

Each run is the step alone in a fresh process (tests.support.step_memory): its peak RSS is the
larger of the Python process and the ffmpeg it starts. Run with `-s` to see the figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from talkavocado_common.models import JobOptions
from tests.mediagen import Recording
from tests.support.step_memory import StepMeasure, create_job, run_step_measured

from .conftest import LONG_TALK_SEC, SHORT_TALK_SEC

STEP = "audio-extraction"
# Peak RSS of the long run over the short one. Before streaming: 1.68 (127 → 214 MiB).
MAX_GROWTH = 1.15
MIB = 2**20


def measure(tmp_path: Path, recording: Recording) -> StepMeasure:
    storage = tmp_path / f"storage-{recording.duration:.0f}"
    keys = create_job(storage, recording.path, JobOptions())
    measured = run_step_measured(storage, keys, STEP)
    assert measured.ok, measured.error
    assert measured.result is not None
    assert measured.result["durationSec"] == pytest.approx(recording.duration, abs=0.15)
    pauses = [p for p in recording.of_kind("pause") if p.duration >= 1.0]
    assert measured.result["silences"] >= len(pauses), "every long pause is found"
    print(
        f"\n{STEP} on {recording.duration / 60:.1f} min: {measured.seconds:.1f} s wall, "
        f"peak RSS {measured.peak_rss_bytes / MIB:.1f} MiB"
    )
    return measured


@pytest.mark.slow
def test_peak_memory_is_flat_in_the_recording_length(
    tmp_path: Path, long_talks: dict[float, Recording]
) -> None:
    short = measure(tmp_path, long_talks[SHORT_TALK_SEC])
    long = measure(tmp_path, long_talks[LONG_TALK_SEC])
    growth = long.peak_rss_bytes / short.peak_rss_bytes
    print(f"peak RSS growth 2 → 8 min: {growth:.3f} times (limit {MAX_GROWTH})")
    assert long_talks[LONG_TALK_SEC].duration >= 3.5 * long_talks[SHORT_TALK_SEC].duration
    assert growth <= MAX_GROWTH
