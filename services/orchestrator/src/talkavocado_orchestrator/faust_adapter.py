"""Every use of faust-streaming's and aiokafka's private (or untyped) API, in one place.

faust-streaming is pinned to one minor version (services/orchestrator/pyproject.toml) and
tests/unit/orchestrator/test_faust_adapter.py checks each item below against the installed
classes, so an upgrade that moves one of them fails there, by name, rather than at run time:

- `aiokafka.AIOKafkaConsumer._fetch_max_wait_ms`: set after faust built the consumer (faust 0.15
  hard-codes `fetch_max_wait_ms=1500`), read by `AIOKafkaConsumer.start()` when it builds its
  fetcher. A broker that holds a fetch until that wait expires instead of answering when data
  arrives (the embedded Tansu does) then adds ~0.75 s to every orchestrator hop; real Kafka
  answers early, so a short wait costs little there either.
- the hooks that install that consumer: `AIOKafkaConsumerThread._create_worker_consumer`,
  `Consumer._new_consumer_thread` (faust's aiokafka driver) and `App._new_transport`.
- `faust.transport.consumer.Consumer._committed_offset`: the group's committed offset per
  partition, as faust tracks it (for the consumer lag of /metrics).
- `AIOKafkaConsumerThread.seek_to_committed` (faust's driver), extended so a partition with
  no committed offset (or offset 0) is rewound too: faust drops the records it fetched while
  its flow was stopped (a rebalance, table recovery) and relies on that seek to read them
  again, but `AIOKafkaConsumer.seek_to_committed` only seeks partitions committed past 0.
  Without it, a command on a partition nothing was ever committed on, fetched during a
  restart's recovery, was lost until the next restart.
- `Recovery.on_recovery_completed` (through `TableManager.recovery`, the `TableManager` setting):
  it resumes the streams' partitions, seeks them to their committed offsets and only then
  resumes `app.flow_control`, which clears every stream queue (mode's FlowControlEvent.resume).
  The consumer's flow is already running then (faust resumed it to read the changelogs), so
  records fetched in between were queued and cleared, and the fetch position was past them:
  lost until the next restart. The adapter stops the consumer's flow first; records caught
  in delivery are read again from the offsets the seek sets, once faust resumes the flow.
- `app.tables.recovery.completed`: set once the tables are restored from their changelogs
  (for /readyz; `TableManager.recovery` is not part of faust's typed `TableManagerT`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, cast

import faust
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as driver
from faust.types.transports import TransportT
from faust.types.tuples import TP

FAUST_FETCH_MAX_WAIT_MS = 1500
"""What faust itself passes, and what a consumer thread of a plain faust.App keeps."""


def set_fetch_max_wait(consumer: Any, fetch_max_wait_ms: int) -> None:
    """Make a not yet started `aiokafka.AIOKafkaConsumer` wait at most `fetch_max_wait_ms`."""
    consumer._fetch_max_wait_ms = fetch_max_wait_ms


def committed_offsets(consumer: object) -> Mapping[TP, int | None]:
    """The committed offset of each partition faust's consumer tracks (None: never committed);
    empty when `consumer` keeps none."""
    return cast(Mapping[TP, int | None], getattr(consumer, "_committed_offset", {}))


def table_recovered(app: faust.App) -> bool:
    """Whether the app's tables are restored from their changelogs."""
    return cast(TableManager, app.tables).recovery.completed.is_set()


class Seekable(Protocol):
    """What rewind_uncommitted needs of an `aiokafka.AIOKafkaConsumer`."""

    def seek(self, partition: TP, offset: int) -> None: ...

    async def seek_to_beginning(self, *partitions: TP) -> None: ...

    async def seek_to_end(self, *partitions: TP) -> None: ...


async def rewind_uncommitted(
    consumer: Seekable, committed: Mapping[TP, int | None], auto_offset_reset: str
) -> None:
    """Seek the partitions `AIOKafkaConsumer.seek_to_committed` leaves where the fetcher got
    to: those committed at 0 back to 0, those never committed to where `auto_offset_reset`
    starts a new group ("earliest": the beginning, "latest": the end; otherwise untouched)."""
    for tp, offset in committed.items():
        if offset == 0:
            consumer.seek(tp, 0)
    never = [tp for tp, offset in committed.items() if offset is None or offset < 0]
    if never and auto_offset_reset == "earliest":
        await consumer.seek_to_beginning(*never)
    elif never and auto_offset_reset == "latest":
        await consumer.seek_to_end(*never)


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = await super().seek_to_committed()
        # Only the streams' partitions: faust seeks the changelogs' itself, during recovery.
        streams = {
            tp: o for tp, o in committed.items() if self.app.topics.acks_enabled_for(tp.topic)
        }
        reset = self.app.conf.consumer_auto_offset_reset
        await self.call_thread(rewind_uncommitted, self._ensure_consumer(), streams, reset)
        return committed

    def _create_worker_consumer(self, transport: driver.Transport) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher, after this returns.
        wait = getattr(self.app, "fetch_max_wait_ms", FAUST_FETCH_MAX_WAIT_MS)
        set_fetch_max_wait(consumer, wait)
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Recovery(Recovery):
    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        self.app.consumer.stop_flow()  # faust resumes it once the queues are cleared
        await super().on_recovery_completed(generation_id)


class _TableManager(TableManager):
    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = _Recovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


class _Transport(driver.Transport):
    Consumer = _Consumer


class OrchestratorApp(faust.App):
    """A faust App whose Kafka consumer waits at most `fetch_max_wait_ms` for new records."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int = 100, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        kwargs.setdefault("TableManager", _TableManager)
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        return _Transport(self.conf.broker_consumer, self)
