"""What a file's first bytes say before ffprobe does (ffprobe picks a demuxer from the extension
and happily reads a .txt as an 'ASCII art' video)."""

from __future__ import annotations


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
