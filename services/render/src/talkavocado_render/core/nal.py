"""Whether an H.264 picture is a reference, read from the start of its sample (pure).

An MP4 sample (avcC) is a run of NAL units, each after its length (4 bytes in the sources the
smart render takes). The first slice's header byte holds nal_ref_idc: 0 for a picture no other
picture predicts from (H.264 7.4.1: every slice of a picture has the same). Such a picture shown
before a re-encoded edge is decoded for nothing: the smart render leaves it out of what the edge
encode reads (core/smart.py, `read_drops`).

Anything unexpected is "unknown" (None), and an unknown picture is kept: a wrong "not a
reference" would break the frames predicted from it, a wrong "unknown" only costs a decode.
"""

from __future__ import annotations

# Where the first slice NAL unit is looked for: x264 puts a ~700-byte SEI before the first
# frame's slice, and an access unit delimiter or a short SEI before others.
HEAD_BYTES = 4096
_SLICE_TYPES = (1, 5)  # a non-IDR and an IDR picture's slice (no data partitioning)
_NON_VCL_TYPES = (6, 7, 8, 9, 10, 11, 12, 13)  # SEI, SPS, PPS, AUD, end of seq/stream, filler


def is_reference(head: bytes, sample_size: int, length_size: int = 4) -> bool | None:
    """nal_ref_idc != 0 of the first slice in a sample of `sample_size` bytes that starts with
    `head`; None when `head` does not show it plainly (no slice within it, a NAL unit's length
    running past the sample, a forbidden bit set, a NAL unit type other than slices and the
    usual non-VCL ones before them)."""
    position = 0
    while position + length_size < min(len(head), sample_size):
        length = int.from_bytes(head[position : position + length_size], "big")
        if length == 0 or position + length_size + length > sample_size:
            return None
        header = head[position + length_size]
        kind = header & 0x1F
        if header & 0x80:
            return None
        if kind in _SLICE_TYPES:
            return bool(header & 0x60)
        if kind not in _NON_VCL_TYPES:
            return None
        position += length_size + length
    return None
