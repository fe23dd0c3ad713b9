"""The orchestrator as a faust-streaming app: the `job-state` table (changelog in Kafka), one
agent over the commands, results and tick topics (agent.py), a timer that ticks rows whose
deadline or retry time has come (timer.py) and the web server's /healthz, /readyz and /metrics
(web.py). faust's private API is only used through faust_adapter.py."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import faust
from faust.types.topics import TopicT

from talkavocado_common.active_jobs import ActiveJobs
from talkavocado_common.asl import default_pipeline_path, default_revision_path, load_file
from talkavocado_common.events import CloudEvent, Topics, encode
from talkavocado_common.kafka import event_headers
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.pipeline.transition import validate_machine
from talkavocado_common.settings import KafkaSettings, StorageSettings
from talkavocado_common.storage import open_storage

from .agent import AGENT_NAME, JobStateAgent, forget_unacked, partition_still_ours
from .backoff import Backoff
from .dead_letter import DeadLetters
from .faust_adapter import OrchestratorApp
from .metrics import OrchestratorMetrics
from .reconciler import Reconciler
from .retrying import Retry
from .settings import OrchestratorSettings
from .shell import Executor, tick_topic
from .timer import Retention, Ticker, WakeupIndex
from .web import Pages, add_pages

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


def internal_topic_configs(settings: OrchestratorSettings) -> dict[str, dict[str, str]]:
    """Topic configs to create internal_topics with: the table's changelog is compacted (it
    holds the latest row per job; with the default `delete` policy, retention would delete
    the rows of live jobs, and a deleted row's tombstone lets compaction drop it)."""
    return {changelog_topic(settings): {"cleanup.policy": "compact"}}


def new_faust_app(kafka: KafkaSettings, settings: OrchestratorSettings) -> OrchestratorApp:
    """The faust App, configured (no topics, table, agent or pages yet)."""
    return OrchestratorApp(
        settings.app_id,
        fetch_max_wait_ms=settings.fetch_max_wait_ms or kafka.fetch_max_wait_ms,
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


def raw_topic(app: faust.App, *names: str) -> TopicT:
    """`names` as one faust topic whose keys and values are bytes, left as they are."""
    return app.topic(
        *names, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


class Outputs:
    """Produces to the topics the orchestrator writes (by name)."""

    def __init__(self, topics: Mapping[str, TopicT], ticks: str) -> None:
        self.topics = topics
        self.ticks = ticks

    async def send(self, topic: str, key: str, event: CloudEvent) -> None:
        await self.topics[topic].send(
            key=key.encode(), value=encode(event), headers=list(event_headers(event))
        )

    async def send_tick(self, job_id: str, tick: bytes) -> None:
        await self.topics[self.ticks].send(key=job_id.encode(), value=tick)


def create_app(
    kafka: KafkaSettings, storage: StorageSettings, settings: OrchestratorSettings
) -> faust.App:
    machine = load_file(settings.pipeline or default_pipeline_path())
    validate_machine(machine)
    revision_machine = load_file(settings.revision_pipeline or default_revision_path())
    validate_machine(revision_machine)
    topics = Topics(kafka.topic_prefix)
    ticks = tick_topic(topics)
    app = new_faust_app(kafka, settings)
    inputs = raw_topic(app, topics.commands, topics.results, ticks)
    outputs = Outputs({name: raw_topic(app, name) for name in [*topics.all(), ticks]}, ticks)
    table = app.Table(TABLE, partitions=kafka.partitions, key_type=str, value_type=str)
    manifests = ManifestStore(open_storage(storage.storage_url, storage))
    retention = Retention(
        ended=timedelta(seconds=settings.ended_row_retention_seconds),
        failed=timedelta(seconds=settings.failed_row_retention_seconds),
    )
    ticker = Ticker(table, outputs.send_tick, WakeupIndex(), retention)
    backoff = Backoff(settings.command_retry_initial_seconds, settings.command_retry_max_seconds)
    retry = Retry(backoff, METRICS, proceed=partition_still_ours(app))
    agent = JobStateAgent(
        topics=topics,
        machine=machine,
        rows=table,
        executor=Executor(topics, manifests, outputs.send, retry),
        dead_letters=DeadLetters(outputs.send, topics.dlq, settings.app_id, METRICS),
        metrics=METRICS,
        retention=retention,
        track=ticker.track,
        release=forget_unacked(app),
        revision_machine=revision_machine,
    )
    app.agent(inputs, name=AGENT_NAME)(agent.orchestrate)
    table.on_recover(ticker.rebuild)  # rows restored from the changelog join the timer's index
    app.timer(settings.tick_seconds)(ticker.tick)
    reconciler = Reconciler(
        index=ActiveJobs(manifests.storage, storage.env),
        manifests=manifests,
        topics=topics,
        send=outputs.send,
        grace=timedelta(seconds=settings.resubmit_grace_seconds),
    )
    app.task(reconciler.run)  # once the worker is ready, then every reconcile_seconds
    app.timer(settings.reconcile_seconds)(reconciler.run)
    input_topics = {topics.commands, topics.results, ticks}
    add_pages(app, Pages(app, table, METRICS, input_topics, LAG_TIMEOUT_SECONDS))
    return app
