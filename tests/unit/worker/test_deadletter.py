"""Dead letters keep the record, the reason and whatever identity the record had."""

from __future__ import annotations

import base64
import json

from talkavocado_common.events import DeadLetter, decode, encode
from talkavocado_common.kafka import dead_letter_event, event_headers
from talkavocado_common.kafka.deadletter import MAX_PAYLOAD_BYTES

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def letter(**kw: object) -> tuple[object, DeadLetter]:
    values: dict[str, object] = {
        "reason": "not JSON: x",
        "topic": "p.steps.audio",
        "partition": 2,
        "offset": 7,
        "key": b"job-1",
        "value": b"hello",
        "consumer_group": "talkavocado.audio",
        "source": "/talkavocado/audio",
        **kw,
    }
    event = dead_letter_event(**values)  # type: ignore[arg-type]
    decoded, payload = decode(encode(event))  # a valid event on the dlq
    assert isinstance(payload, DeadLetter)
    return decoded, payload


def test_text_payload_and_identity_from_key_and_headers() -> None:
    event, dl = letter(headers=[("x-correlation-id", b"corr-1"), ("traceparent", TRACE.encode())])
    assert (dl.payload, dl.payload_encoding, dl.key) == ("hello", "utf-8", "job-1")
    assert (dl.topic, dl.partition, dl.offset, dl.consumer) == (
        "p.steps.audio",
        2,
        7,
        "talkavocado.audio",
    )
    assert event.subject == "job-1"  # type: ignore[attr-defined]
    assert event.correlationid == "corr-1"  # type: ignore[attr-defined]
    assert event.traceparent == TRACE  # type: ignore[attr-defined]
    assert event.tenantid == "unknown"  # type: ignore[attr-defined]


def test_binary_payload_is_base64() -> None:
    _, dl = letter(value=b"\xff\x00\x80", key=None)
    assert dl.payload_encoding == "base64"
    assert base64.b64decode(dl.payload) == b"\xff\x00\x80"
    assert dl.key is None


def test_envelope_attributes_are_used_when_the_data_is_what_failed() -> None:
    raw = {"subject": "job-9", "tenantid": "acme", "correlationid": "c9", "traceparent": "bad"}
    event, _ = letter(value=json.dumps(raw).encode(), key=None)
    assert (event.subject, event.tenantid, event.correlationid) == ("job-9", "acme", "c9")  # type: ignore[attr-defined]
    assert event.traceparent is None  # type: ignore[attr-defined]  # malformed: dropped


def test_huge_payload_is_cut_and_the_reason_says_so() -> None:
    _, dl = letter(value=b"a" * (MAX_PAYLOAD_BYTES + 10))
    assert len(dl.payload) == MAX_PAYLOAD_BYTES
    assert "cut to" in dl.reason


def test_tombstone() -> None:
    _, dl = letter(value=None, reason="empty message (tombstone)")
    assert (dl.payload, dl.payload_encoding) == ("", "utf-8")


def test_event_headers() -> None:
    event, _ = letter()
    headers = dict(event_headers(event))  # type: ignore[arg-type]
    assert headers["ce_type"] == b"dlq.dead-letter"
    assert headers["x-correlation-id"] == event.correlationid.encode()  # type: ignore[attr-defined]
    assert "traceparent" not in headers
