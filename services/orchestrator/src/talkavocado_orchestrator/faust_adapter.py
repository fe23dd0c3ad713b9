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
- `app.tables.recovery.completed`: set once the tables are restored from their changelogs
  (for /readyz; `TableManager.recovery` is not part of faust's typed `TableManagerT`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import faust
from faust.tables.manager import TableManager
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


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: driver.Transport) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher, after this returns.
        wait = getattr(self.app, "fetch_max_wait_ms", FAUST_FETCH_MAX_WAIT_MS)
        set_fetch_max_wait(consumer, wait)
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(driver.Transport):
    Consumer = _Consumer


class OrchestratorApp(faust.App):
    """A faust App whose Kafka consumer waits at most `fetch_max_wait_ms` for new records."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int = 100, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        return _Transport(self.conf.broker_consumer, self)
