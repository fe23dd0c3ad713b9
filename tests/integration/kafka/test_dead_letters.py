"""An undecodable or invalid record goes to the dlq with the reason and is committed past:
never retried forever, never dropped silently."""

from __future__ import annotations

import base64
import json
import time

from talkavocado_common.events import DeadLetter, Topics, encode
from talkavocado_common.kafka import EventConsumer, KafkaPublisher, ensure_topics
from talkavocado_common.settings import KafkaSettings
from tests.support.kafka import TopicReader, count, of_type, step_requested

GARBAGE = b"\xff\xfe\x00garbage\x80"


async def test_garbage_and_invalid_events_become_dead_letters_once(
    kafka: KafkaSettings, topics: Topics
) -> None:
    topic = topics.steps("render")
    await ensure_topics(kafka, [topic, topics.dlq])
    valid = step_requested(job_id="job-dl", step="video-cuts", service="render")
    invalid = json.loads(encode(valid))
    invalid["data"]["attempt"] = 0  # schema: attempt >= 1
    async with KafkaPublisher(kafka) as publisher:
        # Same key: same partition, so the order is garbage, invalid, valid.
        await publisher.publish_raw(topic, GARBAGE, key=b"job-dl")
        await publisher.publish_raw(
            topic,
            json.dumps(invalid).encode(),
            key=b"job-dl",
            headers=[("x-correlation-id", b"corr-bad")],
        )
        await publisher.publish(topic, valid)

        async with EventConsumer(
            kafka, [topic], group_id="g-dl", publisher=publisher, source="/tests"
        ) as consumer:
            got = []
            deadline = time.monotonic() + 15
            while not got and time.monotonic() < deadline:
                got = await consumer.poll(0.5)
            assert [d.event.id for d in got] == [valid.id]
            assert consumer.dead_letters == 2
            await consumer.ack(got[0])

        async with TopicReader(kafka, topics.dlq) as dlq:
            letters = await dlq.wait_for(count(of_type("dlq.dead-letter"), 2))
        assert len(letters) == 2
        first, second = (r.payload for r in letters)
        assert isinstance(first, DeadLetter)
        assert isinstance(second, DeadLetter)
        assert first.reason.startswith("not JSON")
        assert first.payload_encoding == "base64"
        assert base64.b64decode(first.payload) == GARBAGE
        assert (first.topic, first.key, first.consumer) == (topic, "job-dl", "g-dl")
        assert second.reason.startswith("invalid step.requested data: attempt")
        assert second.payload_encoding == "utf-8"
        assert json.loads(second.payload) == invalid
        assert second.offset == first.offset + 1
        assert letters[1].event is not None
        assert letters[1].event.correlationid == "corr-bad"
        assert letters[0].key == b"job-dl"

        # Committed past: a fresh member sees neither the refused records nor the valid one.
        async with EventConsumer(kafka, [topic], group_id="g-dl", publisher=publisher) as again:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                assert await again.poll(0.3) == []
            assert again.dead_letters == 0


async def test_unexpected_type_is_a_dead_letter(kafka: KafkaSettings, topics: Topics) -> None:
    topic = topics.steps("audio")
    await ensure_topics(kafka, [topic, topics.dlq])
    async with KafkaPublisher(kafka) as publisher:
        await publisher.publish(topic, step_requested(job_id="job-t", step="x"))
        async with EventConsumer(
            kafka,
            [topic],
            group_id="g-t",
            publisher=publisher,
            expected_types=["job.submitted"],
        ) as consumer:
            deadline = time.monotonic() + 15
            while consumer.dead_letters == 0 and time.monotonic() < deadline:
                assert await consumer.poll(0.5) == []
    async with TopicReader(kafka, topics.dlq) as dlq:
        (letter,) = await dlq.wait_for(count(of_type("dlq.dead-letter")))
    assert isinstance(letter.payload, DeadLetter)
    assert "unexpected event type 'step.requested'" in letter.payload.reason
