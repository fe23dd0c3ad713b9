"""ffmpeg / ffprobe as subprocesses with argument lists (never a shell string)."""

from .ffmpeg import FfmpegError, FfmpegNotInstalled, run_ffmpeg
from .probe import MediaInfo, ProbeError, StreamInfo, parse_probe, probe

__all__ = [
    "FfmpegError",
    "FfmpegNotInstalled",
    "MediaInfo",
    "ProbeError",
    "StreamInfo",
    "parse_probe",
    "probe",
    "run_ffmpeg",
]
