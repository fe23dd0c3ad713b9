"""A step longer than max.poll.interval.ms completes once and the member never leaves its group:
the loop keeps polling (partition paused) while the step runs in its own task."""

from __future__ import annotations

import itertools
import time

import pytest

from talkavocado_common.events import StepHeartbeat, Topics
from talkavocado_common.settings import KafkaSettings
from talkavocado_common.storage import LocalStorage
from tests.support.jobs import create_job
from tests.support.kafka import TopicReader, count, of_type, publish, step_requested

from .conftest import Calls, Workers, make_handlers

MAX_POLL_MS = 10_000  # the smallest KafkaSettings allows
STEP_SECONDS = 13.0


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_step_longer_than_max_poll_interval_completes_once_without_rebalance(
    kafka: KafkaSettings, topics: Topics, storage: LocalStorage, workers: Workers, calls: Calls
) -> None:
    settings = kafka.model_copy(update={"max_poll_interval_ms": MAX_POLL_MS})
    await create_job(storage, "job-long")
    running = await workers.start(make_handlers(calls), kafka_settings=settings)
    consumer = running.worker._consumer
    assert consumer is not None
    assignment = consumer.assignment()
    async with TopicReader(settings, topics.results) as results:
        began = time.monotonic()
        await publish(
            settings,
            topics.steps("audio"),
            step_requested(
                job_id="job-long",
                step="echo",
                context={"seconds": STEP_SECONDS},
                heartbeat_seconds=3.0,
            ),
        )
        seen = await results.wait_for(count(of_type("step.succeeded")), within=STEP_SECONDS + 15)
        took = time.monotonic() - began
        assert await results.quiet(1.0) == []
    assert took > MAX_POLL_MS / 1000
    assert [r.type for r in seen].count("step.succeeded") == 1
    assert calls.started == {"job-long": 1}
    assert calls.finished == {"job-long": 1}
    # Never revoked, same partitions, still healthy.
    assert consumer.rebalances == 0
    assert consumer.assignment() == assignment
    assert running.worker.health()[0]
    # Heartbeats every HeartbeatSeconds / 3 = 1 s, each within its interval.
    beats = [r for r in seen if isinstance(r.payload, StepHeartbeat)]
    assert len(beats) >= int(STEP_SECONDS) - 1
    times = [r.event.time.timestamp() for r in beats if r.event is not None]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) < 1.5, gaps
