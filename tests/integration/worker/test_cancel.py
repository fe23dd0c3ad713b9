"""Cancellation reaches the work: a running step whose job is cancelled, or whose execution is
superseded, is stopped within the watch interval (its ffmpeg killed), reports nothing, keeps
nothing in the job, and the worker takes the next request."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path

from talkavocado_common.events import StepHeartbeat, Topics
from talkavocado_common.manifest_changes import RecordStep, SetStatus
from talkavocado_common.manifest_store import ManifestStore, utcnow
from talkavocado_common.media import run_ffmpeg
from talkavocado_common.models import JobStatus, StepRecord, StepStatus
from talkavocado_common.settings import KafkaSettings
from talkavocado_common.steps import StepEnv, StepHandler, StepRequest, StepResult
from talkavocado_common.storage import LocalStorage
from talkavocado_common.worker import WorkerSettings
from tests.support.jobs import create_job
from tests.support.kafka import TopicReader, count, of_type, publish, step_requested

from .conftest import Workers

WATCH = 0.5
# ffmpeg reading a generated tone at its real rate: ten minutes unless it is killed.
LONG_FFMPEG = ["-re", "-f", "lavfi", "-i", "anullsrc=r=8000", "-t", "600", "-f", "null", "-"]


def ffmpeg_children() -> list[int]:
    """Pids of the ffmpeg processes this test process started."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == me and name == "ffmpeg":
            found.append(int(entry.name))
    return found


def handlers(calls: Counter[str]) -> dict[str, StepHandler]:
    async def render(req: StepRequest, env: StepEnv) -> StepResult:
        """Writes an artifact, then 'encodes' for ten minutes."""
        calls[f"started {req.keys.job_id}"] += 1
        await env.storage.write_bytes(req.keys.timeline, b"{}")
        try:
            await run_ffmpeg(LONG_FFMPEG)
        except asyncio.CancelledError:
            calls[f"cancelled {req.keys.job_id}"] += 1
            raise
        return {}

    async def quick(req: StepRequest, env: StepEnv) -> StepResult:
        calls[f"started {req.keys.job_id}"] += 1
        await env.storage.write_bytes(req.keys.timeline, b"{}")
        return {"ok": True}

    return {"render": render, "quick": quick}


def settings() -> WorkerSettings:
    return WorkerSettings(
        metrics_enabled=False,
        shutdown_grace_seconds=5,
        heartbeat_default_seconds=3,
        watch_seconds=WATCH,
    )


async def wait_until(predicate: object, within: float) -> float:
    """Seconds until `predicate()` held; fails after `within`."""
    began = time.monotonic()
    while time.monotonic() - began < within:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - began
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within} s")


async def test_cancel_stops_the_step_kills_ffmpeg_keeps_nothing_and_frees_the_worker(
    kafka: KafkaSettings, topics: Topics, storage: LocalStorage, workers: Workers
) -> None:
    calls: Counter[str] = Counter()
    keys = await create_job(storage, "job-cancel")
    await create_job(storage, "job-next")
    manifests = ManifestStore(storage)
    running = await workers.start(handlers(calls), settings=settings())
    async with TopicReader(kafka, topics.results) as results:
        await publish(
            kafka, topics.steps("audio"), step_requested(job_id="job-cancel", step="render")
        )
        await results.wait_for(count(of_type("step.heartbeat", "job-cancel/render/1")))
        await wait_until(lambda: ffmpeg_children() and calls["started job-cancel"], 10)
        assert await storage.exists(keys.timeline)

        await manifests.update(keys, SetStatus(JobStatus.CANCELLED, None))
        stopped = await wait_until(lambda: not ffmpeg_children(), 5)
        assert stopped <= WATCH + 1.5
        # The handler sees CancelledError once ffmpeg is reaped, a moment after it is gone.
        await wait_until(lambda: calls["cancelled job-cancel"] > 0, 5)
        assert calls["cancelled job-cancel"] == 1
        # Nothing kept: the artifact removed, the step's end not recorded, no result.
        await wait_until(lambda: running.worker.completed == 0 and not running.worker._in_flight, 5)
        assert not await storage.exists(keys.timeline)
        manifest = await manifests.get(keys)
        assert manifest.status is JobStatus.CANCELLED
        assert manifest.steps["render"].status is StepStatus.CANCELLED  # closed by the cancel

        # The worker is free: the next request (same partition or not) runs.
        await publish(kafka, topics.steps("audio"), step_requested(job_id="job-next", step="quick"))
        seen = await results.wait_for(count(of_type("step.succeeded")))
    results_seen = [r.payload for r in seen if r.type in ("step.succeeded", "step.failed")]
    assert [getattr(p, "job_id", None) for p in results_seen] == ["job-next"]
    assert (
        running.worker.metrics.registry.get_sample_value(
            "talkavocado_step_duration_seconds_count",
            {"service": "audio", "step": "render", "outcome": "stopped"},
        )
        == 1
    )


async def test_a_superseded_execution_stops_and_a_stale_request_is_not_run(
    kafka: KafkaSettings, topics: Topics, storage: LocalStorage, workers: Workers
) -> None:
    calls: Counter[str] = Counter()
    keys = await create_job(storage, "job-old")
    stale = await create_job(storage, "job-stale")
    manifests = ManifestStore(storage)
    await manifests.update(stale, SetStatus(JobStatus.CANCELLED, None))
    running = await workers.start(handlers(calls), settings=settings())
    async with TopicReader(kafka, topics.results) as results:
        await publish(
            kafka,
            topics.steps("audio"),
            step_requested(job_id="job-stale", step="quick"),
            step_requested(job_id="job-old", step="render"),
        )
        seen = await results.wait_for(count(of_type("step.heartbeat", "job-old/render/1")))
        (beat,) = [r.payload for r in seen if isinstance(r.payload, StepHeartbeat)][:1]
        assert beat.run is not None  # the execution's token: the orchestrator sees a start
        await wait_until(lambda: ffmpeg_children(), 10)
        # Another execution (attempt 2, elsewhere) takes the step over.
        newer = StepRecord(status=StepStatus.RUNNING, attempts=2, started_at=utcnow(), run="x")
        await manifests.update(
            keys, RecordStep("render", newer, "render started", "info", utcnow())
        )
        await wait_until(lambda: not ffmpeg_children(), 5)
        await wait_until(lambda: not running.worker._in_flight, 5)
        await asyncio.sleep(0.5)
    assert not [r for r in results.seen if r.type in ("step.succeeded", "step.failed")]
    assert "started job-stale" not in calls  # found cancelled before it started: not run
    # Superseded, not cancelled: what it wrote stays (the newer run writes the same keys).
    assert await storage.exists(keys.timeline)
    assert (await manifests.get(keys)).steps["render"].run == "x"
