"""Run ffmpeg asynchronously, following its progress, keeping the tail of its log for errors."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections import deque
from collections.abc import Callable, Sequence

FFMPEG = "ffmpeg"


class FfmpegNotInstalled(RuntimeError):
    pass


class FfmpegError(RuntimeError):
    def __init__(self, returncode: int, stderr_tail: str) -> None:
        super().__init__(f"ffmpeg exited with {returncode}: {stderr_tail}")
        self.returncode = returncode
        self.stderr_tail = stderr_tail


def parse_progress_seconds(line: str) -> float | None:
    """From ffmpeg's `-progress` key=value lines, the output position in seconds."""
    key, _, value = line.partition("=")
    if key in ("out_time_us", "out_time_ms"):  # both are microseconds (ffmpeg quirk)
        with contextlib.suppress(ValueError):
            return max(0.0, int(value) / 1_000_000)
    return None


async def run_ffmpeg(
    args: Sequence[str],
    *,
    expected_duration: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    binary: str = FFMPEG,
    stdin: int | None = None,
) -> str:
    """Run `ffmpeg <args>`; returns its stderr log. Raises FfmpegError on failure.

    Progress (0..1) is reported when an expected output duration is known. `stdin`: the read
    end of a pipe that ffmpeg reads as `pipe:0`, handed over: it is closed here once ffmpeg has
    it, so the writer sees EPIPE when ffmpeg is gone (default: no stdin).
    """
    if shutil.which(binary) is None:
        if stdin is not None:
            os.close(stdin)  # handed over, even when nothing could read it
        raise FfmpegNotInstalled(f"{binary} is not installed or not on PATH")
    cmd = [binary, "-hide_banner", "-nostdin", "-nostats", "-y"]
    if on_progress is not None and expected_duration:
        cmd += ["-progress", "pipe:1"]
    cmd += list(args)
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL if stdin is None else stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        if stdin is not None:
            os.close(stdin)
    assert proc.stdout is not None
    assert proc.stderr is not None
    log: deque[str] = deque(maxlen=4000)

    async def read_stderr() -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            log.append(raw.decode(errors="replace").rstrip())

    async def read_progress() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            seconds = parse_progress_seconds(raw.decode(errors="replace").strip())
            if seconds is not None and on_progress is not None and expected_duration:
                on_progress(min(1.0, seconds / expected_duration))

    try:
        await asyncio.gather(read_stderr(), read_progress())
        returncode = await proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    text = "\n".join(log)
    if returncode != 0:
        tail = "\n".join(list(log)[-12:])
        raise FfmpegError(returncode, tail)
    return text
