"""Consuming events: decode and validate every record; refused ones go to the dlq, committed.

`EventConsumer` wraps an AIOKafkaConsumer in a consumer group with manual commits. `poll()`
returns the valid events as `Delivery` objects; an undecodable or invalid record (or one of a
type the consumer does not expect) is produced to the dlq topic as a `dlq.dead-letter` event and
then committed past — never retried forever, never dropped silently. The caller `ack()`s each
delivery once it is done with it; commits only ever cover records that are handled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from ..events import CloudEvent, InvalidEvent, Topics, decode, encode
from ..models import ContractModel
from ..settings import KafkaSettings
from .deadletter import dead_letter_event
from .headers import as_headers, event_headers
from .offsets import OffsetTracker, partition_lags
from .producer import KafkaPublisher

log = logging.getLogger(__name__)

# Tansu may answer a long-polling fetch only when fetch.max.wait.ms runs out, not when data
# arrives: a short wait keeps each hop short (KAFKA_FETCH_MAX_WAIT_MS; the embedded broker's
# settings use TANSU_FETCH_MAX_WAIT_MS). On real Kafka too, a fetch in flight to a broker holds
# back the fetch of a partition just resumed until it returns, so the wait bounds that as well.
DEFAULT_FETCH_MAX_WAIT_MS = 100


@dataclass(frozen=True)
class Delivery:
    """One valid event as consumed, with where it came from."""

    event: CloudEvent
    payload: ContractModel
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def tp(self) -> Any:
        return TopicPartition(self.topic, self.partition)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: EventConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: Collection[Any]) -> None:
        await self.owner._on_revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: Collection[Any]) -> None:
        await self.owner._on_assigned(list(assigned))


def consumer_options(
    settings: KafkaSettings, *, group_id: str, client_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """AIOKafkaConsumer arguments from settings: manual commits, earliest offset for new groups."""
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        "max_poll_interval_ms": settings.max_poll_interval_ms,
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        **({"client_id": client_id} if client_id else {}),
        **overrides,
    }


class EventConsumer:
    """A consumer-group member that hands out valid events and dead-letters the rest.

    `expected_types` (None: any known type) refuses valid envelopes of other types: on a step
    topic a `step.heartbeat` is as wrong as garbage. `on_dead_letter(reason)` and the
    `on_assigned` / `on_revoked` callbacks let the owner count and react.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        topics: Sequence[str],
        *,
        group_id: str,
        publisher: KafkaPublisher,
        dlq_topic: str | None = None,
        source: str = "/talkavocado/consumer",
        client_id: str | None = None,
        expected_types: Iterable[str] | None = None,
        on_dead_letter: Callable[[str], None] | None = None,
        on_assigned: Callable[[list[Any]], None] | None = None,
        on_revoked: Callable[[list[Any]], None] | None = None,
        **consumer_overrides: Any,
    ) -> None:
        self.settings = settings
        self.topics = list(topics)
        self.group_id = group_id
        self.publisher = publisher
        self.dlq_topic = dlq_topic or Topics(settings.topic_prefix).dlq
        self.source = source
        self.expected_types = None if expected_types is None else frozenset(expected_types)
        self._on_dead_letter = on_dead_letter
        self._on_assigned_cb = on_assigned
        self._on_revoked_cb = on_revoked
        self.consumer: Any = AIOKafkaConsumer(
            **consumer_options(
                settings, group_id=group_id, client_id=client_id, **consumer_overrides
            )
        )
        self._tracker: OffsetTracker[Any] = OffsetTracker()
        self._started = False
        self.dead_letters = 0
        self.rebalances = 0

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self.consumer.subscribe(self.topics, listener=_Listener(self))
        await self.consumer.start()
        self._started = True

    async def stop(self) -> None:
        """Leave the group (nothing is committed here: only acks commit)."""
        if self._started:
            self._started = False
            await self.consumer.stop()

    @property
    def running(self) -> bool:
        return self._started

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

    # -- consuming ----------------------------------------------------------------------------

    async def poll(
        self,
        wait: float = 1.0,
        *,
        max_records: int | None = None,
        per_partition: int | None = None,
    ) -> list[Delivery]:
        """Fetch, decode, dead-letter the invalid; return valid deliveries in partition order.

        `per_partition` caps the deliveries per partition in this call: the records after the
        cap are handed back (seek) and come again later, undecoded and un-dead-lettered.
        Keep calling poll while work is in flight (pause the busy partitions): that is what
        keeps this member in its group.
        """
        batches = await self.consumer.getmany(
            timeout_ms=max(0, int(wait * 1000)), max_records=max_records
        )
        deliveries: list[Delivery] = []
        for tp, records in batches.items():
            taken = 0
            dead = False
            for record in records:
                if per_partition is not None and taken >= per_partition:
                    self.consumer.seek(tp, record.offset)
                    break
                delivery = await self._decode_or_dead_letter(record)
                if delivery is None:
                    dead = True
                    continue
                self._tracker.delivered(tp, record.offset)
                deliveries.append(delivery)
                taken += 1
            if dead:
                await self._commit(tp)
        return deliveries

    async def ack(self, delivery: Delivery) -> bool:
        """The delivery is done: commit as far as everything before is handled.

        Returns False when the commit was refused because the partition moved to another member
        during a rebalance (it will redo the record: handlers are idempotent).
        """
        self._tracker.handled(delivery.tp, delivery.offset)
        return await self._commit(delivery.tp)

    def release(self, delivery: Delivery) -> None:
        """Hand a delivery back: it (and what followed it on its partition) comes again."""
        self._tracker.released(delivery.tp, delivery.offset)
        if delivery.tp in self.consumer.assignment():
            self.consumer.seek(delivery.tp, delivery.offset)

    def assignment(self) -> set[Any]:
        return set(self.consumer.assignment())

    def paused(self) -> set[Any]:
        return set(self.consumer.paused())

    def set_paused(self, wanted: Iterable[Any]) -> None:
        """Pause exactly `wanted` among the assigned partitions, resume the others."""
        assigned = self.assignment()
        target = set(wanted) & assigned
        current = self.paused() & assigned
        if target - current:
            self.consumer.pause(*(target - current))
        if current - target:
            self.consumer.resume(*(current - target))

    async def lag(self) -> dict[Any, int]:
        """Per assigned partition: end offset minus the group's committed offset (records not
        yet handled and committed; the one in flight counts). Asks the broker (ListOffsets, and
        OffsetFetch for partitions this member has not committed yet); call it from a task of
        its own, never from the poll loop. An uncommitted partition counts from its start."""
        assigned = sorted(self.assignment(), key=lambda tp: (tp.topic, tp.partition))
        if not assigned:
            return {}
        ends = await self.consumer.end_offsets(assigned)
        committed: dict[Any, int | None] = {}
        for tp in assigned:
            known = self._tracker.committed_offset(tp)
            committed[tp] = known if known is not None else await self.consumer.committed(tp)
        never = [tp for tp, offset in committed.items() if offset is None]
        starts = await self.consumer.beginning_offsets(never) if never else {}
        return partition_lags(assigned, ends, committed, starts)

    # -- internals ----------------------------------------------------------------------------

    async def _decode_or_dead_letter(self, record: Any) -> Delivery | None:
        headers = as_headers(record.headers)
        try:
            event, payload = decode(record.value)
            if self.expected_types is not None and event.type not in self.expected_types:
                raise InvalidEvent(
                    f"unexpected event type {event.type!r} on {record.topic} "
                    f"(expected {', '.join(sorted(self.expected_types))})"
                )
        except InvalidEvent as exc:
            await self._dead_letter(record, headers, str(exc))
            return None
        return Delivery(
            event=event,
            payload=payload,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            headers=headers,
        )

    async def _dead_letter(
        self, record: Any, headers: tuple[tuple[str, bytes], ...], reason: str
    ) -> None:
        event = dead_letter_event(
            reason=reason,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=headers,
            consumer_group=self.group_id,
            source=self.source,
        )
        log.warning(
            "dead letter %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason
        )
        # The original key keeps per-job ordering on the dlq too. Produced before the commit.
        await self.publisher.publish_raw(
            self.dlq_topic, encode(event), key=record.key, headers=event_headers(event)
        )
        tp = TopicPartition(record.topic, record.partition)
        self._tracker.handled(tp, record.offset)
        self.dead_letters += 1
        if self._on_dead_letter is not None:
            self._on_dead_letter(reason)

    async def _commit(self, tp: Any) -> bool:
        offset = self._tracker.committable(tp)
        if offset is None:
            return True
        if tp not in self.consumer.assignment():
            log.warning("not committing %s@%d: the partition was revoked", tp, offset)
            return False
        try:
            await self.consumer.commit({tp: offset})
        except (CommitFailedError, IllegalStateError) as exc:
            log.warning(
                "commit of %s@%d refused (%s): another member will redo it", tp, offset, exc
            )
            return False
        except KafkaError:
            log.exception("commit of %s@%d failed", tp, offset)
            raise
        self._tracker.committed(tp, offset)
        return True

    async def _on_revoked(self, revoked: list[Any]) -> None:
        # Bookkeeping is kept until the new assignment is known: a partition that comes back
        # to this member while records of it are still being worked on must not restart from
        # the committed offset (that would deliver the work in flight a second time).
        if not revoked:
            return  # aiokafka calls this with nothing before the first join
        self.rebalances += 1
        if self._on_revoked_cb is not None:
            self._on_revoked_cb(revoked)

    async def _on_assigned(self, assigned: list[Any]) -> None:
        kept = set(assigned)
        for tp in self._tracker.partitions():
            position = self._tracker.position(tp)
            if tp in kept and self._tracker.pending(tp) and position is not None:
                self.consumer.seek(tp, position)
            else:
                self._tracker.forget(tp)
        if self._on_assigned_cb is not None:
            self._on_assigned_cb(assigned)
