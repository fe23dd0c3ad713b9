"""`avocado process`: the pipeline run in this process by the same interpreter the orchestrator
uses (talkavocado_common.pipeline.transition), so Retry, Catch, Choice, timeouts and error
mapping behave exactly alike. This module is only a driver: it feeds `JobSubmitted`, carries
out each `RequestStep` by calling the step's handler and feeds back its result, applies the
manifest commands, and sleeps until the row's next due time to feed a `Tick`.

Time is a clock of the driver's own: it starts at the wall clock and moves by what the steps
took and what the driver slept, so a run with a fake `sleep` (tests) is as deterministic as
the orchestrator's replay of its changelog.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import anyio

from talkavocado_common.asl import AslError, StateMachine, TaskState, planned_path
from talkavocado_common.events import JobSubmitted, StepFailed, StepRequested, StepSucceeded
from talkavocado_common.events.step_results import failed, succeeded
from talkavocado_common.manifest_changes import SetStatus
from talkavocado_common.manifest_store import ManifestStore, utcnow
from talkavocado_common.models import JobOptions, Manifest
from talkavocado_common.pipeline import (
    Command,
    Event,
    JobRow,
    RequestStep,
    SetManifest,
    Tick,
    next_wakeup,
    transition,
    validate_machine,
)
from talkavocado_common.step_runner import StepOutcome, run_step
from talkavocado_common.steps import StepHandler, StepRequest
from talkavocado_common.storage import JobKeys, Storage
from talkavocado_common.topology import ORCHESTRATOR


class RunObserver(Protocol):
    def step_started(self, index: int, total: int, name: str, attempt: int) -> None: ...
    def step_progress(self, fraction: float, message: str = "") -> None: ...
    def step_finished(self, name: str, outcome: StepOutcome) -> None: ...
    def retrying(self, name: str, delay: float, reason: str) -> None: ...


def check_resources(machine: StateMachine, handlers: Mapping[str, StepHandler]) -> None:
    """Every Task must have a handler here, and the document must be one the orchestrator would
    run: refuse it before any work starts."""
    tasks = [s for s in machine.states.values() if isinstance(s, TaskState)]
    for task in tasks:
        if task.service != ORCHESTRATOR and task.step not in handlers:
            raise AslError(f"state {task.name!r}: no handler for resource {task.resource!r}")
    validate_machine(machine)


@dataclass
class _Clock:
    at: datetime

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=max(0.0, seconds))


class LocalPipeline:
    def __init__(
        self,
        machine: StateMachine,
        handlers: Mapping[str, StepHandler],
        storage: Storage,
        observer: RunObserver,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        check_resources(machine, handlers)
        self.machine = machine
        self.handlers = handlers
        self.storage = storage
        self.manifests = ManifestStore(storage)
        self.observer = observer
        self.sleep = sleep

    async def run(self, keys: JobKeys, options: JobOptions) -> Manifest:
        """Run the job whose manifest (with its input) is already stored; the final manifest."""
        manifest = await self.manifests.get(keys)
        if manifest.input is None:
            raise ValueError(f"job {keys.job_id} has no input recording in its manifest")
        submitted = JobSubmitted(
            job_id=keys.job_id,
            tenant_id=keys.tenant_id,
            env=keys.env,
            options=options,
            input=manifest.input,
            manifest_key=keys.manifest,
        )
        context = {"options": options.to_jsonable()}
        total = sum(1 for s in planned_path(self.machine, context) if s.service != ORCHESTRATOR)
        clock = _Clock(utcnow())
        row, commands = transition(None, submitted, clock.at, self.machine)
        while True:
            event = await self._carry_out(commands, row, keys, options, clock, total)
            if row is None or row.ended:
                break
            if event is None:
                event = await self._wait(row, clock)
                if event is None:
                    break  # nothing pending and nothing due: the document left the job idle
            row, commands = self._feed(row, event, clock)
        return await self.manifests.get(keys)

    def _feed(self, row: JobRow, event: Event, clock: _Clock) -> tuple[JobRow, list[Command]]:
        new_row, commands = transition(row, event, clock.at, self.machine)
        assert new_row is not None  # a row never goes back to nothing
        pending = row.pending
        if pending is not None and not isinstance(event, StepSucceeded):
            # The step failed or timed out; staying in its state means a retry, now or later.
            again = new_row.retry_due is not None or any(
                isinstance(c, RequestStep) for c in commands
            )
            if new_row.state == pending.state and again:
                due = new_row.retry_due or clock.at
                delay = (due - clock.at).total_seconds()
                self.observer.retrying(pending.state, delay, _reason(event, new_row))
        return new_row, commands

    async def _wait(self, row: JobRow, clock: _Clock) -> Tick | None:
        """Sleep until the row's next due time (a retry, a deadline); the Tick to feed then."""
        due = next_wakeup(row)
        if due is None:
            return None
        delay = (due - clock.at).total_seconds()
        if delay > 0:
            await self.sleep(delay)
            clock.advance(delay)
        return Tick(clock.at)

    async def _carry_out(
        self,
        commands: list[Command],
        row: JobRow | None,
        keys: JobKeys,
        options: JobOptions,
        clock: _Clock,
        total: int,
    ) -> Event | None:
        """Apply the commands in order; the result of the step one of them requested, if any
        (None when it ran out of time: the Tick past its deadline reports that)."""
        result: Event | None = None
        for command in commands:
            if isinstance(command, SetManifest):
                await self.manifests.update(keys, SetStatus(command.status, command.error))
            elif isinstance(command, RequestStep):
                index = len(row.done) + 1 if row is not None else 1
                result = await self._run_step(command, keys, options, clock, index, total)
        return result

    async def _run_step(
        self,
        command: RequestStep,
        keys: JobKeys,
        options: JobOptions,
        clock: _Clock,
        index: int,
        total: int,
    ) -> Event | None:
        requested = command.request
        self.observer.step_started(index, total, requested.state, requested.attempt)
        outcome = await run_step(
            self.handlers[requested.step],
            StepRequest(step=requested.step, keys=keys, options=options, context=requested.input),
            storage=self.storage,
            manifests=self.manifests,
            progress=self.observer.step_progress,
            attempt=requested.attempt,
            time_limit=max(0.0, (requested.deadline - clock.at).total_seconds()),
        )
        clock.advance(outcome.seconds)
        self.observer.step_finished(requested.state, outcome)
        if outcome.timed_out:
            clock.at = max(clock.at, requested.deadline)
            return None
        return result_event(requested, outcome)


def result_event(requested: StepRequested, outcome: StepOutcome) -> StepSucceeded | StepFailed:
    """The result event a step service's worker produces for this outcome."""
    if outcome.error is None:
        return succeeded(requested, dict(outcome.result or {}), outcome.seconds)
    return failed(requested, outcome.error.code, outcome.error.message, outcome.seconds)


def _reason(event: Event, row: JobRow) -> str:
    if isinstance(event, StepFailed):
        return f"{event.error.code}: {event.error.message}"
    return row.error.message if row.error is not None else "the step ran out of time"
