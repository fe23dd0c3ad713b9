"""The orchestrator as a faust-streaming app: the `job-state` table (changelog in Kafka), one
agent over the commands, results and tick topics, and a timer that ticks rows whose deadline or
retry time has come.

Its web server serves /healthz and /metrics (the process's default Prometheus registry: the
counters of metrics.py, jobs by status from the table and the consumer lag of the agent's input
topics, both refreshed on each scrape)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from talkavocado_common.asl import default_pipeline_path, load_file
from talkavocado_common.events import CloudEvent, InvalidEvent, Topics, encode
from talkavocado_common.kafka import CORRELATION_HEADER, dead_letter_event, event_headers, header
from talkavocado_common.kafka.offsets import partition_lags
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.observability.context import log_context
from talkavocado_common.observability.metrics import refresh_lag
from talkavocado_common.pipeline.row import JobRow
from talkavocado_common.pipeline.transition import next_wakeup, validate_machine
from talkavocado_common.settings import KafkaSettings, StorageSettings
from talkavocado_common.storage import open_storage

from .metrics import OrchestratorMetrics
from .settings import OrchestratorSettings
from .shell import SOURCE, Executor, decode_input, encode_tick, handle, tick_topic
from .transport import OrchestratorApp

log = logging.getLogger(__name__)

TABLE = "job-state"
METRICS = OrchestratorMetrics()
LAG_TIMEOUT_SECONDS = 2.0


def changelog_topic(settings: OrchestratorSettings) -> str:
    return f"{settings.app_id}-{TABLE}-changelog"


def internal_topics(kafka: KafkaSettings, settings: OrchestratorSettings) -> list[str]:
    """Every topic the app reads or writes; created up front with one partition count, since the
    table refuses inputs whose partitions differ from its changelog's."""
    topics = Topics(kafka.topic_prefix)
    return [*topics.all(), tick_topic(topics), changelog_topic(settings)]


def record_headers(raw: Any) -> list[tuple[str, bytes]]:
    """A faust message's headers (a list of pairs or a mapping) as a list of (name, bytes)."""
    items = raw.items() if isinstance(raw, Mapping) else (raw or [])
    return [
        (str(k), v if isinstance(v, bytes) else str(v).encode()) for k, v in items if v is not None
    ]


async def consumer_lag(consumer: Any, topics: Collection[str]) -> dict[Any, int]:
    """End offset minus committed offset of the assigned partitions of `topics` (the agent's
    inputs; the table's changelog is only read at recovery and never committed)."""
    tps = sorted(
        (tp for tp in consumer.assignment() if tp.topic in topics),
        key=lambda tp: (tp.topic, tp.partition),
    )
    if not tps:
        return {}
    ends: Mapping[Any, int] = await consumer.highwaters(*tps)
    committed: Mapping[Any, int | None] = getattr(consumer, "_committed_offset", {})
    never = [tp for tp in tps if committed.get(tp) is None]
    starts: Mapping[Any, int] = await consumer.earliest_offsets(*never) if never else {}
    return partition_lags(tps, ends, committed, starts)


def _key_text(key: Any) -> str | None:
    if isinstance(key, bytes):
        return key.decode("utf-8", errors="replace")
    return key if isinstance(key, str) else None


def create_app(
    kafka: KafkaSettings, storage: StorageSettings, settings: OrchestratorSettings
) -> faust.App:
    machine = load_file(settings.pipeline or default_pipeline_path())
    validate_machine(machine)
    topics = Topics(kafka.topic_prefix)
    app = OrchestratorApp(
        settings.app_id,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        broker=[f"kafka://{server.strip()}" for server in kafka.bootstrap_servers.split(",")],
        store="memory://",
        datadir=str(settings.data_dir),
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        topic_allow_declare=False,  # created up front (internal_topics) with matching partitions
        table_standby_replicas=0,  # a timer then sees only the rows this worker owns
        broker_session_timeout=kafka.session_timeout_ms / 1000,
        broker_heartbeat_interval=kafka.heartbeat_interval_ms / 1000,
        broker_max_poll_interval=kafka.max_poll_interval_ms / 1000,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        web_port=settings.web_port,
        web_bind="0.0.0.0",
        web_in_thread=False,
    )
    raw: dict[str, Any] = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    inputs = app.topic(topics.commands, topics.results, tick_topic(topics), **raw)
    outputs = {name: app.topic(name, **raw) for name in [*topics.all(), tick_topic(topics)]}
    table = app.Table(TABLE, partitions=kafka.partitions, key_type=str, value_type=str)
    manifests = ManifestStore(open_storage(storage.storage_url, storage))

    async def send(topic: str, key: str, event: CloudEvent) -> None:
        await outputs[topic].send(
            key=key.encode(), value=encode(event), headers=list(event_headers(event))
        )

    executor = Executor(topics, manifests, send)
    ticked: dict[str, datetime] = {}

    async def process(
        message: Any, key: Any, value: Any, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        try:
            payload, trace, job_id = decode_input(topics, message.topic, value)
        except InvalidEvent as exc:
            METRICS.events.labels("dead-letter").inc()
            letter = dead_letter_event(
                reason=str(exc),
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                key=key,
                value=value,
                headers=list(headers),
                consumer_group=settings.app_id,
                source=SOURCE,
            )
            log.warning(
                "dead letter %s[%s]@%s: %s", message.topic, message.partition, message.offset, exc
            )
            await send(topics.dlq, letter.subject, letter)
            return
        new_row = await handle(
            table, job_id, payload, trace, machine, executor, headers=headers, metrics=METRICS
        )
        if new_row is None:
            METRICS.events.labels("ignored").inc()
            return
        METRICS.events.labels("applied").inc()
        table[job_id] = new_row.to_json_bytes().decode()

    @app.agent(inputs)
    async def orchestrate(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            headers = record_headers(message.headers)
            with log_context(
                correlation_id=header(headers, CORRELATION_HEADER),
                job_id=_key_text(event.key),
                tenant_id=None,
                step=None,
            ):
                await process(message, event.key, event.value, headers)

    @app.timer(settings.tick_seconds)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        now = datetime.now(UTC)
        for key, value in list(table.items()):
            due = next_wakeup(JobRow.from_json_bytes(value))
            if due is None:
                ticked.pop(key, None)
            elif due <= now and ticked.get(key) != due:
                ticked[key] = due
                await outputs[tick_topic(topics)].send(
                    key=key.encode(), value=encode_tick(key, now)
                )

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        # Not ready while the job-state table is restored from its changelog or partitions
        # are being reassigned: events wait until then.
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        ready = recovered and not app.rebalancing
        body = {"ready": ready, "recovered": recovered, "rebalancing": bool(app.rebalancing)}
        return web.json(body, status=200 if ready else 503)

    input_topics = frozenset({topics.commands, topics.results, tick_topic(topics)})

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        METRICS.count_jobs(list(table.values()))

        async def lag() -> dict[Any, int]:
            return await consumer_lag(app.consumer, input_topics)

        await refresh_lag(lag, METRICS.lag, within=LAG_TIMEOUT_SECONDS)
        # aiohttp refuses a charset inside `content_type`: the full type goes in as a header.
        return web.bytes(
            generate_latest(METRICS.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    return app
