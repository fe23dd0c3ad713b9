"""The agent over the orchestrator's inputs (commands, results, ticks): each record, in the
job's log context, through the transition function (shell.handle), its new row stored in the
`job-state` table; a record that does not decode is dead-lettered."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import cast

from faust.types.events import EventT
from faust.types.streams import StreamT
from faust.types.tuples import Message

from talkavocado_common.asl import StateMachine
from talkavocado_common.events import InvalidEvent, Topics
from talkavocado_common.kafka import CORRELATION_HEADER, header
from talkavocado_common.observability.context import log_context

from .dead_letter import DeadLetters
from .metrics import OrchestratorMetrics
from .shell import Executor, decode_input, handle

AGENT_NAME = "talkavocado_orchestrator.app.orchestrate"
"""The agent's name in faust (the one it had when it was defined inside create_app)."""


RawHeaders = Mapping[str, object] | Iterable[tuple[str, object]] | None


def record_headers(raw: RawHeaders) -> list[tuple[str, bytes]]:
    """A faust message's headers (a list of pairs or a mapping) as a list of (name, bytes)."""
    items = raw.items() if isinstance(raw, Mapping) else (raw or [])
    return [
        (str(k), v if isinstance(v, bytes) else str(v).encode()) for k, v in items if v is not None
    ]


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
    ) -> None:
        self.topics = topics
        self.machine = machine
        self.rows = rows
        self.executor = executor
        self.dead_letters = dead_letters
        self.metrics = metrics

    async def orchestrate(self, stream: StreamT[bytes]) -> None:
        """The agent: every event of the stream, in its job's log context."""
        async for event in stream.events():
            await self.on_event(event)

    async def on_event(self, event: EventT[bytes]) -> None:
        message = event.message
        headers = record_headers(message.headers)
        with log_context(
            correlation_id=header(headers, CORRELATION_HEADER),
            job_id=key_text(event.key),
            tenant_id=None,
            step=None,
        ):
            await self.process(
                message, cast(bytes | None, event.key), cast(bytes | None, event.value), headers
            )

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
            await self.dead_letters.refuse(message, key, value, headers, exc)
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
        )
        if new_row is None:
            self.metrics.events.labels("ignored").inc()
            return
        self.metrics.events.labels("applied").inc()
        self.rows[job_id] = new_row.to_json_bytes().decode()
