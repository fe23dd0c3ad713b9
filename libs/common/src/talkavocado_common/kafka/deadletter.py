"""Dead letters: a record that could not be decoded or validated, kept with the reason (§3)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

from ..events import CloudEvent, DeadLetter, new_event
from .headers import CORRELATION_HEADER, TRACEPARENT_HEADER, header, trace_id

# Keep dead letters well under the broker's default 1 MB message limit (base64 adds a third).
MAX_PAYLOAD_BYTES = 256 * 1024
DEAD_LETTER_TYPE = "dlq.dead-letter"
UNKNOWN = "unknown"


def _text_or_base64(data: bytes) -> tuple[str, bool]:
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), True


def _raw_attribute(value: bytes | None, name: str) -> str | None:
    """An envelope attribute from a message that may be anything (best effort, never raises)."""
    try:
        raw = json.loads(value or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    found = raw.get(name) if isinstance(raw, dict) else None
    return found if isinstance(found, str) and found else None


def dead_letter_event(
    *,
    reason: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] = (),
    consumer_group: str,
    source: str,
) -> CloudEvent:
    """The `dlq.dead-letter` event for one refused record.

    The payload is kept as text when it is UTF-8, else base64; beyond MAX_PAYLOAD_BYTES it is
    cut and the reason says so. Subject, tenant, correlation id and trace context are taken
    from the record when it has them (key, headers, envelope attributes), else `unknown`/new.
    """
    data = value or b""
    if len(data) > MAX_PAYLOAD_BYTES:
        reason = f"{reason} (payload of {len(data)} bytes cut to {MAX_PAYLOAD_BYTES})"
        data = data[:MAX_PAYLOAD_BYTES]
    payload, is_base64 = _text_or_base64(data)
    key_text = None if key is None else _text_or_base64(key)[0]
    letter = DeadLetter(
        reason=reason,
        topic=topic,
        partition=partition,
        offset=offset,
        key=key_text,
        payload=payload,
        payload_encoding="base64" if is_base64 else "utf-8",
        consumer=consumer_group,
    )
    traceparent = header(headers, TRACEPARENT_HEADER) or _raw_attribute(value, "traceparent")
    return new_event(
        DEAD_LETTER_TYPE,
        letter,
        source=source,
        subject=key_text or _raw_attribute(value, "subject") or UNKNOWN,
        tenant_id=_raw_attribute(value, "tenantid") or UNKNOWN,
        correlation_id=header(headers, CORRELATION_HEADER)
        or _raw_attribute(value, "correlationid"),
        traceparent=traceparent if trace_id(traceparent) else None,  # only a well-formed one
    )
