"""The agent over the orchestrator's inputs (commands, results, ticks): each record, in the
job's log context, through the transition function (shell.handle), its new row stored in the
`job-state` table; a record that does not decode is dead-lettered.

Acknowledgements are manual: a record is acknowledged once its commands are carried out and
its row stored, never before. A command that fails is retried (retrying.py) and the agent does
not move past the record meanwhile; when a rebalance or a stop cuts the retries short, the
record is left unacknowledged, so its offset is not committed and it is delivered again.

A Tick for the row of an ended job whose retention is over deletes the row (a tombstone in
the changelog); every row written or deleted updates the timer's index (timer.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from datetime import datetime
from functools import partial
from typing import cast

import faust
from faust.streams import Stream
from faust.types.events import EventT
from faust.types.streams import StreamT
from faust.types.tuples import Message

from talkavocado_common.asl import StateMachine
from talkavocado_common.events import InvalidEvent, JobRetryRequested, Topics
from talkavocado_common.kafka import CORRELATION_HEADER, header
from talkavocado_common.observability.context import log_context
from talkavocado_common.pipeline.commands import Tick
from talkavocado_common.pipeline.row import JobRow

from .dead_letter import DeadLetters
from .metrics import OrchestratorMetrics
from .retrying import Abandoned, Proceed
from .shell import Executor, decode_input, handle
from .timer import Retention, expired

log = logging.getLogger(__name__)

AGENT_NAME = "talkavocado_orchestrator.app.orchestrate"
"""The agent's name in faust (the one it had when it was defined inside create_app)."""


RawHeaders = Mapping[str, object] | Iterable[tuple[str, object]] | None


def record_headers(raw: RawHeaders) -> list[tuple[str, bytes]]:
    """A faust message's headers (a list of pairs or a mapping) as a list of (name, bytes)."""
    items = raw.items() if isinstance(raw, Mapping) else (raw or [])
    return [
        (str(k), v if isinstance(v, bytes) else str(v).encode()) for k, v in items if v is not None
    ]


Track = Callable[[str, JobRow | None], None]  # (job id, the row written; None: deleted)


def _untracked(job_id: str, row: JobRow | None) -> None:
    return None


def _keep(message: Message) -> None:
    return None


def partition_still_ours(app: faust.App) -> Proceed:
    """Whether the record in hand is still this worker's to finish: not once the app stops or
    a rebalance starts (faust suspends the flow for both), nor once its partition's
    generation is over."""

    def proceed() -> bool:
        if app.should_stop or not app.flow_control.is_active():
            return False
        event = faust.current_event()
        return event is None or event.message.generation_id == app.consumer_generation_id

    return proceed


def forget_unacked(app: faust.App) -> Callable[[Message], None]:
    """Stop faust from waiting for a record left unacknowledged on purpose: a rebalance and a
    stop first wait until every record in flight is acknowledged (Consumer.wait_empty), which a
    record left for redelivery never is. It stays uncommitted all the same."""

    def forget(message: Message) -> None:
        app.consumer.unacked.discard(message)

    return forget


def key_text(key: object) -> str | None:
    """A record's key as text (the job id), or None when it has none."""
    if isinstance(key, bytes):
        return key.decode("utf-8", errors="replace")
    return key if isinstance(key, str) else None


class JobStateAgent:
    """Drives the transition function from the agent's stream. `rows` is the job-state table
    (job id → JSON row) of the partitions this worker owns."""

    def __init__(
        self,
        *,
        topics: Topics,
        machine: StateMachine,
        rows: MutableMapping[str, str],
        executor: Executor,
        dead_letters: DeadLetters,
        metrics: OrchestratorMetrics,
        retention: Retention | None = None,
        track: Track = _untracked,
        release: Callable[[Message], None] = _keep,
        revision_machine: StateMachine | None = None,
    ) -> None:
        self.topics = topics
        self.machine = machine
        self.revision_machine = revision_machine
        self.rows = rows
        self.executor = executor
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.retention = retention or Retention()
        self.track = track
        self.release = release

    async def orchestrate(self, stream: StreamT[bytes]) -> None:
        """The agent: every event of the stream, in its job's log context, acknowledged once
        it is handled (manual acks: an abandoned event is not)."""
        manual = cast(Stream[bytes], stream).noack()  # StreamT does not declare noack()
        async for event in manual.events():
            if await self.on_event(event):
                await manual.ack(event)
            else:
                self.release(event.message)
            del event  # no reference to a released record while waiting for the next one

    async def on_event(self, event: EventT[bytes]) -> bool:
        """Handle one event; False when it was abandoned (to be delivered again)."""
        message = event.message
        headers = record_headers(message.headers)
        with log_context(
            correlation_id=header(headers, CORRELATION_HEADER),
            job_id=key_text(event.key),
            tenant_id=None,
            step=None,
        ):
            key, value = cast(bytes | None, event.key), cast(bytes | None, event.value)
            try:
                await self.process(message, key, value, headers)
            except Abandoned as exc:
                self.metrics.events.labels("abandoned").inc()
                log.warning(
                    "%s[%s]@%s left unacknowledged, to be delivered again (%s)",
                    message.topic,
                    message.partition,
                    message.offset,
                    exc,
                )
                return False
            except Exception as exc:
                # Not a command (those are retried) but the handling itself: a row that does
                # not parse, a bug. It would fail the same way again, so the record is
                # dead-lettered with the reason rather than holding up its partition.
                log.exception(
                    "handling %s[%s]@%s failed", message.topic, message.partition, message.offset
                )
                reason = InvalidEvent(f"the orchestrator failed on it: {type(exc).__name__}: {exc}")
                await self.executor.persist(
                    "DeadLetter",
                    partial(self.dead_letters.refuse, message, key, value, headers, reason),
                )
        return True

    async def process(
        self,
        message: Message,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
    ) -> None:
        """One record: decoded (else dead-lettered), through the machine, its row stored."""
        try:
            payload, trace, job_id = decode_input(self.topics, message.topic, value)
        except InvalidEvent as exc:
            await self.executor.persist(
                "DeadLetter", partial(self.dead_letters.refuse, message, key, value, headers, exc)
            )
            return
        if isinstance(payload, Tick) and self.remove_expired(job_id, payload.now):
            return
        new_row = await handle(
            self.rows,
            job_id,
            payload,
            trace,
            self.machine,
            self.executor,
            headers=headers,
            metrics=self.metrics,
            revision_machine=self.revision_machine,
        )
        if new_row is None:
            self.metrics.events.labels("ignored").inc()
            if isinstance(payload, JobRetryRequested) and self.rows.get(job_id) is None:
                log.warning("retry ignored: the job has no row and the request no record of it")
            return
        self.metrics.events.labels("applied").inc()
        self.rows[job_id] = new_row.to_json_bytes().decode()
        self.track(job_id, new_row)

    def remove_expired(self, job_id: str, now: datetime) -> bool:
        """Delete the row if its job ended longer than the retention ago (True if deleted)."""
        stored = self.rows.get(job_id)
        if stored is None:
            return False
        row = JobRow.from_json_bytes(stored)
        if not expired(row, now, self.retention):
            return False
        del self.rows[job_id]  # a faust table writes a tombstone to its changelog
        self.track(job_id, None)
        self.metrics.rows_removed.labels(row.status.value).inc()
        log.info("row of the %s job removed after its retention", row.status.value)
        return True
