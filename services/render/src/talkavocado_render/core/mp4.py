"""Just enough of ISO BMFF (MP4) to give a joined H.264 track one decoder configuration.

The smart render joins GOPs copied from the source with pieces re-encoded by x264. Each side
keeps its own parameter sets: the source's SPS/PPS ids, and x264's under ids the source does not
use (`sps-id`). Slices name their PPS by id, so one `avcC` that lists every set decodes both
sides: one sample description for the whole track, no parameter set changing under an id.

Pure: bytes in, bytes out. `with_parameter_sets` rewrites the `avcC` of a file whose `moov`
comes last (ffmpeg's MP4 muxer without +faststart); the sample data and its offsets are not
touched, so only the sizes of the boxes holding `avcC` change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

# Payload offset of each box on the way from moov to avcC (stsd is a full box with an entry
# count; avc1 is a visual sample entry: 78 bytes before its child boxes).
_CONTAINERS = {b"moov": 0, b"trak": 0, b"mdia": 0, b"minf": 0, b"stbl": 0, b"stsd": 8, b"avc1": 78}
_AVCC_PATH = (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"avc1", b"avcC")


class Mp4Error(ValueError):
    """The file is not the MP4 the smart render wrote."""


@dataclass(frozen=True)
class AvcConfig:
    """An AVCDecoderConfigurationRecord: header, parameter sets and any trailing extension."""

    profile: int
    compatibility: int
    level: int
    length_size: int
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]
    extension: bytes = b""

    def to_bytes(self) -> bytes:
        if len(self.sps) > 31 or len(self.pps) > 255:
            raise Mp4Error("too many parameter sets for one avcC")
        out = bytearray(
            [1, self.profile, self.compatibility, self.level, 0xFC | (self.length_size - 1)]
        )
        out.append(0xE0 | len(self.sps))
        for nal in self.sps:
            out += len(nal).to_bytes(2, "big") + nal
        out.append(len(self.pps))
        for nal in self.pps:
            out += len(nal).to_bytes(2, "big") + nal
        return bytes(out + self.extension)


def _sets(data: bytes, pos: int, count: int) -> tuple[tuple[bytes, ...], int]:
    sets: list[bytes] = []
    for _ in range(count):
        size = int.from_bytes(data[pos : pos + 2], "big")
        nal = data[pos + 2 : pos + 2 + size]
        if len(nal) != size:
            raise Mp4Error("avcC is truncated")
        sets.append(nal)
        pos += 2 + size
    return tuple(sets), pos


def parse_avcc(data: bytes) -> AvcConfig:
    if len(data) < 7 or data[0] != 1:
        raise Mp4Error("not an AVCDecoderConfigurationRecord")
    sps, pos = _sets(data, 6, data[5] & 0x1F)
    if pos >= len(data):
        raise Mp4Error("avcC is truncated")
    pps, pos = _sets(data, pos + 1, data[pos])
    return AvcConfig(
        profile=data[1],
        compatibility=data[2],
        level=data[3],
        length_size=(data[4] & 0x3) + 1,
        sps=sps,
        pps=pps,
        extension=data[pos:],
    )


def merged(first: AvcConfig, others: Sequence[AvcConfig]) -> AvcConfig:
    """`first` (its header: the source's profile and level) with every other parameter set
    added once, in order. The NAL length size must agree: the samples are not rewritten."""
    sps, pps = list(first.sps), list(first.pps)
    for other in others:
        if other.length_size != first.length_size:
            raise Mp4Error("the pieces use different NAL length sizes")
        sps += [s for s in other.sps if s not in sps]
        pps += [p for p in other.pps if p not in pps]
    config = AvcConfig(
        first.profile,
        first.compatibility,
        first.level,
        first.length_size,
        tuple(sps),
        tuple(pps),
        first.extension,
    )
    check_ids(config)
    return config


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) of each box in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind, header = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8], 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise Mp4Error(f"box {kind!r} overruns its parent")
        yield kind, pos, pos + header, pos + size
        pos += size


def _box(kind: bytes, payload: bytes) -> bytes:
    if len(payload) + 8 > 0xFFFFFFFF:
        raise Mp4Error("box too large")
    return (len(payload) + 8).to_bytes(4, "big") + kind + payload


def _rewrite(
    data: bytes, start: int, end: int, path: Sequence[bytes], change: Callable[[bytes], bytes]
) -> tuple[bytes, int]:
    """data[start:end] with the box at `path` (first match at each level) replaced by
    `change(payload)`, every box on the way resized; and how many boxes were changed."""
    out, changed = bytearray(), 0
    for kind, box_start, payload_start, box_end in _boxes(data, start, end):
        if changed or kind != path[0]:
            out += data[box_start:box_end]
            continue
        if len(path) == 1:
            out += _box(kind, change(data[payload_start:box_end]))
            changed = 1
            continue
        skip = _CONTAINERS[kind]
        inner, changed = _rewrite(data, payload_start + skip, box_end, path[1:], change)
        out += (
            _box(kind, data[payload_start : payload_start + skip] + inner)
            if changed
            else (data[box_start:box_end])
        )
    return bytes(out), changed


def read_avcc(data: bytes) -> AvcConfig:
    """The first video track's decoder configuration."""
    found: list[AvcConfig] = []

    def keep(payload: bytes) -> bytes:
        found.append(parse_avcc(payload))
        return payload

    _rewrite(data, 0, len(data), _AVCC_PATH, keep)
    if not found:
        raise Mp4Error("no avc1/avcC sample description")
    return found[0]


def with_avcc(data: bytes, config: AvcConfig) -> bytes:
    """The file (or its trailing moov box alone) with its avcC replaced by `config`. `moov` must
    be the last box: the sample offsets point before it and stay valid."""
    boxes = list(_boxes(data, 0, len(data)))
    if not boxes or boxes[-1][0] != b"moov":
        raise Mp4Error("moov is not the last box")
    moov_start = boxes[-1][1]
    tail, changed = _rewrite(data, moov_start, len(data), _AVCC_PATH, lambda _: config.to_bytes())
    if not changed:
        raise Mp4Error("no avc1/avcC sample description")
    return data[:moov_start] + tail


def _unescaped(nal: bytes) -> bytes:
    """The NAL unit's payload without emulation prevention bytes (00 00 03 -> 00 00)."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def _ue(data: bytes, bit: int) -> tuple[int, int]:
    """An unsigned Exp-Golomb value at bit offset `bit`; the value and the next offset."""
    zeros = 0
    while not (data[(bit + zeros) // 8] >> (7 - (bit + zeros) % 8)) & 1:
        zeros += 1
        if zeros > 31 or (bit + zeros) // 8 >= len(data):
            raise Mp4Error("malformed Exp-Golomb value")
    bit += zeros + 1
    value = 0
    for _ in range(zeros):
        value = value << 1 | (data[bit // 8] >> (7 - bit % 8)) & 1
        bit += 1
    return (1 << zeros) - 1 + value, bit


def sps_id(nal: bytes) -> int:
    """seq_parameter_set_id of an SPS NAL unit (after header, profile, flags and level)."""
    try:
        return _ue(_unescaped(nal), 32)[0]
    except IndexError:
        raise Mp4Error("truncated SPS") from None


def pps_id(nal: bytes) -> int:
    """pic_parameter_set_id of a PPS NAL unit (right after its header)."""
    try:
        return _ue(_unescaped(nal), 8)[0]
    except IndexError:
        raise Mp4Error("truncated PPS") from None


def free_parameter_set_id(config: AvcConfig) -> int:
    """An id that neither an SPS nor a PPS of `config` uses, for x264's `sps-id` (which numbers
    its SPS and PPS alike): one past the largest."""
    used = [sps_id(s) for s in config.sps] + [pps_id(p) for p in config.pps]
    free = max(used, default=-1) + 1
    if free > 31:
        raise Mp4Error("no free parameter set id")
    return free


def check_ids(config: AvcConfig) -> None:
    """Each id names one parameter set: two different sets under one id would make the
    slices that use it decode against the wrong one."""
    for name, sets, ident in (("SPS", config.sps, sps_id), ("PPS", config.pps, pps_id)):
        ids = [ident(s) for s in sets]
        if len(ids) != len(set(ids)):
            raise Mp4Error(f"two different {name}s share an id")
