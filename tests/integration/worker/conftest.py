"""Workers on the shared test broker, with small handlers defined here."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from talkavocado_common.models import ErrorCode
from talkavocado_common.settings import KafkaSettings
from talkavocado_common.steps import StepEnv, StepError, StepHandler, StepRequest, StepResult
from talkavocado_common.storage import LocalStorage
from talkavocado_common.worker import StepWorker, WorkerSettings
from tests.support.broker import kafka, kafka_bootstrap, topics  # noqa: F401


@dataclass
class Calls:
    started: Counter[str] = field(default_factory=Counter)
    finished: Counter[str] = field(default_factory=Counter)


def make_handlers(calls: Calls) -> dict[str, StepHandler]:
    async def echo(req: StepRequest, env: StepEnv) -> StepResult:
        calls.started[req.keys.job_id] += 1
        seconds = float(req.context.get("seconds", 0.5))
        steps = max(1, int(seconds / 0.1))
        for i in range(steps):
            env.progress(i / steps, f"tick {i}")
            await asyncio.sleep(seconds / steps)
        calls.finished[req.keys.job_id] += 1
        return {"echo": req.context.get("value"), "pauseMs": req.options.planner.min_pause_ms}

    async def boom(req: StepRequest, env: StepEnv) -> StepResult:
        calls.started[req.keys.job_id] += 1
        raise StepError(ErrorCode.CODEC_UNSUPPORTED, "the recording uses a codec we cannot read")

    return {"echo": echo, "boom": boom}


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


@dataclass
class Running:
    worker: StepWorker
    task: asyncio.Task[None]

    async def stop(self, grace: float = 5.0) -> None:
        self.worker.request_stop(grace)
        await asyncio.wait_for(self.task, grace + 15)


class Workers:
    def __init__(self, kafka_settings: KafkaSettings, storage: LocalStorage) -> None:
        self.kafka = kafka_settings
        self.storage = storage
        self.running: list[Running] = []

    async def start(
        self,
        handlers: Mapping[str, StepHandler],
        *,
        service: str = "audio",
        kafka_settings: KafkaSettings | None = None,
        settings: WorkerSettings | None = None,
        **consumer_overrides: Any,
    ) -> Running:
        worker = StepWorker(
            service,
            handlers,
            kafka_settings or self.kafka,
            self.storage,
            settings=settings
            or WorkerSettings(
                metrics_host="127.0.0.1",
                metrics_port=0,
                shutdown_grace_seconds=5,
                heartbeat_default_seconds=3,
            ),
            consumer_overrides=consumer_overrides,
        )
        task = asyncio.create_task(worker.run())
        ready = asyncio.create_task(worker.ready.wait())
        await asyncio.wait({task, ready}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if task.done():
            task.result()  # raise what went wrong
        assert worker.ready.is_set(), "worker did not join its group in time"
        running = Running(worker, task)
        self.running.append(running)
        return running

    async def stop_all(self) -> None:
        for running in self.running:
            if not running.task.done():
                await running.stop(grace=0)


@pytest.fixture
async def workers(kafka: KafkaSettings, storage: LocalStorage) -> AsyncIterator[Workers]:  # noqa: F811
    pool = Workers(kafka, storage)
    yield pool
    await pool.stop_all()
