"""The finished sound of the render: loudness normalised in the same encode, no tick at a cut.

Loudness: generated speech made quiet (about -30 LUFS) or loud (about -10 LUFS, limited like a
hot recording), measured the way the audio step measures it, edited (pauses cut) and rendered
by the branding-layer step; the output is measured again with ffmpeg's ebur128.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from talkavocado_common.models import AudioOptions, JobOptions, RenderOptions
from talkavocado_render.audio_feed import run_render
from talkavocado_render.core.filtergraph import build_render
from talkavocado_render.core.loudness import MONO_OFFSET_DB
from tests.mediagen import Pause, Say, make_audio

from .conftest import (
    Job,
    Loudness,
    analysis_of,
    audio_samples,
    channels_of,
    ffmpeg,
    make_timeline,
    measure_loudness,
)

pytestmark = pytest.mark.slow

FPS = 25
SCRIPT = (
    Pause(0.3),
    Say("Welcome to the show. Today we talk about editing video."),
    Pause(1.5),
    Say("Every single word should survive the cut."),
    Pause(1.2),
    Say("Thanks for watching, and see you next time."),
    Pause(0.5),
)
TARGET = -16.0
TRUE_PEAK = -1.5
# The output is measured after AAC at 160 kb/s, the limiter's ceiling holds before it: the codec's
# quantisation noise and band-limiting reshape the waveform between samples and can lift the
# true peak by a few tenths of a dB (measured here: -1.5 dBTP for the limited quiet talk, -9.5
# for the loud one, which only needed a gain down).
AAC_TRUE_PEAK_TOLERANCE = 0.5


@dataclass(frozen=True)
class Talk:
    path: Path
    loudness: Loudness
    ranges: list[tuple[int, int]]
    duration: float


def make_talk(workdir: Path, name: str, level_filter: str, channels: int = 2) -> Talk:
    """The generated speech at a level, in a recording of `channels` channels (stereo: the
    voice in both, as a phone or a camera records it)."""
    wav = workdir / f"{name}.wav"
    duration, pieces = make_audio(SCRIPT, wav)
    out = workdir / f"{name}.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=black:s=160x120:r={FPS}:d={duration:.6f}",
        "-i", str(wav),
        "-map", "0:v", "-map", "1:a",
        "-af", f"aresample=48000,{level_filter}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "160k", "-ac", str(channels), "-shortest",
        str(out),
    )  # fmt: skip
    speech = [p for p in pieces if p.kind == "speech"]
    ranges = [(math.floor((p.start - 0.1) * FPS), math.ceil((p.end + 0.1) * FPS)) for p in speech]
    return Talk(out, measure_loudness(out), ranges, duration)


@pytest.fixture(scope="module")
def talks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Talk]:
    workdir = tmp_path_factory.mktemp("talks")
    plain = make_talk(workdir, "plain", "anull")
    quiet_gain = -30.0 - plain.loudness.integrated_lufs
    return {
        "quiet": make_talk(workdir, "quiet", f"volume={quiet_gain:.2f}dB"),
        # A hot recording: pushed up and held under full scale by a limiter, as a phone or a
        # compressed podcast track arrives.
        "loud": make_talk(
            workdir, "loud", "volume=30dB,alimiter=limit=0.85:level=false:attack=2:release=30"
        ),
        "quiet mono": make_talk(workdir, "quiet-mono", f"volume={quiet_gain:.2f}dB", channels=1),
    }


async def render_talk(job: Job, talk: Talk, options: JobOptions) -> tuple[Path, dict[str, object]]:
    timeline = make_timeline(
        talk.ranges, fps=FPS, width=160, height=120, source_duration=talk.duration
    )
    await job.prepare(talk.path, timeline)
    await job.put_analysis(analysis_of(talk.loudness, talk.duration))
    result = await job.run(options)
    loudness = result["loudness"]
    assert isinstance(loudness, dict)
    return job.path_of(job.keys.final_render), loudness


@pytest.mark.parametrize(
    ("name", "level", "mode"),
    [("quiet", -30.0, "limited"), ("loud", -10.0, "linear")],
)
async def test_quiet_and_loud_recordings_end_at_the_target(
    job: Job, talks: dict[str, Talk], name: str, level: float, mode: str
) -> None:
    talk = talks[name]
    assert talk.loudness.integrated_lufs == pytest.approx(level, abs=1.0)

    out, report = await render_talk(job, talk, JobOptions())

    measured = measure_loudness(out)
    assert measured.integrated_lufs == pytest.approx(TARGET, abs=1.0), measured
    assert measured.true_peak_dbtp <= TRUE_PEAK + AAC_TRUE_PEAK_TOLERANCE, measured
    # Quiet speech cannot be raised 14 dB without its peaks passing -1.5 dBTP: the gain and the
    # true-peak limiter; the loud one only needs a gain down.
    assert report["mode"] == mode
    assert report["targetLufs"] == TARGET
    assert report["truePeakDb"] == TRUE_PEAK
    assert report["skipped"] is None
    assert report["gainDb"] == pytest.approx(TARGET - talk.loudness.integrated_lufs, abs=0.01)
    assert report["channels"] == channels_of(out) == 2


async def test_a_mono_recording_is_normalised_as_it_will_be_heard(
    job: Job, talks: dict[str, Talk]
) -> None:
    """Mono stays mono, 3 dB under the target as BS.1770 reads one channel: played on two
    speakers it is as loud as a stereo edit at the target."""
    talk = talks["quiet mono"]
    assert talk.loudness.integrated_lufs == pytest.approx(-30.0, abs=1.0)

    out, report = await render_talk(job, talk, JobOptions())

    assert channels_of(out) == 1
    measured = measure_loudness(out)
    assert measured.integrated_lufs == pytest.approx(TARGET + MONO_OFFSET_DB, abs=1.0), measured
    assert measured.true_peak_dbtp <= TRUE_PEAK + AAC_TRUE_PEAK_TOLERANCE, measured
    assert report["channels"] == 1
    assert report["gainDb"] == pytest.approx(
        TARGET + MONO_OFFSET_DB - talk.loudness.integrated_lufs, abs=0.01
    )


async def test_loudness_off_leaves_the_level_alone(job: Job, talks: dict[str, Talk]) -> None:
    talk = talks["quiet"]

    out, report = await render_talk(job, talk, JobOptions(audio=AudioOptions(loudness="off")))

    measured = measure_loudness(out)
    # The pauses cut are below the gate; the cut speech measures as the whole recording did.
    assert measured.integrated_lufs == pytest.approx(talk.loudness.integrated_lufs, abs=0.5)
    assert report["mode"] == "off"
    assert report["skipped"] == "loudness normalisation is off"


async def test_without_measurements_the_level_is_left_and_the_reason_recorded(
    job: Job, talks: dict[str, Talk]
) -> None:
    talk = talks["quiet"]
    timeline = make_timeline(
        talk.ranges, fps=FPS, width=160, height=120, source_duration=talk.duration
    )
    await job.prepare(talk.path, timeline)
    old = analysis_of(talk.loudness, talk.duration).model_copy(
        update={"true_peak_dbtp": None, "loudness_range_lu": None, "loudness_threshold_lufs": None}
    )
    await job.put_analysis(old)

    result = await job.run()

    report = result["loudness"]
    assert report["mode"] == "off"
    assert "true peak" in report["skipped"]
    out = job.path_of(job.keys.final_render)
    assert measure_loudness(out).integrated_lufs == pytest.approx(
        talk.loudness.integrated_lufs, abs=0.5
    )


# --- hard cuts ----------------------------------------------------------------------------------

TONE_SECONDS = 5
# Each kept clip lies inside one second of the source, where the tone has that second's pitch;
# the joins put together two tones of different pitch and phase: an unfaded cut steps.
TONE_RANGES = [(3, 20), (30, 45), (57, 70), (80, 96), (105, 120)]
JOIN_WINDOW = 24  # samples either side of the join (0.5 ms): the codec's alignment
SURROUND = (480, 4_800)  # 10-100 ms either side: the undisturbed tones around the join


@pytest.fixture(scope="module")
def tone_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tones") / "tones.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=black:s=160x120:r={FPS}:d={TONE_SECONDS}",
        "-f", "lavfi", "-i", f"aevalsrc='0.5*sin(2*PI*(110+37*floor(t))*t)':s=48000:d={TONE_SECONDS}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "160k",
        str(out),
    )  # fmt: skip
    return out


async def test_hard_cuts_do_not_step_between_waveforms(tone_source: Path, tmp_path: Path) -> None:
    timeline = make_timeline(
        TONE_RANGES, fps=FPS, width=160, height=120, source_duration=TONE_SECONDS
    )
    out = tmp_path / "tones-edit.mp4"
    plan = build_render(timeline, tone_source, out, RenderOptions(preset="ultrafast"))
    await run_render(plan)

    steps = np.abs(np.diff(audio_samples(out)))
    near, far = SURROUND
    joins = []
    for clip in timeline.clips[1:]:
        join = round(clip.timeline_start * 48_000)
        at_join = float(steps[join - JOIN_WINDOW : join + JOIN_WINDOW].max())
        around = np.concatenate((steps[join - far : join - near], steps[join + near : join + far]))
        joins.append((clip.timeline_start, at_join, float(np.percentile(around, 99))))
    assert len(joins) == len(TONE_RANGES) - 1
    assert all(at_join <= p99 for _, at_join, p99 in joins), joins
