"""The parts create_app wires into faust, without faust: the agent's handling of one record
(dead-lettering included) and the timer."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from faust.types.tuples import Message
from prometheus_client import CollectorRegistry

from talkavocado_common.events import CloudEvent, Topics, encode, new_event
from talkavocado_common.pipeline import JobRow
from talkavocado_common.pipeline.transition import next_wakeup
from talkavocado_common.storage import NotFound
from talkavocado_orchestrator.agent import JobStateAgent, key_text
from talkavocado_orchestrator.dead_letter import DeadLetters
from talkavocado_orchestrator.metrics import OrchestratorMetrics
from talkavocado_orchestrator.shell import Executor
from talkavocado_orchestrator.timer import Retention, Ticker, WakeupIndex

from .helpers import PIPELINE, Driver, submitted

TOPICS = Topics("t.")


class _NoManifests:
    async def update(self, keys: Any, change: Any) -> Any:
        raise NotFound(keys.manifest)


class _Sent:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, CloudEvent]] = []

    async def __call__(self, topic: str, key: str, event: CloudEvent) -> None:
        self.events.append((topic, key, event))


def message(topic: str, value: bytes, offset: int = 3) -> Message:
    return Message(topic, 1, offset, 0.0, 0, None, b"job-1", value, None)


def outcomes(metrics: OrchestratorMetrics) -> dict[str, float]:
    return {
        outcome: metrics.registry.get_sample_value(
            "talkavocado_orchestrator_events_total", {"outcome": outcome}
        )
        or 0.0
        for outcome in ("applied", "ignored", "dead-letter")
    }


@pytest.fixture
def metrics() -> OrchestratorMetrics:
    return OrchestratorMetrics(CollectorRegistry())


def agent(rows: dict[str, str], sent: _Sent, metrics: OrchestratorMetrics) -> JobStateAgent:
    return JobStateAgent(
        topics=TOPICS,
        machine=PIPELINE,
        rows=rows,
        executor=Executor(TOPICS, _NoManifests(), sent),  # type: ignore[arg-type]
        dead_letters=DeadLetters(sent, TOPICS.dlq, "orch", metrics),
        metrics=metrics,
    )


async def test_a_record_that_does_not_decode_is_dead_lettered(metrics: OrchestratorMetrics) -> None:
    rows: dict[str, str] = {}
    sent = _Sent()
    garbage = message(TOPICS.commands, b"\x00 not an event", offset=9)
    await agent(rows, sent, metrics).process(garbage, b"job-1", garbage.value, [("h", b"1")])
    ((topic, key, letter),) = sent.events
    assert topic == TOPICS.dlq
    assert letter.type == "dlq.dead-letter"
    assert key == letter.subject
    payload: Any = letter.payload()
    assert (payload.topic, payload.partition, payload.offset) == (TOPICS.commands, 1, 9)
    assert (payload.consumer, payload.key) == ("orch", "job-1")
    assert "not JSON" in payload.reason
    assert rows == {}
    assert outcomes(metrics) == {"applied": 0, "ignored": 0, "dead-letter": 1}


async def test_an_applied_record_stores_the_row_and_a_duplicate_is_ignored(
    metrics: OrchestratorMetrics,
) -> None:
    rows: dict[str, str] = {}
    sent = _Sent()
    event = new_event(
        "job.submitted", submitted("job-1"), source="/t", subject="job-1", tenant_id="tenant-a"
    )
    record = message(TOPICS.commands, encode(event))
    handler = agent(rows, sent, metrics)
    await handler.process(record, b"job-1", record.value, [])
    assert JobRow.from_json_bytes(rows["job-1"]).state == "audio-extraction"
    assert [t for t, _, _ in sent.events] == [TOPICS.steps("audio"), TOPICS.status]
    stored = rows["job-1"]
    await handler.process(record, b"job-1", record.value, [])
    assert rows["job-1"] == stored
    assert outcomes(metrics) == {"applied": 1, "ignored": 1, "dead-letter": 0}


def test_key_text() -> None:
    assert key_text(b"job-\xff") == "job-\ufffd"
    assert key_text("job-1") == "job-1"
    assert key_text(None) is None


async def test_the_timer_ticks_a_due_row_once_per_wakeup() -> None:
    d = Driver(PIPELINE)
    d.submit()
    rows = {"job-1": d.job.to_json_bytes().decode()}  # its deadlines are long past
    ticks: list[tuple[str, bytes]] = []

    async def send(job_id: str, tick: bytes) -> None:
        ticks.append((job_id, tick))

    ticker = Ticker(rows, send, WakeupIndex(), Retention())
    await ticker.rebuild()
    await ticker.tick()
    await ticker.tick()
    ((job_id, tick),) = ticks
    assert job_id == "job-1"
    assert json.loads(tick)["jobId"] == "job-1"


async def test_a_row_is_due_once_per_wakeup_and_forgotten_without_one() -> None:
    d = Driver(PIPELINE)
    d.submit()
    wakeup = next_wakeup(d.job)
    assert wakeup is not None
    index = WakeupIndex()
    ticker = Ticker({}, _never, index, Retention())
    ticker.track("job-1", d.job)
    assert index.pop_due(wakeup - timedelta(seconds=1)) == []
    assert index.pop_due(wakeup) == [("job-1", wakeup)]
    assert index.pop_due(wakeup + timedelta(seconds=1)) == []  # handed out already
    ticker.track("job-1", d.job)
    ticker.track("job-1", None)  # deleted
    assert index.pop_due(wakeup) == []
    assert len(index) == 0


async def _never(job_id: str, tick: bytes) -> None:
    raise AssertionError("no tick expected")
