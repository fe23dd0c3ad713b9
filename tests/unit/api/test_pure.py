"""Pure parts: key ring, cursors, media decisions, SSE framing, correlation ids."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from talkavocado_api import ApiSettings
from talkavocado_api.auth import ApiKeyRing, KeyConfigError, Principal, load_keyring
from talkavocado_api.context import accept_correlation_id, accept_traceparent
from talkavocado_api.errors import InvalidRequest
from talkavocado_api.media_check import (
    NO_AUDIO,
    NO_VIDEO,
    explain_unreadable,
    media_problem,
)
from talkavocado_api.service import (
    check_idempotency_key,
    decode_cursor,
    encode_cursor,
    sse_frame,
)
from talkavocado_common.events import JobRetryRequested, new_event
from talkavocado_common.media import MediaInfo, StreamInfo
from talkavocado_common.media.sniff import looks_like_text

KEY = "a-long-enough-secret-key"


def test_keyring_keeps_only_digests_and_finds_the_tenant() -> None:
    ring = ApiKeyRing.parse(
        [f"tenant-a:{KEY}", "", "# comment", "tenant-b:other-key-0123456789"], source="t"
    )
    assert len(ring) == 2
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    assert ring.authenticate(KEY) == Principal("tenant-a", digest[:12])
    assert ring.authenticate("other-key-0123456789") is not None
    assert ring.authenticate(KEY + "x") is None
    assert ring.authenticate("") is None
    assert KEY not in repr(ring.__dict__)


def test_prehashed_keys_and_keys_with_colons() -> None:
    digest = hashlib.sha256(b"k:with:colons-0123456789").hexdigest()
    ring = ApiKeyRing.parse(
        [f"t1:sha256:{digest.upper()}", "t2:k:with:colons-0123456789"], source="t"
    )
    assert ring.authenticate("k:with:colons-0123456789") == Principal("t2", digest[:12])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("no-separator", "expected tenant:key"),
        ("Tenant:0123456789abcdef", "invalid tenant id"),
        ("t:short", "at least 16 characters"),
        ("t:", "expected tenant:key"),
    ],
)
def test_bad_key_entries_name_the_entry_not_the_key(line: str, message: str) -> None:
    with pytest.raises(KeyConfigError, match=message) as caught:
        ApiKeyRing.parse(["# header", line], source="API_KEYS")
    assert "entry 2" in str(caught.value)
    assert "0123456789abcdef" not in str(caught.value)


def test_no_keys_at_all_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyConfigError, match="no API keys configured"):
        load_keyring(ApiSettings(keys=""))
    with pytest.raises(KeyConfigError, match="cannot read it"):
        load_keyring(ApiSettings(keys="", keys_file=tmp_path / "missing"))


def test_cursor_round_trip_and_garbage() -> None:
    job_id = "01a22273e19e-15f3d52ed4c6c3b7"
    assert decode_cursor(encode_cursor(job_id)) == job_id
    for bad in ("%%%", encode_cursor("../x"), encode_cursor("")):
        with pytest.raises(InvalidRequest):
            decode_cursor(bad)


def test_idempotency_key_check() -> None:
    assert check_idempotency_key(None) is None
    assert check_idempotency_key("abc-123") == "abc-123"
    for bad in ("", "x" * 256, "tab\there", "ünï"):
        with pytest.raises(InvalidRequest):
            check_idempotency_key(bad)


VIDEO = StreamInfo(index=0, codec_type="video", codec_name="h264", width=2, height=2)
AUDIO = StreamInfo(index=1, codec_type="audio", codec_name="aac")
COVER = StreamInfo(index=2, codec_type="video", codec_name="mjpeg", attached_pic=True)


@pytest.mark.parametrize(
    ("streams", "duration", "problem"),
    [
        ((VIDEO, AUDIO), 3.0, None),
        ((VIDEO,), 3.0, NO_AUDIO),
        ((AUDIO,), 3.0, NO_VIDEO),
        ((AUDIO, COVER), 3.0, NO_VIDEO),  # a song with cover art is not a video
        ((), None, "It holds no audio or video stream."),
        ((VIDEO, AUDIO), 0.0, "The recording is empty"),
    ],
)
def test_media_problem(
    streams: tuple[StreamInfo, ...], duration: float | None, problem: str | None
) -> None:
    found = media_problem(MediaInfo("mp4", duration, 10, streams))
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_unreadable_explanations() -> None:
    assert looks_like_text("héllo wörld\n".encode())
    assert looks_like_text("cut in the middle é".encode()[:-1])
    assert not looks_like_text(b"\x00\x00\x00\x18ftypmp42")
    assert not looks_like_text(b"")
    assert "contains text" in explain_unreadable(b"hello")
    assert "MP4, MOV" in explain_unreadable(b"\x00\x01")


def test_sse_frame_is_one_event_on_one_data_line() -> None:
    event = new_event(
        "job.retry-requested",
        JobRetryRequested(job_id="j1", tenant_id="t", env="e"),
        source="s",
        subject="j1",
        tenant_id="t",
        correlation_id="c\nfake: header",
    )
    frame = sse_frame(event)
    assert frame.startswith(f"id: {event.id}\nevent: job.retry-requested\ndata: {{")
    assert frame.endswith("}\n\n")
    assert frame.count("\n") == 4


def test_correlation_and_trace_headers() -> None:
    assert accept_correlation_id("abc-123_x.y:z") == "abc-123_x.y:z"
    assert len(accept_correlation_id(None)) == 32
    assert accept_correlation_id("x" * 129) != "x" * 129
    assert accept_correlation_id("evil\r\nheader") != "evil\r\nheader"
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert accept_traceparent(trace.upper()) == trace
    assert accept_traceparent("garbage") is None
