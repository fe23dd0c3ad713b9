"""Topics are created with the configured partition count, idempotently, and a mismatch is
refused with a clear error."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from talkavocado_common.events import Topics
from talkavocado_common.kafka import TopicError, ensure_topics
from talkavocado_common.settings import KafkaSettings


async def partition_counts(settings: KafkaSettings, names: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        return {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(names)}
    finally:
        await admin.close()


async def test_creates_every_pipeline_topic_with_the_configured_partitions(
    kafka: KafkaSettings, topics: Topics
) -> None:
    settings = kafka.model_copy(update={"partitions": 5})
    created = await ensure_topics(settings)
    assert created == dict.fromkeys(topics.all(), True)
    assert await partition_counts(settings, topics.all()) == dict.fromkeys(topics.all(), 5)


async def test_is_idempotent(kafka: KafkaSettings, topics: Topics) -> None:
    names = [topics.results, topics.dlq]
    assert await ensure_topics(kafka, names) == dict.fromkeys(names, True)
    assert await ensure_topics(kafka, names) == dict.fromkeys(names, False)
    # A mix of existing and new topics in one call.
    mixed = [topics.results, topics.status]
    assert await ensure_topics(kafka, mixed) == {topics.results: False, topics.status: True}


async def test_refuses_a_topic_with_another_partition_count(
    kafka: KafkaSettings, topics: Topics
) -> None:
    await ensure_topics(kafka, [topics.results], partitions=2)
    with pytest.raises(TopicError, match=r"exists with 2 partitions, configured 3") as info:
        await ensure_topics(kafka, [topics.results])
    assert topics.results in str(info.value)
