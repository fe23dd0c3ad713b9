"""ffmpeg / ffprobe as subprocesses with argument lists (never a shell string), every input of
user media confined by one allowlist (allowlist.py)."""

from .allowlist import (
    IMAGE_DEMUXERS,
    LOGO_DEMUXERS,
    RECORDING_DEMUXERS,
    format_allowed,
    input_args,
    restrict,
)
from .ffmpeg import FfmpegError, FfmpegNotInstalled, FfmpegTimeout, media_time_limit, run_ffmpeg
from .probe import (
    FormatRefused,
    MediaInfo,
    ProbeError,
    ProbeTimeout,
    StreamInfo,
    parse_probe,
    probe,
)

__all__ = [
    "IMAGE_DEMUXERS",
    "LOGO_DEMUXERS",
    "RECORDING_DEMUXERS",
    "FfmpegError",
    "FfmpegNotInstalled",
    "FfmpegTimeout",
    "FormatRefused",
    "MediaInfo",
    "ProbeError",
    "ProbeTimeout",
    "StreamInfo",
    "format_allowed",
    "input_args",
    "media_time_limit",
    "parse_probe",
    "probe",
    "restrict",
    "run_ffmpeg",
]
