"""Pure core of the orchestrator: the ASL transition function over a per-job row.

`transition(row, event, now, machine) -> (row', commands)`; no I/O, no clock, no hidden
randomness. The Faust app (the imperative shell) feeds it events and `Tick`s and carries out
the commands.
"""

from .commands import Command, EmitStatus, Event, RequestStep, SetManifest, Tick, Trace
from .row import ENDED_STATUSES, JobRow, PendingStep, seed_for
from .transition import (
    BUILTIN_STATUS,
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
