"""The API's Kafka side: the publisher of job commands and a status feed over jobs.status.

Every API replica reads the whole status topic without a consumer group (each one serves its
own SSE clients) from the end: the first SSE frame comes from the manifest, so nothing earlier
is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaConsumer

from talkavocado_common.events import CloudEvent, InvalidEvent, Topics, decode
from talkavocado_common.kafka.broker import probe
from talkavocado_common.settings import KafkaSettings

from .ports import InMemoryStatusFeed, ReadinessCheck

log = logging.getLogger(__name__)


class KafkaStatusFeed:
    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._topic = Topics(settings.topic_prefix).status
        self._fanout = InMemoryStatusFeed()
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._settings.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=self._settings.fetch_max_wait_ms,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._pump(), name="status-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _pump(self) -> None:
        async for record in self._consumer:
            try:
                event, _ = decode(record.value)
            except InvalidEvent as exc:
                log.warning("ignoring an invalid status event at offset %s: %s", record.offset, exc)
                continue
            if event.type == "job.status-changed":
                self._fanout.push(event)

    def subscribe(self, job_id: str) -> AsyncIterator[CloudEvent]:
        return self._fanout.subscribe(job_id)


def broker_check(settings: KafkaSettings) -> ReadinessCheck:
    """A bootstrap server answers a Kafka metadata request (not just a TCP connect)."""
    servers = [s.strip() for s in settings.bootstrap_servers.split(",") if s.strip()]

    async def check() -> None:
        for server in servers:
            host, _, port = server.rpartition(":")
            if await probe(host or "127.0.0.1", int(port)):
                return
        raise ConnectionError(f"no Kafka broker answers at {settings.bootstrap_servers}")

    return check
