"""Dead-lettering: a record of the orchestrator's inputs that does not decode goes, with the
reason, to the dead-letter topic; the agent then carries on with the next one."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from faust.types.tuples import Message

from talkavocado_common.events import InvalidEvent
from talkavocado_common.kafka import dead_letter_event

from .metrics import OrchestratorMetrics
from .shell import SOURCE, Send

log = logging.getLogger(__name__)


class DeadLetters:
    """Sends `dlq.dead-letter` events to `topic` (the prefixed dead-letter topic)."""

    def __init__(
        self, send: Send, topic: str, consumer_group: str, metrics: OrchestratorMetrics
    ) -> None:
        self.send = send
        self.topic = topic
        self.consumer_group = consumer_group
        self.metrics = metrics

    async def refuse(
        self,
        message: Message,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
        exc: InvalidEvent,
    ) -> None:
        """Dead-letter one record (`message` says where it was read; `exc` why it is refused)."""
        letter = dead_letter_event(
            reason=str(exc),
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=key,
            value=value,
            headers=list(headers),
            consumer_group=self.consumer_group,
            source=SOURCE,
        )
        log.warning(
            "dead letter %s[%s]@%s: %s", message.topic, message.partition, message.offset, exc
        )
        await self.send(self.topic, letter.subject, letter)
        self.metrics.events.labels("dead-letter").inc()  # once sent: a failed send is retried
