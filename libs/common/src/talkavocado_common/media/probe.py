"""ffprobe: what a media file holds. `parse_probe` is pure and unit-tested."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from .allowlist import ACCEPTED_FORMATS_TEXT, RECORDING_DEMUXERS, format_allowed, restrict
from .process import stop_process

FFPROBE = "ffprobe"


class ProbeError(RuntimeError):
    """ffprobe could not read the file as media."""


class FormatRefused(ProbeError):
    """The file's format is not on the allowlist (allowlist.py): not a self-contained recording."""


class ProbeTimeout(ProbeError):
    """ffprobe did not finish within its time limit (and was killed)."""


# A sound file is read in well under a second; a file that takes longer is built to stall.
PROBE_TIMEOUT_SECONDS = 60.0
REFUSED_FORMAT = (
    "The file is not a recording in a format TalkAvocado reads "
    f"({ACCEPTED_FORMATS_TEXT}); playlists, lists of files and image sequences are refused. "
    "Upload the video file itself."
)
# What ffmpeg logs when an allowlist stops it.
_REFUSAL_MARKERS = ("not on whitelist",)


@dataclass(frozen=True)
class StreamInfo:
    index: int
    codec_type: str
    codec_name: str
    width: int | None = None
    height: int | None = None
    frame_rate: Fraction | None = None
    sample_rate: int | None = None
    channels: int | None = None
    duration: float | None = None
    attached_pic: bool = False


@dataclass(frozen=True)
class MediaInfo:
    format_name: str
    duration: float | None
    size: int | None
    streams: tuple[StreamInfo, ...]

    @property
    def video(self) -> StreamInfo | None:
        return next(
            (s for s in self.streams if s.codec_type == "video" and not s.attached_pic), None
        )

    @property
    def audio(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.codec_type == "audio"), None)


def _fraction(text: Any) -> Fraction | None:
    try:
        value = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _float(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _int(text: Any) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def parse_probe(document: dict[str, Any]) -> MediaInfo:
    streams: list[StreamInfo] = []
    for raw in document.get("streams", []):
        frame_rate = _fraction(raw.get("avg_frame_rate")) or _fraction(raw.get("r_frame_rate"))
        streams.append(
            StreamInfo(
                index=int(raw.get("index", len(streams))),
                codec_type=str(raw.get("codec_type", "")),
                codec_name=str(raw.get("codec_name", "")),
                width=_int(raw.get("width")),
                height=_int(raw.get("height")),
                frame_rate=frame_rate if raw.get("codec_type") == "video" else None,
                sample_rate=_int(raw.get("sample_rate")),
                channels=_int(raw.get("channels")),
                duration=_float(raw.get("duration")),
                attached_pic=bool(raw.get("disposition", {}).get("attached_pic", 0)),
            )
        )
    fmt = document.get("format", {})
    return MediaInfo(
        format_name=str(fmt.get("format_name", "")),
        duration=_float(fmt.get("duration")),
        size=_int(fmt.get("size")),
        streams=tuple(streams),
    )


async def probe(
    path: Path,
    *,
    binary: str = FFPROBE,
    demuxers: Sequence[str] = RECORDING_DEMUXERS,
    time_limit: float | None = PROBE_TIMEOUT_SECONDS,
) -> MediaInfo:
    """What `path` holds, read by ffprobe confined to `demuxers` and local files (allowlist.py).

    Raises FormatRefused for a file whose format is not on the list (a playlist, a list of
    files, an image sequence), ProbeTimeout past `time_limit` seconds, ProbeError otherwise.
    ffprobe is killed when the limit is hit or the awaiting task is cancelled."""
    if shutil.which(binary) is None:
        raise ProbeError(f"{binary} is not installed or not on PATH")
    proc = await asyncio.create_subprocess_exec(
        *probe_command(path, binary=binary, demuxers=demuxers),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(time_limit):
            out, err = await proc.communicate()
    except TimeoutError:
        raise ProbeTimeout(f"reading the file took longer than {time_limit:g} s") from None
    finally:
        await stop_process(proc)
    if proc.returncode != 0:
        raise probe_failure(err.decode(errors="replace"), proc.returncode)
    try:
        info = parse_probe(json.loads(out or b"{}"))
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise ProbeError(f"unreadable ffprobe output: {exc}") from exc
    if not format_allowed(info.format_name, demuxers):
        raise FormatRefused(REFUSED_FORMAT)  # the list in argv already stops this; belt and braces
    return info


def probe_command(
    path: Path, *, binary: str = FFPROBE, demuxers: Sequence[str] = RECORDING_DEMUXERS
) -> list[str]:
    """ffprobe's argv: JSON of the format and streams of one input, confined by the allowlist."""
    return [
        binary,
        "-v",
        "error",
        *restrict(demuxers),
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        str(path),
    ]


def probe_failure(stderr: str, returncode: int | None) -> ProbeError:
    """The error for a failed ffprobe run, from its log: FormatRefused when the allowlist
    stopped it (the demuxer or a protocol it wanted is not allowed)."""
    if any(marker in stderr for marker in _REFUSAL_MARKERS):
        return FormatRefused(REFUSED_FORMAT)
    lines = stderr.strip().splitlines()
    return ProbeError(lines[-1] if lines else f"ffprobe exited with {returncode}")
