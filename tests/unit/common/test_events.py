"""CloudEvents envelope: validation on produce and on consume, with reasons for the DLQ."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from talkavocado_common.events import (
    EVENT_TYPES,
    InvalidEvent,
    JobStatusChanged,
    StepRequested,
    Topics,
    decode,
    encode,
    new_event,
)
from talkavocado_common.models import JobStatus

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def step_requested() -> StepRequested:
    return StepRequested(
        job_id="job-1",
        tenant_id="acme",
        env="test",
        step_run_id="job-1/transcription/1",
        state="transcription",
        service="transcribe",
        step="transcription",
        attempt=1,
        input={"options": {}},
        deadline=NOW,
        heartbeat_seconds=30,
    )


def test_round_trip_keeps_envelope_and_payload() -> None:
    event = new_event(
        "step.requested",
        step_requested(),
        source="/talkavocado/orchestrator",
        subject="job-1",
        tenant_id="acme",
        correlation_id="corr-1",
        traceparent=TRACE,
        now=NOW,
    )
    raw = json.loads(encode(event))
    assert raw["specversion"] == "1.0"
    assert raw["datacontenttype"] == "application/json"
    assert raw["dataschema"].endswith("/events/step.requested.schema.json")
    assert (raw["subject"], raw["tenantid"], raw["correlationid"], raw["traceparent"]) == (
        "job-1",
        "acme",
        "corr-1",
        TRACE,
    )
    assert raw["data"]["stepRunId"] == "job-1/transcription/1"
    decoded, payload = decode(encode(event))
    assert decoded == event
    assert payload == step_requested()


def test_payload_of_the_wrong_type_is_refused_on_produce() -> None:
    status = JobStatusChanged(
        job_id="job-1", tenant_id="acme", env="test", status=JobStatus.PROCESSING, progress=0.1
    )
    with pytest.raises(InvalidEvent, match=r"not a step\.requested"):
        new_event("step.requested", status, source="/x", subject="job-1", tenant_id="acme")


def valid_raw() -> dict[str, object]:
    event = new_event(
        "step.requested", step_requested(), source="/x", subject="job-1", tenant_id="acme", now=NOW
    )
    return json.loads(encode(event))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda raw: b"\xff\xfe garbage", "not JSON"),
        (lambda raw: b"[1, 2]", "not a JSON object"),
        (lambda raw: None, "empty message"),
        (lambda raw: {**raw, "specversion": "0.3"}, "invalid envelope: specversion"),
        (lambda raw: {**raw, "type": "job.exploded"}, "unknown event type"),
        (lambda raw: {k: v for k, v in raw.items() if k != "subject"}, "invalid envelope: subject"),
        (lambda raw: {**raw, "traceparent": "nope"}, "invalid envelope: traceparent"),
        (
            lambda raw: {**raw, "data": {**raw["data"], "attempt": 0}},
            "invalid step.requested data: attempt",
        ),  # type: ignore[dict-item]
        (lambda raw: {**raw, "subject": "job-2"}, "subject does not match"),
    ],
)
def test_invalid_messages_say_why(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    value = mutate(valid_raw())
    if isinstance(value, dict):
        value = json.dumps(value).encode()
    with pytest.raises(InvalidEvent, match=reason):
        decode(value)


def test_unknown_extension_attributes_are_tolerated() -> None:
    raw = {**valid_raw(), "partitionkey": "job-1"}
    event, _ = decode(json.dumps(raw).encode())
    assert event.subject == "job-1"


def test_every_event_type_has_a_schema_uri_and_topic_names_use_the_prefix() -> None:
    assert set(EVENT_TYPES) >= {
        "job.submitted",
        "job.cancel-requested",
        "job.retry-requested",
        "step.requested",
        "step.heartbeat",
        "step.succeeded",
        "step.failed",
        "job.status-changed",
    }
    topics = Topics("ta.")
    assert topics.all() == [
        "ta.jobs.commands",
        "ta.steps.audio",
        "ta.steps.transcribe",
        "ta.steps.render",
        "ta.steps.results",
        "ta.jobs.status",
        "ta.dlq",
    ]
    with pytest.raises(ValueError, match="no step topic"):
        topics.steps("orchestrator")
