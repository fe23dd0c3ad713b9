"""The pipeline's one interpreter: the ASL transition function over a per-job row.

`transition(row, event, now, machine) -> (row', commands)`; no I/O, no clock, no hidden
randomness. It is the only code that runs the pipeline document. Two imperative shells drive
it: the orchestrator's Faust app (events from Kafka, a timer's `Tick`s, commands produced to
Kafka and storage) and `avocado process` (talkavocado_cli.local_runner: the step handlers
called in this process, their results fed back as events).
"""

from talkavocado_common.topology import BUILTIN_STATUS

from .commands import Command, EmitStatus, Event, RequestStep, SetManifest, Tick, Trace
from .row import ENDED_STATUSES, JobRow, PendingStep, seed_for
from .transition import (
    PLATFORM_RESOURCES,
    error_info,
    next_wakeup,
    progress_of,
    transition,
    validate_machine,
)

__all__ = [
    "BUILTIN_STATUS",
    "ENDED_STATUSES",
    "PLATFORM_RESOURCES",
    "Command",
    "EmitStatus",
    "Event",
    "JobRow",
    "PendingStep",
    "RequestStep",
    "SetManifest",
    "Tick",
    "Trace",
    "error_info",
    "next_wakeup",
    "progress_of",
    "seed_for",
    "transition",
    "validate_machine",
]
