"""Kafka record headers of an event and W3C trace context helpers.

The envelope already carries `correlationid` and `traceparent`; the same values travel as record
headers too, so tools and consumers can route, filter and trace without parsing the value.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence

from ..events import CloudEvent

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
CORRELATION_HEADER = "x-correlation-id"
TRACEPARENT_HEADER = "traceparent"

Headers = list[tuple[str, bytes]]

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def event_headers(event: CloudEvent) -> Headers:
    """`content-type`, `ce_id`, `ce_type`, `ce_tenantid`, `x-correlation-id`, `traceparent`."""
    headers: Headers = [
        ("content-type", CONTENT_TYPE.encode()),
        ("ce_id", event.id.encode()),
        ("ce_type", event.type.encode()),
        ("ce_tenantid", event.tenantid.encode()),
        (CORRELATION_HEADER, event.correlationid.encode()),
    ]
    if event.traceparent:
        headers.append((TRACEPARENT_HEADER, event.traceparent.encode()))
    return headers


def header(headers: Iterable[tuple[str, bytes]] | None, name: str) -> str | None:
    """The last value of header `name` (case-insensitive) as text, or None."""
    found: str | None = None
    for key, value in headers or ():
        if key.lower() == name.lower() and value is not None:
            found = value.decode("utf-8", errors="replace")
    return found


def as_headers(raw: Sequence[tuple[str, bytes]] | None) -> tuple[tuple[str, bytes], ...]:
    return tuple((str(k), bytes(v) if v is not None else b"") for k, v in raw or ())


def new_traceparent() -> str:
    """A fresh sampled trace context (version 00)."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child_traceparent(parent: str | None) -> str:
    """A span under `parent`: same trace id and flags, a new span id (a new trace without one)."""
    match = _TRACEPARENT.fullmatch(parent or "")
    if match is None or match.group(1) == "ff" or set(match.group(2)) == {"0"}:
        return new_traceparent()
    return f"{match.group(1)}-{match.group(2)}-{secrets.token_hex(8)}-{match.group(4)}"


def trace_id(traceparent: str | None) -> str | None:
    match = _TRACEPARENT.fullmatch(traceparent or "")
    return None if match is None else match.group(2)
