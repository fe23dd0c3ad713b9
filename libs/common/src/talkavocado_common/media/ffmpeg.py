"""Run ffmpeg asynchronously, following its progress, keeping the tail of its log for errors."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections import deque
from collections.abc import Callable, Sequence

from .process import stop_process

FFMPEG = "ffmpeg"


class FfmpegNotInstalled(RuntimeError):
    pass


class FfmpegError(RuntimeError):
    def __init__(self, returncode: int, stderr_tail: str) -> None:
        super().__init__(f"ffmpeg exited with {returncode}: {stderr_tail}")
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class FfmpegTimeout(FfmpegError):
    """ffmpeg ran past its time limit and was killed."""

    def __init__(self, limit: float, stderr_tail: str) -> None:
        RuntimeError.__init__(self, f"ffmpeg ran longer than {limit:g} s and was stopped")
        self.returncode = -9
        self.stderr_tail = stderr_tail
        self.limit = limit


def media_time_limit(
    media_seconds: float | None, *, floor: float, per_media_second: float
) -> float:
    """A run's time limit: `floor` seconds, or `per_media_second` for each second of media when
    that is longer. A backstop against input built to make ffmpeg spin, far above a normal run
    (the step's own deadline is the orchestrator's business)."""
    if media_seconds is None or not media_seconds > 0:
        return floor
    return max(floor, per_media_second * media_seconds)


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
    time_limit: float | None = None,
    stdout: int | None = None,
) -> str:
    """Run `ffmpeg <args>`; returns its stderr log. Raises FfmpegError on failure.

    Progress (0..1) is reported when an expected output duration is known. `stdin`: the read
    end of a pipe that ffmpeg reads as `pipe:0`, handed over: it is closed here once ffmpeg has
    it, so the writer sees EPIPE when ffmpeg is gone (default: no stdin). `stdout`: likewise
    the write end of a pipe for an output `pipe:1` (another process reads it, which sees the
    end of its input when ffmpeg is gone); progress is then not reported (it uses stdout).

    ffmpeg is killed (SIGKILL, then reaped) when `time_limit` seconds pass (FfmpegTimeout) or the
    awaiting task is cancelled (CancelledError re-raised): it never outlives its run. Inputs
    from users go in with `allowlist.input_args`.
    """
    if shutil.which(binary) is None:
        _release(stdin)  # handed over, even when nothing could read it
        _release(stdout)
        raise FfmpegNotInstalled(f"{binary} is not installed or not on PATH")
    report = _fraction_reporter(expected_duration, on_progress) if stdout is None else None
    proc = await _start(_command(binary, args, progress=report is not None), stdin, stdout)
    log: deque[str] = deque(maxlen=4000)
    try:
        async with asyncio.timeout(time_limit):
            returncode = await _wait(proc, log, report)
    except TimeoutError:
        assert time_limit is not None  # no limit, no timeout
        raise FfmpegTimeout(time_limit, "\n".join(list(log)[-12:])) from None
    if returncode != 0:
        raise FfmpegError(returncode, "\n".join(list(log)[-12:]))
    return "\n".join(log)


def _release(fd: int | None) -> None:
    """Close a handed-over file descriptor, if there is one."""
    if fd is not None:
        os.close(fd)


def _fraction_reporter(
    expected_duration: float | None, on_progress: Callable[[float], None] | None
) -> Callable[[float], None] | None:
    """`on_progress` fed output seconds as a fraction of the expected duration; None when either
    is missing (no duration: no fraction to report)."""
    if on_progress is None or not expected_duration:
        return None
    report, duration = on_progress, expected_duration

    def fraction(seconds: float) -> None:
        report(min(1.0, seconds / duration))

    return fraction


def _command(binary: str, args: Sequence[str], *, progress: bool) -> list[str]:
    cmd = [binary, "-hide_banner", "-nostdin", "-nostats", "-y"]
    if progress:
        cmd += ["-progress", "pipe:1"]
    return cmd + list(args)


async def _start(
    cmd: Sequence[str], stdin: int | None, stdout: int | None
) -> asyncio.subprocess.Process:
    """Start ffmpeg; the handed-over `stdin` and `stdout` are closed here once ffmpeg holds its
    own copies."""
    try:
        return await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.DEVNULL if stdin is None else stdin,
            stdout=asyncio.subprocess.PIPE if stdout is None else stdout,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        _release(stdin)
        _release(stdout)


async def _wait(
    proc: asyncio.subprocess.Process,
    log: deque[str],
    report: Callable[[float], None] | None,
) -> int:
    """ffmpeg's exit status once both pipes are drained (stderr into `log`); if waiting is
    interrupted (cancelled, or a reader failed), ffmpeg is killed so it never outlives its run."""
    assert proc.stderr is not None
    readers = [_collect_log(proc.stderr, log)]
    if proc.stdout is not None:  # not handed to another process
        readers.append(_follow_progress(proc.stdout, report))
    try:
        await asyncio.gather(*readers)
        return await proc.wait()
    except BaseException:
        await stop_process(proc)
        raise


async def _collect_log(stream: asyncio.StreamReader, log: deque[str]) -> None:
    async for raw in stream:
        log.append(raw.decode(errors="replace").rstrip())


async def _follow_progress(
    stream: asyncio.StreamReader, report: Callable[[float], None] | None
) -> None:
    """Read `-progress` lines to the end (whether reported or not) and report each position."""
    async for raw in stream:
        seconds = parse_progress_seconds(raw.decode(errors="replace").strip())
        if seconds is not None and report is not None:
            report(seconds)
