"""Every service stops within its deadline on SIGTERM even when the broker is gone: the API,
the orchestrator (faust's own shutdown waits on the gone broker for a minute), a step worker and
the notify service, each started as `avocado up` starts it, against a broker that is then
killed."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from talkavocado_api.__main__ import STOP_DEADLINE_SECONDS
from talkavocado_cli.up import (
    StackConfig,
    orchestrator_topic_configs,
    orchestrator_topics,
    service_specs,
)
from talkavocado_common.events import Topics
from talkavocado_common.kafka import EmbeddedBroker, ensure_topics, free_port
from talkavocado_common.storage import LocalStorage
from talkavocado_common.worker.main import STOP_MARGIN_SECONDS
from talkavocado_notify.__main__ import STOP_MARGIN_SECONDS as NOTIFY_STOP_MARGIN_SECONDS
from talkavocado_orchestrator.__main__ import SHUTDOWN_DEADLINE_SECONDS
from tests.support.jobs import create_job
from tests.support.kafka import TopicReader, count, of_type, publish, step_requested

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]

SERVICES = ("api", "orchestrator", "audio", "notify")
STEP_GRACE_SECONDS = 3.0
SLACK_SECONDS = 3.0  # interpreter exit, a loaded machine


def wait_ready(urls: dict[str, str], logs: dict[str, Path], within: float = 90) -> None:
    pending = dict(urls)
    deadline = time.monotonic() + within
    with httpx.Client(timeout=2) as client:
        while pending:
            for name, url in list(pending.items()):
                try:
                    if client.get(url).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                tails = {n: logs[n].read_text()[-2000:] for n in pending}
                raise AssertionError(f"not ready: {sorted(pending)}\n{tails}")
            time.sleep(0.3)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    running = EmbeddedBroker(log_path=tmp_path / "broker.log").start()
    try:
        yield running
    finally:
        running.stop()


def test_every_service_stops_in_time_when_the_broker_is_gone(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    kafka = broker.settings(partitions=1, session_timeout_ms=6_000, heartbeat_interval_ms=1_000)
    app_id = "talkavocado-orchestrator"
    topics, configs = orchestrator_topics(kafka, app_id), orchestrator_topic_configs(app_id)
    asyncio.run(ensure_topics(kafka, topics, configs=configs))  # as `avocado up` does
    config = StackConfig(port=free_port(), storage=str(tmp_path / "storage"), state_dir=tmp_path)
    specs = {
        s.name: s
        for s in service_specs(kafka, config, secrets.token_urlsafe(24))
        if s.name in SERVICES
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "PYTEST"))}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: tmp_path / f"{name}.log" for name in specs}
    try:
        for name, spec in specs.items():
            env = {**base, **spec.env, "SHUTDOWN_GRACE_SECONDS": str(STEP_GRACE_SECONDS)}
            with logs[name].open("wb") as log:
                processes[name] = subprocess.Popen(
                    list(spec.argv),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        wait_ready({n: s.ready_url for n, s in specs.items() if s.ready_url}, logs)

        broker.stop()
        time.sleep(3)  # the clients notice: reconnect loops, a coordinator lost
        began = time.monotonic()
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        bounds = {
            "api": STOP_DEADLINE_SECONDS,
            "orchestrator": SHUTDOWN_DEADLINE_SECONDS,
            "audio": STEP_GRACE_SECONDS + STOP_MARGIN_SECONDS,
            "notify": STEP_GRACE_SECONDS + NOTIFY_STOP_MARGIN_SECONDS,
        }
        took: dict[str, float] = {}
        while len(took) < len(processes):
            for name, process in processes.items():
                if name not in took and process.poll() is not None:
                    took[name] = time.monotonic() - began
            elapsed = time.monotonic() - began
            late = [n for n in processes if n not in took and elapsed > bounds[n] + SLACK_SECONDS]
            assert not late, f"{late} still running {elapsed:.1f} s after SIGTERM: {took}"
            time.sleep(0.1)
        print(f"stopped after: {took}")
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


async def test_a_worker_with_a_step_in_flight_stops_in_time_when_the_broker_is_gone(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """The step's result can no longer be produced nor its offset committed: the worker hands
    it back after its grace period and exits within its margin all the same."""
    kafka = broker.settings(partitions=1, session_timeout_ms=6_000, heartbeat_interval_ms=1_000)
    topics = Topics(kafka.topic_prefix)
    await ensure_topics(kafka)
    storage = LocalStorage(tmp_path / "storage")
    await create_job(storage, "job-in-flight")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "PYTEST"))},
        **kafka.to_env(),
        "STORAGE_URL": str(storage.root),
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": "0",
        "SHUTDOWN_GRACE_SECONDS": str(STEP_GRACE_SECONDS),
    }
    service = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.worker.entry",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        async with TopicReader(kafka, topics.results) as results:
            request = step_requested(
                job_id="job-in-flight",
                step="slow",
                context={"seconds": 120, "log": str(tmp_path / "runs.log")},
            )
            await publish(kafka, topics.steps("audio"), request)
            await results.wait_for(count(of_type("step.heartbeat")), within=60)
        await broker.astop()
        await asyncio.sleep(2)
        began = time.monotonic()
        service.send_signal(signal.SIGTERM)
        bound = STEP_GRACE_SECONDS + STOP_MARGIN_SECONDS + SLACK_SECONDS
        try:
            output, _ = await asyncio.wait_for(service.communicate(), bound)
        except TimeoutError:
            raise AssertionError(f"the worker still ran {bound:g} s after SIGTERM") from None
        took = time.monotonic() - began
        assert "handing back slow" in output.decode(), output.decode()[-3000:]
        print(f"stopped after {took:.1f} s (exit {service.returncode})")
    finally:
        if service.returncode is None:
            os.killpg(service.pid, signal.SIGKILL)
            await service.wait()
