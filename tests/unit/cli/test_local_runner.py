"""The in-process pipeline runner: order, context, Retry, Catch, Choice and timeouts, with
handlers that only record what they are asked (the media steps are tested on their own)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from talkavocado_cli.local_runner import LocalPipeline, result_event
from talkavocado_common.asl import AslError, default_pipeline_path, load
from talkavocado_common.events import StepRequested
from talkavocado_common.manifest_store import ManifestStore, utcnow
from talkavocado_common.models import (
    ErrorCode,
    InputInfo,
    JobOptions,
    JobStatus,
    Manifest,
    StepStatus,
)
from talkavocado_common.step_runner import StepOutcome
from talkavocado_common.steps import StepEnv, StepError, StepHandler, StepRequest, StepResult
from talkavocado_common.storage import JobKeys, LocalStorage
from talkavocado_common.worker.core import failed, succeeded

DOC: dict[str, Any] = json.loads(default_pipeline_path().read_text())
STEPS = [
    "audio-extraction",
    "transcription",
    "smart-cut-planner",
    "video-cuts",
    "video-transitions",
    "subtitles-post-edit",
    "timeline-export",
    "branding-layer",
]


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def step_started(self, index: int, total: int, name: str, attempt: int) -> None:
        self.events.append(("start", (index, total, name, attempt)))

    def step_progress(self, fraction: float, message: str = "") -> None:
        self.events.append(("progress", fraction))

    def step_finished(self, name: str, outcome: StepOutcome) -> None:
        self.events.append(("finish", (name, outcome.ok)))

    def retrying(self, name: str, delay: float, reason: str) -> None:
        self.events.append(("retry", (name, delay)))


def recording_handlers(
    calls: list[StepRequest], overrides: dict[str, StepHandler] | None = None
) -> dict[str, StepHandler]:
    def make(step: str) -> StepHandler:
        async def handler(req: StepRequest, env: StepEnv) -> StepResult:
            calls.append(req)
            env.progress(0.5, "halfway")
            return {"did": step}

        return handler

    handlers = {step: make(step) for step in STEPS}
    handlers.update(overrides or {})
    return handlers


@pytest.fixture
def job(tmp_path: Path) -> tuple[LocalStorage, JobKeys]:
    storage = LocalStorage(tmp_path / "storage")
    keys = JobKeys("test", "tenant-a", "job-1")
    now = utcnow()
    manifest = Manifest(
        job_id="job-1",
        tenant_id="tenant-a",
        env="test",
        status=JobStatus.PENDING,
        input=InputInfo(
            key="test/tenant-a/job-1/input/talk.mp4",
            original_filename="talk.mp4",
            bytes=1,
            mime_type="video/mp4",
        ),
        created_at=now,
        updated_at=now,
    )
    anyio.run(ManifestStore(storage).create, keys, manifest)
    return storage, keys


async def run(
    job: tuple[LocalStorage, JobKeys],
    handlers: dict[str, StepHandler],
    options: JobOptions | None = None,
    doc: dict[str, Any] | None = None,
    sleeps: list[float] | None = None,
) -> tuple[Manifest, Recorder]:
    storage, keys = job
    recorder = Recorder()
    record = sleeps if sleeps is not None else []

    async def fake_sleep(seconds: float) -> None:
        record.append(seconds)

    pipeline = LocalPipeline(load(doc or DOC), handlers, storage, recorder, sleep=fake_sleep)
    return await pipeline.run(keys, options or JobOptions()), recorder


async def test_runs_steps_in_document_order_and_completes(
    job: tuple[LocalStorage, JobKeys],
) -> None:
    calls: list[StepRequest] = []
    manifest, recorder = await run(job, recording_handlers(calls))
    assert [c.step for c in calls] == [s for s in STEPS if s != "video-transitions"]
    assert manifest.status is JobStatus.COMPLETED
    assert manifest.error is None
    assert all(
        manifest.steps[s].status is StepStatus.SUCCEEDED for s in STEPS if s != "video-transitions"
    )
    # Later steps see earlier results and the options in the job context.
    last = calls[-1].context
    assert last["results"]["audio_extraction"] == {"did": "audio-extraction"}
    assert last["options"]["transitions"]["enabled"] is False
    starts = [e[1] for e in recorder.events if e[0] == "start"]
    assert starts[0] == (1, 7, "audio-extraction", 1)
    assert ("progress", 0.5) in recorder.events


async def test_transitions_choice_follows_the_options(job: tuple[LocalStorage, JobKeys]) -> None:
    calls: list[StepRequest] = []
    options = JobOptions.model_validate({"transitions": {"enabled": True}})
    manifest, _ = await run(job, recording_handlers(calls), options)
    assert [c.step for c in calls] == STEPS
    assert manifest.status is JobStatus.COMPLETED


def failing(code: ErrorCode, times: int, calls: list[StepRequest]) -> StepHandler:
    async def handler(req: StepRequest, env: StepEnv) -> StepResult:
        calls.append(req)
        if len(calls) <= times:
            raise StepError(code, f"failure {len(calls)}")
        return {"ok": True}

    return handler


async def test_transient_errors_are_retried_with_backoff(job: tuple[LocalStorage, JobKeys]) -> None:
    attempts: list[StepRequest] = []
    sleeps: list[float] = []
    handlers = recording_handlers(
        [], {"transcription": failing(ErrorCode.TRANSIENT_DEPENDENCY, 2, attempts)}
    )
    manifest, _ = await run(job, handlers, sleeps=sleeps)
    assert manifest.status is JobStatus.COMPLETED
    assert len(attempts) == 3
    assert len(sleeps) == 2
    assert all(0 <= s <= cap for s, cap in zip(sleeps, [2, 4], strict=True))  # FULL jitter
    assert manifest.steps["transcription"].attempts == 3


async def test_retries_run_out_then_the_job_fails_with_the_reason(
    job: tuple[LocalStorage, JobKeys],
) -> None:
    attempts: list[StepRequest] = []
    later: list[StepRequest] = []
    handlers = recording_handlers(
        later, {"transcription": failing(ErrorCode.TRANSIENT_DEPENDENCY, 99, attempts)}
    )
    manifest, _ = await run(job, handlers)
    assert len(attempts) == 4  # the first try and MaxAttempts=3 retries
    assert manifest.status is JobStatus.FAILED
    assert manifest.error is not None
    assert manifest.error.code is ErrorCode.TRANSIENT_DEPENDENCY
    assert manifest.error.step == "transcription"
    assert manifest.error.message == "failure 4"
    assert [c.step for c in later] == ["audio-extraction"]


async def test_input_errors_are_not_retried(job: tuple[LocalStorage, JobKeys]) -> None:
    attempts: list[StepRequest] = []
    handlers = recording_handlers(
        [], {"audio-extraction": failing(ErrorCode.INPUT_INVALID, 99, attempts)}
    )
    manifest, _ = await run(job, handlers)
    assert len(attempts) == 1
    assert manifest.status is JobStatus.FAILED
    assert manifest.error is not None
    assert manifest.error.code is ErrorCode.INPUT_INVALID
    assert manifest.steps["audio-extraction"].status is StepStatus.FAILED


async def test_unexpected_exceptions_become_internal_errors(
    job: tuple[LocalStorage, JobKeys],
) -> None:
    async def broken(req: StepRequest, env: StepEnv) -> StepResult:
        raise ZeroDivisionError("oops")

    manifest, _ = await run(job, recording_handlers([], {"video-cuts": broken}))
    assert manifest.status is JobStatus.FAILED
    assert manifest.error is not None
    assert manifest.error.code is ErrorCode.INTERNAL
    assert "ZeroDivisionError" in manifest.error.message


async def test_timeout_seconds_is_enforced_and_retried(job: tuple[LocalStorage, JobKeys]) -> None:
    doc = copy.deepcopy(DOC)
    doc["States"]["smart-cut-planner"]["TimeoutSeconds"] = 0.05
    # As the orchestrator does, the runner refuses a heartbeat longer than the timeout.
    doc["States"]["smart-cut-planner"].pop("HeartbeatSeconds", None)
    calls: list[int] = []

    async def slow(req: StepRequest, env: StepEnv) -> StepResult:
        calls.append(1)
        await anyio.sleep(5)
        return {}

    manifest, _ = await run(job, recording_handlers([], {"smart-cut-planner": slow}), doc=doc)
    assert len(calls) == 4  # States.Timeout is in the Retry list
    assert manifest.status is JobStatus.FAILED
    assert manifest.error is not None
    assert manifest.error.code is ErrorCode.TIMEOUT


def test_a_resource_without_handler_is_refused(job: tuple[LocalStorage, JobKeys]) -> None:
    handlers = recording_handlers([])
    del handlers["branding-layer"]
    with pytest.raises(AslError, match="'branding-layer': no handler"):
        LocalPipeline(load(DOC), handlers, job[0], Recorder())


def test_results_are_the_events_a_step_service_produces() -> None:
    """local_runner builds them without importing the worker package (Kafka, metrics)."""
    now = utcnow()
    requested = StepRequested(
        job_id="job-1",
        tenant_id="tenant-a",
        env="test",
        step_run_id="job-1/transcription/2",
        state="transcription",
        service="transcribe",
        step="transcription",
        attempt=2,
        input={},
        deadline=now,
    )
    ok = StepOutcome(result={"words": 3}, error=None, seconds=1.23456)
    assert result_event(requested, ok) == succeeded(requested, {"words": 3}, 1.23456)
    error = StepError(ErrorCode.INPUT_INVALID, "no model")
    bad = StepOutcome(result=None, error=error, seconds=-0.5)
    assert result_event(requested, bad) == failed(requested, error.code, error.message, -0.5)
