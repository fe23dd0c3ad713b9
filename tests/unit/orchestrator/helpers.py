"""A small driver for the transition function: a clock, the row, and typed views of commands."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from talkavocado_common.asl import (
    StateMachine,
    default_pipeline_path,
    default_revision_path,
    load,
)
from talkavocado_common.events import (
    JobCancelRequested,
    JobRetryRequested,
    JobSubmitted,
    StepFailed,
    StepHeartbeat,
    StepSucceeded,
)
from talkavocado_common.events.models import StepError
from talkavocado_common.models import ErrorCode, InputInfo, JobOptions
from talkavocado_common.pipeline import (
    Command,
    EmitStatus,
    Event,
    JobRow,
    PendingStep,
    RequestStep,
    SetManifest,
    Tick,
    Trace,
    transition,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DOC: dict[str, Any] = json.loads(default_pipeline_path().read_text())
PIPELINE = load(DOC)
REVISION = load(json.loads(default_revision_path().read_text()))
TRACE = Trace(correlation_id="corr-1", traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")
STEPS = [
    "audio-extraction",
    "transcription",
    "smart-cut-planner",
    "video-cuts",
    "subtitles-post-edit",
    "timeline-export",
    "branding-layer",
]
STEPS_WITH_TRANSITIONS = [*STEPS[:4], "video-transitions", *STEPS[4:]]


def submitted(job_id: str = "job-1", *, transitions: bool = False) -> JobSubmitted:
    options = JobOptions.model_validate({"transitions": {"enabled": transitions}})
    return JobSubmitted(
        job_id=job_id,
        tenant_id="tenant-a",
        env="test",
        options=options,
        input=InputInfo(
            key=f"test/tenant-a/{job_id}/input/talk.mp4",
            original_filename="talk.mp4",
            bytes=1234,
            mime_type="video/mp4",
        ),
        manifest_key=f"test/tenant-a/{job_id}/manifest.json",
    )


def task(
    resource: str = "render:video-cuts",
    *,
    next: str | None = None,
    retry: Sequence[dict[str, Any]] = (),
    catch: Sequence[dict[str, Any]] = (),
    timeout: float | None = None,
    heartbeat: float | None = None,
    result_path: str | None = "$.results.step",
) -> dict[str, Any]:
    """A Task state document."""
    state: dict[str, Any] = {"Type": "Task", "Resource": resource, "ResultPath": result_path}
    if next is None:
        state["End"] = True
    else:
        state["Next"] = next
    if retry:
        state["Retry"] = list(retry)
    if catch:
        state["Catch"] = list(catch)
    if timeout is not None:
        state["TimeoutSeconds"] = timeout
    if heartbeat is not None:
        state["HeartbeatSeconds"] = heartbeat
    return state


def machine(states: dict[str, Any], start: str | None = None, **top: Any) -> StateMachine:
    return load({"StartAt": start or next(iter(states)), "States": states, **top})


def one_step(**task_args: Any) -> StateMachine:
    """mark-processing → work (the Task under test) → mark-complete, caught → mark-failed."""
    catch = task_args.pop(
        "catch", [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "mark-failed"}]
    )
    return machine(
        {
            "mark-processing": task("orchestrator:mark-processing", next="work", result_path=None),
            "work": task(next="mark-complete", catch=catch, **task_args),
            "mark-complete": task("orchestrator:mark-complete", result_path=None),
            "mark-failed": task("orchestrator:mark-failed", next="job-failed", result_path=None),
            "job-failed": {"Type": "Fail", "Error": "JobFailed"},
        }
    )


def requests(commands: Sequence[Command]) -> list[RequestStep]:
    return [c for c in commands if isinstance(c, RequestStep)]


def manifests(commands: Sequence[Command]) -> list[SetManifest]:
    return [c for c in commands if isinstance(c, SetManifest)]


def statuses(commands: Sequence[Command]) -> list[EmitStatus]:
    return [c for c in commands if isinstance(c, EmitStatus)]


class Driver:
    """Feeds events to `transition` with a controllable clock, keeping the row."""

    def __init__(
        self,
        machine: StateMachine = PIPELINE,
        job_id: str = "job-1",
        revision_machine: StateMachine | None = REVISION,
    ) -> None:
        self.machine = machine
        self.revision_machine = revision_machine
        self.job_id = job_id
        self.row: JobRow | None = None
        self.now = T0
        self.log: list[tuple[Event, list[Command]]] = []
        self.rows: list[JobRow] = []  # the row after each event

    # -- plumbing --
    def send(self, event: Event) -> list[Command]:
        before = self.row.model_copy(deep=True) if self.row is not None else None
        row, commands = transition(
            self.row,
            event,
            self.now,
            self.machine,
            trace=TRACE,
            revision_machine=self.revision_machine,
        )
        if self.row is not None:
            assert self.row == before, "transition must not modify the row it is given"
        if not commands:
            assert row is self.row, "an ignored event returns the very same row"
        self.row = row
        self.log.append((event, commands))
        if row is not None:
            self.rows.append(row)
        return commands

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    @property
    def job(self) -> JobRow:
        assert self.row is not None
        return self.row

    @property
    def pending(self) -> PendingStep:
        assert self.job.pending is not None, "no step is pending"
        return self.job.pending

    def ref(self) -> dict[str, str]:
        return {"job_id": self.job_id, "tenant_id": "tenant-a", "env": "test"}

    # -- events --
    def submit(self, *, transitions: bool = False) -> list[Command]:
        return self.send(submitted(self.job_id, transitions=transitions))

    def succeed(
        self, result: dict[str, Any] | None = None, run: str | None = None
    ) -> list[Command]:
        run = run or self.pending.step_run_id
        state = run.split("/")[1]
        return self.send(
            StepSucceeded(
                **self.ref(),
                step_run_id=run,
                state=state,
                result=result if result is not None else {"did": state},
                duration_sec=1.0,
            )
        )

    def fail(
        self,
        code: ErrorCode = ErrorCode.TRANSIENT_DEPENDENCY,
        message: str = "boom",
        run: str | None = None,
    ) -> list[Command]:
        run = run or self.pending.step_run_id
        return self.send(
            StepFailed(
                **self.ref(),
                step_run_id=run,
                state=run.split("/")[1],
                error=StepError(code=code, message=message),
                duration_sec=1.0,
            )
        )

    def heartbeat(
        self,
        progress: float,
        message: str = "",
        run: str | None = None,
        *,
        token: str | None = None,
    ) -> list[Command]:
        """A step.heartbeat of `run` (default the pending one); `token`: the execution's."""
        run = run or self.pending.step_run_id
        return self.send(
            StepHeartbeat(
                **self.ref(),
                step_run_id=run,
                state=run.split("/")[1],
                progress=progress,
                message=message,
                run=token,
            )
        )

    def tick(self, after: float = 0.0) -> list[Command]:
        self.advance(after)
        return self.send(Tick(self.now))

    def tick_at(self, when: datetime) -> list[Command]:
        self.now = when
        return self.send(Tick(self.now))

    def cancel(self, reason: str | None = None) -> list[Command]:
        return self.send(JobCancelRequested(**self.ref(), reason=reason))

    def retry(self) -> list[Command]:
        return self.send(JobRetryRequested(**self.ref()))

    def run_to_end(self) -> list[str]:
        """Succeed every requested step; the states requested, in order."""
        seen: list[str] = []
        while not self.job.ended:
            seen.append(self.pending.state)
            self.succeed()
        return seen


def status_event(commands: Sequence[Command]) -> EmitStatus:
    (emitted,) = statuses(commands)
    assert commands[-1] is emitted, "the status is the last command"
    return emitted
