"""The imperative shell around the transition function: decode what arrives, load the job's
row, call `transition`, carry out its commands, store the row.

Commands are carried out *before* the row is stored: if the process dies in between, the event
is delivered again and the unchanged row yields the same commands (at-least-once; duplicates
are harmless — step runs are idempotent and results are matched on stepRunId). A command that
fails is retried with backoff until it is carried out; the agent acknowledges the event only
then, so a failure never loses it (retrying.py, agent.py).

Each input is handled inside a span, child of the trace context the record carries (headers,
else envelope; a Tick: the job's own, kept from its submission), and inside the job's log
context; the events it produces carry that span's context.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial

from opentelemetry.trace import SpanKind

from talkavocado_common.asl import StateMachine
from talkavocado_common.events import CloudEvent, InvalidEvent, Topics, decode, new_event
from talkavocado_common.manifest_changes import SetStatus
from talkavocado_common.manifest_store import ManifestInvalid, ManifestStore
from talkavocado_common.models import JobStatus
from talkavocado_common.observability.context import log_context
from talkavocado_common.observability.tracing import current_traceparent, mark_error, start_span
from talkavocado_common.pipeline.commands import (
    Command,
    EmitStatus,
    Event,
    RequestStep,
    SetManifest,
    Tick,
    Trace,
)
from talkavocado_common.pipeline.row import JobRow
from talkavocado_common.pipeline.transition import transition
from talkavocado_common.storage import JobKeys, NotFound

from .metrics import OrchestratorMetrics
from .retrying import Retry

log = logging.getLogger(__name__)

SOURCE = "/talkavocado/orchestrator"
Send = Callable[[str, str, CloudEvent], Awaitable[None]]  # (topic, key, event)

_ORCHESTRATOR_EVENTS = frozenset(
    {
        "job.submitted",
        "job.cancel-requested",
        "job.retry-requested",
        "job.resume-requested",
        "job.render-requested",
        "step.heartbeat",
        "step.succeeded",
        "step.failed",
    }
)


def tick_topic(topics: Topics) -> str:
    """The orchestrator's own topic of timer readings, keyed by job id like its inputs, so a
    Tick reaches the row on the partition that owns it (a table is only written in a stream)."""
    return f"{topics.prefix}orchestrator.ticks"


def encode_tick(job_id: str, now: datetime) -> bytes:
    return json.dumps({"jobId": job_id, "now": now.isoformat()}).encode()


def decode_input(topics: Topics, topic: str, value: bytes | None) -> tuple[Event, Trace, str]:
    """A record of jobs.commands, steps.results or the tick topic → (event, trace, job id).
    Raises InvalidEvent with the reason."""
    if topic == tick_topic(topics):
        try:
            raw = json.loads(value or b"")
            return Tick(now=datetime.fromisoformat(raw["now"])), Trace(), str(raw["jobId"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidEvent(f"invalid tick: {exc}") from None
    envelope, payload = decode(value)
    if envelope.type not in _ORCHESTRATOR_EVENTS:
        raise InvalidEvent(f"{envelope.type} is not an orchestrator input")
    trace = Trace(correlation_id=envelope.correlationid, traceparent=envelope.traceparent)
    return payload, trace, envelope.subject  # type: ignore[return-value]


class Executor:
    """Carries out commands: produce events, update manifests. With `retry`, a command that
    fails is carried out again until it succeeds (or the event is abandoned: retrying.py)."""

    def __init__(
        self, topics: Topics, manifests: ManifestStore, send: Send, retry: Retry | None = None
    ) -> None:
        self.topics = topics
        self.manifests = manifests
        self.send = send
        self.retry = retry

    async def run(self, commands: list[Command]) -> None:
        """Each command in order; one that fails is retried on its own, so the ones before it
        are not carried out twice."""
        for command in commands:
            await self.persist(type(command).__name__, partial(self.carry_out, command))

    async def persist(self, what: str, action: Callable[[], Awaitable[None]]) -> None:
        """`action()`, retried until it succeeds when this executor retries."""
        if self.retry is None:
            await action()
        else:
            await self.retry.run(what, action)

    async def carry_out(self, command: Command) -> None:
        if isinstance(command, RequestStep):
            await self._request_step(command)
        elif isinstance(command, EmitStatus):
            await self._emit_status(command)
        else:
            await self._set_manifest(command)

    async def _request_step(self, command: RequestStep) -> None:
        event = new_event(
            "step.requested",
            command.request,
            source=SOURCE,
            subject=command.request.job_id,
            tenant_id=command.request.tenant_id,
            correlation_id=command.trace.correlation_id,
            traceparent=current_traceparent() or command.trace.traceparent,
        )
        await self.send(self.topics.steps(command.service), command.request.job_id, event)
        request = command.request
        log.info(
            "requested %s from %s (attempt %d)",
            request.state,
            command.service,
            request.attempt,
            extra={"step": request.state},
        )

    async def _emit_status(self, command: EmitStatus) -> None:
        event = new_event(
            "job.status-changed",
            command.event,
            source=SOURCE,
            subject=command.event.job_id,
            tenant_id=command.event.tenant_id,
            correlation_id=command.trace.correlation_id,
            traceparent=current_traceparent() or command.trace.traceparent,
        )
        await self.send(self.topics.status, command.event.job_id, event)
        status = command.event
        log.info(
            "job %s at %s (%.0f%% done)%s",
            status.status.value,
            status.state or "-",
            status.progress * 100,
            f": {status.error.code}: {status.error.message}" if status.error else "",
        )

    async def _set_manifest(self, command: SetManifest) -> None:
        keys = JobKeys(command.job.env, command.job.tenant_id, command.job.job_id)
        # Waiting cannot fix a manifest that is missing or does not validate: skipped, so one
        # bad job does not hold up its partition. Anything else (storage down, a conflict)
        # raises, and is retried.
        try:
            await self.manifests.update(keys, SetStatus(command.status, command.error))
        except NotFound:
            log.warning(
                "job %s has no manifest; status %s not recorded", keys.job_id, command.status
            )
        except ManifestInvalid as exc:
            log.error("status %s not recorded: %s", command.status, exc)


def event_name(event: Event) -> str:
    """The event type of an input (`tick` for the timer's)."""
    if isinstance(event, Tick):
        return "tick"
    return {
        "JobSubmitted": "job.submitted",
        "JobCancelRequested": "job.cancel-requested",
        "JobRetryRequested": "job.retry-requested",
        "JobResumeRequested": "job.resume-requested",
        "JobRenderRequested": "job.render-requested",
        "StepHeartbeat": "step.heartbeat",
        "StepSucceeded": "step.succeeded",
        "StepFailed": "step.failed",
    }.get(type(event).__name__, type(event).__name__)


async def handle(
    rows: Mapping[str, str],
    job_id: str,
    event: Event,
    trace: Trace,
    machine: StateMachine,
    executor: Executor,
    *,
    now: datetime | None = None,
    headers: Sequence[tuple[str, bytes]] = (),
    metrics: OrchestratorMetrics | None = None,
    revision_machine: StateMachine | None = None,
) -> JobRow | None:
    """One input through the machine (a review revision's through `revision_machine`).
    Returns the new row (or None when unchanged).

    `headers` are the record's (their trace context is the parent of this input's span);
    `metrics` counts retries, status transitions and failures."""
    stored = rows.get(job_id)
    row = JobRow.from_json_bytes(stored) if stored is not None else None
    moment = now or (event.now if isinstance(event, Tick) else datetime.now(UTC))
    kind = event_name(event)
    state = getattr(event, "state", None) or (row.state if row is not None else None)
    tenant = getattr(event, "tenant_id", None) or (row.tenant_id if row is not None else None)
    correlation = trace.correlation_id or (row.correlation_id if row is not None else None)
    with (
        log_context(job_id=job_id, tenant_id=tenant, correlation_id=correlation, step=state),
        start_span(
            f"orchestrator {kind}",
            headers=headers,
            traceparent=trace.traceparent or (row.traceparent if row is not None else None),
            kind=SpanKind.CONSUMER,
            attributes={
                "talkavocado.service": "orchestrator",
                "talkavocado.event_type": kind,
                "talkavocado.job_id": job_id,
                "talkavocado.tenant_id": tenant,
                "talkavocado.state": state,
                "talkavocado.correlation_id": correlation,
            },
        ) as span,
    ):
        new_row, commands = transition(
            row, event, moment, machine, trace=trace, revision_machine=revision_machine
        )
        if metrics is not None:
            metrics.observe(row, new_row, event)
        if new_row is row:
            span.set_attribute("talkavocado.ignored", True)
            return None
        if new_row is not None:
            span.set_attribute("talkavocado.status", new_row.status.value)
            if new_row.state is not None:
                span.set_attribute("talkavocado.next_state", new_row.state)
            if new_row.status is JobStatus.FAILED and new_row.error is not None:
                mark_error(span, f"{new_row.error.code}: {new_row.error.message}")
        await executor.run(commands)
        return new_row
