"""faust's aiokafka driver with a configurable consumer fetch wait.

faust-streaming 0.15 hard-codes `fetch_max_wait_ms=1500`. A broker that holds a fetch until that
wait expires instead of answering when data arrives (the embedded Tansu does) then adds ~0.75 s
to every orchestrator hop; real Kafka answers early, so a short wait costs little there either.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher, after this returns.
        consumer._fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", 1500)
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

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
