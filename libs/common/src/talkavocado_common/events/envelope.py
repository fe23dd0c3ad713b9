"""CloudEvents 1.0, JSON structured mode: the envelope every Kafka message uses (docs/architecture.md §3).

`encode` validates the payload against its type's model before it leaves; `decode` validates the
envelope and the payload on the way in and raises `InvalidEvent` with the reason, which the
consumer turns into a dead letter.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, ValidationError, field_validator

from ..models import ContractModel
from .models import EVENT_TYPES

SCHEMA_BASE = "https://talkavocado.dev/contracts/events/"
TRACEPARENT_RE = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"


class InvalidEvent(ValueError):
    """A message that is not a valid event of a known type; the text says why."""


class CloudEvent(ContractModel):
    """The envelope. Extension attributes are lowercase per the CloudEvents spec."""

    specversion: str = Field("1.0", pattern=r"^1\.0$")
    id: str = Field(min_length=1)
    type: str
    source: str = Field(min_length=1)
    subject: str = Field(min_length=1, description="The jobId.")
    time: datetime
    datacontenttype: str = Field("application/json", pattern=r"^application/json$")
    dataschema: str
    tenantid: str
    correlationid: str = Field(min_length=1)
    traceparent: str | None = Field(None, pattern=TRACEPARENT_RE)
    data: dict[str, Any]

    # Field names are the attribute names; unknown extension attributes are tolerated (spec).
    model_config = {**ContractModel.model_config, "alias_generator": None, "extra": "ignore"}

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in EVENT_TYPES:
            raise ValueError(f"unknown event type {value!r}")
        return value

    def payload(self) -> ContractModel:
        return EVENT_TYPES[self.type].model_validate(self.data)


def dataschema_for(event_type: str) -> str:
    return f"{SCHEMA_BASE}{event_type}.schema.json"


def new_event(
    event_type: str,
    payload: ContractModel,
    *,
    source: str,
    subject: str,
    tenant_id: str,
    correlation_id: str | None = None,
    traceparent: str | None = None,
    now: datetime | None = None,
) -> CloudEvent:
    model = EVENT_TYPES.get(event_type)
    if model is None or not isinstance(payload, model):
        raise InvalidEvent(f"payload {type(payload).__name__} is not a {event_type} event")
    return CloudEvent(
        id=str(uuid.uuid4()),
        type=event_type,
        source=source,
        subject=subject,
        time=now or datetime.now(UTC),
        dataschema=dataschema_for(event_type),
        tenantid=tenant_id,
        correlationid=correlation_id or str(uuid.uuid4()),
        traceparent=traceparent,
        data=payload.to_jsonable(),
    )


def encode(event: CloudEvent) -> bytes:
    event.payload()  # validate on produce, not only on consume
    return event.model_dump_json(by_alias=True, exclude_none=True).encode()


def decode(value: bytes | None) -> tuple[CloudEvent, ContractModel]:
    if value is None:
        raise InvalidEvent("empty message (tombstone)")
    try:
        raw = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidEvent("not a JSON object")
    try:
        event = CloudEvent.model_validate(raw)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid envelope: {_first_error(exc)}") from None
    try:
        payload = event.payload()
    except ValidationError as exc:
        raise InvalidEvent(f"invalid {event.type} data: {_first_error(exc)}") from None
    if getattr(payload, "job_id", event.subject) != event.subject:
        raise InvalidEvent("subject does not match data.jobId")
    return event, payload


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "(root)"
    return f"{where}: {error['msg']}"
