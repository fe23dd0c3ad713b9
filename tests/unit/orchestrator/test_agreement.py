"""The orchestrator and `avocado process` (cli local_runner) drive the same interpreter
(talkavocado_common.pipeline) through different shells; over the same failure schedules they
make the same step runs with the same inputs and end with the same manifest status and error.
Named scenarios, then random schedules (seeded, so a failure names the seed to replay)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from talkavocado_cli.local_runner import LocalPipeline
from talkavocado_common.asl import TaskState
from talkavocado_common.manifest_store import ManifestStore, utcnow
from talkavocado_common.models import (
    ErrorCode,
    ErrorInfo,
    InputInfo,
    JobOptions,
    JobStatus,
    Manifest,
)
from talkavocado_common.step_runner import StepOutcome
from talkavocado_common.steps import StepEnv, StepError, StepHandler, StepRequest, StepResult
from talkavocado_common.storage import JobKeys, LocalStorage

from .helpers import PIPELINE, Driver, manifests, requests

OK = "ok"
Script = dict[str, list[str]]  # state -> outcome of each attempt: "ok" or an error code

SCENARIOS: dict[str, tuple[bool, Script]] = {
    "all-succeed": (False, {}),
    "all-succeed-with-transitions": (True, {}),
    "transient-then-ok": (False, {"transcription": ["TRANSIENT_DEPENDENCY", "TIMEOUT", OK]}),
    "retries-exhausted": (True, {"video-transitions": ["TRANSIENT_DEPENDENCY"] * 4}),
    "not-retried": (False, {"smart-cut-planner": ["INPUT_INVALID"]}),
    "retry-then-fatal": (False, {"audio-extraction": ["TIMEOUT", "CODEC_UNSUPPORTED"]}),
    "last-step-fails": (False, {"branding-layer": ["INTERNAL"]}),
}

Run = tuple[str, int, dict[str, Any]]  # state, attempt, input


def outcome(script: Script, state: str, attempt: int) -> str:
    plan = script.get(state, [])
    return plan[attempt - 1] if attempt <= len(plan) else OK


class Quiet:
    def step_started(self, index: int, total: int, name: str, attempt: int) -> None: ...
    def step_progress(self, fraction: float, message: str = "") -> None: ...
    def step_finished(self, name: str, outcome: StepOutcome) -> None: ...
    def retrying(self, name: str, delay: float, reason: str) -> None: ...


async def run_locally(
    tmp_path: Path, transitions: bool, script: Script
) -> tuple[list[Run], JobStatus, ErrorInfo | None]:
    storage = LocalStorage(tmp_path / "storage")
    keys = JobKeys("test", "tenant-a", "job-1")
    now = utcnow()
    await ManifestStore(storage).create(
        keys,
        Manifest(
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
        ),
    )
    runs: list[Run] = []

    def handler_for(state: str) -> StepHandler:
        async def handler(request: StepRequest, env: StepEnv) -> StepResult:
            attempt = 1 + sum(1 for s, _, _ in runs if s == state)
            runs.append((state, attempt, dict(request.context)))
            result = outcome(script, state, attempt)
            if result != OK:
                raise StepError(ErrorCode(result), f"{state} attempt {attempt}")
            return {"did": state}

        return handler

    handlers = {
        s.step: handler_for(s.name)
        for s in PIPELINE.states.values()
        if isinstance(s, TaskState) and s.service != "orchestrator"
    }

    async def no_sleep(seconds: float) -> None:
        return None

    pipeline = LocalPipeline(PIPELINE, handlers, storage, Quiet(), sleep=no_sleep)
    options = JobOptions.model_validate({"transitions": {"enabled": transitions}})
    manifest = await pipeline.run(keys, options)
    return runs, manifest.status, manifest.error


def run_orchestrated(
    transitions: bool, script: Script
) -> tuple[list[Run], JobStatus, ErrorInfo | None]:
    d = Driver()
    commands = d.submit(transitions=transitions)
    runs: list[Run] = []
    final = manifests(commands)[-1]
    while not d.job.ended:
        for request in requests(commands):
            step = request.request
            runs.append((step.state, len([r for r in runs if r[0] == step.state]) + 1, step.input))
        if d.job.retry_due is not None:
            commands = d.tick_at(d.job.retry_due)
            continue
        state, attempt = d.pending.state, len([r for r in runs if r[0] == d.pending.state])
        result = outcome(script, state, attempt)
        if result == OK:
            commands = d.succeed({"did": state})
        else:
            commands = d.fail(ErrorCode(result), f"{state} attempt {attempt}")
        final = next(iter(manifests(commands)), final)
    return runs, final.status, final.error


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_orchestrator_agrees_with_the_local_runner(name: str, tmp_path: Path) -> None:
    transitions, script = SCENARIOS[name]
    local = await run_locally(tmp_path, transitions, script)
    orchestrated = run_orchestrated(transitions, script)
    assert orchestrated[0] == local[0]  # the same runs, attempts and inputs
    assert orchestrated[1:] == local[1:]  # the same final status and error
    assert local[1] in (JobStatus.COMPLETED, JobStatus.FAILED)
    for state, plan in script.items():  # every scripted attempt happened, in both
        assert sum(1 for s, _, _ in local[0] if s == state) == len(plan)


CODES = [code.value for code in ErrorCode]


def random_schedule(seed: int) -> tuple[bool, Script]:
    """A failure schedule: for some of the Tasks, up to five attempts that fail with a random
    error code (retried or not per the document) before the next one succeeds."""
    rng = random.Random(seed)
    tasks = [
        s.name
        for s in PIPELINE.states.values()
        if isinstance(s, TaskState) and s.service != "orchestrator"
    ]
    script = {
        state: [rng.choice(CODES) for _ in range(rng.randint(1, 5))]
        for state in rng.sample(tasks, rng.randint(0, 3))
    }
    return rng.random() < 0.5, script


@pytest.mark.parametrize("seed", range(60))
async def test_random_failure_schedules_agree(seed: int, tmp_path: Path) -> None:
    transitions, script = random_schedule(seed)
    local = await run_locally(tmp_path, transitions, script)
    orchestrated = run_orchestrated(transitions, script)
    assert orchestrated[0] == local[0], f"seed {seed}: the step runs differ"
    assert orchestrated[1:] == local[1:], f"seed {seed}: the outcome differs"
    assert local[1] in (JobStatus.COMPLETED, JobStatus.FAILED)


def test_the_random_schedules_reach_every_ending_and_retry() -> None:
    """The schedules above are worth comparing: some complete, some fail, some retry."""
    runs = [run_orchestrated(*random_schedule(seed)) for seed in range(60)]
    assert {status for _, status, _ in runs} == {JobStatus.COMPLETED, JobStatus.FAILED}
    assert any(attempt > 1 for steps, _, _ in runs for _, attempt, _ in steps)
