"""Reading and writing topics in tests, without a consumer group."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer

from talkavocado_common.events import CloudEvent, InvalidEvent, StepRequested, decode, new_event
from talkavocado_common.kafka import KafkaPublisher
from talkavocado_common.models import ContractModel
from talkavocado_common.settings import KafkaSettings

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@dataclass(frozen=True)
class Received:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    event: CloudEvent | None
    payload: ContractModel | None

    @property
    def type(self) -> str | None:
        return None if self.event is None else self.event.type

    def summary(self) -> str:
        """type, key (the job id) and partition@offset, for a failure message."""
        key = self.key.decode(errors="replace") if self.key is not None else None
        return f"{self.type} {key} {self.partition}@{self.offset}"


class TopicReader:
    """Reads a topic from the beginning (no group, nothing committed), keeps what it saw."""

    def __init__(self, settings: KafkaSettings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.seen: list[Received] = []
        self._consumer: Any = None

    async def __aenter__(self) -> TopicReader:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        )
        await self._consumer.start()
        partitions = await self._wait_partitions()
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        return self

    async def _wait_partitions(self) -> list[Any]:
        from aiokafka import TopicPartition

        for _ in range(50):
            found = self._consumer.partitions_for_topic(self.topic)
            if found:
                return [TopicPartition(self.topic, p) for p in sorted(found)]
            await self._consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        raise AssertionError(f"topic {self.topic} has no partitions")

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def read(self, wait: float = 0.2) -> list[Received]:
        """Whatever arrived since the last read (waiting up to `wait` for something)."""
        batches = await self._consumer.getmany(timeout_ms=int(wait * 1000))
        new: list[Received] = []
        for records in batches.values():
            for r in records:
                try:
                    event, payload = decode(r.value)
                except InvalidEvent:
                    event, payload = None, None
                headers = {k: v.decode(errors="replace") for k, v in r.headers or ()}
                new.append(
                    Received(
                        r.topic, r.partition, r.offset, r.key, r.value, headers, event, payload
                    )
                )
        new.sort(key=lambda x: (x.partition, x.offset))
        self.seen.extend(new)
        return new

    async def wait_for(
        self,
        predicate: Callable[[list[Received]], bool],
        within: float = 15.0,
    ) -> list[Received]:
        """Read until predicate(all seen) holds; AssertionError with what was seen otherwise."""
        deadline = time.monotonic() + within
        while not predicate(self.seen):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out on {self.topic}; seen: {[r.summary() for r in self.seen]}"
                )
            await self.read()
        return self.seen

    async def quiet(self, seconds: float) -> list[Received]:
        """Read for `seconds`; what arrived meanwhile."""
        deadline = time.monotonic() + seconds
        new: list[Received] = []
        while time.monotonic() < deadline:
            new.extend(await self.read(min(0.2, max(0.0, deadline - time.monotonic()))))
        return new


def of_type(event_type: str, run_id: str | None = None) -> Callable[[Received], bool]:
    def match(r: Received) -> bool:
        if r.type != event_type:
            return False
        return run_id is None or getattr(r.payload, "step_run_id", None) == run_id

    return match


def count(kind: Callable[[Received], bool], n: int = 1) -> Callable[[list[Received]], bool]:
    return lambda seen: sum(1 for r in seen if kind(r)) >= n


async def publish(settings: KafkaSettings, topic: str, *events: CloudEvent) -> None:
    async with KafkaPublisher(settings) as publisher:
        for event in events:
            await publisher.publish(topic, event)


async def publish_raw(
    settings: KafkaSettings, topic: str, value: bytes | None, key: bytes | None = None
) -> None:
    async with KafkaPublisher(settings) as publisher:
        await publisher.publish_raw(topic, value, key=key)


def step_requested(
    *,
    job_id: str,
    step: str,
    service: str = "audio",
    tenant_id: str = "tenant-a",
    env: str = "test",
    attempt: int = 1,
    context: dict[str, Any] | None = None,
    timeout: float = 120.0,
    heartbeat_seconds: float | None = 3.0,
    correlation_id: str = "corr-test",
    traceparent: str | None = TRACEPARENT,
) -> CloudEvent:
    payload = StepRequested(
        job_id=job_id,
        tenant_id=tenant_id,
        env=env,
        step_run_id=f"{job_id}/{step}/{attempt}",
        state=step,
        service=service,
        step=step,
        attempt=attempt,
        input=context if context is not None else {"options": {}},
        deadline=datetime.now(UTC) + timedelta(seconds=timeout),
        heartbeat_seconds=heartbeat_seconds,
    )
    return new_event(
        "step.requested",
        payload,
        source="/talkavocado/tests",
        subject=job_id,
        tenant_id=tenant_id,
        correlation_id=correlation_id,
        traceparent=traceparent,
    )
