"""No event lost, no state leaked — the orchestrator process on the real (embedded) broker:
storage that fails delays a job but loses nothing and duplicates nothing; the row of an ended
job is deleted after its retention (a tombstone in the changelog); the changelog is created
compacted; rows recovered from the changelog after a restart are still ticked."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from talkavocado_common.asl import default_pipeline_path
from talkavocado_common.events import StepRequested, Topics
from talkavocado_common.kafka import ensure_topics, free_port
from talkavocado_common.kafka.admin import topic_configs
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import JobStatus
from talkavocado_common.settings import KafkaSettings
from talkavocado_common.storage import LocalStorage
from tests.integration.observability.test_orchestrator_observability import sample
from tests.integration.orchestrator.test_orchestrator_app import (
    final_status,
    orchestrator,
    recording,
    submit,
    workers,
)
from tests.support.kafka import Received, TopicReader

pytestmark = pytest.mark.slow

STEPS = [
    "audio-extraction",
    "transcription",
    "smart-cut-planner",
    "video-cuts",
    "subtitles-post-edit",
    "timeline-export",
    "branding-layer",
]


async def test_storage_down_twice_per_status_the_job_completes_exactly_once(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "storage")
    topics = Topics(kafka.topic_prefix)
    app_id = f"orch-{uuid.uuid4().hex[:8]}"
    changelog = f"{app_id}-job-state-changelog"
    calls: list[str] = []
    port = free_port()
    env = {
        "ORCHESTRATOR_APP_ID": app_id,
        "FLAKY_MANIFEST_FAILURES": "2",  # processing and completed: each written on the 3rd try
        "ORCHESTRATOR_COMMAND_RETRY_INITIAL_SECONDS": "0.05",
        "ORCHESTRATOR_ENDED_ROW_RETENTION_SECONDS": "1",
    }
    await ensure_topics(kafka)
    module = "tests.integration.orchestrator.flaky_orchestrator"
    with orchestrator(kafka, tmp_path / "storage", tmp_path, port, env=env, module=module):
        async with (
            workers(kafka, storage, recording(calls)),
            TopicReader(kafka, topics.status) as status,
        ):
            keys = await submit(kafka, storage, "job-flaky")
            await status.wait_for(final_status("job-flaky"), within=60)
        # The ended row is deleted once its retention (1 s) is over: a tombstone (a null
        # value; faust writes table keys as JSON).
        key = json.dumps("job-flaky").encode()
        async with TopicReader(kafka, changelog) as rows:
            await rows.wait_for(lambda seen: any(r.key == key and r.value is None for r in seen))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            metrics = (await http.get("/metrics")).text
    log = (tmp_path / "orchestrator.log").read_text(errors="replace")
    manifest = await ManifestStore(storage).get(keys)
    assert manifest.status is JobStatus.COMPLETED, log[-3000:]
    statuses = [r.payload.status for r in status.seen if r.payload.job_id == "job-flaky"]  # type: ignore[union-attr]
    assert statuses.count(JobStatus.COMPLETED) == 1
    assert calls == STEPS  # every step requested once: no command carried out twice
    retried = sample(
        metrics, "talkavocado_orchestrator_command_retries_total", command="SetManifest"
    )
    assert retried == 4.0, log[-3000:]
    assert sample(metrics, "talkavocado_orchestrator_rows_removed_total", status="completed") == 1
    assert "SetManifest failed (OSError" in log
    await check_only_the_changelog_is_compacted(kafka, changelog)


async def check_only_the_changelog_is_compacted(kafka: KafkaSettings, changelog: str) -> None:
    """As the orchestrator process created its topics at start, checked against the broker's
    own topic config (DescribeConfigs: Tansu reports it)."""
    topics = Topics(kafka.topic_prefix)
    ticks = f"{kafka.topic_prefix}orchestrator.ticks"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        configs = await topic_configs(admin, [changelog, ticks, topics.commands])
    finally:
        await admin.close()
    assert configs[changelog].get("cleanup.policy") == "compact"
    assert configs[ticks].get("cleanup.policy", "delete") == "delete"
    assert configs[topics.commands].get("cleanup.policy", "delete") == "delete"


async def test_a_changelog_created_earlier_without_compaction_is_reported(
    kafka: KafkaSettings, caplog: pytest.LogCaptureFixture
) -> None:
    """Tansu has no AlterConfigs (nor do some managed clusters allow it): a changelog left
    from before is named in a warning, with what to set, rather than silently kept."""
    changelog = f"{kafka.topic_prefix}orch-job-state-changelog"
    compact = {changelog: {"cleanup.policy": "compact"}}
    assert await ensure_topics(kafka, [changelog]) == {changelog: True}
    with caplog.at_level(logging.WARNING, logger="talkavocado_common.kafka.admin"):
        assert await ensure_topics(kafka, [changelog], configs=compact) == {changelog: False}
    assert f"topic '{changelog}' exists with other configs" in caplog.text
    assert "'cleanup.policy': (None, 'compact')" in caplog.text


def timing_out_pipeline(tmp: Path) -> Path:
    """The real document, audio-extraction timing out after 3 s and retried at once."""
    doc = json.loads(default_pipeline_path().read_text())
    audio = doc["States"]["audio-extraction"]
    audio["TimeoutSeconds"] = 3
    audio.pop("HeartbeatSeconds", None)
    for retrier in audio["Retry"]:  # States.Timeout among them
        retrier["IntervalSeconds"] = 0.1
        retrier["MaxDelaySeconds"] = 0.2
    path = tmp / "timing-out.asl.json"
    path.write_text(json.dumps(doc))
    return path


async def test_stopped_mid_retry_the_event_is_delivered_again_and_recovered_rows_ticked(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    """Two jobs, no audio worker. `job-ticked` is requested and its row is in the changelog;
    then the storage goes down and `job-stuck`'s submission is retried when the orchestrator
    is stopped (SIGTERM). It must stop promptly, without acknowledging that submission. The
    next process (storage back) gets the submission again, and its timer ticks the row it only
    knows from the changelog: the step's deadline passes and the step is requested again. The
    first process never ticks (tick interval 1 h), so that tick can only be the new one's."""
    storage = LocalStorage(tmp_path / "storage")
    topics = Topics(kafka.topic_prefix)
    down = tmp_path / "storage-down"
    env = {
        "ORCHESTRATOR_APP_ID": f"orch-{uuid.uuid4().hex[:8]}",
        "ORCHESTRATOR_PIPELINE": str(timing_out_pipeline(tmp_path)),
        "FLAKY_DOWN_FILE": str(down),
    }
    module = "tests.integration.orchestrator.flaky_orchestrator"
    log = tmp_path / "orchestrator.log"
    await ensure_topics(kafka)
    async with TopicReader(kafka, topics.steps("audio")) as audio:

        def runs(seen: list[Received]) -> set[tuple[str, int]]:
            return {
                (r.payload.job_id, r.payload.attempt)
                for r in seen
                if isinstance(r.payload, StepRequested)
            }

        first_env = {**env, "ORCHESTRATOR_TICK_SECONDS": "3600"}
        with orchestrator(
            kafka, tmp_path / "storage", tmp_path, env=first_env, module=module
        ) as first:
            await submit(kafka, storage, "job-ticked")
            await audio.wait_for(lambda seen: runs(seen) == {("job-ticked", 1)}, within=30)
            down.touch()
            await submit(kafka, storage, "job-stuck")
            await wait_for_text(log, "SetManifest failed (OSError: [Errno 5]")
            began = time.monotonic()
            first.send_signal(signal.SIGTERM)
            assert first.wait(15) == 0
            stopped_in = time.monotonic() - began
        assert stopped_in < 10, f"stopping took {stopped_in:.1f} s"
        # Nothing committed on the stuck submission's partition: the next owner reads it again.
        stuck = await wait_for_text(log, "left unacknowledged, to be delivered again")
        committed = await committed_offsets(kafka, env["ORCHESTRATOR_APP_ID"], topics.commands)
        assert stuck is not None
        assert committed[stuck] is None, committed
        down.unlink()
        restarted = datetime.now(UTC)
        with orchestrator(kafka, tmp_path / "storage", tmp_path, env=env, module=module) as second:
            wanted = {("job-ticked", 1), ("job-ticked", 2), ("job-stuck", 1)}
            # A new faust worker joins the group, restores its table and waits out a 3 s step
            # deadline: under a loaded CI machine that has taken more than 30 s.
            try:
                await audio.wait_for(lambda seen: wanted <= runs(seen), within=90)
            except AssertionError as missing:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
                raise AssertionError(f"{missing}\norchestrator log:\n{tail}") from None
            assert second.poll() is None
    (retried,) = [
        r.event
        for r in audio.seen
        if isinstance(r.payload, StepRequested)
        and (r.payload.job_id, r.payload.attempt) == ("job-ticked", 2)
        and r.event is not None
    ]
    assert retried.time > restarted


async def wait_for_text(path: Path, text: str, within: float = 30) -> int | None:
    """Wait until a line of the log at `path` holds `text`; the partition it names, if any
    (`topic[partition]@offset`)."""
    deadline = time.monotonic() + within
    while (line := _line_with(path, text)) is None:
        assert time.monotonic() < deadline, f"no {text!r} in {path}"
        await asyncio.sleep(0.1)
    found = re.search(r"\[(\d+)\]@\d+", line)
    return int(found.group(1)) if found else None


def _line_with(path: Path, text: str) -> str | None:
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    return next((line for line in lines if text in line), None)


async def committed_offsets(kafka: KafkaSettings, group: str, topic: str) -> list[int | None]:
    """The group's committed offset of each partition of `topic` (None: never committed)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()  # not subscribed: it joins no group, only fetches offsets
    try:
        return [await consumer.committed(TopicPartition(topic, p)) for p in range(kafka.partitions)]
    finally:
        await consumer.stop()
