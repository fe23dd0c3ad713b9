"""What a step handler is: one dataclass input, one environment of adapters, a dict result.

The same handlers run in `avocado process` (one process) and in the step services (over Kafka).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .manifest_store import ManifestStore
from .models import ErrorCode, JobOptions
from .storage import JobKeys, Storage


class StepError(Exception):
    """A failure with one of the contract's error codes and a sentence a user understands."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ProgressReporter(Protocol):
    def __call__(self, fraction: float, message: str = "") -> None:
        """Report progress in [0, 1] of the current step; must be cheap and never raise."""


def no_progress(fraction: float, message: str = "") -> None:
    return None


@dataclass(frozen=True)
class StepRequest:
    """The input of one step run: the job, its options and the job context so far."""

    step: str
    keys: JobKeys
    options: JobOptions = field(default_factory=JobOptions)
    context: Mapping[str, Any] = field(default_factory=dict)


class SubstepPublisher(Protocol):
    async def __call__(self, step: str, name: str, payload: Mapping[str, Any]) -> None:
        """Publish a sub-step of the running step for any worker of its service to take:
        `step` is declared in topology.SUBSTEPS, `payload` becomes its input (its context),
        `name` is unique within the step run (part of its run id and of its Kafka key, so the
        sub-steps spread over the topic's partitions). Nobody waits for its result: the step
        learns what happened from storage, and does the work itself when nobody took it."""


@dataclass(frozen=True)
class StepEnv:
    """Adapters a handler may use: storage, manifests, a scratch directory, progress, and
    (in a step service, not in `avocado process`) a publisher of sub-steps."""

    storage: Storage
    manifests: ManifestStore
    workdir: Path
    progress: ProgressReporter = no_progress
    substeps: SubstepPublisher | None = None


StepResult = dict[str, Any]
StepHandler = Callable[[StepRequest, StepEnv], Awaitable[StepResult]]
