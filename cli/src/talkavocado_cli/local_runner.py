"""Runs the pipeline's state machine in one process: every Task's handler called in turn,
with the document's Retry, Catch and Choice honoured, and the manifest kept as the record."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import anyio

from talkavocado_common.asl import (
    AslError,
    ChoiceState,
    FailState,
    PassState,
    StateMachine,
    TaskState,
    assign,
    planned_path,
)
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import ErrorCode, ErrorInfo, JobOptions, JobStatus, Manifest
from talkavocado_common.step_runner import StepOutcome, run_step
from talkavocado_common.steps import StepHandler, StepRequest
from talkavocado_common.storage import JobKeys, Storage


class RunObserver(Protocol):
    def step_started(self, index: int, total: int, name: str, attempt: int) -> None: ...
    def step_progress(self, fraction: float, message: str = "") -> None: ...
    def step_finished(self, name: str, outcome: StepOutcome) -> None: ...
    def retrying(self, name: str, delay: float, reason: str) -> None: ...


BUILTIN_STATUS = {
    "mark-processing": JobStatus.PROCESSING,
    "mark-complete": JobStatus.COMPLETED,
    "mark-failed": JobStatus.FAILED,
}


def check_resources(machine: StateMachine, handlers: Mapping[str, StepHandler]) -> None:
    """Every Task must have a handler here: refuse the document before any work starts."""
    for state in machine.states.values():
        if not isinstance(state, TaskState):
            continue
        if state.service == "orchestrator":
            if state.step not in BUILTIN_STATUS:
                raise AslError(f"state {state.name!r}: unknown orchestrator step {state.step!r}")
        elif state.step not in handlers:
            raise AslError(f"state {state.name!r}: no handler for resource {state.resource!r}")


class LocalPipeline:
    def __init__(
        self,
        machine: StateMachine,
        handlers: Mapping[str, StepHandler],
        storage: Storage,
        observer: RunObserver,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        check_resources(machine, handlers)
        self.machine = machine
        self.handlers = handlers
        self.storage = storage
        self.manifests = ManifestStore(storage)
        self.observer = observer
        self.sleep = sleep
        self.rng = rng or random.Random()

    async def run(self, keys: JobKeys, options: JobOptions) -> Manifest:
        context: Any = {
            "jobId": keys.job_id,
            "tenantId": keys.tenant_id,
            "env": keys.env,
            "options": options.to_jsonable(),
        }
        total = len([s for s in planned_path(self.machine, context) if s.service != "orchestrator"])
        index = 0
        name: str | None = self.machine.start_at
        while name is not None:
            state = self.machine[name]
            if isinstance(state, TaskState):
                if state.service == "orchestrator":
                    await self._builtin(state.step, keys, context)
                    context = assign(
                        context, state.result_path, {"status": BUILTIN_STATUS[state.step].value}
                    )
                    name = state.next
                    continue
                index += 1
                outcome = await self._run_task(state, keys, options, context, index, total)
                if outcome.error is None:
                    context = assign(context, state.result_path, outcome.result or {})
                    name = state.next
                    continue
                error_name = outcome.error_name or str(ErrorCode.INTERNAL)
                catcher = state.catcher_for(error_name)
                failure = {"Error": error_name, "Cause": outcome.error.message, "State": state.name}
                if catcher is None:
                    await self._fail(keys, failure)
                    break
                context = assign(context, catcher.result_path, failure)
                name = catcher.next
            elif isinstance(state, ChoiceState):
                name = state.choose(context)
            elif isinstance(state, PassState):
                context = assign(
                    context,
                    state.result_path,
                    state.result if state.result is not None else context,
                )
                name = state.next
            elif isinstance(state, FailState):
                break
            else:  # Succeed
                break
        return await self.manifests.get(keys)

    async def _run_task(
        self,
        state: TaskState,
        keys: JobKeys,
        options: JobOptions,
        context: Any,
        index: int,
        total: int,
    ) -> StepOutcome:
        handler = self.handlers[state.step]
        request = StepRequest(step=state.step, keys=keys, options=options, context=context)
        retries = 0
        while True:
            self.observer.step_started(index, total, state.name, retries + 1)
            outcome = await run_step(
                handler,
                request,
                storage=self.storage,
                manifests=self.manifests,
                progress=self.observer.step_progress,
                attempt=retries + 1,
                time_limit=state.timeout_seconds,
            )
            self.observer.step_finished(state.name, outcome)
            if outcome.error is None:
                return outcome
            retrier = state.retrier_for(outcome.error_name or "")
            if retrier is None or retries >= retrier.max_attempts:
                return outcome
            retries += 1
            delay = retrier.delay(retries, self.rng)
            self.observer.retrying(state.name, delay, str(outcome.error))
            await self.sleep(delay)

    async def _builtin(self, step: str, keys: JobKeys, context: Any) -> None:
        status = BUILTIN_STATUS[step]
        error = context.get("error") if isinstance(context, Mapping) else None

        def change(m: Manifest) -> Manifest:
            update: dict[str, Any] = {"status": status}
            if status is JobStatus.FAILED and isinstance(error, Mapping):
                update["error"] = _error_info(error)
            if status is not JobStatus.FAILED:
                update["error"] = None
            return m.model_copy(update=update)

        await self.manifests.update(keys, change)

    async def _fail(self, keys: JobKeys, failure: Mapping[str, Any]) -> None:
        await self.manifests.update(
            keys,
            lambda m: m.model_copy(
                update={"status": JobStatus.FAILED, "error": _error_info(failure)}
            ),
        )


def _error_info(failure: Mapping[str, Any]) -> ErrorInfo:
    raw = str(failure.get("Error", ErrorCode.INTERNAL))
    code = (
        ErrorCode(raw)
        if raw in ErrorCode.__members__
        else (ErrorCode.TIMEOUT if raw.startswith("States.") else ErrorCode.INTERNAL)
    )
    return ErrorInfo(code=code, message=str(failure.get("Cause", "")), step=failure.get("State"))
