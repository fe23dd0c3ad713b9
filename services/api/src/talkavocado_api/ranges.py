"""HTTP Range (RFC 9110 §14) for one byte range: pure functions, unit-tested.

A syntactically invalid header is ignored (the whole object is sent, as the RFC allows); a
multi-range request is served whole too (browsers and players ask for one range). A valid range
that starts past the end is unsatisfiable (416). A position of any length is valid: one longer
than 18 digits lies past the end of every object, and is read as such, never converted.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass

_RANGE_RE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")
_MAX_DIGITS = 18  # 10**18 bytes is past the end of any object; int() of more is never needed
_BEYOND = 10**_MAX_DIGITS


class Unsatisfiable(ValueError):
    pass


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range to send, or None for the whole object. Raises Unsatisfiable."""
    if header is None:
        return None
    match = _RANGE_RE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None  # invalid or multi-range: ignore
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        suffix = _position(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable(header)
        return ByteRange(max(0, size - suffix), size - 1)
    start = _position(first)
    end = _position(last) if last else size - 1
    if last and end < start:
        return None  # invalid: ignore
    if start >= size:
        raise Unsatisfiable(header)
    return ByteRange(start, min(end, size - 1))


def _position(digits: str) -> int:
    """A byte position; one too long to be an offset into any object is `_BEYOND`."""
    stripped = digits.lstrip("0") or "0"
    return int(stripped) if len(stripped) <= _MAX_DIGITS else _BEYOND


_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".json": "application/json",
    ".srt": "application/x-subrip; charset=utf-8",
    ".vtt": "text/vtt; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    # Timeline exports (talkavocado_render.core.exports).
    ".otio": "application/json",
    ".fcpxml": "application/xml",
    ".xml": "application/xml",
    ".edl": "text/plain; charset=utf-8",
}


def content_type_for(path: str) -> str:
    dot = path.rfind(".")
    suffix = path[dot:].lower() if dot > path.rfind("/") else ""
    if suffix in _TYPES:
        return _TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"
