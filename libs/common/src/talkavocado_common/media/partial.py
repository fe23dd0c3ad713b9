"""Which bytes of a stored recording ffprobe needs, so a remote object can be probed from a
sparse local file (those bytes at their offsets, holes elsewhere) instead of a full copy.

ffprobe reads a container's header at the start, a few packets after it, and the end (MPEG-TS
and Matroska durations and cues, AVI's index). An MP4 recorded by a camera or OBS keeps its
index (`moov`) at the end, after the media data: it is found by walking the top-level boxes,
a few 16-byte reads, and fetched whole. Holes read as zeros and take no disk space.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

HEAD_BYTES = 8 * 1024 * 1024
TAIL_BYTES = 8 * 1024 * 1024
# An index larger than this is not fetched (hours of video need a few MiB); ffprobe then
# reports the file as unreadable.
MAX_INDEX_BYTES = 128 * 1024 * 1024
# Top-level boxes walked before giving up (a recording has a handful: ftyp, free, mdat, moov).
MAX_BOXES = 64
BOX_HEADER_BYTES = 16

Range = tuple[int, int]
ReadRange = Callable[[int, int], Awaitable[bytes]]


@dataclass(frozen=True)
class Box:
    """One ISO base media (MP4/MOV) box: its type and its bytes [start, end) in the file."""

    kind: bytes
    start: int
    end: int


def parse_box_header(data: bytes, offset: int, file_size: int) -> Box | None:
    """The box whose header starts `data` (read at `offset`), or None when `data` holds no box
    header (too short, a size that cannot be). A box running past the end of the file (a cut-off
    upload) is clipped to it."""
    if len(data) < 8:
        return None
    size, kind = struct.unpack(">I4s", data[:8])
    if size == 1:  # a 64-bit size follows the type
        if len(data) < 16:
            return None
        (size,) = struct.unpack(">Q", data[8:16])
        if size < 16:
            return None
    elif size == 0:  # the box runs to the end of the file
        size = file_size - offset
    elif size < 8:
        return None
    return Box(kind, offset, min(file_size, offset + size))


def merge_ranges(ranges: list[Range], file_size: int) -> list[Range]:
    """`ranges` clipped to the file, sorted, overlapping or touching ones joined."""
    clipped = sorted((max(0, a), min(file_size, b)) for a, b in ranges)
    merged: list[Range] = []
    for start, end in clipped:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def probe_ranges(
    file_size: int, index: Box | None = None, *, head: int = HEAD_BYTES, tail: int = TAIL_BYTES
) -> list[Range]:
    """The byte ranges to copy for ffprobe: the head, the tail and the MP4 index when known."""
    ranges = [(0, head), (file_size - tail, file_size)]
    if index is not None and index.end - index.start <= MAX_INDEX_BYTES:
        ranges.append((index.start, index.end))
    return merge_ranges(ranges, file_size)


async def find_iso_index(read: ReadRange, head: bytes, file_size: int) -> Box | None:
    """The `moov` box of an MP4/MOV file, walking its top-level boxes (`read(start, end)` gives
    the bytes [start, end)); None for any other file or when the walk finds none."""
    if head[4:8] != b"ftyp":
        return None
    offset = 0
    for _ in range(MAX_BOXES):
        if offset + 8 > file_size:
            return None
        end = min(file_size, offset + BOX_HEADER_BYTES)
        header = head[offset:end] if end <= len(head) else await read(offset, end)
        box = parse_box_header(header, offset, file_size)
        if box is None:
            return None
        if box.kind == b"moov":
            return box
        offset = box.end
    return None
