"""The render's sound shell with real ffmpeg: decoding the source, feeding the edited PCM to the
encoder on its stdin, and failing fast (never hanging) when either side fails.

Media are made here with lavfi: a few seconds of a tone whose pitch names its second, so a
sound found in a render tells where in the source it came from.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from talkavocado_common.media import FfmpegError
from talkavocado_common.models import RenderOptions
from talkavocado_render import audio_feed
from talkavocado_render.audio_feed import (
    AudioFeedError,
    FfmpegAudioReader,
    feed_edited_audio,
    run_piped,
    run_render,
)
from talkavocado_render.core.audio_edit import AUDIO_RATE, CHANNELS, audio_pieces
from talkavocado_render.core.filtergraph import EditedAudio, build_render, clip_spans
from talkavocado_render.core.smart import SoundPlan, build_sound
from tests.unit.render.test_audio_edit import expected_edit

from .conftest import audio_samples, ffmpeg, make_timeline

FPS = 25
SECONDS = 3
AAC_FRAME = 1024  # samples: the encoder's granularity at the end of the stream
# The decoder's own filter, written out here rather than taken from decoder_args.
DECODE_FILTER = (
    f"aresample={AUDIO_RATE}:async=1:first_pts=0,"
    f"aformat=sample_fmts=flt:sample_rates={AUDIO_RATE}:channel_layouts=stereo"
)
Samples = npt.NDArray[np.float32]


def pitch(second: int) -> int:
    return 300 + 200 * second


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audio-feed")


@pytest.fixture(scope="module")
def tones(media: Path) -> Path:
    """3 s of 64x48 video; mono 44.1 kHz AAC (the reader resamples to 48 kHz stereo) at
    300 Hz in second 0, 500 Hz in second 1, 700 Hz in second 2."""
    out = media / "tones.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc=s=64x48:r={FPS}:d={SECONDS}",
        "-f", "lavfi", "-i", f"aevalsrc='0.5*sin(2*PI*(300+200*floor(t))*t)':s=44100:d={SECONDS}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k",
        str(out),
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def late_audio(media: Path) -> Path:
    """Audio that starts 0.5 s after the video: its samples must sit at their times."""
    out = media / "late.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc=s=64x48:r={FPS}:d={SECONDS}",
        "-itsoffset", "0.5", "-f", "lavfi", "-i", "sine=f=440:r=48000:d=2",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac",
        str(out),
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def long_tone(media: Path) -> Path:
    """30 s of sound (11.5 MB as 48 kHz float stereo): more than ffmpeg probes of a raw input
    and than a pipe holds, so a feeder whose encoder dies must be woken by the broken pipe."""
    out = media / "long.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=black:s=32x32:r={FPS}:d=30",
        "-f", "lavfi", "-i", "sine=f=220:r=48000:d=30",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac",
        str(out),
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def not_media(media: Path) -> Path:
    out = media / "notes.mp4"
    out.write_bytes(b"these are meeting notes, not a recording\n" * 2000)
    return out


def decode(source: Path) -> Samples:
    """The source's sound as ffmpeg decodes it on its own, 48 kHz float stereo."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(source), "-map", "0:a:0",
         "-af", DECODE_FILTER, "-f", "f32le", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, "<f4").reshape(-1, CHANNELS)


def dominant_frequency(samples: npt.NDArray[np.float32]) -> float:
    """Of a mono stretch, in Hz (1 Hz resolution)."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)), n=AUDIO_RATE))
    return float(np.argmax(spectrum))


def children() -> list[int]:
    """The processes this one started that are still there (zombies included)."""
    found = []
    me = str(os.getpid())
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me:
            found.append(int(entry))
    return found


# --- the reader ---------------------------------------------------------------------------------


def test_the_reader_returns_exactly_what_ffmpeg_decodes(tones: Path) -> None:
    reference = decode(tones)
    assert abs(len(reference) - SECONDS * AUDIO_RATE) <= AAC_FRAME
    reader = FfmpegAudioReader(tones)
    try:
        # Odd sizes, across the decoder's own packet boundaries.
        parts = [reader.read(count) for count in (1, 1000, 12_345, 1)]
        rest = reader.read(len(reference) - reader.position)
        tail = reader.read(5_000)
        assert reader.position == len(reference) + 5_000
    finally:
        reader.close()

    read = np.concatenate([*parts, rest])
    assert read.dtype == np.float32
    assert read.shape == reference.shape
    assert np.array_equal(read, reference)
    assert np.abs(reference).max() > 0.3  # a real tone, not silence compared with silence
    # Past the end: silence, like apad.
    assert tail.shape == (5_000, CHANNELS)
    assert not np.any(tail)


def test_a_mono_reader_gives_the_one_channel_the_stereo_reader_spreads(tones: Path) -> None:
    stereo, mono = FfmpegAudioReader(tones), FfmpegAudioReader(tones, channels=1)
    try:
        both, one = stereo.read(AUDIO_RATE), mono.read(AUDIO_RATE)
    finally:
        stereo.close()
        mono.close()
    assert one.shape == (AUDIO_RATE, 1)
    assert np.abs(one).max() > 0.3
    # The tones' one channel; the stereo decoder spreads it over both at -3 dB each.
    np.testing.assert_allclose(both[:, 0], both[:, 1], atol=0)
    np.testing.assert_allclose(one[:, 0] * np.sqrt(0.5), both[:, 0], atol=1e-6)


def test_skipping_lands_on_the_same_samples_as_reading(tones: Path) -> None:
    reference = decode(tones)
    reader = FfmpegAudioReader(tones)
    try:
        reader.skip(0)
        assert reader.position == 0
        reader.skip(70_001)  # more than one skip step
        assert reader.position == 70_001
        middle = reader.read(4_800)
        reader.skip(len(reference) + 10_000 - reader.position)
        past = reader.read(100)
    finally:
        reader.close()

    assert np.array_equal(middle, reference[70_001:74_801])
    assert dominant_frequency(middle[:, 0]) == pytest.approx(pitch(1), abs=2)
    assert not np.any(past)


def test_sound_that_starts_late_is_read_at_its_time(late_audio: Path) -> None:
    reader = FfmpegAudioReader(late_audio)
    try:
        before = reader.read(AUDIO_RATE // 2 - AAC_FRAME)
        reader.skip(2 * AAC_FRAME)
        after = reader.read(AUDIO_RATE // 2)
    finally:
        reader.close()

    # Silence until then (the codec's ringing before the tone's first frame aside).
    assert np.abs(before).max() < 1e-3
    assert not np.any(before[: AUDIO_RATE // 2 - 4 * AAC_FRAME])
    assert np.abs(after).max() > 0.05
    assert dominant_frequency(after[:, 0]) == pytest.approx(440, abs=2)


@pytest.mark.timeout(30)
def test_a_source_that_is_not_media_fails_with_ffmpegs_reason(not_media: Path) -> None:
    reader = FfmpegAudioReader(not_media)
    try:
        with pytest.raises(AudioFeedError, match=r"decoding the source's audio failed: \S"):
            reader.read(AUDIO_RATE)
    finally:
        reader.close()


@pytest.mark.timeout(30)
def test_a_source_without_sound_fails_instead_of_feeding_silence(media: Path) -> None:
    silent = media / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=64x48:r=25:d=1", "-c:v", "libx264",
           "-preset", "ultrafast", str(silent))  # fmt: skip
    reader = FfmpegAudioReader(silent)
    try:
        with pytest.raises(AudioFeedError, match="matches no streams"):
            reader.read(10)
    finally:
        reader.close()


# --- feeding ------------------------------------------------------------------------------------


def read_all(fd: int) -> bytes:
    chunks = []
    with os.fdopen(fd, "rb") as pipe:
        while chunk := pipe.read(65_536):
            chunks.append(chunk)
    return b"".join(chunks)


def feed_through_a_pipe(audio: EditedAudio) -> tuple[int, bytes]:
    read_fd, write_fd = os.pipe()
    with ThreadPoolExecutor(1) as pool:
        fed = pool.submit(feed_edited_audio, audio, write_fd)
        data = read_all(read_fd)
        return fed.result(timeout=30), data


def test_the_fed_sound_is_the_edit_of_the_decoded_source(tones: Path) -> None:
    timeline = make_timeline(
        [(5, 20), (30, 45), (55, 70)], transition_frames=3, width=64, height=48,
        source_duration=SECONDS,
    )  # fmt: skip
    pieces = tuple(audio_pieces(clip_spans(timeline), Fraction(FPS)))

    written, data = feed_through_a_pipe(EditedAudio(tones, pieces))

    fed = np.frombuffer(data, "<f4").reshape(-1, CHANNELS)
    assert written == len(fed) == pieces[-1].output_end
    expected = expected_edit(pieces, decode(tones))
    np.testing.assert_allclose(fed, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.timeout(30)
def test_a_failing_decoder_ends_the_feed_and_closes_the_pipe(not_media: Path) -> None:
    pieces = tuple(audio_pieces(clip_spans(make_timeline([(0, 25)])), Fraction(FPS)))
    read_fd, write_fd = os.pipe()

    with pytest.raises(AudioFeedError, match="decoding the source's audio failed"):
        feed_edited_audio(EditedAudio(not_media, pieces), write_fd)

    # The encoder reading the other end sees the end of its input, not a pipe left open.
    assert read_all(read_fd) == b""


# --- the whole render ---------------------------------------------------------------------------


async def test_the_render_carries_the_edited_sound_for_the_timelines_length(
    tones: Path, tmp_path: Path
) -> None:
    ranges = [(5, 20), (30, 45), (55, 72)]  # one clip from each second of the source
    timeline = make_timeline(
        ranges, transition_frames=3, width=64, height=48, source_duration=SECONDS
    )
    out = tmp_path / "edit.mp4"
    plan = build_render(timeline, tones, out, RenderOptions(preset="ultrafast"))
    assert plan.audio is not None
    progress: list[float] = []

    await asyncio.wait_for(run_render(plan, on_progress=progress.append), 60)

    sound = audio_samples(out)
    expected = round(timeline.duration_sec * AUDIO_RATE)
    assert expected == plan.audio.pieces[-1].output_end
    assert abs(len(sound) - expected) <= AAC_FRAME
    # Each clip's middle has the pitch of the second of the source it was cut from.
    for clip, (start, end) in zip(timeline.clips, ranges, strict=True):
        middle = round((clip.timeline_start + (end - start) / FPS / 2) * AUDIO_RATE)
        stretch = sound[middle - 2_400 : middle + 2_400]
        assert dominant_frequency(stretch) == pytest.approx(pitch(start // FPS), abs=3)
    assert progress
    assert all(0.0 <= p <= 1.0 for p in progress)


def watch_feeder(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record how every feeder thread of run_render ends."""
    ends: list[str] = []
    feed: Callable[..., int] = audio_feed.feed_edited_audio

    def watched(*args: object, **kwargs: object) -> int:
        try:
            written = feed(*args, **kwargs)
        except BaseException as exc:
            ends.append(f"raised {type(exc).__name__}")
            raise
        ends.append(f"returned {written}")
        return written

    monkeypatch.setattr(audio_feed, "feed_edited_audio", watched)
    return ends


async def test_a_failing_encoder_fails_the_render_promptly_and_stops_the_feeder(
    long_tone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ends = watch_feeder(monkeypatch)
    timeline = make_timeline([(0, 30 * FPS)], width=32, height=32, source_duration=30)
    out = tmp_path / "no-such-dir" / "edit.mp4"
    plan = build_render(timeline, long_tone, out, RenderOptions(preset="ultrafast"))
    assert plan.audio is not None
    threads = threading.active_count()
    # Other fixtures of the session (a broker, an S3 server) may be children too: only new
    # ones count.
    before = set(children())
    started = time.monotonic()

    with pytest.raises(FfmpegError, match="no-such-dir"):
        await asyncio.wait_for(run_render(plan), 60)

    assert time.monotonic() - started < 20
    # The feeder did not stay blocked on the pipe, nor keep its decoder running.
    assert len(ends) == 1
    assert ends[0].startswith("returned ")
    assert int(ends[0].split()[1]) < plan.audio.pieces[-1].output_end
    assert set(children()) - before == set()
    assert threading.active_count() <= threads + 1  # at most the executor's idle worker
    assert not out.parent.exists()


async def test_a_cancelled_render_kills_the_encoder_and_the_decoder_promptly(
    long_tone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a cancelled job's branding-layer does to its render: the step's task is cancelled.
    ends = watch_feeder(monkeypatch)
    timeline = make_timeline([(0, 30 * FPS)], width=32, height=32, source_duration=30)
    plan = build_render(timeline, long_tone, tmp_path / "edit.mp4", RenderOptions(preset="slow"))
    assert plan.audio is not None
    plan = dataclasses.replace(plan, args=["-re", *plan.args])  # real time: 30 s unless stopped
    before = set(children())
    render = asyncio.create_task(run_render(plan))
    for _ in range(200):  # both running: the encoder and the decoder
        if len(set(children()) - before) == 2:
            break
        await asyncio.sleep(0.05)
    assert len(set(children()) - before) == 2
    await asyncio.sleep(0.5)

    started = time.monotonic()
    render.cancel()
    with pytest.raises(asyncio.CancelledError):
        await render
    assert time.monotonic() - started < 3
    assert set(children()) - before == set()  # encoder and decoder gone, reaped
    assert len(ends) == 1
    assert ends[0].startswith("returned ")


# --- the sound made and encoded in two processes (the smart render's) ---------------------------


def sound_plan(source: Path, out: Path, seconds: int) -> SoundPlan:
    timeline = make_timeline([(0, seconds * FPS)], width=32, height=32, source_duration=seconds)
    return build_sound(timeline, source, out, RenderOptions(), source_has_audio=True)


async def test_the_piped_sound_carries_the_edit(tones: Path, tmp_path: Path) -> None:
    out = tmp_path / "sound.m4a"
    plan = sound_plan(tones, out, SECONDS)
    before = set(children())

    log = await asyncio.wait_for(run_piped(plan.make, plan.encode_args), 60)

    assert isinstance(log, str)
    sound = audio_samples(out)
    assert abs(len(sound) - SECONDS * AUDIO_RATE) <= AAC_FRAME
    for second in range(SECONDS):  # each second's pitch where it was
        middle = round((second + 0.5) * AUDIO_RATE)
        stretch = sound[middle - 2_400 : middle + 2_400]
        assert dominant_frequency(stretch) == pytest.approx(pitch(second), abs=3)
    assert set(children()) - before == set()


async def test_a_failing_encoder_fails_the_piped_sound_and_ends_the_maker(
    long_tone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ends = watch_feeder(monkeypatch)
    plan = sound_plan(long_tone, tmp_path / "no-such-dir" / "sound.m4a", 30)
    before = set(children())
    started = time.monotonic()

    with pytest.raises(FfmpegError, match="no-such-dir"):
        await asyncio.wait_for(run_piped(plan.make, plan.encode_args), 60)

    assert time.monotonic() - started < 20
    assert set(children()) - before == set()  # maker, its decoder and the encoder reaped
    assert len(ends) == 1


async def test_a_failing_maker_fails_the_piped_sound_with_its_own_error(
    long_tone: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sound.m4a"
    plan = sound_plan(long_tone, out, 30)
    broken = dataclasses.replace(
        plan.make, filtergraph="", args=[*plan.make.args[:-1], "-no-such-option", "pipe:1"]
    )
    before = set(children())

    with pytest.raises(FfmpegError, match="no-such-option"):
        await asyncio.wait_for(run_piped(broken, plan.encode_args), 60)

    assert set(children()) - before == set()
