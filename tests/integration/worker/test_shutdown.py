"""SIGTERM to a step-service process during a step: it finishes within the grace period, or it
hands the step back uncommitted and another worker does it — exactly once either way."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from talkavocado_common.events import Topics
from talkavocado_common.kafka import ensure_topics
from talkavocado_common.settings import KafkaSettings
from talkavocado_common.storage import LocalStorage
from tests.support.jobs import create_job
from tests.support.kafka import TopicReader, count, of_type, publish, step_requested

from .conftest import Workers
from .entry import HANDLERS

ROOT = Path(__file__).resolve().parents[3]


async def start_service(
    kafka: KafkaSettings, storage: Path, grace: float
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "KAFKA_PARTITIONS": str(kafka.partitions),
        "KAFKA_IDEMPOTENCE": str(kafka.idempotence).lower(),
        "KAFKA_SESSION_TIMEOUT_MS": str(kafka.session_timeout_ms),
        "KAFKA_HEARTBEAT_INTERVAL_MS": str(kafka.heartbeat_interval_ms),
        "STORAGE_URL": str(storage),
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": "0",
        "SHUTDOWN_GRACE_SECONDS": str(grace),
        "LOG_LEVEL": "INFO",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.worker.entry",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def stop_and_wait(process: asyncio.subprocess.Process, within: float) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        raise AssertionError(
            f"service did not stop within {within} s:\n{output.decode()}"
        ) from None
    return process.returncode or 0, output.decode()


def lines(log: Path) -> list[str]:
    return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_sigterm_lets_the_step_in_flight_finish(
    kafka: KafkaSettings, topics: Topics, storage: LocalStorage, workers: Workers, tmp_path: Path
) -> None:
    await create_job(storage, "job-finish")
    log = tmp_path / "runs.log"
    await ensure_topics(kafka)
    service = await start_service(kafka, storage.root, grace=20)
    try:
        async with TopicReader(kafka, topics.results) as results:
            await publish(
                kafka,
                topics.steps("audio"),
                step_requested(
                    job_id="job-finish", step="slow", context={"seconds": 2.5, "log": str(log)}
                ),
            )
            await results.wait_for(count(of_type("step.heartbeat")), within=20)
            code, output = await stop_and_wait(service, within=15)
            assert code == 0, output
            assert "succeeded" in output
            await results.wait_for(count(of_type("step.succeeded")), within=1)
            # Another worker in the group does not redo the committed step.
            await workers.start(HANDLERS)
            assert [r for r in await results.quiet(2.0) if r.type == "step.succeeded"] == []
        assert lines(log) == ["start", "done"]
    finally:
        if service.returncode is None:
            service.kill()
            await service.wait()


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_sigterm_past_the_grace_hands_the_step_back(
    kafka: KafkaSettings, topics: Topics, storage: LocalStorage, workers: Workers, tmp_path: Path
) -> None:
    await create_job(storage, "job-handback")
    log = tmp_path / "runs.log"
    await ensure_topics(kafka)
    service = await start_service(kafka, storage.root, grace=0.5)
    try:
        async with TopicReader(kafka, topics.results) as results:
            await publish(
                kafka,
                topics.steps("audio"),
                step_requested(
                    job_id="job-handback", step="slow", context={"seconds": 3, "log": str(log)}
                ),
            )
            await results.wait_for(count(of_type("step.heartbeat")), within=20)
            began = time.monotonic()
            code, output = await stop_and_wait(service, within=10)
            assert code == 0, output
            assert time.monotonic() - began < 5
            assert "handing back slow of job job-handback" in output
            assert lines(log) == ["start"]
            assert [r.type for r in results.seen].count("step.succeeded") == 0

            restarted = time.monotonic()
            await workers.start(HANDLERS)
            rejoin = time.monotonic() - restarted
            await results.wait_for(count(of_type("step.succeeded")), within=20)
            assert [r for r in await results.quiet(1.5) if r.type == "step.succeeded"] == []
        print(f"another worker joined in {rejoin:.2f} s")
        assert lines(log) == ["start", "start", "done"]
        assert [r.type for r in results.seen].count("step.succeeded") == 1
    finally:
        if service.returncode is None:
            service.kill()
            await service.wait()
