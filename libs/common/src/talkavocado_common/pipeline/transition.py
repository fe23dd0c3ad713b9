"""The pipeline's functional core: `(row, event, now) -> (row', commands)` over the pipeline's
state machine (docs/architecture.md §2, §4). Pure and deterministic: no I/O, no clock (time is `now`), no
randomness but the row's `seed`, so replaying a changelog gives the same rows and commands.

Semantics (the orchestrator's and `avocado process`'s alike: both drive this function):

* `orchestrator:mark-*` Tasks run inline: they set the manifest status (`SetManifest`).
* Other Tasks become one `RequestStep`; the row waits for that `stepRunId` only. Anything else
  (duplicates, late results, results for an ended job) is ignored: row unchanged, no commands.
* A failure (step.failed's code, `States.Timeout`, `States.HeartbeatTimeout`) is retried by the
  first matching Retrier while it has attempts left, after `retry_due`; then caught (the
  error `{Error, Cause, State}` at the Catcher's ResultPath) or, uncaught, it fails the job.
* Every transition that is not ignored ends with exactly one `EmitStatus`, a snapshot of the row.
* As ASL has it: each Retrier counts its own attempts, the document's own TimeoutSeconds fails
  the job (uncatchable), HeartbeatSeconds is enforced, a Choice with no match fails the job
  (States.NoChoiceMatched), and only States.Timeout / States.HeartbeatTimeout map to TIMEOUT
  (other States.* errors: INTERNAL).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from talkavocado_common.asl import (
    HEARTBEAT_TIMEOUT,
    TIMEOUT,
    AslError,
    ChoiceState,
    FailState,
    PassState,
    Retrier,
    StateMachine,
    TaskState,
    assign,
    matches_error,
    planned_path,
)
from talkavocado_common.events import (
    JobCancelRequested,
    JobRef,
    JobRenderRequested,
    JobResumeRequested,
    JobRetryRequested,
    JobStatusChanged,
    JobSubmitted,
    StepHeartbeat,
    StepRequested,
    StepSucceeded,
)
from talkavocado_common.events.models import StepError
from talkavocado_common.models import ErrorCode, ErrorInfo, JobStatus
from talkavocado_common.topology import BUILTIN_STATUS, ORCHESTRATOR, resources

from .commands import Command, EmitStatus, Event, RequestStep, SetManifest, Tick, Trace
from .row import JobRow, PendingStep, seed_for

# Which service runs which step: declared once, in talkavocado_common.topology.
PLATFORM_RESOURCES: Mapping[str, Collection[str]] = resources()
# ASL's default TimeoutSeconds for a Task that declares none.
DEFAULT_TASK_TIMEOUT_SECONDS = 99_999_999.0
# States passed inline (Choice, Pass, mark-*) in one transition before the document is deemed to
# loop without ever running a step.
MAX_INLINE_STATES = 1000
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
# The crash budget of one step run: executions lost (their worker died, hung or lost its
# partition) before the run fails with States.HeartbeatTimeout, which the Retriers then see.
# A lost execution is not the step's error: the request stays uncommitted in its topic, the
# restarted worker (or the partition's new owner) runs it again under a new run token.
MAX_LOST_EXECUTIONS = 5
# Heartbeat periods a lost execution has to be run again (its worker restarted, or its partition
# reassigned) before the step is requested again as a new attempt.
RESTART_WINDOW = 2
# Run tokens kept per step run (the current one and the superseded ones whose beats are ignored).
MAX_RUN_TOKENS = MAX_LOST_EXECUTIONS + 2
RUNTIME_ERROR = "States.Runtime"


def validate_machine(
    machine: StateMachine, resources: Mapping[str, Collection[str]] = PLATFORM_RESOURCES
) -> None:
    """Refuse, at start-up, a document the platform cannot run: a Task naming a service or step
    it lacks, or timeouts a step request cannot carry. The error names the state."""
    for state in machine.states.values():
        if not isinstance(state, TaskState):
            continue
        where = f"state {state.name!r}"
        steps = resources.get(state.service)
        if steps is None:
            raise AslError(
                f"{where}: resource {state.resource!r} names service {state.service!r}, which "
                f"the platform does not run (services: {', '.join(sorted(resources))})"
            )
        if state.step not in steps:
            raise AslError(
                f"{where}: resource {state.resource!r}: service {state.service!r} has no step "
                f"{state.step!r} (it runs: {', '.join(steps)})"
            )
        if state.timeout_seconds is not None and state.timeout_seconds <= 0:
            raise AslError(f"{where}: TimeoutSeconds must be positive")
        if state.heartbeat_seconds is not None:
            if state.heartbeat_seconds <= 0:
                raise AslError(f"{where}: HeartbeatSeconds must be positive")
            if (
                state.timeout_seconds is not None
                and state.heartbeat_seconds >= state.timeout_seconds
            ):
                raise AslError(f"{where}: HeartbeatSeconds must be smaller than TimeoutSeconds")
    if machine.timeout_seconds is not None and machine.timeout_seconds <= 0:
        raise AslError("the state machine's TimeoutSeconds must be positive")


def transition(
    row: JobRow | None,
    event: Event,
    now: datetime,
    machine: StateMachine,
    *,
    trace: Trace | None = None,
    revision_machine: StateMachine | None = None,
) -> tuple[JobRow | None, list[Command]]:
    """Apply one event to a job's row. An ignored event returns the very same row and no
    commands; otherwise a new row (the argument is never modified) and the commands to carry
    out in order, the last one always the `EmitStatus`.

    `now` is the processing time (for a `Tick`, pass the tick's reading); it must be aware.
    `trace` is the event envelope's correlation id and traceparent, kept from the submission.
    `machine` runs the edit; `revision_machine` (contracts/revision.asl.json) runs a review
    revision — a row rendering one, and a `job.render-requested`. Without it those are ignored.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if _runs_revision(row, event):
        if revision_machine is None:
            return row, []
        machine = revision_machine
    if isinstance(event, JobRenderRequested) and (row is None or row.ended):
        return start_revision(row, event, now, machine, trace)
    if row is None:
        return _without_row(event, now, machine, trace)
    if not isinstance(event, Tick) and event.job_id != row.job_id:
        return row, []
    run = _Run(row, now, machine)
    if not run.handle(event):
        return row, []
    return run.finish()


def _without_row(
    event: Event, now: datetime, machine: StateMachine, trace: Trace | None
) -> tuple[JobRow | None, list[Command]]:
    """An event for a job the orchestrator has no row of: the events that can start one."""
    if isinstance(event, JobSubmitted):
        run = _Run.new(event, now, machine, trace)
        run.submit(event)
        return run.finish()
    if isinstance(event, JobCancelRequested):
        # Cancelled before the orchestrator saw it run: keep a tombstone so a late submission
        # is not started.
        run = _Run.new(event, now, machine, trace)
        run.cancel(event)
        return run.finish()
    if isinstance(event, JobResumeRequested):
        return resume_job(event, now, machine, trace)
    if isinstance(event, JobRetryRequested) and event.resume is not None:
        return retry_forgotten_job(event.resume, now, machine, trace)
    return None, []


def _runs_revision(row: JobRow | None, event: Event) -> bool:
    """Whether the revision document applies: to a render request, and to a row rendering a
    revision (until a new request starts it over)."""
    if isinstance(event, JobRenderRequested):
        return True
    if row is None:  # what the manifest says: a resume, or the record a retry carries
        if isinstance(event, JobRetryRequested) and event.resume is not None:
            return event.resume.revision is not None
        return isinstance(event, JobResumeRequested) and event.revision is not None
    return row.revision is not None


def next_wakeup(row: JobRow) -> datetime | None:
    """The earliest time a Tick would change this row (None once the job has ended). A timer may
    tick only the rows whose wake-up has come; ticking any row earlier is harmless."""
    if row.ended:
        return None
    times = [row.deadline, row.retry_due]
    if row.pending is not None:
        times += [row.pending.deadline, row.pending.heartbeat_deadline]
    present = [t for t in times if t is not None]
    return min(present) if present else None


def progress_of(row: JobRow, machine: StateMachine) -> float | None:
    """Share of the planned path's step Tasks done (the pending step's own share counted in);
    None if the path cannot be planned on the context."""
    if row.status is JobStatus.COMPLETED:
        return 1.0
    try:
        steps = [s.name for s in planned_path(machine, row.context) if s.service != ORCHESTRATOR]
    except (AslError, KeyError):
        return None
    if not steps:
        return 0.0
    done = float(sum(1 for name in steps if name in row.done))
    pending = row.pending
    if pending is not None and pending.state in steps and pending.state not in row.done:
        done += pending.progress
    return min(done / len(steps), 1.0)


def error_info(failure: Mapping[str, Any]) -> ErrorInfo:
    """The manifest's error from an ASL error object `{Error, Cause, State}`: a step's code as is,
    the ASL timeouts as TIMEOUT, anything else as INTERNAL."""
    raw = str(failure.get("Error", ErrorCode.INTERNAL))
    if raw in ErrorCode.__members__:
        code = ErrorCode(raw)
    elif raw in (TIMEOUT, HEARTBEAT_TIMEOUT):
        code = ErrorCode.TIMEOUT
    else:
        code = ErrorCode.INTERNAL
    state = failure.get("State")
    return ErrorInfo(
        code=code,
        message=str(failure.get("Cause", "")),
        step=state if isinstance(state, str) else None,
    )


def _failure(error: str, cause: str, state: str | None) -> dict[str, Any]:
    return {"Error": error, "Cause": cause, "State": state}


class _Run:
    """One transition in progress: a private copy of the row, the commands so far."""

    def __init__(self, row: JobRow, now: datetime, machine: StateMachine) -> None:
        # Copy what this module edits in place; the rest (the context's nested values, the
        # frozen error) is only ever replaced, never mutated, so sharing it is safe and cheap.
        self.row = row.model_copy(
            update={
                "attempts": dict(row.attempts),
                "retries": list(row.retries),
                "done": list(row.done),
                "pending": row.pending.model_copy() if row.pending is not None else None,
                "context": dict(row.context) if isinstance(row.context, dict) else row.context,
            }
        )
        self.now = now
        self.machine = machine
        self.commands: list[Command] = []
        self.message = ""

    @classmethod
    def new(
        cls,
        event: JobSubmitted | JobCancelRequested,
        now: datetime,
        machine: StateMachine,
        trace: Trace | None,
    ) -> _Run:
        row = JobRow(
            job_id=event.job_id,
            tenant_id=event.tenant_id,
            env=event.env,
            status=JobStatus.PENDING,
            seed=seed_for(event.job_id),
            correlation_id=trace.correlation_id if trace else None,
            traceparent=trace.traceparent if trace else None,
            created_at=now,
            updated_at=now,
        )
        return cls(row, now, machine)

    # ---- dispatch -------------------------------------------------------------------------

    def handle(self, event: Event) -> bool:
        """Apply the event; False when it is to be ignored."""
        row = self.row
        if isinstance(event, JobSubmitted | JobResumeRequested | JobRenderRequested):
            # A duplicate delivery, a resume (the job already has its row), or a render request
            # while the job runs (the API refuses those; a late one is dropped).
            return False
        if isinstance(event, JobCancelRequested):
            if row.ended:
                return False
            self.cancel(event)
            return True
        if isinstance(event, JobRetryRequested):
            return self.retry_requested()
        if isinstance(event, Tick):
            return self.tick()
        pending = row.pending
        if row.ended or pending is None or event.step_run_id != pending.step_run_id:
            return False  # a duplicate, a late result, or a result for an ended job
        task = self.task(pending.state)
        if task is None:
            return True
        if isinstance(event, StepHeartbeat):
            return self.heartbeat(task, pending, event)
        if isinstance(event, StepSucceeded):
            self.succeeded(task, event)
        else:
            self.failed(task, str(event.error.code), event.error.message)
        return True

    def finish(self) -> tuple[JobRow, list[Command]]:
        row = self.row
        row.seq += 1
        row.updated_at = self.now
        progress = progress_of(row, self.machine)
        if progress is not None:
            row.progress = max(row.progress, progress)
        attempt = row.attempts.get(row.state) if row.state is not None else None
        error = row.error if row.status is JobStatus.FAILED else None
        status = JobStatusChanged(
            job_id=row.job_id,
            tenant_id=row.tenant_id,
            env=row.env,
            status=row.status,
            state=row.state,
            progress=row.progress,
            attempt=attempt,
            message=self.message,
            error=StepError(code=error.code, message=error.message) if error else None,
            revision=row.revision,
        )
        self.commands.append(EmitStatus(event=status, trace=self.trace))
        return row, self.commands

    @property
    def trace(self) -> Trace:
        return Trace(correlation_id=self.row.correlation_id, traceparent=self.row.traceparent)

    def task(self, name: str | None) -> TaskState | None:
        """The Task `name` of the document; a row recovered under a document that lacks it
        fails the job rather than the orchestrator."""
        state = self.machine.states.get(name) if name is not None else None
        if isinstance(state, TaskState):
            return state
        self.end_failure(
            _failure(RUNTIME_ERROR, f"state {name!r} is not a Task of the pipeline", name)
        )
        return None

    # ---- job commands ---------------------------------------------------------------------

    def submit(self, event: JobSubmitted) -> None:
        row = self.row
        row.manifest_key = event.manifest_key
        row.context = {
            "jobId": event.job_id,
            "tenantId": event.tenant_id,
            "env": event.env,
            "options": event.options.to_jsonable(),
        }
        if self.machine.timeout_seconds is not None:
            row.deadline = self.now + timedelta(seconds=self.machine.timeout_seconds)
        self.enter(self.machine.start_at)

    def cancel(self, event: JobCancelRequested) -> None:
        self.set_status(JobStatus.CANCELLED, None)
        self.end()
        self.message = f"cancelled: {event.reason}" if event.reason else "cancelled"

    def retry_requested(self) -> bool:
        """Re-run a failed job from the Task that failed, with fresh retry counters; the results
        gathered so far stay in the context. Anything but a failed job ignores it."""
        row = self.row
        resume = row.failed_state
        if row.status is not JobStatus.FAILED or not row.ended or resume is None:
            return False
        if resume not in self.machine.states:
            return False
        if isinstance(row.context, dict):
            row.context.pop("error", None)
        row.error = None
        row.failed_state = None
        row.ended_at = None
        row.deadline = (
            self.now + timedelta(seconds=self.machine.timeout_seconds)
            if self.machine.timeout_seconds is not None
            else None
        )
        self.set_status(JobStatus.PROCESSING, None)
        self.enter(resume)
        self.message = f"retry requested; {self.message}"
        return True

    # ---- the timer ------------------------------------------------------------------------

    def tick(self) -> bool:
        row, now = self.row, self.now
        if row.ended:
            return False
        if row.deadline is not None and now >= row.deadline:
            limit = self.machine.timeout_seconds or 0.0
            self.end_failure(
                _failure(TIMEOUT, f"the job did not finish within {limit:g} s", row.state)
            )
            return True
        if row.retry_due is not None:
            if now < row.retry_due:
                return False
            task = self.task(row.state)
            if task is not None:
                self.start_task(task)
            return True
        pending = row.pending
        if pending is None:
            return False
        return self.step_expired(pending)

    def step_expired(self, pending: PendingStep) -> bool:
        """The pending step's own deadlines: TimeoutSeconds, and HeartbeatSeconds of silence."""
        now = self.now
        expired = [
            (when, error)
            for when, error in (
                (pending.deadline, TIMEOUT),
                (pending.heartbeat_deadline, HEARTBEAT_TIMEOUT),
            )
            if when is not None and now >= when
        ]
        if not expired:
            return False
        task = self.task(pending.state)
        if task is None:
            return True
        _, error = min(expired, key=lambda e: e[0])  # the first to expire; Timeout on a tie
        if error == TIMEOUT:
            limit = task.timeout_seconds or DEFAULT_TASK_TIMEOUT_SECONDS
            cause = f"the step did not finish within {limit:g} s"
        else:
            silence = f"no heartbeat from the step for {task.heartbeat_seconds or 0:g} s"
            if self.execution_lost(task, pending, silence):
                return True
            cause = f"{silence}; its worker was lost {pending.lost} times"
        self.failed(task, error, cause)
        return True

    def execution_lost(self, task: TaskState, pending: PendingStep, silence: str) -> bool:
        """The step's execution went silent: its worker died, hung or lost the partition. Not
        the step's failure while the crash budget lasts: the request is still uncommitted in its
        topic, so the restarted worker (or the partition's new owner) runs it again, and its
        first heartbeat restarts the clock. If nothing has run it again after RESTART_WINDOW
        heartbeat periods more, the step is requested again as a new attempt (the crash budget
        carries over; the Retriers are not charged). True when the row goes on waiting."""
        heartbeat = task.heartbeat_seconds or 0.0
        if pending.silent:
            lost = pending.lost
            self.start_task(task)
            assert self.row.pending is not None
            self.row.pending.lost = lost
            self.message = (
                f"{task.name}: not run again within {RESTART_WINDOW * heartbeat:g} s of its "
                f"worker's loss; {self.message}"
            )
            return True
        pending.lost += 1
        pending.silent = True
        pending.heartbeat_deadline = self.now + timedelta(seconds=RESTART_WINDOW * heartbeat)
        if pending.lost > MAX_LOST_EXECUTIONS:
            return False
        self.message = (
            f"{task.name}: {silence}; its worker is deemed lost ({pending.lost} of "
            f"{MAX_LOST_EXECUTIONS}), waiting for the step to be run again"
        )
        return True

    # ---- step results ---------------------------------------------------------------------

    def heartbeat(self, task: TaskState, pending: PendingStep, event: StepHeartbeat) -> bool:
        """A beat of the step run. The first one (the worker sends it as it starts) starts the
        heartbeat clock; one with a new run token is the step run started again by another
        execution, and the one before it counts as lost unless it already went silent. Beats of
        a superseded execution are ignored (False)."""
        token = event.run
        if token is not None and token in pending.runs[:-1]:
            return False
        restarted = token is not None and token not in pending.runs and bool(pending.runs)
        if token is not None and token not in pending.runs:
            if restarted and not pending.silent:
                pending.lost += 1  # replaced while it still counted as alive: its worker died
            pending.runs = [*pending.runs, token][-MAX_RUN_TOKENS:]
        elif pending.silent:
            pending.lost = max(0, pending.lost - 1)  # the same execution: only late, not lost
        pending.silent = False
        if pending.started_at is None:
            pending.started_at = self.now
        pending.last_heartbeat = self.now
        if task.heartbeat_seconds is not None:
            pending.heartbeat_deadline = self.now + timedelta(seconds=task.heartbeat_seconds)
        pending.progress = max(pending.progress, event.progress)
        if pending.lost > MAX_LOST_EXECUTIONS:
            self.failed(
                task,
                HEARTBEAT_TIMEOUT,
                f"the step's worker was lost {pending.lost} times (it crashes running it?)",
            )
            return True
        if restarted:
            self.message = f"{task.name} started again (its worker was lost {pending.lost} times)"
        else:
            self.message = event.message or f"{task.name} running"
        return True

    def succeeded(self, task: TaskState, event: StepSucceeded) -> None:
        row = self.row
        row.pending = None
        row.context = assign(row.context, task.result_path, event.result)
        if task.name not in row.done:
            row.done.append(task.name)
        row.failed_state = None
        self.enter(task.next if not task.end else None)

    def failed(self, task: TaskState, error: str, cause: str) -> None:
        """A failure of the current Task: retry, else catch, else fail the job."""
        row = self.row
        failed_run = row.pending.step_run_id if row.pending else f"{row.job_id}/{task.name}/0"
        row.pending = None
        match = _retrier_for(task, error)
        if match is not None:
            index, retrier = match
            if len(row.retries) != len(task.retry):  # a row from an older document
                row.retries = [0] * len(task.retry)
            used = row.retries[index]
            if used < retrier.max_attempts:
                row.retries[index] = used + 1
                # Seeded per failed run: deterministic on replay, different for every retry.
                delay = retrier.delay(used + 1, random.Random(f"{row.seed}/{failed_run}"))
                row.retry_due = self.now + timedelta(seconds=delay)
                self.message = (
                    f"{task.name} failed ({error}: {cause}); "
                    f"retry {used + 1} of {retrier.max_attempts} in {delay:.2f} s"
                )
                if delay <= 0:
                    self.start_task(task)
                return
        failure = _failure(error, cause, task.name)
        row.failed_state = task.name
        catcher = task.catcher_for(error)
        if catcher is None:
            self.end_failure(failure)
            return
        row.context = assign(row.context, catcher.result_path, failure)
        self.enter(catcher.next)

    # ---- walking the document -------------------------------------------------------------

    def enter(self, name: str | None) -> None:
        """Run states from `name` until a step is requested or the execution ends."""
        row = self.row
        for _ in range(MAX_INLINE_STATES):
            if name is None:
                self.end_success()
                return
            state = self.machine[name]
            row.state = name
            if isinstance(state, TaskState):
                row.retries = [0] * len(state.retry)
                if state.service != ORCHESTRATOR:
                    self.start_task(state)
                    return
                status = BUILTIN_STATUS.get(state.step)
                if status is None:  # validate_machine refuses this at start-up
                    cause = f"unknown orchestrator step {state.step!r}"
                    self.end_failure(_failure(RUNTIME_ERROR, cause, state.name))
                    return
                self.builtin(status)
                row.context = assign(row.context, state.result_path, {"status": status.value})
                name = None if state.end else state.next
            elif isinstance(state, ChoiceState):
                try:
                    name = state.choose(row.context)
                except AslError as exc:
                    self.end_failure(_failure(NO_CHOICE_MATCHED, str(exc), state.name))
                    return
            elif isinstance(state, PassState):
                result = state.result if state.result is not None else row.context
                row.context = assign(row.context, state.result_path, result)
                name = None if state.end else state.next
            elif isinstance(state, FailState):
                self.end_fail_state(state)
                return
            else:  # Succeed
                self.end_success()
                return
        self.end_failure(
            _failure(
                RUNTIME_ERROR,
                f"the state machine passed {MAX_INLINE_STATES} states without running a step",
                row.state,
            )
        )

    def builtin(self, status: JobStatus) -> None:
        """orchestrator:mark-*: set the manifest status (and, for failed, the context's error)."""
        row = self.row
        error: ErrorInfo | None = None
        if status is JobStatus.FAILED:
            raw = _lookup(row.context, "error")
            error = error_info(raw) if isinstance(raw, Mapping) else None
        self.set_status(status, error, always=True)
        self.message = status.value

    def start_task(self, task: TaskState) -> None:
        row, now = self.row, self.now
        attempt = row.attempts.get(task.name, 0) + 1
        row.attempts[task.name] = attempt
        row.state = task.name
        row.retry_due = None
        timeout = (
            task.timeout_seconds
            if task.timeout_seconds is not None
            else DEFAULT_TASK_TIMEOUT_SECONDS
        )
        pending = PendingStep(
            step_run_id=f"{row.job_id}/{task.name}/{attempt}",
            state=task.name,
            attempt=attempt,
            requested_at=now,
            deadline=now + timedelta(seconds=timeout),
            # The heartbeat clock starts with the step: at the worker's first beat.
            heartbeat_deadline=None,
        )
        row.pending = pending
        request = StepRequested(
            job_id=row.job_id,
            tenant_id=row.tenant_id,
            env=row.env,
            step_run_id=pending.step_run_id,
            state=task.name,
            service=task.service,
            step=task.step,
            attempt=attempt,
            input=copy.deepcopy(row.context) if isinstance(row.context, dict) else {},
            deadline=pending.deadline,
            heartbeat_seconds=task.heartbeat_seconds or None,
        )
        self.commands.append(RequestStep(service=task.service, request=request, trace=self.trace))
        self.message = f"{task.name} requested (attempt {attempt})"

    # ---- ending ---------------------------------------------------------------------------

    def set_status(
        self, status: JobStatus, error: ErrorInfo | None, *, always: bool = False
    ) -> None:
        row = self.row
        if not always and row.status is status and row.error == error:
            return
        row.status = status
        row.error = error
        job = JobRef(job_id=row.job_id, tenant_id=row.tenant_id, env=row.env)
        self.commands.append(SetManifest(job=job, status=status, error=error, trace=self.trace))

    def end(self) -> None:
        row = self.row
        row.pending = None
        row.retry_due = None
        row.ended_at = self.now

    def end_success(self) -> None:
        self.set_status(JobStatus.COMPLETED, None)
        self.end()
        self.message = "completed"

    def end_failure(self, failure: Mapping[str, Any]) -> None:
        """The job fails with this error: an uncaught one, a job timeout, a runtime error."""
        row = self.row
        error = error_info(failure)
        row.failed_state = error.step
        self.set_status(JobStatus.FAILED, error)
        self.end()
        self.message = f"{error.step or 'the job'} failed: {error.code}: {error.message}"

    def end_fail_state(self, state: FailState) -> None:
        row = self.row
        if row.status is not JobStatus.FAILED:  # no mark-failed on the way: record it now
            raw = _lookup(row.context, "error")
            failure = (
                raw
                if isinstance(raw, Mapping)
                else _failure(state.error or "States.Fail", state.cause or "", row.failed_state)
            )
            self.set_status(JobStatus.FAILED, error_info(failure))
        self.end()
        error = row.error
        self.message = (
            f"{error.step or 'the job'} failed: {error.code}: {error.message}"
            if error
            else f"failed in {state.name}"
        )


def _retrier_for(task: TaskState, error: str) -> tuple[int, Retrier] | None:
    """The first Retrier matching `error` and its index (ASL keeps a count per Retrier)."""
    for index, retrier in enumerate(task.retry):
        if matches_error(retrier.error_equals, error):
            return index, retrier
    return None


def _lookup(context: Any, key: str) -> Any:
    return context.get(key) if isinstance(context, Mapping) else None


# ---- a review revision (job.render-requested) ------------------------------------------------


def start_revision(
    row: JobRow | None,
    event: JobRenderRequested,
    now: datetime,
    machine: StateMachine,
    trace: Trace | None,
) -> tuple[JobRow | None, list[Command]]:
    """Run the revision document for `event.revision` on a job that has ended (or whose ended
    row was already removed): a fresh context with the revision, the job processing again. Step
    run attempts continue from the row's, so no stepRunId is used twice. A revision not newer
    than the row's, and a cancelled job, are ignored. Step runs are numbered after both the
    row's and the manifest's count (the row may be gone, or older than the manifest)."""
    if row is not None and (
        row.status is JobStatus.CANCELLED or event.revision <= (row.revision or 1)
    ):
        return row, []
    base = row or JobRow(
        job_id=event.job_id,
        tenant_id=event.tenant_id,
        env=event.env,
        status=JobStatus.COMPLETED,
        seed=seed_for(event.job_id),
        correlation_id=trace.correlation_id if trace else None,
        traceparent=trace.traceparent if trace else None,
        created_at=now,
        updated_at=now,
    )
    recorded = _resumed_attempts(machine, event.attempts)
    attempts = {
        state: max(base.attempts.get(state, 0), recorded.get(state, 0))
        for state in {*base.attempts, *recorded}
    }
    fresh = base.model_copy(
        update={
            "manifest_key": event.manifest_key,
            "revision": event.revision,
            "attempts": attempts,
            "state": None,
            "retries": [],
            "pending": None,
            "retry_due": None,
            "context": {
                "jobId": event.job_id,
                "tenantId": event.tenant_id,
                "env": event.env,
                "options": event.options.to_jsonable(),
                "revision": event.revision,
            },
            "done": [],
            "progress": 0.0,
            "failed_state": None,
            "ended_at": None,
            "deadline": now + timedelta(seconds=machine.timeout_seconds)
            if machine.timeout_seconds is not None
            else None,
        }
    )
    run = _Run(fresh, now, machine)
    run.enter(machine.start_at)  # mark-processing: the manifest says processing, error cleared
    run.message = f"revision {event.revision} requested; {run.message}"
    return run.finish()


# ---- resuming a job from its manifest (the reconciler's job.resume-requested) ----------------


def resume_job(
    event: JobResumeRequested, now: datetime, machine: StateMachine, trace: Trace | None
) -> tuple[JobRow | None, list[Command]]:
    """A job the manifest says is processing but which has no row (a restarted embedded stack,
    a lost changelog): a new row that resumes from the first unfinished step (resume_point).
    Step run ids continue after the attempts the manifest records, so a late result of a run
    from before is not mistaken for the new one. Anything but a processing job is ignored (a
    pending one is re-submitted instead; a cancelled one has its tombstone row or stays so)."""
    if event.status is not JobStatus.PROCESSING:
        return None, []
    return _resume(event, now, machine, trace, "resumed from the manifest")


def retry_forgotten_job(
    event: JobResumeRequested, now: datetime, machine: StateMachine, trace: Trace | None
) -> tuple[JobRow | None, list[Command]]:
    """A retry of a failed job the orchestrator no longer has a row for (its retention ended,
    the stack restarted): resumed like resume_job from the manifest's record, which the API read
    when it accepted the retry, so the step that failed runs again with fresh retry counters.
    Anything but a failed job is ignored (the API only asks for failed ones)."""
    if event.status is not JobStatus.FAILED:
        return None, []
    return _resume(event, now, machine, trace, "retry requested; resumed from the manifest")


def _resume(
    event: JobResumeRequested,
    now: datetime,
    machine: StateMachine,
    trace: Trace | None,
    why: str,
) -> tuple[JobRow | None, list[Command]]:
    context: dict[str, Any] = {
        "jobId": event.job_id,
        "tenantId": event.tenant_id,
        "env": event.env,
        "options": event.options.to_jsonable(),
    }
    if event.revision is not None:
        context["revision"] = event.revision
    point, skipped, resumed_context = resume_point(machine, context, set(event.succeeded))
    row = JobRow(
        job_id=event.job_id,
        tenant_id=event.tenant_id,
        env=event.env,
        manifest_key=event.manifest_key,
        status=JobStatus.PROCESSING,
        attempts=_resumed_attempts(machine, event.attempts),
        revision=event.revision,
        context=resumed_context,
        done=skipped,
        seed=seed_for(event.job_id),
        correlation_id=trace.correlation_id if trace else None,
        traceparent=trace.traceparent if trace else None,
        created_at=now,
        updated_at=now,
        deadline=now + timedelta(seconds=machine.timeout_seconds)
        if machine.timeout_seconds is not None
        else None,
    )
    run = _Run(row, now, machine)
    if event.status is not JobStatus.PROCESSING:
        run.set_status(JobStatus.PROCESSING, None, always=True)  # the manifest's error cleared
    run.enter(point)
    run.message = f"{why} at {point or 'the end'}; {run.message}"
    return run.finish()


def resume_point(
    machine: StateMachine, context: Any, succeeded: Collection[str]
) -> tuple[str | None, list[str], Any]:
    """Where a job resumes: the document walked from StartAt as a run would go — Choices decided
    on the context, Pass states applied, `mark-processing` passed — skipping each Task whose step
    the manifest records as succeeded. Returns the first state to enter (a step still to run, a
    `mark-*` that ends the job, a Fail or Succeed; None when the document ends), the step Tasks
    skipped, and the context at that point."""
    skipped: list[str] = []
    name: str | None = machine.start_at
    for _ in range(MAX_INLINE_STATES):
        if name is None:
            break
        state = machine[name]
        if isinstance(state, ChoiceState):
            try:
                name = state.choose(context)
            except AslError:
                break  # entering it fails the job with States.NoChoiceMatched
            continue
        if isinstance(state, TaskState):
            if not _already_done(state, succeeded):
                break
            if state.service == ORCHESTRATOR:
                context = assign(context, state.result_path, {"status": "processing"})
            else:
                skipped.append(state.name)
        elif isinstance(state, PassState):
            result = state.result if state.result is not None else context
            context = assign(context, state.result_path, result)
        else:
            break  # Fail / Succeed: entering it ends the job as the document says
        name = None if state.end else state.next
    return name, skipped, context


def _already_done(task: TaskState, succeeded: Collection[str]) -> bool:
    """A Task a resumed job need not run again: its step succeeded, or it only marks the job
    processing (which the manifest already says)."""
    if task.service == ORCHESTRATOR:
        return BUILTIN_STATUS.get(task.step) is JobStatus.PROCESSING
    return task.step in succeeded


def _resumed_attempts(machine: StateMachine, recorded: Mapping[str, int]) -> dict[str, int]:
    """Step runs per Task state, from the manifest's per-step attempt counts."""
    return {
        state.name: recorded[state.step]
        for state in machine.states.values()
        if isinstance(state, TaskState) and recorded.get(state.step, 0) > 0
    }
