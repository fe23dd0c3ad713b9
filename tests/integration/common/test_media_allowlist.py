"""The media allowlist with the real ffprobe and ffmpeg: every hostile kind is refused by the
probe, real media passes, and a run is killed when its task is cancelled or its limit passes."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from talkavocado_common.media import (
    LOGO_DEMUXERS,
    FfmpegTimeout,
    FormatRefused,
    ProbeError,
    ProbeTimeout,
    input_args,
    probe,
    run_ffmpeg,
)
from tests.support.hostile_media import (
    CONTENT_KINDS,
    OPENED_WITHOUT_ALLOWLIST,
    ffmpeg,
    png,
    tiny_recording,
    unconfined_format,
    write_hostile,
)

# Detected by ffmpeg as a reference format (hls, concat): refused by the demuxer allowlist.
# "concat" without its ffconcat header is detected as nothing and fails as unreadable.
REFUSED_BY_DEMUXER = ("hls-absolute", "hls-http", "ffconcat", "hls-salted")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("allowlist-media")
    tiny_recording(folder / "victim.mp4")
    png(folder / "logo.png")
    for n in (1, 2, 3):
        png(folder / f"img{n:03d}.png")
    return folder


@pytest.mark.parametrize("kind", CONTENT_KINDS)
async def test_the_probe_refuses_every_hostile_kind(kind: str, media: Path, tmp_path: Path) -> None:
    hostile = write_hostile(tmp_path, kind, media / "victim.mp4")
    if kind in OPENED_WITHOUT_ALLOWLIST:
        # Unconfined, ffprobe follows the playlist and reports the victim's streams.
        assert unconfined_format(hostile) == ("hls", ["video", "audio"])
    expected = FormatRefused if kind in REFUSED_BY_DEMUXER else ProbeError
    with pytest.raises(expected) as refused:
        await probe(hostile)
    if expected is FormatRefused:
        assert "playlists, lists of files and image sequences are refused" in str(refused.value)


async def test_an_image_sequence_pattern_is_refused(media: Path) -> None:
    pattern = media / "img%03d.png"
    assert unconfined_format(pattern)[0] == "image2"
    with pytest.raises(FormatRefused):
        await probe(pattern)
    with pytest.raises(FormatRefused):
        await probe(pattern, demuxers=LOGO_DEMUXERS)  # not even where images are allowed


async def test_real_media_passes_and_an_image_only_where_a_logo_is(
    media: Path, tmp_path: Path
) -> None:
    info = await probe(media / "victim.mp4")
    assert info.format_name.startswith("mov,mp4")
    assert info.video is not None
    assert info.audio is not None
    mkv = tmp_path / "victim.mkv"
    ffmpeg("-i", str(media / "victim.mp4"), "-c", "copy", str(mkv))
    assert (await probe(mkv)).format_name == "matroska,webm"
    assert (await probe(media / "logo.png", demuxers=LOGO_DEMUXERS)).format_name == "png_pipe"
    with pytest.raises(FormatRefused):
        await probe(media / "logo.png")  # an image is no recording


# --- killed on cancel and past the limit ------------------------------------------------------


def children() -> set[int]:
    """This process's live child processes."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            with open(task / "children") as handle:
                found |= {int(pid) for pid in handle.read().split()}
        except FileNotFoundError:
            continue  # a thread (asyncio's, the event loop's executor) ended since the listing
    return found


def stalled_input(tmp_path: Path) -> Path:
    """A FIFO nobody writes to: ffmpeg and ffprobe block opening it, using no CPU."""
    fifo = tmp_path / "stalled.mp4"
    os.mkfifo(fifo)
    return fifo


async def started_child(before: set[int]) -> int:
    for _ in range(200):
        new = children() - before
        if new:
            return new.pop()
        await asyncio.sleep(0.01)
    raise AssertionError("no child process started")


async def assert_cancel_kills(run: Callable[[], Coroutine[Any, Any, object]]) -> None:
    before = children()
    task = asyncio.create_task(run())
    child = await started_child(before)
    await asyncio.sleep(0.1)  # it is blocked in its open(), not starting up
    began = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - began < 1.0
    # A zombie is still listed among the children: gone means killed and reaped.
    assert child not in children(), "the child outlived its cancelled task"


async def test_cancelling_a_probe_kills_ffprobe(tmp_path: Path) -> None:
    fifo = stalled_input(tmp_path)
    await assert_cancel_kills(lambda: probe(fifo))


async def test_cancelling_run_ffmpeg_kills_ffmpeg(tmp_path: Path) -> None:
    fifo = stalled_input(tmp_path)
    await assert_cancel_kills(lambda: run_ffmpeg([*input_args(fifo), "-f", "null", "-"]))


async def test_a_probe_past_its_limit_is_killed(tmp_path: Path) -> None:
    fifo = stalled_input(tmp_path)
    before = children()
    began = time.monotonic()
    with pytest.raises(ProbeTimeout, match=r"longer than 0\.3 s"):
        await probe(fifo, time_limit=0.3)
    assert time.monotonic() - began < 1.5
    assert children() == before


async def test_ffmpeg_past_its_limit_is_killed(tmp_path: Path) -> None:
    fifo = stalled_input(tmp_path)
    before = children()
    with pytest.raises(FfmpegTimeout) as stopped:
        await run_ffmpeg([*input_args(fifo), "-f", "null", "-"], time_limit=0.3)
    assert stopped.value.limit == 0.3
    assert "longer than 0.3 s" in str(stopped.value)
    assert children() == before
