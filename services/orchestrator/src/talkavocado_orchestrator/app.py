"""The orchestrator as a faust-streaming app: the `job-state` table (changelog in Kafka), one
agent over the commands, results and tick topics, and a timer that ticks rows whose deadline or
retry time has come."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from talkavocado_common.asl import default_pipeline_path, load_file
from talkavocado_common.events import CloudEvent, InvalidEvent, Topics, encode
from talkavocado_common.kafka import dead_letter_event, event_headers
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.settings import KafkaSettings, StorageSettings
from talkavocado_common.storage import open_storage

from .core.row import JobRow
from .core.transition import next_wakeup, validate_machine
from .settings import OrchestratorSettings
from .shell import SOURCE, Executor, decode_input, encode_tick, handle, tick_topic
from .transport import OrchestratorApp

log = logging.getLogger(__name__)

TABLE = "job-state"
EVENTS = Counter("orchestrator_events_total", "Inputs processed by outcome", ["outcome"])


def changelog_topic(settings: OrchestratorSettings) -> str:
    return f"{settings.app_id}-{TABLE}-changelog"


def internal_topics(kafka: KafkaSettings, settings: OrchestratorSettings) -> list[str]:
    """Every topic the app reads or writes; created up front with one partition count, since the
    table refuses inputs whose partitions differ from its changelog's."""
    topics = Topics(kafka.topic_prefix)
    return [*topics.all(), tick_topic(topics), changelog_topic(settings)]


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

    @app.agent(inputs)
    async def orchestrate(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            try:
                payload, trace, job_id = decode_input(topics, message.topic, event.value)
            except InvalidEvent as exc:
                EVENTS.labels("dead-letter").inc()
                letter = dead_letter_event(
                    reason=str(exc),
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    key=event.key,
                    value=event.value,
                    headers=list(message.headers or []),
                    consumer_group=settings.app_id,
                    source=SOURCE,
                )
                await send(topics.dlq, letter.subject, letter)
                continue
            new_row = await handle(table, job_id, payload, trace, machine, executor)
            if new_row is None:
                EVENTS.labels("ignored").inc()
                continue
            EVENTS.labels("applied").inc()
            table[job_id] = new_row.to_json_bytes().decode()

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

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST)

    return app
