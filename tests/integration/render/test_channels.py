"""The edit's channels: a mono recording renders mono on every path (half the sound's work, no
duplicated channel), a stereo one keeps both channels apart, and an intro or outro makes the
edit stereo (its own sound is mixed in stereo)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from talkavocado_common.models import BrandingOptions, JobOptions, RenderOptions

from .conftest import Job, channels_of, ffmpeg, make_timeline

pytestmark = pytest.mark.slow

FPS = 25
SECONDS = 6
RANGES = [(10, 60), (80, 130)]  # two clips: one cut, off the 2 s keyframes
LEFT_HZ, RIGHT_HZ = 440.0, 660.0


def make_source(out: Path, channels: int) -> Path:
    tones = (
        f"aevalsrc=0.3*sin(2*PI*{LEFT_HZ}*t):s=48000:d={SECONDS}"
        if channels == 1
        else f"aevalsrc=0.3*sin(2*PI*{LEFT_HZ}*t)|0.3*sin(2*PI*{RIGHT_HZ}*t):s=48000:d={SECONDS}"
    )
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s=160x120:r={FPS}:d={SECONDS}",
        "-f", "lavfi", "-i", tones,
        "-c:v", "libx264", "-preset", "veryfast", "-g", str(2 * FPS), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k",
        str(out),
    )  # fmt: skip
    return out


def samples(path: Path, channels: int) -> npt.NDArray[np.float32]:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "f32le",
         "-ac", str(channels), "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.float32).reshape(-1, channels)


def pitch(channel: npt.NDArray[np.float32], rate: int = 48_000) -> float:
    spectrum = np.abs(np.fft.rfft(channel * np.hanning(len(channel))))
    return float(np.fft.rfftfreq(len(channel), 1 / rate)[int(np.argmax(spectrum))])


def render(root: Path, source: Path, options: JobOptions, intro: Path | None = None) -> Path:
    job = Job(root)
    timeline = make_timeline(RANGES, width=160, height=120, source_duration=SECONDS)
    asyncio.run(job.prepare(source, timeline))
    if intro is not None:
        asyncio.run(job.put_asset("intro.mp4", intro))
    result = asyncio.run(job.run(options))
    assert result["renderPath"] == ("smart" if options == JobOptions() else "full")
    return job.path_of(job.keys.final_render)


FULL = JobOptions(render=RenderOptions(preview=True))  # the same edit through the full encode


@pytest.mark.parametrize("options", [JobOptions(), FULL], ids=["smart", "full"])
def test_a_mono_recording_renders_mono(tmp_path: Path, options: JobOptions) -> None:
    source = make_source(tmp_path / "mono.mp4", 1)

    out = render(tmp_path / "job", source, options)

    assert channels_of(out) == 1
    sound = samples(out, 1)[:, 0]
    assert len(sound) == pytest.approx(100 / FPS * 48_000, abs=1024)
    assert pitch(sound) == pytest.approx(LEFT_HZ, abs=2)


@pytest.mark.parametrize("options", [JobOptions(), FULL], ids=["smart", "full"])
def test_a_stereo_recording_keeps_its_channels_apart(tmp_path: Path, options: JobOptions) -> None:
    source = make_source(tmp_path / "stereo.mp4", 2)

    out = render(tmp_path / "job", source, options)

    assert channels_of(out) == 2
    sound = samples(out, 2)
    assert pitch(sound[:, 0]) == pytest.approx(LEFT_HZ, abs=2)
    assert pitch(sound[:, 1]) == pytest.approx(RIGHT_HZ, abs=2)


def test_a_mono_recording_with_an_intro_is_stereo(tmp_path: Path, intro_clip: Path) -> None:
    source = make_source(tmp_path / "mono.mp4", 1)
    options = JobOptions(branding=BrandingOptions(intro="intro.mp4"))

    out = render(tmp_path / "job", source, options, intro=intro_clip)

    assert channels_of(out) == 2
    sound = samples(out, 2)
    main = sound[-48_000:]  # the last second: the recording's sound, in both channels alike
    np.testing.assert_allclose(main[:, 0], main[:, 1], atol=1e-4)  # AAC codes them apart
    assert pitch(main[:, 0]) == pytest.approx(LEFT_HZ, abs=2)
