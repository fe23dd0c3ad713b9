"""The render's imperative shell for sound: decode the source's audio with ffmpeg, cut it as
core.audio_edit describes, and pipe the edited PCM into the encoding ffmpeg's stdin while that
encodes the video.

Two processes and one thread: the decoder writes 48 kHz float32 (mono or stereo, as the edit's
sound is) to a pipe, a worker thread runs edit_audio over it and writes to the encoder's stdin.
Nothing waits in a cycle (the encoder reads the video from its file on a thread of its own), so
neither side can block the other for good; the pipes' backpressure keeps memory at a few blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from talkavocado_common.media import input_args, run_ffmpeg
from talkavocado_common.media.ffmpeg import FFMPEG

from .core.audio_edit import AUDIO_RATE, CHANNELS, LAYOUTS, Samples, edit_audio, total_samples
from .core.filtergraph import EditedAudio, RenderPlan

_BYTES_PER_VALUE = 4  # float32
_SKIP_BLOCK = AUDIO_RATE  # samples read and dropped at a time when seeking forwards
_ENCODER_END_WAIT_SEC = 5.0


class AudioFeedError(RuntimeError):
    """The source's sound could not be decoded or handed to the encoder."""


def decoder_args(source: Path, channels: int = CHANNELS) -> list[str]:
    """The source's first audio stream as raw PCM on stdout, sample 0 at the file's time 0:
    interleaved float32, `channels` of them (what the f32le pipe carries, sample after sample).

    async=1 + first_pts=0: gaps in the source audio become silence, so a sample's position is
    its time; the same timing the video's fps filter gives its frames."""
    pcm = f"aformat=sample_fmts=flt:sample_rates={AUDIO_RATE}:channel_layouts={LAYOUTS[channels]}"
    return [
        FFMPEG, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
        *input_args(source),  # the user's file: real containers, local files only
        "-map", "0:a:0",
        "-af", f"aresample={AUDIO_RATE}:async=1:first_pts=0,{pcm}",
        "-f", "f32le",
        "pipe:1",
    ]  # fmt: skip


class FfmpegAudioReader:
    """SourceReader over an ffmpeg decoder; silence after the source's end (like apad)."""

    def __init__(self, source: Path, channels: int = CHANNELS) -> None:
        # A file, not a pipe: a corrupt source can log more than a pipe holds.
        self._errors: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._channels = channels
        self._proc = subprocess.Popen(
            decoder_args(source, channels),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._errors,
        )
        self._position = 0
        self._ended = False

    @property
    def position(self) -> int:
        return self._position

    def read(self, count: int) -> Samples:
        wanted = count * _BYTES_PER_VALUE * self._channels
        data = bytearray()
        stdout = self._proc.stdout
        assert stdout is not None
        while len(data) < wanted and not self._ended:
            chunk = stdout.read(wanted - len(data))
            if not chunk:
                self._finish()
            data += chunk
        data += bytes(wanted - len(data))
        self._position += count
        return np.frombuffer(data, dtype="<f4").reshape(count, self._channels).copy()

    def skip(self, count: int) -> None:
        while count > 0:
            step = min(count, _SKIP_BLOCK)
            self.read(step)
            count -= step

    def _finish(self) -> None:
        self._ended = True
        if self._proc.wait() != 0:
            self._errors.seek(0)
            tail = self._errors.read()[-600:].decode(errors="replace").strip()
            raise AudioFeedError(f"decoding the source's audio failed: {tail}")

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._errors.close()


def feed_edited_audio(
    audio: EditedAudio,
    out_fd: int,
    open_reader: Callable[[Path, int], FfmpegAudioReader] = FfmpegAudioReader,
    stop: threading.Event | None = None,
) -> int:
    """Write the edited sound to `out_fd` (closed at the end); the samples written. Blocking:
    run it on a thread. Stops quietly when the reader of `out_fd` has gone (the encoder failed
    or was stopped: its own error is the one to report) or when `stop` is set (checked at every
    block). However it stops, the edit's reader is closed then and there: the decoder killed."""
    written = 0
    blocks = edit_audio(audio.pieces, lambda: open_reader(audio.source, audio.channels))
    try:
        with os.fdopen(out_fd, "wb", buffering=0) as out:
            for block in blocks:
                if stop is not None and stop.is_set():
                    break
                out.write(block.astype("<f4", copy=False).tobytes())
                written += len(block)
    except BrokenPipeError:
        pass
    finally:
        close = getattr(blocks, "close", None)  # a generator: its finally closes the reader
        if close is not None:
            close()
    return written


async def run_render(
    plan: RenderPlan,
    *,
    on_progress: Callable[[float], None] | None = None,
    time_limit: float | None = None,
    stdout: int | None = None,
) -> str:
    """Run the plan's ffmpeg, feeding it the edited sound when the plan has one; its log.
    Raises FfmpegError (the encode failed or ran past `time_limit`: FfmpegTimeout) or
    AudioFeedError (the sound could not be made). The decoder ends with the encoder: the
    feeder sees the broken pipe and closes its reader, which kills it. `stdout`: handed to
    ffmpeg for an output `pipe:1` (run_ffmpeg)."""
    if plan.audio is None:
        return await run_ffmpeg(
            plan.args,
            expected_duration=plan.expected_duration,
            on_progress=on_progress,
            time_limit=time_limit,
            stdout=stdout,
        )
    read_fd, write_fd = os.pipe()
    stop = threading.Event()
    feeder = asyncio.create_task(
        asyncio.to_thread(feed_edited_audio, plan.audio, write_fd, FfmpegAudioReader, stop)
    )
    try:
        log = await run_ffmpeg(
            plan.args,
            expected_duration=plan.expected_duration,
            on_progress=on_progress,
            stdin=read_fd,  # handed over: closed once ffmpeg has it
            time_limit=time_limit,
            stdout=stdout,
        )
    except BaseException:
        # Cancelled, timed out or failed: the encoder is gone (run_ffmpeg killed it); the feeder
        # stops at its next block or at the broken pipe, and kills the decoder as it goes.
        stop.set()
        with contextlib.suppress(Exception):
            await feeder
        raise
    try:
        written = await feeder
    except OSError as exc:
        raise AudioFeedError(f"piping the edited sound to the encoder failed: {exc}") from exc
    expected = total_samples(plan.audio.pieces)
    if written != expected:
        raise AudioFeedError(f"the encoder took {written} of {expected} audio samples")
    return log


async def run_piped(
    plan: RenderPlan,
    encode_args: list[str],
    *,
    time_limit: float | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> str:
    """`plan` (its sound fed as run_render feeds it) writing raw PCM to a pipe that a second
    ffmpeg, `encode_args`, reads and encodes: filters and encoder on two cores. The first's log.
    Either failing ends the other (a broken pipe, or the end of its input); the error raised is
    the encoder's when it failed, else the first process's. Progress is the encoder's."""
    read_fd, write_fd = os.pipe()
    try:
        encoder = asyncio.create_task(
            run_ffmpeg(
                encode_args,
                stdin=read_fd,
                time_limit=time_limit,
                expected_duration=plan.expected_duration,
                on_progress=on_progress,
            )
        )
    except BaseException:
        os.close(read_fd)
        os.close(write_fd)
        raise
    try:
        log = await run_render(plan, time_limit=time_limit, stdout=write_fd)
    except Exception as exc:
        # A broken pipe is the encoder's failure showing here: report the encoder's own error.
        cause = await _failure_of(encoder)
        if cause is not None:
            raise cause from exc
        raise
    except BaseException:
        encoder.cancel()
        with contextlib.suppress(BaseException):
            await encoder
        raise
    await encoder
    return log


async def _failure_of(encoder: asyncio.Task[str]) -> BaseException | None:
    """The encoder's error, once it ended (its input ended with the other process); None when
    it succeeded. Killed when it does not end within a few seconds."""
    await asyncio.wait({encoder}, timeout=_ENCODER_END_WAIT_SEC)
    if not encoder.done():
        encoder.cancel()
        with contextlib.suppress(BaseException):
            await encoder
        return None
    return None if encoder.cancelled() else encoder.exception()
