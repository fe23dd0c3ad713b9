"""The step worker: a consumer-group member that runs step handlers (docs/architecture.md §5).

One loop polls the service's step topic without ever blocking on work; each step.requested runs
in its own task through `run_step` (manifest record, error codes, time limit). While a step runs
its partition is paused and the loop keeps calling poll, so the member never exceeds
max.poll.interval.ms and never leaves its group, however long the step takes. The result
(step.succeeded / step.failed) is produced to steps.results *before* the offset is committed:
a crash in between means the step is redone (handlers are idempotent), never lost.

Shutdown (SIGTERM/SIGINT, or `request_stop()`): no new work is taken; the step in flight may
finish within the grace period and is then committed; past it, it is cancelled, nothing is
produced or committed, and the group hands the record to another member.

Cancellation and supersession: every `WORKER_WATCH_SECONDS` (2 s) a running step reads its
job's manifest (one storage read; no topic of its own, and it works the same wherever the cancel
came from). If the job has ended (cancelled) or the step run has been superseded (a newer attempt
started, or the same attempt was taken over by another worker: its run token is no longer the
manifest's), the handler's task is cancelled — ffmpeg with it — and the request is committed
with no result. A request found stale before it starts is committed without running. Each
execution beats with a run token of its own, so the orchestrator tells a re-run after a crash
from the run it lost.

Observability: each step runs inside a log context (jobId, tenantId, step, correlationId) and
an OpenTelemetry span, child of the trace context the step.requested carries; its heartbeats
and result carry that span's context. /readyz answers 200 once the service's warm-up is done
and the consumer has joined its group, 503 before and while draining. A task of its own
refreshes the consumer-lag gauge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from ..events import CloudEvent, StepFailed, StepRequested, StepSucceeded, Topics, encode, new_event
from ..kafka.admin import ensure_topics
from ..kafka.consumer import Delivery, EventConsumer
from ..kafka.headers import event_headers
from ..kafka.producer import KafkaPublisher
from ..manifest_store import JobClosed, ManifestStore
from ..models import ErrorCode, Manifest
from ..observability.context import log_context
from ..observability.metrics import refresh_lag_forever
from ..observability.tracing import current_traceparent, mark_error, start_span
from ..settings import KafkaSettings
from ..step_runner import as_step_error, run_step
from ..steps import StepError, StepHandler, SubstepPublisher
from ..storage import Storage
from ..topology import is_substep, substep_service
from .core import (
    build_step_request,
    failed,
    heartbeat,
    heartbeat_interval,
    next_beat,
    reply,
    seconds_left,
    stop_reason,
    substep_key,
    substep_request,
    succeeded,
)
from .http import MetricsServer
from .metrics import WorkerMetrics
from .settings import WorkerSettings

log = logging.getLogger(__name__)

STEP_REQUESTED = "step.requested"

Warmup = Callable[[], Awaitable[None]]


class WorkerCrashed(RuntimeError):
    """The worker could not carry on (e.g. a result could not be produced); restart it."""


@dataclass
class _Progress:
    """What the handler last reported; written by the handler (maybe from a thread), read by
    the heartbeat task. Plain attribute stores: cheap and never raising."""

    fraction: float = 0.0
    message: str = "started"

    def __call__(self, fraction: float, message: str = "") -> None:
        self.fraction = fraction
        if message:
            self.message = message


@dataclass
class _InFlight:
    delivery: Delivery
    task: asyncio.Task[None]
    started: float


class StepWorker:
    def __init__(
        self,
        service: str,
        handlers: Mapping[str, StepHandler],
        kafka: KafkaSettings,
        storage: Storage,
        *,
        settings: WorkerSettings | None = None,
        topics: Topics | None = None,
        registry: CollectorRegistry | None = None,
        client_id: str | None = None,
        consumer_overrides: Mapping[str, Any] | None = None,
        warmup: Warmup | None = None,
        lag_interval: float | None = None,
    ) -> None:
        """`warmup` (e.g. loading a model in a thread) runs once at start, before the consumer
        joins its group; /readyz answers 503 until it is done, and a warm-up that raises stops
        the worker (WorkerCrashed). `lag_interval`: seconds between consumer-lag refreshes (default WORKER_LAG_SECONDS)."""
        self.topics = topics or Topics(kafka.topic_prefix)
        self.step_topic = self.topics.steps(service)  # refuses an unknown service
        self.service = service
        self.handlers = dict(handlers)
        self.kafka = kafka
        self.storage = storage
        self.manifests = ManifestStore(storage)
        self.settings = settings or WorkerSettings()
        self.group_id = f"talkavocado.{service}"
        self.source = f"/talkavocado/{service}"
        self.client_id = client_id or f"talkavocado-{service}"
        self.metrics = WorkerMetrics(service, registry)
        self._consumer_overrides = dict(consumer_overrides or {})
        self._warmup = warmup
        self._warmed = warmup is None
        self._lag_interval = lag_interval if lag_interval is not None else self.settings.lag_seconds
        self._publisher: KafkaPublisher | None = None
        self._consumer: EventConsumer | None = None
        self._http: MetricsServer | None = None
        self._in_flight: dict[Any, _InFlight] = {}
        self._stop = asyncio.Event()
        self._stop_deadline: float | None = None
        self._fatal: BaseException | None = None
        self._running = False
        self._starting = False
        self.ready = asyncio.Event()  # set once the consumer has joined its group
        self.completed = 0  # steps whose result was produced and committed (tests, /healthz)
        self.metrics.ready.labels(service).set_function(lambda: float(self.readiness()[0]))

    # -- public -------------------------------------------------------------------------------

    @property
    def metrics_port(self) -> int | None:
        return None if self._http is None else self._http.port

    @property
    def running(self) -> bool:
        return self._running

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Liveness: starting (warming up, joining) or consuming, and not crashed."""
        consumer = self._consumer
        serving = self._running and consumer is not None and consumer.running
        ok = (self._starting or serving) and self._fatal is None
        return ok, {
            "service": self.service,
            "group": self.group_id,
            "starting": self._starting,
            "draining": self._stop.is_set(),
            "inFlight": len(self._in_flight),
            "assigned": sorted(
                f"{tp.topic}[{tp.partition}]" for tp in (consumer.assignment() if consumer else ())
            ),
        }

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready for work: warmed up, consumer started and joined, not draining, not crashed."""
        consumer = self._consumer
        joined = self.ready.is_set()
        draining = self._stop.is_set()
        ok = (
            self._running
            and consumer is not None
            and consumer.running
            and joined
            and self._warmed
            and not draining
            and self._fatal is None
        )
        return ok, {
            "service": self.service,
            "group": self.group_id,
            "warmedUp": self._warmed,
            "joined": joined and self._running,
            "draining": draining,
        }

    def request_stop(self, grace: float | None = None) -> None:
        """Stop taking work; let the steps in flight finish within `grace` seconds (default the
        setting), then cancel them and hand them back. Calling again shortens the grace."""
        grace = self.settings.shutdown_grace_seconds if grace is None else grace
        deadline = time.monotonic() + grace
        if self._stop_deadline is None or deadline < self._stop_deadline:
            self._stop_deadline = deadline
        if not self._stop.is_set():
            log.info(
                "%s worker stopping: %d step(s) in flight, grace %.0f s",
                self.service,
                len(self._in_flight),
                grace,
            )
        self._stop.set()

    async def run_until_signal(self) -> None:
        """`run()` with SIGTERM/SIGINT asking for a graceful stop (a second one: stop now)."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)

        def on_signal(sig: signal.Signals) -> None:
            log.info("%s received", sig.name)
            self.request_stop(0 if self._stop.is_set() else None)

        for sig in signals:
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            await self.run()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    async def run(self) -> None:
        """Serve until `request_stop()`; raises WorkerCrashed if it cannot carry on."""
        if self.settings.create_topics:
            await ensure_topics(self.kafka, [self.step_topic, self.topics.results, self.topics.dlq])
        if self.settings.metrics_enabled:
            self._http = MetricsServer(
                self.metrics.registry,
                self.health,
                ready=self.readiness,
                host=self.settings.metrics_host,
                port=self.settings.metrics_port,
            )
            await self._http.start()
        lag_task: asyncio.Task[None] | None = None
        self._starting = True
        try:
            if await self._warm_up():
                publisher, consumer = self._make_clients()
                await publisher.start()
                await consumer.start()
                self._running = True
                self._starting = False
                lag_task = asyncio.create_task(
                    refresh_lag_forever(
                        consumer.lag, self.metrics.lag, interval=self._lag_interval
                    ),
                    name=f"{self.service} consumer lag",
                )
                log.info(
                    "%s worker consuming %s as %s (steps: %s)",
                    self.service,
                    self.step_topic,
                    self.group_id,
                    ", ".join(sorted(self.handlers)) or "none",
                )
                await self._loop(consumer)
        finally:
            self._running = False
            self._starting = False
            if lag_task is not None:
                lag_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lag_task
            self.metrics.lag.clear()
            await self._cancel_in_flight()
            if self._consumer is not None:
                with contextlib.suppress(Exception):
                    await self._consumer.stop()
            if self._publisher is not None:
                with contextlib.suppress(Exception):
                    await self._publisher.stop()
            if self._http is not None:
                await self._http.stop()
        if self._fatal is not None:
            raise WorkerCrashed(f"{self.service} worker: {self._fatal}") from self._fatal
        log.info("%s worker stopped", self.service)

    def _make_clients(self) -> tuple[KafkaPublisher, EventConsumer]:
        """The producer and the consumer (made only once the worker is warm: an unstarted
        client would never be closed)."""
        self._publisher = KafkaPublisher(self.kafka, client_id=f"{self.client_id}-producer")
        self._consumer = EventConsumer(
            self.kafka,
            [self.step_topic],
            group_id=self.group_id,
            publisher=self._publisher,
            dlq_topic=self.topics.dlq,
            source=self.source,
            client_id=self.client_id,
            expected_types=[STEP_REQUESTED],
            on_dead_letter=lambda _reason: self.metrics.dead_letters.labels(self.service).inc(),
            on_assigned=self._on_assigned,
            on_revoked=lambda _tps: self.metrics.rebalances.labels(self.service).inc(),
            **self._consumer_overrides,
        )
        return self._publisher, self._consumer

    async def _warm_up(self) -> bool:
        """Run the warm-up (False: a stop was requested meanwhile). Its failure is fatal."""
        if self._warmup is None:
            return True
        log.info("%s worker warming up", self.service)
        began = time.monotonic()
        warmup = self._warmup

        async def run_warmup() -> None:
            await warmup()

        warm = asyncio.create_task(run_warmup(), name=f"{self.service} warm-up")
        stop = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({warm, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not warm.done():
            warm.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await warm
            return False
        exc = warm.exception()
        if exc is not None:
            self._fatal = exc
            log.error("%s worker warm-up failed: %s", self.service, exc, exc_info=exc)
            return False
        seconds = time.monotonic() - began
        self.metrics.warmup_seconds.labels(self.service).set(seconds)
        self._warmed = True
        log.info("%s worker warmed up in %.2f s", self.service, seconds)
        return True

    # -- the loop -----------------------------------------------------------------------------

    async def _loop(self, consumer: EventConsumer) -> None:
        limit = self.settings.max_in_flight
        while self._fatal is None:
            if self._stop.is_set():
                if not self._in_flight:
                    return
                if self._stop_deadline is not None and time.monotonic() >= self._stop_deadline:
                    return  # run()'s finally cancels and hands back what is left
            consumer.set_paused(self._wanted_paused())
            if consumer.assignment() and not self.ready.is_set():
                self.ready.set()
            free = 0 if self._stop.is_set() else limit - len(self._in_flight)
            deliveries = await consumer.poll(
                self.settings.poll_seconds, max_records=free or None, per_partition=1
            )
            for delivery in deliveries:
                if (
                    self._stop.is_set()
                    or len(self._in_flight) >= limit
                    or (delivery.tp in self._in_flight)
                ):
                    consumer.release(delivery)  # comes again later (or to another member)
                    continue
                self._start(delivery)

    def _wanted_paused(self) -> set[Any]:
        consumer = self._consumer
        if consumer is None:
            return set()
        if self._stop.is_set() or len(self._in_flight) >= self.settings.max_in_flight:
            return consumer.assignment()
        return set(self._in_flight)

    def _on_assigned(self, assigned: list[Any]) -> None:
        # A new assignment starts unpaused: pause again the partitions still being worked on.
        if self._consumer is not None:
            self._consumer.set_paused(self._wanted_paused())
        self.ready.set()

    def _start(self, delivery: Delivery) -> None:
        task = asyncio.create_task(
            self._execute(delivery),
            name=f"step {delivery.topic}[{delivery.partition}]@{delivery.offset}",
        )
        self._in_flight[delivery.tp] = _InFlight(delivery, task, time.monotonic())
        self.metrics.in_flight.labels(self.service).inc()
        tp = delivery.tp
        task.add_done_callback(lambda done: self._finished(tp, done))

    def _finished(self, tp: Any, task: asyncio.Task[None]) -> None:
        entry = self._in_flight.get(tp)
        if entry is not None and entry.task is task:
            del self._in_flight[tp]
        self.metrics.in_flight.labels(self.service).dec()
        # Resume the partition now, not when the loop's poll next returns (up to
        # WORKER_POLL_SECONDS later): the fetcher sends its fetch at once and the poll in
        # progress returns the next request as soon as it arrives. A job's next step is
        # usually on this very partition (its key), so this is most of a step's latency.
        consumer = self._consumer
        if consumer is not None and consumer.running and not self._stop.is_set():
            consumer.set_paused(self._wanted_paused())
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and self._fatal is None:
            log.error("%s worker cannot carry on: %s", self.service, exc, exc_info=exc)
            self._fatal = exc

    async def _cancel_in_flight(self) -> None:
        entries = list(self._in_flight.values())
        for entry in entries:
            if not entry.task.done():
                log.warning(
                    "handing back %s of job %s: cancelled after the grace period, not committed",
                    getattr(entry.delivery.payload, "step", "a step"),
                    entry.delivery.event.subject,
                )
                self.metrics.handed_back.labels(self.service).inc()
                entry.task.cancel()
        for entry in entries:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await entry.task

    # -- one step -----------------------------------------------------------------------------

    async def _execute(self, delivery: Delivery) -> None:
        requested = delivery.payload
        assert isinstance(requested, StepRequested)
        request_event = delivery.event
        with (
            log_context(
                correlation_id=request_event.correlationid,
                tenant_id=requested.tenant_id,
                job_id=requested.job_id,
                step=requested.state,
            ),
            start_span(
                f"step {requested.step}",
                headers=delivery.headers,
                traceparent=request_event.traceparent,
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation": "process",
                    "messaging.destination.name": delivery.topic,
                    "messaging.kafka.destination.partition": delivery.partition,
                    "messaging.kafka.message.offset": delivery.offset,
                    "messaging.message.id": request_event.id,
                    "talkavocado.service": self.service,
                    "talkavocado.job_id": requested.job_id,
                    "talkavocado.tenant_id": requested.tenant_id,
                    "talkavocado.step": requested.step,
                    "talkavocado.state": requested.state,
                    "talkavocado.step_run_id": requested.step_run_id,
                    "talkavocado.attempt": requested.attempt,
                    "talkavocado.correlation_id": request_event.correlationid,
                },
            ) as span,
        ):
            outcome = await self._execute_in_context(delivery, requested, request_event)
            if outcome is None:
                span.set_attribute("talkavocado.stopped", True)
            elif isinstance(outcome, StepFailed):
                span.set_attribute("talkavocado.error_code", str(outcome.error.code))
                mark_error(span, f"{outcome.error.code}: {outcome.error.message}")

    async def _execute_in_context(
        self, delivery: Delivery, requested: StepRequested, request_event: CloudEvent
    ) -> StepSucceeded | StepFailed | None:
        """Run the step and report its result; None when it was stopped (or found stale before
        it started): the request is committed and nothing is reported."""
        began = time.monotonic()
        progress = _Progress()
        run = uuid.uuid4().hex[:16]
        stale = await self._check(requested, run)
        if stale is not None:
            await self._stopped(delivery, requested, f"not run: {stale}")
            return None
        log.info(
            "%s of job %s started (run %s, execution %s, correlation %s)",
            requested.step,
            requested.job_id,
            requested.step_run_id,
            run,
            request_event.correlationid,
            extra={"attempt": requested.attempt, "stepRunId": requested.step_run_id},
        )
        beats = asyncio.create_task(
            self._heartbeats(request_event, requested, progress, began, run)
        )
        work = asyncio.create_task(self._run(requested, progress, run, request_event))
        watch = asyncio.create_task(self._watch(requested, run, work))
        try:
            outcome = await work
        except asyncio.CancelledError:
            if not watch.done() or asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise  # cancelled from outside (shutdown): handed back, not committed
            outcome = None
        finally:
            for helper in (beats, watch, work):
                helper.cancel()
            for helper in (beats, watch):
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
        if outcome is None:
            reason = watch.result() if watch.done() and not watch.cancelled() else None
            await self._stopped(delivery, requested, reason or "the job has ended")
            return None
        seconds = time.monotonic() - began
        result = reply(
            outcome, request_event, source=self.source, traceparent=current_traceparent()
        )
        assert self._publisher is not None
        assert self._consumer is not None
        await self._publisher.publish(self.topics.results, result)  # the result first ...
        committed = await self._consumer.ack(delivery)  # ... then the offset
        label = "succeeded" if isinstance(outcome, StepSucceeded) else "failed"
        self.metrics.step_done(requested.step, label, seconds)
        if isinstance(outcome, StepFailed):
            self.metrics.step_failed(requested.step, str(outcome.error.code))
        self.completed += 1
        log.info(
            "%s of job %s %s in %.1f s%s%s",
            requested.step,
            requested.job_id,
            label,
            seconds,
            ""
            if isinstance(outcome, StepSucceeded)
            else f": {outcome.error.code}: {outcome.error.message}",
            "" if committed else " (not committed: partition moved, the new owner redoes it)",
        )
        return outcome

    async def _manifest(self, requested: StepRequested) -> Manifest | None:
        """The job's manifest; None when it cannot be read (the step itself will meet that)."""
        try:
            return await self.manifests.get(build_step_request(requested).keys)
        except Exception as exc:
            log.debug("could not read the manifest of job %s: %s", requested.job_id, exc)
            return None

    async def _check(self, requested: StepRequested, run: str) -> str | None:
        """Why a request must not be run (the job has ended, a newer attempt started)."""
        manifest = await self._manifest(requested)
        return None if manifest is None else stop_reason(manifest, requested, run, started=False)

    async def _watch(self, requested: StepRequested, run: str, work: asyncio.Task[Any]) -> str:
        """Every watch interval, check the manifest; cancel `work` and return why once the job
        has ended or this execution has been superseded. Runs until cancelled otherwise.
        Another execution's token counts only once this one has seen its own in the manifest
        (before, it may be the token of the execution it replaces)."""
        interval = self.settings.watch_seconds
        seen = False
        while True:
            await asyncio.sleep(interval)
            manifest = await self._manifest(requested)
            if manifest is None:
                continue
            record = manifest.steps.get(requested.step)
            seen = seen or (record is not None and record.run == run)
            reason = stop_reason(manifest, requested, run, started=seen)
            if reason is not None:
                log.warning(
                    "stopping %s of job %s (run %s): %s",
                    requested.step,
                    requested.job_id,
                    requested.step_run_id,
                    reason,
                )
                work.cancel()
                return reason

    async def _stopped(self, delivery: Delivery, requested: StepRequested, reason: str) -> None:
        """Commit a request whose run was stopped or not started: nobody waits for its result."""
        assert self._consumer is not None
        committed = await self._consumer.ack(delivery)
        self.metrics.step_done(requested.step, "stopped", 0.0)
        log.info(
            "%s of job %s (run %s) stopped: %s%s",
            requested.step,
            requested.job_id,
            requested.step_run_id,
            reason,
            "" if committed else " (not committed: partition moved)",
        )

    async def _run(
        self,
        requested: StepRequested,
        progress: _Progress,
        run: str | None = None,
        request_event: CloudEvent | None = None,
    ) -> StepSucceeded | StepFailed | None:
        """Run the handler; every failure becomes a step.failed with a contract error code.
        None: the job has ended (a change of the step was refused); nothing to report."""
        began = time.monotonic()

        def fail(code: ErrorCode, message: str) -> StepFailed:
            return failed(requested, code, message, time.monotonic() - began)

        handler = self.handlers.get(requested.step)
        if handler is None:
            known = ", ".join(sorted(self.handlers)) or "none"
            return fail(
                ErrorCode.INTERNAL,
                f"the {self.service} service has no step {requested.step!r} (it runs: {known})",
            )
        try:
            request = build_step_request(requested)
        except StepError as exc:
            return fail(exc.code, exc.message)
        limit = seconds_left(requested.deadline, datetime.now(UTC))
        if limit <= 0:
            return fail(ErrorCode.TIMEOUT, "the step's deadline passed before it could start")
        try:
            outcome = await run_step(
                handler,
                request,
                storage=self.storage,
                manifests=self.manifests,
                progress=progress,
                attempt=requested.attempt,
                time_limit=limit,
                scratch_root=self._scratch_root(),
                run=run,
                **self._substep_options(requested, request_event),
            )
        except JobClosed as exc:
            log.info("%s of job %s: %s", requested.step, requested.job_id, exc)
            return None
        except Exception as exc:  # the manifest could not be read or written, storage down...
            error = as_step_error(exc)
            log.warning("%s of job %s: %s", requested.step, requested.job_id, error)
            return fail(error.code, error.message)
        if outcome.error is not None:
            return fail(outcome.error.code, outcome.error.message)
        done = succeeded(requested, dict(outcome.result or {}), outcome.seconds)
        try:
            done.to_jsonable()  # what the event will carry: fail here, not at produce time
        except (ValueError, TypeError) as exc:
            return fail(ErrorCode.INTERNAL, f"the step's result is not JSON: {exc}")
        return done

    def _substep_options(
        self, requested: StepRequested, request_event: CloudEvent | None
    ) -> dict[str, Any]:
        """run_step's options for sub-steps: a sub-step is not recorded in the manifest and
        publishes none of its own; a step gets a publisher of sub-steps."""
        if is_substep(requested.step):
            return {"record": False}
        if request_event is None:
            return {}
        return {"substeps": self._substep_publisher(requested, request_event)}

    def _substep_publisher(
        self, requested: StepRequested, request_event: CloudEvent
    ) -> SubstepPublisher:
        async def publish(step: str, name: str, payload: Mapping[str, Any]) -> None:
            event = new_event(
                STEP_REQUESTED,
                substep_request(requested, step, name, payload),
                source=self.source,
                subject=requested.job_id,
                tenant_id=requested.tenant_id,
                correlation_id=request_event.correlationid,
                traceparent=current_traceparent(),
            )
            assert self._publisher is not None
            await self._publisher.publish_raw(
                self.topics.steps(substep_service(step)),
                encode(event),
                key=substep_key(requested, name),
                headers=event_headers(event),
            )

        return publish

    def _scratch_root(self) -> Path | None:
        root = self.settings.scratch_dir
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        return root

    async def _heartbeats(
        self,
        request_event: CloudEvent,
        requested: StepRequested,
        progress: _Progress,
        began: float,
        run: str | None = None,
    ) -> None:
        """step.heartbeat now (the orchestrator starts the step's heartbeat clock on it) and then
        at least every HeartbeatSeconds/3 until cancelled, each carrying the execution's token."""
        assert self._publisher is not None
        interval = heartbeat_interval(
            requested.heartbeat_seconds, self.settings.heartbeat_default_seconds
        )
        while True:
            beat = reply(
                heartbeat(requested, progress.fraction, progress.message, run),
                request_event,
                source=self.source,
                traceparent=current_traceparent(),
            )
            try:
                await self._publisher.publish(self.topics.results, beat)
                self.metrics.heartbeats.labels(self.service).inc()
            except Exception as exc:  # a lost heartbeat is not worth failing the step for
                log.warning("heartbeat for %s not sent: %s", requested.step_run_id, exc)
            now = time.monotonic()
            await asyncio.sleep(next_beat(began, interval, now) - now)
