"""branding-layer with real ffmpeg: cuts, crossfades, intro/outro, logo, burned-in subtitles.

Every assertion is against the generated media's ground truth: where each flash and beep of the
source must land on the edited timeline, what the letterbox and the logo look like.
"""

from __future__ import annotations

import asyncio
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from talkavocado_common.media import run_ffmpeg
from talkavocado_common.models import (
    BrandingOptions,
    ErrorCode,
    JobOptions,
    LogoOptions,
    RenderOptions,
    SubtitleOptions,
    Timeline,
)
from talkavocado_common.steps import StepError
from talkavocado_render.audio_feed import run_render
from talkavocado_render.core.filtergraph import build_render
from tests.mediagen import DEMO_SCRIPT, make_recording

from .conftest import (
    FLASH_FRAME_IN_SECOND,
    FPS,
    HEIGHT,
    INTRO_SECONDS,
    OUTRO_SECONDS,
    SYNC_SECONDS,
    WIDTH,
    Job,
    audio_samples,
    beep_frequency,
    find_beeps,
    flash_frames,
    gray_frames,
    make_timeline,
    probe_streams,
    rgb_frames,
    top_level_atoms,
)

pytestmark = pytest.mark.slow

FRAME = 1 / FPS
# Clips of the sync source; the flash at source frame 112 lands two frames after a cut.
RANGES = [(0, 30), (50, 100), (110, 150), (160, 200)]
SUBTITLES = (
    "1\n00:00:00,000 --> 00:00:01,000\nHello there\n\n"
    "2\n00:00:03,000 --> 00:00:04,000\nSecond cue\n"
)


def where_on_timeline(timeline: Timeline, source_frame: int) -> int | None:
    """The edited-timeline frame showing `source_frame`, or None if it was cut or sits in a
    crossfade (where two frames are blended)."""
    for clip in timeline.clips:
        if clip.source_start_frame <= source_frame < clip.source_end_frame:
            offset = source_frame - clip.source_start_frame
            if offset < round(clip.transition_in_sec * FPS):
                return None
            return round(clip.timeline_start * FPS) + offset
    return None


def in_crossfade(timeline: Timeline, frame: float) -> bool:
    return any(
        clip.transition_in_sec > 0
        and clip.timeline_start * FPS - 1
        <= frame
        < (clip.timeline_start + clip.transition_in_sec) * FPS + 1
        for clip in timeline.clips
    )


def expected_events(timeline: Timeline) -> list[tuple[int, int]]:
    """(source second, edited frame) of every flash/beep that survives the edit unblended."""
    events = []
    for second in range(SYNC_SECONDS):
        frame = where_on_timeline(timeline, second * FPS + FLASH_FRAME_IN_SECOND)
        if frame is not None:
            events.append((second, frame))
    return events


def assert_sync(path: Path, timeline: Timeline, lead_frames: int = 0) -> None:
    """Each surviving flash is on its expected frame, each surviving beep starts on the same
    instant with the right pitch, and nothing else flashes or beeps outside crossfades."""
    expected = expected_events(timeline)
    flashes = [
        f - lead_frames
        for f in flash_frames(gray_frames(path))
        if f >= lead_frames and not in_crossfade(timeline, f - lead_frames)
    ]
    assert flashes == [frame for _, frame in expected]

    beeps = [
        b
        for b in find_beeps(audio_samples(path))
        if b.onset >= lead_frames * FRAME
        and not in_crossfade(timeline, (b.onset - lead_frames * FRAME) * FPS)
    ]
    assert len(beeps) == len(expected), beeps
    for beep, (second, frame) in zip(beeps, expected, strict=True):
        assert beep.frequency == pytest.approx(beep_frequency(second), abs=15)
        onset = beep.onset - lead_frames * FRAME
        # The source's beep starts exactly when its flash frame is shown.
        assert abs(onset - frame * FRAME) < FRAME, (second, onset, frame * FRAME)
        assert abs(onset - frame * FRAME) < 0.005, "audio shifted against the cut"


def assert_av_layout(path: Path, duration: float, *, channels: int) -> None:
    """`channels`: 1 for a mono recording edited alone, 2 with an intro/outro or no sound."""
    streams = probe_streams(path)
    video, audio = streams["video"], streams["audio"]
    assert video["codec_name"] == "h264"
    assert video["pix_fmt"] == "yuv420p"
    assert (int(video["width"]), int(video["height"])) == (WIDTH, HEIGHT)
    assert Fraction(video["r_frame_rate"]) == FPS
    assert Fraction(video["avg_frame_rate"]) == FPS
    assert audio["codec_name"] == "aac"
    assert int(audio["sample_rate"]) == 48_000
    assert int(audio["channels"]) == channels
    assert int(video["nb_read_packets"]) == round(duration * FPS)
    assert float(video["duration"]) == pytest.approx(duration, abs=FRAME)
    assert float(audio["duration"]) == pytest.approx(duration, abs=FRAME)
    atoms = top_level_atoms(path)
    assert atoms.index("moov") < atoms.index("mdat"), atoms


def render_sync(root: Path, source: Path, timeline: Timeline, options: JobOptions) -> Path:
    job = Job(root)
    asyncio.run(job.prepare(source, timeline))
    asyncio.run(job.run(options))
    return job.path_of(job.keys.final_render)


@pytest.fixture(scope="module")
def plain_render(tmp_path_factory: pytest.TempPathFactory, sync_source: Path) -> Path:
    """The hard-cut edit without branding: the baseline branded renders are compared to."""
    return render_sync(
        tmp_path_factory.mktemp("plain"), sync_source, make_timeline(RANGES), JobOptions()
    )


async def test_hard_cuts_keep_sync_duration_and_format(job: Job, sync_source: Path) -> None:
    timeline = make_timeline(RANGES)
    await job.prepare(sync_source, timeline)

    result = await job.run()

    out = job.path_of(job.keys.final_render)
    assert result["render"] == job.keys.final_render
    assert result["durationSec"] == pytest.approx(timeline.duration_sec, abs=FRAME)
    assert_av_layout(out, timeline.duration_sec, channels=1)  # the mono sync source
    assert_sync(out, timeline)
    assert job.progress[-1] == 1.0
    assert job.progress == sorted(job.progress)
    manifest = await job.manifests.get(job.keys)
    assert [(r.key, r.kind, r.width, r.height) for r in manifest.renders] == [
        (job.keys.final_render, "final", WIDTH, HEIGHT)
    ]
    assert manifest.renders[0].bytes == out.stat().st_size
    assert list(job.workdir.iterdir()) == []

    # Idempotent: a second run overwrites the same key and keeps one manifest entry.
    await job.run()
    manifest = await job.manifests.get(job.keys)
    assert [r.key for r in manifest.renders] == [job.keys.final_render]


async def test_crossfades_blend_and_keep_sync(job: Job, sync_source: Path) -> None:
    timeline = make_timeline(RANGES, transition_frames=5)
    assert timeline.duration_sec == pytest.approx(5.8)
    await job.prepare(sync_source, timeline)

    await job.run()

    out = job.path_of(job.keys.final_render)
    assert_av_layout(out, timeline.duration_sec, channels=1)
    assert_sync(out, timeline)
    frames = gray_frames(out)
    # Source flash 112 is 2 frames into the fade of clip 2 (timeline frames 70..74): 40 % white.
    blended = float(frames[72].mean())
    assert 60 < blended < 160, blended


async def test_kept_speech_matches_the_source(job: Job, tmp_path: Path) -> None:
    recording = make_recording(DEMO_SCRIPT, tmp_path / "talk.mp4", fps=FPS)
    speech = recording.of_kind("speech")
    ranges = [(math.floor((p.start - 0.1) * FPS), math.ceil((p.end + 0.1) * FPS)) for p in speech]
    timeline = make_timeline(ranges, source_duration=recording.duration)
    await job.prepare(recording.path, timeline)

    await job.run()

    out = job.path_of(job.keys.final_render)
    assert_av_layout(out, timeline.duration_sec, channels=1)
    rate = 16_000
    source, edited = audio_samples(recording.path, rate), audio_samples(out, rate)
    for clip in timeline.clips:
        src = source[round(clip.source_start * rate) : round(clip.source_end * rate)]
        at = round(clip.timeline_start * rate)
        assert lag_of(src, edited, at, max_lag=rate // 50) == pytest.approx(0, abs=rate // 1000)
        got = edited[at : at + len(src)]
        assert len(got) == len(src)
        correlation = float(np.dot(src, got) / (np.linalg.norm(src) * np.linalg.norm(got)))
        assert correlation > 0.95, (clip, correlation)


def lag_of(
    reference: npt.NDArray[np.float32], signal: npt.NDArray[np.float32], at: int, max_lag: int
) -> int:
    """Where `reference` best matches `signal` around position `at`, in samples from `at`."""
    scores = [
        float(np.dot(reference, signal[at + lag : at + lag + len(reference)]))
        if at + lag >= 0 and at + lag + len(reference) <= len(signal)
        else -math.inf
        for lag in range(-max_lag, max_lag + 1)
    ]
    return int(np.argmax(scores)) - max_lag


def assert_bumpers_letterboxed(path: Path, main_frames: int) -> None:
    """Intro and outro fill the frame keeping their aspect, with black bars, never stretched."""
    intro_frames, outro_frames = round(INTRO_SECONDS * FPS), round(OUTRO_SECONDS * FPS)
    frames = gray_frames(path)
    # Intro 400x100 into 320x240: 320x80 centred, black bars above and below (not stretched).
    for frame in frames[:intro_frames]:
        rows = frame.mean(axis=1)
        assert rows[:75].max() < 25
        assert rows[165:].max() < 25
        assert 78 <= int((rows > 100).sum()) <= 82
    # Outro 90x160 into 320x240: 134x240 centred, black bars left and right.
    for frame in frames[intro_frames + main_frames :]:
        columns = frame.mean(axis=0)
        assert columns[:90].max() < 25
        assert columns[230:].max() < 25
        assert 132 <= int((columns > 100).sum()) <= 136
    assert len(frames) == intro_frames + main_frames + outro_frames


def assert_bumper_audio(path: Path) -> None:
    """The intro keeps its tone; the outro, which has no sound, gets silence."""
    audio = audio_samples(path)
    intro_audio = audio[: int(INTRO_SECONDS * 48_000)]
    assert np.sqrt(np.mean(intro_audio**2)) > 0.05  # lavfi sine: amplitude 1/8
    assert np.argmax(np.abs(np.fft.rfft(intro_audio, n=48_000))) == pytest.approx(440, abs=3)
    outro_audio = audio[-int(OUTRO_SECONDS * 48_000) + 200 :]
    assert np.abs(outro_audio).max() < 0.01


def assert_logo_and_subtitles(path: Path, plain_render: Path, intro_frames: int) -> None:
    """Compared with the unbranded render: the logo in its corner, subtitles during cues only,
    the rest of the picture untouched."""
    branded, plain = rgb_frames(path), rgb_frames(plain_render)
    # Logo: 64 px wide (0.2 x 320), 10 px margin (0.03 x 320), top-right, 80 % opaque red.
    frame = 5  # black background, no flash
    logo_box = (slice(12, 72), slice(248, 308))
    red = branded[intro_frames + frame][logo_box].astype(int)
    assert red[..., 0].mean() > 150
    assert red[..., 1].mean() < 60
    assert plain[frame][logo_box].astype(int).mean() < 30
    top_left = (slice(0, 80), slice(0, 100))
    assert (
        np.abs(branded[intro_frames + frame][top_left].astype(int) - plain[frame][top_left]).mean()
        < 3
    )
    # Subtitles: text in the lower part during a cue, nothing there between cues.
    lower = (slice(150, 240), slice(0, WIDTH))
    during = np.abs(branded[intro_frames + 8][lower].astype(int) - plain[8][lower])
    assert (during.max(axis=-1) > 100).sum() > 80
    between = np.abs(branded[intro_frames + 50][lower].astype(int) - plain[50][lower])
    assert between.mean() < 3


def assert_preview(path: Path, duration: float) -> None:
    streams = probe_streams(path)
    assert int(streams["video"]["height"]) <= 360
    assert float(streams["video"]["duration"]) == pytest.approx(duration, abs=FRAME)
    assert float(streams["audio"]["duration"]) == pytest.approx(duration, abs=FRAME)


async def test_intro_outro_logo_subtitles_and_preview(
    job: Job,
    sync_source: Path,
    intro_clip: Path,
    outro_clip: Path,
    logo_png: Path,
    plain_render: Path,
) -> None:
    timeline = make_timeline(RANGES)
    await job.prepare(sync_source, timeline)
    await job.put_asset("intro.mp4", intro_clip)
    await job.put_asset("outro.mp4", outro_clip)
    await job.put_asset("logo.png", logo_png)
    await job.put_subtitles(SUBTITLES)
    options = JobOptions(
        branding=BrandingOptions(
            intro="intro.mp4",
            outro="outro.mp4",
            logo=LogoOptions(asset="logo.png", position="top-right", opacity=0.8, scale=0.2),
        ),
        subtitles=SubtitleOptions(burn_in=True),
        render=RenderOptions(preview=True),
    )

    result = await job.run(options)

    out = job.path_of(job.keys.final_render)
    total = INTRO_SECONDS + timeline.duration_sec + OUTRO_SECONDS
    assert result["durationSec"] == pytest.approx(total, abs=FRAME)
    assert_av_layout(out, total, channels=2)  # the intro's stereo
    intro_frames = round(INTRO_SECONDS * FPS)
    assert_sync(out, timeline, lead_frames=intro_frames)
    assert_bumpers_letterboxed(out, main_frames=round(timeline.duration_sec * FPS))
    assert_bumper_audio(out)
    assert_logo_and_subtitles(out, plain_render, intro_frames)
    assert_preview(job.path_of(job.keys.preview_render), total)
    manifest = await job.manifests.get(job.keys)
    assert sorted((r.kind, r.key) for r in manifest.renders) == [
        ("final", job.keys.final_render),
        ("preview", job.keys.preview_render),
    ]


async def test_source_without_audio_gets_silence(job: Job, tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    await run_ffmpeg(
        ["-f", "lavfi", "-i", f"testsrc2=s={WIDTH}x{HEIGHT}:r={FPS}:d=3",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(silent)]
    )  # fmt: skip
    timeline = make_timeline([(0, 20), (40, 70)], has_audio=False, source_duration=3)
    await job.prepare(silent, timeline)

    await job.run()

    out = job.path_of(job.keys.final_render)
    assert_av_layout(out, timeline.duration_sec, channels=2)  # no sound: stereo silence
    assert np.abs(audio_samples(out)).max() < 1e-3


async def test_subtitle_path_is_escaped_for_the_filtergraph(
    tmp_path: Path, sync_source: Path
) -> None:
    odd_dir = tmp_path / "it's: [odd], dir; x"
    odd_dir.mkdir()
    srt = odd_dir / "sub title's.srt"
    srt.write_text(SUBTITLES)
    timeline = make_timeline([(0, 25)], source_duration=SYNC_SECONDS)
    with_subs, without = tmp_path / "with.mp4", tmp_path / "without.mp4"
    for out, subtitles in ((with_subs, srt), (without, None)):
        plan = build_render(timeline, sync_source, out, RenderOptions(), subtitles=subtitles)
        await run_render(plan)
    lower = (slice(150, 240), slice(0, WIDTH))
    diff = np.abs(gray_frames(with_subs)[8][lower].astype(int) - gray_frames(without)[8][lower])
    assert (diff > 100).sum() > 80


async def test_missing_timeline_is_input_not_found(job: Job, sync_source: Path) -> None:
    await job.prepare(sync_source, None)
    with pytest.raises(StepError) as caught:
        await job.run()
    assert caught.value.code == ErrorCode.INPUT_NOT_FOUND


async def test_missing_branding_asset_is_input_invalid(job: Job, sync_source: Path) -> None:
    await job.prepare(sync_source, make_timeline(RANGES))
    with pytest.raises(StepError) as caught:
        await job.run(JobOptions(branding=BrandingOptions(intro="intro.mp4")))
    assert caught.value.code == ErrorCode.INPUT_INVALID
    assert caught.value.message == "branding asset 'intro.mp4' not found for this tenant"
    manifest = await job.manifests.get(job.keys)
    assert manifest.renders == []


async def test_unusable_assets_and_missing_subtitles(
    job: Job, sync_source: Path, tmp_path: Path
) -> None:
    await job.prepare(sync_source, make_timeline(RANGES))
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    await job.put_asset("notes.mp4", text)
    with pytest.raises(StepError) as caught:
        await job.run(JobOptions(branding=BrandingOptions(outro="notes.mp4")))
    assert caught.value.code == ErrorCode.INPUT_INVALID
    with pytest.raises(StepError) as caught:
        await job.run(JobOptions(branding=BrandingOptions(intro="../../other/intro.mp4")))
    assert caught.value.code == ErrorCode.INPUT_INVALID
    with pytest.raises(StepError) as caught:
        await job.run(JobOptions(subtitles=SubtitleOptions(burn_in=True)))
    assert caught.value.code == ErrorCode.INPUT_NOT_FOUND
    # A recording without speech has an SRT without cues: nothing to burn, still a render.
    await job.put_subtitles("")
    result = await job.run(JobOptions(subtitles=SubtitleOptions(burn_in=True)))
    assert result["render"] == job.keys.final_render


async def test_ffmpeg_failure_is_internal_with_its_reason(job: Job, sync_source: Path) -> None:
    await job.prepare(sync_source, make_timeline(RANGES))
    await job.put_subtitles("not a subtitle --> file\n")

    with pytest.raises(StepError) as caught:
        await job.run(JobOptions(subtitles=SubtitleOptions(burn_in=True)))

    assert caught.value.code == ErrorCode.INTERNAL
    assert caught.value.message.startswith("the final render failed")
    assert "Unable to open" in caught.value.message
    assert not await job.storage.exists(job.keys.final_render)
    assert list(job.workdir.iterdir()) == []
