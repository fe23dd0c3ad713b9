"""What a file's first bytes say before ffprobe does (ffprobe picks a demuxer from the extension
and happily reads a .txt as an 'ASCII art' video, or a playlist as the files it names)."""

from __future__ import annotations

import re

# How many bytes of a file the checks below need.
HEAD_BYTES = 4096
# Text formats that make ffmpeg open other files or URLs, by the start of one of their first
# lines (lower-cased): what each is called in a refusal.
_REFERENCE_LINES = (
    ("#extm3u", "an HLS (M3U) playlist"),
    ("ffconcat", "an ffconcat list of files"),
    ("[playlist]", "a PLS playlist"),
    ("<?xml", "an XML manifest"),
    ("<mpd", "a DASH manifest"),
    ("v=0", "an SDP stream description"),
)
# A concat list's `file` directive: `file 'a path'` or `file a-path` (one word, unlike prose).
_CONCAT_FILE_LINE = re.compile(r"""file\s+(['"].*|\S+)""")
# Comment and blank lines may come first (concat lists allow '#' comments).
_LINES_EXAMINED = 32


def looks_like_text(head: bytes) -> bool:
    """Printable UTF-8 with no NUL bytes: a document or a script, never a media file."""
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the sample is still text.
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in text)


def reference_kind(head: bytes) -> str | None:
    """What kind of playlist or file list the text `head` is ("an HLS (M3U) playlist"), or None
    when it is none of those (binary media, or other text)."""
    text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    lines = [line.strip().lower() for line in text.splitlines()[:_LINES_EXAMINED]]
    for line in lines:
        if _CONCAT_FILE_LINE.fullmatch(line):
            return "a concat list of files"
        for start, kind in _REFERENCE_LINES:
            if line.startswith(start):
                return kind
    return None


def reference_refusal(head: bytes) -> str | None:
    """The sentence refusing a file that is a playlist or a list of other files, or None.
    Only text is examined: a binary media file's bytes never count as a playlist."""
    if not looks_like_text(head.removeprefix(b"\xef\xbb\xbf")):
        return None
    kind = reference_kind(head)
    if kind is None:
        return None
    return (
        f"The file is {kind}, which points at other files or addresses, not a recording; "
        "upload the video file itself."
    )
