"""What is not a recording with sound is refused with a sentence, never a stack of ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from talkavocado_audio import audio_extraction
from talkavocado_common.models import ErrorCode
from talkavocado_common.steps import StepError
from tests.mediagen import Recording

from .conftest import Submit

JARGON = ("moov", "atom", "ffprobe", "ffmpeg", "demux", "Traceback", "0x")


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True
    )


def text_file(directory: Path, _: Recording) -> Path:
    path = directory / "notes.mp4"
    path.write_text("Meeting notes\n- record the intro again\n- fix the logo\n")
    return path


def empty_file(directory: Path, _: Recording) -> Path:
    path = directory / "empty.mp4"
    path.write_bytes(b"")
    return path


def truncated_file(directory: Path, recording: Recording) -> Path:
    data = recording.path.read_bytes()
    path = directory / "truncated.mp4"
    path.write_bytes(data[: int(len(data) * 0.3)])
    return path


def truncated_faststart_file(directory: Path, recording: Recording) -> Path:
    """Index first (as web uploads are): the index promises more than the data holds."""
    whole = directory / "faststart.mp4"
    ffmpeg("-i", str(recording.path), "-c", "copy", "-movflags", "+faststart", str(whole))
    data = whole.read_bytes()
    path = directory / "truncated-faststart.mp4"
    path.write_bytes(data[: int(len(data) * 0.3)])
    return path


def silent_video(directory: Path, _: Recording) -> Path:
    path = directory / "no-audio.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25:duration=1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        str(path),
    )
    return path


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (text_file, "contains text"),
        (empty_file, "empty"),
        (truncated_file, "incomplete"),
        (truncated_faststart_file, "incomplete"),
        (silent_video, "no sound track"),
    ],
    ids=["text", "empty", "truncated", "truncated-faststart", "no-audio"],
)
async def test_refused_as_invalid_input(
    make: object, phrase: str, submit: Submit, clean_talk: Recording, tmp_path: Path
) -> None:
    assert callable(make)
    bad = make(tmp_path, clean_talk)
    job = await submit(bad, "talk.mp4")
    with pytest.raises(StepError) as caught:
        await audio_extraction(job.request, job.env)
    assert caught.value.code == ErrorCode.INPUT_INVALID
    message = caught.value.message
    assert phrase in message
    assert message.endswith("."), message
    assert not any(word.lower() in message.lower() for word in JARGON), message
    manifest = await job.manifests.get(job.keys)
    assert manifest.audio is None
    assert await job.storage.list(job.keys.key("audio")) == []


async def test_missing_input(submit: Submit) -> None:
    job = await submit(None, "talk.mp4")
    with pytest.raises(StepError) as caught:
        await audio_extraction(job.request, job.env)
    assert caught.value.code == ErrorCode.INPUT_NOT_FOUND
    assert "not found" in caught.value.message


async def test_job_without_input(submit: Submit) -> None:
    job = await submit(None, "talk.mp4")
    await job.manifests.update(job.keys, lambda m: m.model_copy(update={"input": None}))
    with pytest.raises(StepError) as caught:
        await audio_extraction(job.request, job.env)
    assert caught.value.code == ErrorCode.INPUT_NOT_FOUND
