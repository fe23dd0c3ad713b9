"""Publish and consume through the real broker: envelope, key and headers survive, and an
acknowledged event is committed for the group."""

from __future__ import annotations

import time

from talkavocado_common.events import StepRequested, Topics
from talkavocado_common.kafka import (
    EventConsumer,
    KafkaPublisher,
    child_traceparent,
    ensure_topics,
    trace_id,
)
from talkavocado_common.settings import KafkaSettings
from tests.support.kafka import TRACEPARENT, step_requested


async def test_round_trip_keeps_event_key_and_headers(kafka: KafkaSettings, topics: Topics) -> None:
    topic = topics.steps("audio")
    await ensure_topics(kafka, [topic, topics.dlq])
    sent = step_requested(job_id="job-rt", step="audio-extraction", correlation_id="corr-rt")
    async with KafkaPublisher(kafka) as publisher:
        async with EventConsumer(kafka, [topic], group_id="g-rt", publisher=publisher) as consumer:
            await publisher.publish(topic, sent)
            got = []
            deadline = time.monotonic() + 15
            while not got and time.monotonic() < deadline:
                got = await consumer.poll(0.5)
            assert len(got) == 1
            delivery = got[0]
            assert delivery.event == sent
            assert isinstance(delivery.payload, StepRequested)
            assert delivery.payload.step_run_id == "job-rt/audio-extraction/1"
            assert delivery.key == b"job-rt"
            headers = dict(delivery.headers)
            assert headers["x-correlation-id"] == b"corr-rt"
            assert headers["traceparent"] == TRACEPARENT.encode()
            assert headers["ce_type"] == b"step.requested"
            assert headers["ce_id"] == sent.id.encode()
            assert await consumer.ack(delivery)

            # Latency of one publish → poll round trip on a warm consumer (printed, not asserted).
            latencies = []
            for i in range(5):
                began = time.perf_counter()
                await publisher.publish(
                    topic, step_requested(job_id="job-rt", step=f"s{i}", correlation_id="c")
                )
                polled = []
                while not polled:
                    polled = await consumer.poll(0.5)
                latencies.append(time.perf_counter() - began)
                for d in polled:
                    await consumer.ack(d)
            print(f"round trip ms: {sorted(round(x * 1000, 1) for x in latencies)}")

        # A fresh member of the group starts after the committed offset.
        async with EventConsumer(kafka, [topic], group_id="g-rt", publisher=publisher) as again:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                assert await again.poll(0.3) == []


def test_child_traceparent_keeps_the_trace() -> None:
    child = child_traceparent(TRACEPARENT)
    assert trace_id(child) == trace_id(TRACEPARENT)
    assert child != TRACEPARENT
    assert trace_id(child_traceparent(None)) is not None
