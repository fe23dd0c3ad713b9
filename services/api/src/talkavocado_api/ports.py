"""What the API needs from the outside world, as small protocols, with in-memory implementations.

The Kafka-backed implementations live elsewhere and are passed to `create_app`:

- `EventPublisher`: produce one CloudEvent to a topic (key = event.subject = jobId). `publish`
  returns once the broker acknowledged the event (or raises); the API answers only afterwards.
- `StatusFeed`: the `job.status-changed` events of one job, as they arrive on `jobs.status`.
- `ReadinessCheck`: an async callable that returns when a dependency is reachable and raises
  (any exception, its message says why) when it is not.

The in-memory implementations are used by the tests and by a broker-less development run.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, runtime_checkable

import anyio

from talkavocado_common.events import CloudEvent
from talkavocado_common.storage import Storage

ReadinessCheck = Callable[[], Awaitable[None]]


@runtime_checkable
class EventPublisher(Protocol):
    async def publish(self, topic: str, event: CloudEvent) -> None:
        """Produce `event` to `topic` keyed by `event.subject`; return once it is durable.

        Raise on failure: the API then answers 503 and leaves the job as it was.
        """


@runtime_checkable
class StatusFeed(Protocol):
    def subscribe(self, job_id: str) -> AsyncIterator[CloudEvent]:
        """The `job.status-changed` events of `job_id` published from now on, in order.

        Registration happens in `subscribe()` itself, not lazily on the first `__anext__`:
        the API subscribes, *then* reads the manifest, and must not miss an event in between.
        The iterator runs until the caller stops; if it has an `aclose()` the API calls it
        when the client goes away, so the implementation can drop its buffer.
        """


class InMemoryPublisher:
    """Records every published event; optionally fails, for tests of the 503 path."""

    def __init__(self) -> None:
        self.events: list[tuple[str, CloudEvent]] = []
        self.fail_with: Exception | None = None
        self._changed = asyncio.Event()

    async def publish(self, topic: str, event: CloudEvent) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.events.append((topic, event))
        self._changed.set()

    def of_type(self, event_type: str) -> list[CloudEvent]:
        return [event for _, event in self.events if event.type == event_type]

    async def wait_for(self, event_type: str) -> CloudEvent:
        """The latest event of a type, waiting for one (wrap in anyio.fail_after)."""
        while True:
            found = self.of_type(event_type)
            if found:
                return found[-1]
            self._changed.clear()
            await self._changed.wait()


class _Subscription:
    def __init__(self, feed: InMemoryStatusFeed, job_id: str) -> None:
        self._feed = feed
        self._job_id = job_id
        self._queue: asyncio.Queue[CloudEvent] = asyncio.Queue()
        self._closed = False

    def __aiter__(self) -> _Subscription:
        return self

    async def __anext__(self) -> CloudEvent:
        if self._closed:
            raise StopAsyncIteration
        return await self._queue.get()

    def put(self, event: CloudEvent) -> None:
        self._queue.put_nowait(event)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._feed._remove(self._job_id, self)


class InMemoryStatusFeed:
    """Fan-out of status events to the subscribers of each job (one process, one loop)."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[_Subscription]] = defaultdict(list)
        self._subscribed = asyncio.Event()

    def subscribe(self, job_id: str) -> AsyncIterator[CloudEvent]:
        subscription = _Subscription(self, job_id)
        self._subscribers[job_id].append(subscription)
        self._subscribed.set()
        return subscription

    def push(self, event: CloudEvent) -> None:
        """Deliver an event (as the Kafka consumer of jobs.status would) to its job's subscribers."""
        for subscription in list(self._subscribers.get(event.subject, ())):
            subscription.put(event)

    def subscriber_count(self, job_id: str) -> int:
        return len(self._subscribers.get(job_id, ()))

    async def wait_for_subscriber(self, job_id: str) -> None:
        """Until someone subscribes to the job (wrap in anyio.fail_after)."""
        while not self.subscriber_count(job_id):
            self._subscribed.clear()
            await self._subscribed.wait()

    def _remove(self, job_id: str, subscription: _Subscription) -> None:
        subscribers = self._subscribers.get(job_id, [])
        with contextlib.suppress(ValueError):
            subscribers.remove(subscription)
        if not subscribers:
            self._subscribers.pop(job_id, None)


# --- readiness checks -------------------------------------------------------------------------


def storage_check(storage: Storage) -> ReadinessCheck:
    """Storage answers a metadata call (a missing object is an answer)."""

    async def check() -> None:
        await storage.exists("readyz/probe")

    return check


def tcp_check(bootstrap_servers: str) -> ReadinessCheck:
    """At least one bootstrap server accepts a TCP connection (a cheap broker check; the Kafka
    wiring may pass a protocol-level check instead)."""
    servers = [s.strip() for s in bootstrap_servers.split(",") if s.strip()]

    async def check() -> None:
        errors: list[str] = []
        for server in servers:
            host, _, port = server.rpartition(":")
            try:
                stream = await anyio.connect_tcp(host.strip("[]") or "127.0.0.1", int(port))
            except (OSError, ValueError, socket.gaierror) as exc:
                errors.append(f"{server}: {exc}")
                continue
            await stream.aclose()
            return
        raise ConnectionError("; ".join(errors) or "no bootstrap servers configured")

    return check
