"""Which demuxers and protocols ffmpeg and ffprobe may use on user-supplied media. One list, in
one place, used by every run (the upload probe, audio extraction, the render and its branding
assets, the render's audio decoder).

Why: ffmpeg picks a demuxer from a file's content, and some demuxers are not containers but
references to other data. An HLS playlist (`#EXTM3U`), a concat/ffconcat list, an image2 pattern
(`img%03d.png`), SDP, IMF and DASH manifests make ffmpeg open the files or URLs named inside
them. A text file named `talk.mp4` holding `#EXTM3U` and an absolute path renders *that* file
(with local storage: another tenant's input) into the uploader's video. So every input gets:

- `-protocol_whitelist file,pipe`: no network, no `concat:`/`subfile:`/`data:` URLs.
- `-format_whitelist <containers>`: ffmpeg still detects the format by content, then refuses
  to open it ("Format not on whitelist") unless the demuxer is on the list.

The list holds self-contained containers only: each file carries its own samples and ffmpeg
never follows a reference in them (mov's external data references stay off, its default).
- Recordings: MP4/MOV (phones, cameras, OBS), Matroska/WebM (browsers, OBS), AVI, MPEG-TS and
  FLV (older recorders and streaming tools). Audio-only files (WAV, MP3, Ogg, FLAC, ADTS AAC)
  are readable containers too; the checks on top refuse what lacks picture or sound.
- Images (a logo only): `png_pipe` and `jpeg_pipe`, the content-detected single-image
  demuxers. Not `image2`: that one expands `%d` patterns and globs into sequences of files.

Each demuxer is listed with all its aliases ("mov,mp4,m4a,3gp,3g2,mj2"), as ffprobe reports
its `format_name`: ffmpeg matches the list entry by entry, so the list works whether a version
compares the whole name or each alias.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

# Demuxer names exactly as `ffmpeg -demuxers` and ffprobe's `format_name` spell them.
RECORDING_DEMUXERS: tuple[str, ...] = (
    "mov,mp4,m4a,3gp,3g2,mj2",
    "matroska,webm",
    "avi",
    "mpegts",
    "flv",
    "wav",
    "mp3",
    "ogg",
    "flac",
    "aac",
)
IMAGE_DEMUXERS: tuple[str, ...] = ("png_pipe", "jpeg_pipe")
# A logo may be a still image or a (short) video.
LOGO_DEMUXERS: tuple[str, ...] = RECORDING_DEMUXERS + IMAGE_DEMUXERS
PROTOCOLS: tuple[str, ...] = ("file", "pipe")

ACCEPTED_FORMATS_TEXT = "MP4, MOV, MKV, WebM, AVI, MPEG-TS or FLV"


def _names(demuxers: Sequence[str]) -> list[str]:
    """Every alias of every demuxer, in order, once."""
    names: list[str] = []
    for demuxer in demuxers:
        names += [n for n in demuxer.split(",") if n and n not in names]
    return names


def whitelist(demuxers: Sequence[str] = RECORDING_DEMUXERS) -> str:
    """The value of `-format_whitelist` for these demuxers."""
    return ",".join(_names(demuxers))


def restrict(
    demuxers: Sequence[str] = RECORDING_DEMUXERS, protocols: Sequence[str] = PROTOCOLS
) -> list[str]:
    """The input options that confine the next `-i` (or ffprobe's one input) to `demuxers` and
    `protocols`. ffmpeg's whitelists are per input: they go before each `-i`."""
    return [
        "-protocol_whitelist",
        ",".join(protocols),
        "-format_whitelist",
        whitelist(demuxers),
    ]


def input_args(
    url: str | Path,
    *options: str,
    demuxers: Sequence[str] = RECORDING_DEMUXERS,
    protocols: Sequence[str] = PROTOCOLS,
) -> list[str]:
    """`-i url` for ffmpeg, preceded by the allowlist and then the input's own `options`."""
    return [*restrict(demuxers, protocols), *options, "-i", str(url)]


def format_allowed(format_name: str, demuxers: Sequence[str] = RECORDING_DEMUXERS) -> bool:
    """Is ffprobe's `format_name` (a demuxer's comma-separated aliases) one of `demuxers`?
    Any alias in common counts, the way ffmpeg itself matches its whitelist."""
    allowed = set(_names(demuxers))
    return any(name in allowed for name in format_name.split(",") if name)
