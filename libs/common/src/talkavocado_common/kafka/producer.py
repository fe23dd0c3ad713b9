"""Producing events: acks=all, idempotence per settings, key = jobId, headers with trace context."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaProducer

from ..events import CloudEvent, encode
from ..settings import KafkaSettings
from .headers import event_headers

log = logging.getLogger(__name__)


def make_producer(
    settings: KafkaSettings, *, client_id: str | None = None, **overrides: Any
) -> Any:
    """An (unstarted) AIOKafkaProducer: acks=all, enable_idempotence=settings.idempotence."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "acks": "all",
        "enable_idempotence": settings.idempotence,
        "linger_ms": 0,
        "request_timeout_ms": 30_000,
        **({"client_id": client_id} if client_id else {}),
        **overrides,
    }
    return AIOKafkaProducer(**options)


class KafkaPublisher:
    """Publishes CloudEvents. Owns its producer when built from settings (start/stop it)."""

    def __init__(
        self,
        settings: KafkaSettings | None = None,
        *,
        producer: Any = None,
        client_id: str | None = None,
    ) -> None:
        if (settings is None) == (producer is None):
            raise ValueError("give either settings or a producer")
        self._owned = producer is None
        self.producer: Any = (
            producer
            if producer is not None
            else make_producer(
                settings,  # type: ignore[arg-type]
                client_id=client_id,
            )
        )
        self._started = not self._owned

    async def start(self) -> None:
        if not self._started:
            await self.producer.start()
            self._started = True

    async def stop(self) -> None:
        if self._owned and self._started:
            self._started = False
            await self.producer.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def publish(self, topic: str, event: CloudEvent) -> Any:
        """Validate, encode and produce `event`, waiting for the broker's ack (RecordMetadata)."""
        value = encode(event)
        return await self.publish_raw(
            topic, value, key=event.subject.encode(), headers=event_headers(event)
        )

    async def publish_raw(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> Any:
        """Produce bytes as they are (tests, and dead letters that keep the original key)."""
        return await self.producer.send_and_wait(topic, value, key=key, headers=list(headers))
