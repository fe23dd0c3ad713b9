"""Topic creation with the configured partition count (docs/architecture.md §3).

Create topics explicitly before anything produces to or subscribes to them: a broker that
auto-creates topics (Tansu does, even on a metadata request) picks its own partition count, and
the orchestrator's table joins need the same count on every topic.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from ..events import Topics
from ..settings import KafkaSettings

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36


class TopicError(RuntimeError):
    """A topic could not be created, or exists with another partition count."""


def admin_client(settings: KafkaSettings, *, client_id: str = "talkavocado-admin") -> Any:
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, client_id=client_id, request_timeout_ms=30_000
    )


async def ensure_topics(
    settings: KafkaSettings,
    names: Iterable[str] | None = None,
    *,
    partitions: int | None = None,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, bool]:
    """Create each topic with `partitions` (default settings.partitions) unless it exists.

    Returns {topic: created}. Idempotent; raises TopicError when a topic exists with another
    partition count, or the broker refuses to create one. `names=None` means every topic of
    the pipeline (Topics(settings.topic_prefix).all()). `configs` gives topic configs by name
    (e.g. {changelog: {"cleanup.policy": "compact"}}), set when the topic is created; a topic
    that exists with other values is reported (AlterConfigs is not on every broker: Tansu
    lacks it) and left as it is.
    """
    wanted = list(
        dict.fromkeys(names if names is not None else Topics(settings.topic_prefix).all())
    )
    count = partitions or settings.partitions
    if not wanted:
        return {}
    admin = admin_client(settings)
    await admin.start()
    try:
        response = await admin.create_topics(
            [
                NewTopic(
                    name,
                    count,
                    settings.replication_factor,
                    topic_configs=dict((configs or {}).get(name, {})),
                )
                for name in wanted
            ],
            timeout_ms=30_000,
        )
        created: dict[str, bool] = {}
        existing: list[str] = []
        for topic, code, message in response.topic_errors:
            if code == 0:
                created[topic] = True
            elif code == _TOPIC_ALREADY_EXISTS:
                existing.append(topic)
            else:
                raise TopicError(f"could not create topic {topic!r}: error {code} {message or ''}")
        if existing:
            for description in await admin.describe_topics(existing):
                topic = description["topic"]
                have = len(description["partitions"])
                if have != count:
                    raise TopicError(
                        f"topic {topic!r} exists with {have} partitions, configured "
                        f"{count}: delete it or set KAFKA_PARTITIONS={have}"
                    )
                created[topic] = False
            await _warn_on_other_configs(admin, existing, configs or {})
        if created:
            log.info(
                "topics ready (%d partitions): %s",
                count,
                ", ".join(f"{t}{' (new)' if c else ''}" for t, c in created.items()),
            )
        return {name: created[name] for name in wanted}
    finally:
        await admin.close()


async def topic_configs(admin: Any, names: Iterable[str]) -> dict[str, dict[str, str]]:
    """The configs the broker reports for each topic (DescribeConfigs; only the entries it
    returns: brokers differ in whether they list defaults)."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    if not resources:
        return {}
    found: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for _code, _message, _type, name, entries in response.resources:
            found[name] = {entry[0]: entry[1] for entry in entries}
    return found


async def _warn_on_other_configs(
    admin: Any, existing: list[str], configs: Mapping[str, Mapping[str, str]]
) -> None:
    wanted = [name for name in existing if configs.get(name)]
    if not wanted:
        return
    have = await topic_configs(admin, wanted)
    for name in wanted:
        differ = {
            key: (have.get(name, {}).get(key), value)
            for key, value in configs[name].items()
            if have.get(name, {}).get(key) != value
        }
        if differ:
            log.warning(
                "topic %r exists with other configs (have, want): %s; set them on the broker "
                "(kafka-configs --alter --entity-type topics --entity-name %s --add-config ...)",
                name,
                differ,
                name,
            )
