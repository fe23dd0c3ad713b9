"""ffprobe: what a media file holds. `parse_probe` is pure and unit-tested."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

FFPROBE = "ffprobe"


class ProbeError(RuntimeError):
    """ffprobe could not read the file as media."""


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


async def probe(path: Path, *, binary: str = FFPROBE) -> MediaInfo:
    if shutil.which(binary) is None:
        raise ProbeError(f"{binary} is not installed or not on PATH")
    proc = await asyncio.create_subprocess_exec(
        binary,
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        message = err.decode(errors="replace").strip().splitlines()
        raise ProbeError(message[-1] if message else f"ffprobe exited with {proc.returncode}")
    try:
        return parse_probe(json.loads(out or b"{}"))
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise ProbeError(f"unreadable ffprobe output: {exc}") from exc
