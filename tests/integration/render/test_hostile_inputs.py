"""Should a playlist get past the upload check, the steps' own ffmpeg runs still refuse to open
what it points at: the allowlist is in the argv of the audio extraction, the render, its audio
decoder and its branding inputs (not only in a probe before them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from talkavocado_audio.core import extraction_args
from talkavocado_common.media import FfmpegError, restrict, run_ffmpeg
from talkavocado_common.models import ErrorCode, JobOptions, LogoOptions, RenderOptions
from talkavocado_common.steps import StepError
from talkavocado_render.audio_feed import AudioFeedError, FfmpegAudioReader, run_render
from talkavocado_render.core.filtergraph import LogoInput, build_render
from tests.support.hostile_media import tiny_recording, write_hostile

from .conftest import Job, make_timeline


@pytest.fixture(scope="module")
def victim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another tenant's recording, two seconds of it."""
    return tiny_recording(tmp_path_factory.mktemp("victim") / "their-talk.mp4", seconds=2)


def without_allowlist(argv: list[str]) -> list[str]:
    """`argv` with every input's allowlist taken out: what the steps ran before issue 10."""
    confine = restrict()
    out: list[str] = []
    index = 0
    while index < len(argv):
        if argv[index : index + len(confine)] == confine:
            index += len(confine)
            continue
        out.append(argv[index])
        index += 1
    return out


async def test_audio_extraction_refuses_to_follow_a_playlist(victim: Path, tmp_path: Path) -> None:
    playlist = write_hostile(tmp_path / "in", "hls-salted", victim)
    mp3, wav = tmp_path / "a.mp3", tmp_path / "a.wav"
    argv = extraction_args(playlist, mp3, wav)

    with pytest.raises(FfmpegError) as refused:
        await run_ffmpeg(argv)
    assert "not on whitelist" in refused.value.stderr_tail
    assert not wav.exists() or wav.stat().st_size == 0

    # The same run unconfined decodes the victim's sound: the test above guards a real hole.
    await run_ffmpeg(without_allowlist(argv))
    assert wav.stat().st_size > 16_000 * 2  # more than a second of 16 kHz 16-bit mono


async def test_the_render_refuses_a_playlist_as_source_or_logo(
    victim: Path, tmp_path: Path
) -> None:
    playlist = write_hostile(tmp_path / "in", "hls-salted", victim)
    timeline = make_timeline([(0, 25)], width=160, height=120)
    out = tmp_path / "final.mp4"
    options = RenderOptions(preset="ultrafast")

    as_source = build_render(timeline, playlist, out, options, source_has_audio=False)
    with pytest.raises(FfmpegError) as refused:
        await run_render(as_source)
    assert "not on whitelist" in refused.value.stderr_tail
    assert not out.exists()

    logo = LogoInput(playlist, LogoOptions(asset="logo.png"))
    as_logo = build_render(timeline, victim, out, options, source_has_audio=False, logo=logo)
    with pytest.raises(FfmpegError) as refused:
        await run_render(as_logo)
    assert "not on whitelist" in refused.value.stderr_tail
    assert not out.exists()

    # Unconfined, the render reads the victim through the playlist and writes it out.
    await run_ffmpeg(without_allowlist(as_source.args))
    assert out.stat().st_size > 0


def test_the_renders_audio_decoder_refuses_a_playlist(victim: Path, tmp_path: Path) -> None:
    playlist = write_hostile(tmp_path / "in", "hls-salted", victim)
    reader = FfmpegAudioReader(playlist)
    try:
        with pytest.raises(AudioFeedError, match="not on whitelist"):
            reader.read(48_000)
    finally:
        reader.close()


@pytest.mark.parametrize("kind", ["hls-absolute", "hls-salted"])
async def test_the_branding_step_fails_input_invalid_on_a_playlist(
    kind: str, victim: Path, job: Job, tmp_path: Path
) -> None:
    playlist = write_hostile(tmp_path / "in", kind, victim)
    await job.prepare(playlist, make_timeline([(0, 25)], width=160, height=120))

    with pytest.raises(StepError) as failed:
        await job.run(JobOptions())
    assert failed.value.code == ErrorCode.INPUT_INVALID
    assert "not a self-contained media file" in failed.value.message
    assert not await job.storage.exists(job.keys.final_render)
