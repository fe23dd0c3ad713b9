"""The notify service's shell: jobs.status in, signed webhook calls out, state in storage.

**Accepting an event.** A consumer-group member (`talkavocado.notify`) reads jobs.status. For a
terminal status it lists the tenant's webhooks, and for each one subscribed to the event it
creates the delivery record (`if_none_match`: the id is derived from the event's occurrence and
the webhook, so a duplicate event finds its record and adds nothing), then the delivery's entry
in the index of pending deliveries, and only then commits the Kafka offset. A crash before the
commit redelivers the event, which finds the records it made.

**Delivering.** Each pending delivery is scheduled in memory at its due time. An attempt takes a
lease on the record by compare-and-swap (so replicas never send the same try twice), POSTs the
signed body (transport.py), and writes the outcome with the next try's time (core.py). A final
state removes the index entry.

**Restarts.** The record and the index are the only state: at start and every
NOTIFY_SCAN_SECONDS the index is listed and every pending delivery not already scheduled is
scheduled at its due time (a lease left by a killed process runs out and the delivery is taken
over). Nothing pending lives only in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from talkavocado_common.events import CloudEvent, JobStatusChanged, Topics
from talkavocado_common.kafka.admin import ensure_topics
from talkavocado_common.kafka.consumer import Delivery, EventConsumer
from talkavocado_common.kafka.producer import KafkaPublisher
from talkavocado_common.manifest_store import ManifestInvalid, ManifestStore
from talkavocado_common.models import Manifest
from talkavocado_common.storage import InvalidKey, JobKeys, NotFound, PreconditionFailed, Storage
from talkavocado_common.webhooks import (
    PendingRef,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
    WebhookStore,
    parse_pending_key,
    retries_prefix,
)
from talkavocado_common.worker.http import MetricsServer

from .core import (
    abandoned,
    after_attempt,
    claimable,
    delivery_body,
    delivery_id,
    due_at,
    event_type,
    leased,
    occurrence,
    subscribed,
)
from .settings import NotifySettings
from .transport import Sender

log = logging.getLogger(__name__)

SERVICE = "notify"
STATUS_EVENT = "job.status-changed"
LEASE_MARGIN_SECONDS = 30.0
STORAGE_RETRY_SECONDS = 1.0
IDLE_WAKE_SECONDS = 5.0


class NotifyCrashed(RuntimeError):
    """The service could not carry on (e.g. the consumer failed); restart it."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.attempts = Counter(
            "talkavocado_webhook_attempts_total",
            "Webhook calls made, by what became of the delivery (delivered, retry, failed, "
            "refused).",
            ["outcome"],
            registry=r,
        )
        self.deliveries = Counter(
            "talkavocado_webhook_deliveries_created_total",
            "Deliveries created from job events (one per event and subscribed webhook).",
            registry=r,
        )
        self.duplicates = Counter(
            "talkavocado_webhook_duplicate_events_total",
            "Events whose delivery already existed (a duplicate or re-emitted status event).",
            registry=r,
        )
        self.dead_letters = Counter(
            "talkavocado_dead_letters_total",
            "Records refused (undecodable or invalid) and sent to the dlq.",
            ["service"],
            registry=r,
        )
        self.scheduled = Gauge(
            "talkavocado_webhook_deliveries_scheduled",
            "Pending deliveries this replica has scheduled.",
            registry=r,
        )


class NotifyService:
    def __init__(
        self,
        settings: NotifySettings,
        storage: Storage,
        *,
        registry: CollectorRegistry | None = None,
        sender: Sender | None = None,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.env = settings.storage.env
        self.topics = Topics(settings.kafka.topic_prefix)
        self.group_id = f"talkavocado.{SERVICE}"
        self.webhooks = WebhookStore(storage, self.env)
        self.manifests = ManifestStore(storage)
        self.policy = settings.retry_policy
        self.sender = sender or Sender(
            allow_private=settings.allow_private_destinations,
            timeout_seconds=settings.timeout_seconds,
        )
        self.metrics = NotifyMetrics(registry)
        self.jitter = jitter
        self.clock = clock
        self.lease_seconds = settings.timeout_seconds + LEASE_MARGIN_SECONDS
        self.ready = asyncio.Event()  # set once the consumer has joined its group
        self.on_stop: Callable[[], None] | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._heap: list[tuple[float, str]] = []
        self._scheduled: dict[str, float] = {}
        self._refs: dict[str, PendingRef] = {}
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        self._consumer: EventConsumer | None = None
        self._publisher: KafkaPublisher | None = None
        self._http: MetricsServer | None = None
        self._fatal: BaseException | None = None
        self._starting = False
        self._running = False
        self.metrics.scheduled.set_function(lambda: float(len(self._scheduled)))

    # -- health, stop -------------------------------------------------------------------------

    @property
    def metrics_port(self) -> int | None:
        return None if self._http is None else self._http.port

    def health(self) -> tuple[bool, dict[str, Any]]:
        consumer = self._consumer
        serving = self._running and consumer is not None and consumer.running
        ok = (self._starting or serving) and self._fatal is None
        return ok, {
            "service": SERVICE,
            "group": self.group_id,
            "starting": self._starting,
            "draining": self._stop.is_set(),
            "inFlight": len(self._in_flight),
            "scheduled": len(self._scheduled),
        }

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        ok = self.health()[0] and self.ready.is_set() and not self._stop.is_set()
        return ok, {
            "service": SERVICE,
            "group": self.group_id,
            "joined": self.ready.is_set(),
            "draining": self._stop.is_set(),
        }

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("notify stopping: %d call(s) in flight", len(self._in_flight))
            if self.on_stop is not None:
                self.on_stop()
        self._stop.set()
        self._wake.set()

    async def run_until_signal(self) -> None:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        for sig in signals:
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await self.run()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    # -- run ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until `request_stop()`; raises NotifyCrashed if it cannot carry on."""
        if self.settings.create_topics:
            await ensure_topics(self.settings.kafka, [self.topics.status, self.topics.dlq])
        self._starting = True
        tasks: list[asyncio.Task[None]] = []
        try:
            await self._start_clients()
            self._running = True
            self._starting = False
            tasks = [
                asyncio.create_task(self._consume_forever(), name="notify consume"),
                asyncio.create_task(self._dispatch_forever(), name="notify dispatch"),
                asyncio.create_task(self._scan_forever(), name="notify scan"),
            ]
            log.info("notify consuming %s as %s", self.topics.status, self.group_id)
            await self._until_stopped_or_failed(tasks)
        finally:
            self._running = False
            self._starting = False
            await self._shut_down(tasks)
        if self._fatal is not None:
            raise NotifyCrashed(f"notify: {self._fatal}") from self._fatal
        log.info("notify stopped")

    async def _start_clients(self) -> None:
        if self.settings.metrics_enabled:
            self._http = MetricsServer(
                self.metrics.registry,
                self.health,
                ready=self.readiness,
                host=self.settings.metrics_host,
                port=self.settings.metrics_port,
            )
            await self._http.start()
        self._publisher = KafkaPublisher(self.settings.kafka, client_id="talkavocado-notify-dlq")
        self._consumer = EventConsumer(
            self.settings.kafka,
            [self.topics.status],
            group_id=self.group_id,
            publisher=self._publisher,
            dlq_topic=self.topics.dlq,
            source=f"/talkavocado/{SERVICE}",
            client_id="talkavocado-notify",
            expected_types=[STATUS_EVENT],
            on_dead_letter=lambda _reason: self.metrics.dead_letters.labels(SERVICE).inc(),
        )
        await self._publisher.start()
        await self._consumer.start()

    async def _until_stopped_or_failed(self, tasks: list[asyncio.Task[None]]) -> None:
        stop = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        for task in done:
            if task is not stop and not task.cancelled() and task.exception() is not None:
                self._fatal = task.exception()
                log.error("notify cannot carry on: %s", self._fatal, exc_info=self._fatal)

    async def _shut_down(self, tasks: list[asyncio.Task[None]]) -> None:
        self._stop.set()
        self._wake.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        in_flight = list(self._in_flight.values())
        if in_flight:  # calls in flight may finish; past the grace their leases run out
            _, pending = await asyncio.wait(in_flight, timeout=self.settings.shutdown_grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for closer in (self._consumer, self._publisher):
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer.stop()
        with contextlib.suppress(Exception):
            await self.sender.aclose()
        if self._http is not None:
            await self._http.stop()

    # -- jobs.status in -----------------------------------------------------------------------

    async def _consume_forever(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self._stop.is_set():
            deliveries = await consumer.poll(self.settings.poll_seconds)
            if consumer.assignment() and not self.ready.is_set():
                self.ready.set()
            if not await self._handle_batch(consumer, deliveries):
                await asyncio.sleep(STORAGE_RETRY_SECONDS)

    async def _handle_batch(self, consumer: EventConsumer, deliveries: list[Delivery]) -> bool:
        """Accept each event and commit it; on a failure (storage away) hand it and the rest
        of its partition back. False if anything was handed back."""
        blocked: set[Any] = set()
        handed_back: list[Delivery] = []
        for delivery in deliveries:
            if delivery.tp in blocked or self._stop.is_set():
                handed_back.append(delivery)
                continue
            try:
                refs = await self._accept(delivery.event, delivery.payload)
            except Exception as exc:
                log.warning("event %s not accepted yet: %s", delivery.event.id, exc)
                blocked.add(delivery.tp)
                handed_back.append(delivery)
                continue
            await consumer.ack(delivery)
            now = self.clock()
            for ref in refs:
                self._schedule(ref, now)
        for delivery in reversed(handed_back):  # the lowest offset of a partition seeks last
            consumer.release(delivery)
        return not blocked

    async def _accept(self, event: CloudEvent, payload: Any) -> list[PendingRef]:
        """Record a delivery per subscribed webhook; the deliveries to schedule now."""
        if not isinstance(payload, JobStatusChanged):
            return []
        kind = event_type(payload.status)
        if kind is None:
            return []
        if payload.env != self.env:
            log.debug("event %s of env %s ignored (this is %s)", event.id, payload.env, self.env)
            return []
        hooks = subscribed(await self.webhooks.list(payload.tenant_id), kind)
        if not hooks:
            return []
        manifest = await self._manifest(payload)
        body = delivery_body(
            kind, event.id, event.time, payload, manifest, self.settings.api_public_url
        )
        refs = []
        for hook in hooks:
            ref = await self._record(hook, kind, event, payload, body)
            if ref is not None:
                refs.append(ref)
        return refs

    async def _manifest(self, status: JobStatusChanged) -> Manifest | None:
        try:
            return await self.manifests.get(JobKeys(status.env, status.tenant_id, status.job_id))
        except (NotFound, ManifestInvalid, InvalidKey):
            return None

    async def _record(
        self,
        hook: Webhook,
        kind: WebhookEvent,
        event: CloudEvent,
        status: JobStatusChanged,
        body: str,
    ) -> PendingRef | None:
        """Create the delivery's record, then its index entry. None: it existed already and is
        no longer pending (a duplicate event)."""
        ref = PendingRef(
            self.webhooks.keys(status.tenant_id), hook.id, delivery_id(hook.id, occurrence(status))
        )
        now = self.clock()
        delivery = WebhookDelivery(
            id=ref.delivery_id,
            webhook_id=hook.id,
            tenant_id=status.tenant_id,
            event_id=event.id,
            event_type=kind,
            job_id=status.job_id,
            body=body,
            created_at=now,
            next_attempt_at=now,
        )
        try:
            await self.storage.write_bytes(
                ref.record_key, delivery.to_json_bytes(), if_none_match=True
            )
            self.metrics.deliveries.inc()
        except PreconditionFailed:
            self.metrics.duplicates.inc()
            found = await self._read(ref)
            log.info(
                "event %s: delivery %s to %s exists already (%s)",
                event.id,
                ref.delivery_id,
                hook.id,
                found[0].state if found else "gone",
            )
            if found is None or found[0].state != "pending":
                return None
        await self.storage.write_bytes(ref.index_key, b"{}\n")
        return ref

    # -- scheduling ---------------------------------------------------------------------------

    def _schedule(self, ref: PendingRef, due: datetime) -> None:
        key = ref.index_key
        at = due.timestamp()
        current = self._scheduled.get(key)
        if current is not None and current <= at:
            return
        self._scheduled[key] = at
        self._refs[key] = ref
        heapq.heappush(self._heap, (at, key))
        self._wake.set()

    def _pop_due(self, now: float) -> PendingRef | None:
        while self._heap and self._heap[0][0] <= now:
            at, key = heapq.heappop(self._heap)
            if self._scheduled.get(key) != at:
                continue  # rescheduled earlier meanwhile: a stale heap entry
            del self._scheduled[key]
            return self._refs.pop(key)
        return None

    async def _dispatch_forever(self) -> None:
        while not self._stop.is_set():
            ref = self._pop_due(time.time())
            if ref is not None:
                await self._slots.acquire()
                self._start_attempt(ref)
                continue
            wait = self._heap[0][0] - time.time() if self._heap else IDLE_WAKE_SECONDS
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, min(wait, IDLE_WAKE_SECONDS))):
                    await self._wake.wait()

    def _start_attempt(self, ref: PendingRef) -> None:
        key = ref.index_key
        task = asyncio.create_task(self._attempt(ref), name=f"webhook {ref.delivery_id}")
        self._in_flight[key] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._in_flight.get(key) is finished:
                del self._in_flight[key]
            self._slots.release()

        task.add_done_callback(done)

    async def _scan_forever(self) -> None:
        while not self._stop.is_set():
            try:
                await self.scan()
            except Exception as exc:
                log.warning("pending webhook deliveries not scanned: %s", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.scan_seconds):
                    await self._stop.wait()

    async def scan(self) -> int:
        """Schedule every pending delivery of the index not scheduled yet; how many."""
        found = 0
        for key in await self.storage.list(retries_prefix(self.env)):
            ref = parse_pending_key(key)
            if ref is None or key in self._scheduled or key in self._in_flight:
                continue
            record = await self._read(ref)
            due = due_at(record[0]) if record is not None else None
            if due is None:
                await self._unindex(ref)
                continue
            self._schedule(ref, due)
            found += 1
        return found

    # -- one attempt --------------------------------------------------------------------------

    async def _read(self, ref: PendingRef) -> tuple[WebhookDelivery, str] | None:
        try:
            data, etag = await self.storage.read_bytes(ref.record_key)
        except NotFound:
            return None
        return WebhookDelivery.from_json_bytes(data), etag

    async def _unindex(self, ref: PendingRef) -> None:
        await self.storage.delete(ref.index_key)

    async def _attempt(self, ref: PendingRef) -> None:
        try:
            await self._attempt_once(ref)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # storage away: the scan brings the delivery back
            log.warning("webhook delivery %s not attempted: %s", ref.delivery_id, exc)

    async def _attempt_once(self, ref: PendingRef) -> None:
        found = await self._read(ref)
        if found is None or found[0].state != "pending":
            await self._unindex(ref)
            return
        delivery, etag = found
        now = self.clock()
        if not claimable(delivery, now):
            due = due_at(delivery)
            if due is not None:
                self._schedule(ref, due)
            return
        hook = await self.webhooks.get(ref.keys.tenant_id, ref.webhook_id)
        if hook is None:
            await self._finish(ref, abandoned(delivery), etag)
            return
        claim = leased(delivery, now, self.lease_seconds)
        try:
            etag = await self.storage.write_bytes(
                ref.record_key, claim.to_json_bytes(), if_match=etag
            )
        except PreconditionFailed:
            self._schedule(ref, now + timedelta(seconds=self.lease_seconds))
            return  # another replica took it
        result = await self.sender.send(hook.url, hook.secret, delivery.id, delivery.body.encode())
        updated = after_attempt(claim, result, self.policy, self.jitter())
        outcome = "retry" if updated.state == "pending" else updated.state
        self.metrics.attempts.labels(outcome).inc()
        log.info(
            "webhook %s delivery %s (%s, job %s) try %d: %s → %s",
            hook.id,
            delivery.id,
            delivery.event_type,
            delivery.job_id,
            len(updated.attempts),
            result.status_code if result.status_code is not None else result.error,
            outcome,
        )
        await self._finish(ref, updated, etag)

    async def _finish(self, ref: PendingRef, delivery: WebhookDelivery, etag: str) -> None:
        try:
            await self.storage.write_bytes(ref.record_key, delivery.to_json_bytes(), if_match=etag)
        except (PreconditionFailed, NotFound):
            log.warning("delivery %s changed meanwhile; its outcome is not recorded", delivery.id)
            return
        due = due_at(delivery)
        if due is None:
            await self._unindex(ref)
        else:
            self._schedule(ref, due)
