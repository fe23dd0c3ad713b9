"""Reading whether a picture is a reference from the start of its MP4 sample (core/nal.py)."""

from __future__ import annotations

import pytest

from talkavocado_render.core.nal import is_reference


def nal(header: int, payload: bytes = b"\x88\x84") -> bytes:
    body = bytes([header]) + payload
    return len(body).to_bytes(4, "big") + body


SEI = nal(0x06, b"\x05" * 700)
AUD = nal(0x09, b"\xf0")
P_SLICE = nal(0x41)  # nal_ref_idc 2, type 1
B_SLICE = nal(0x01)  # nal_ref_idc 0, type 1
IDR_SLICE = nal(0x65)  # nal_ref_idc 3, type 5


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (P_SLICE, True),
        (B_SLICE, False),
        (IDR_SLICE, True),
        # after an SEI and an access unit delimiter, as encoders write them
        (SEI + IDR_SLICE, True),
        (AUD + B_SLICE, False),
        (AUD + SEI + B_SLICE + B_SLICE, False),
    ],
)
def test_the_first_slice_says(sample: bytes, expected: bool) -> None:
    assert is_reference(sample, len(sample)) is expected


def test_only_the_head_of_a_long_sample_is_needed() -> None:
    sample = B_SLICE[:4] + B_SLICE[4:] + b"\x00" * 10_000
    # The slice's length says 3 bytes; the sample goes on (a second slice, say).
    assert is_reference(sample[:64], len(sample)) is False


@pytest.mark.parametrize(
    ("sample", "size"),
    [
        (b"", 0),
        (SEI, len(SEI)),  # no slice at all
        (SEI[:100], len(SEI) + len(P_SLICE)),  # the slice lies past the head read
        (b"\x00\x00\x00\x00" + P_SLICE, 4 + len(P_SLICE)),  # a zero length
        (nal(0x41)[:4] + b"\xc1\x88", 6),  # the forbidden bit
        (b"\x00\x00\x00\x09\x41\x88", 6),  # a length past the sample's end
        (nal(0x42) + P_SLICE, 2 * len(P_SLICE)),  # data partitioning (type 2)
        (nal(0x0E) + P_SLICE, 2 * len(P_SLICE)),  # an SVC prefix (type 14)
        (b"\x00\x00\x01\x65\x88\x84", 6),  # Annex B start codes, not lengths
    ],
)
def test_anything_unexpected_is_unknown(sample: bytes, size: int) -> None:
    assert is_reference(sample, size) is None


def test_other_length_sizes() -> None:
    short = (3).to_bytes(2, "big") + b"\x01\x88\x84"
    assert is_reference(short, len(short), length_size=2) is False
