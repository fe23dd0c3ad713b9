"""Property-style tests: random event sequences (fixed seeds) against invariants that must hold
after every transition, whatever arrives in whatever order."""

from __future__ import annotations

import functools
import random
from collections import Counter
from dataclasses import dataclass, field

import pytest

from talkavocado_common.asl import StateMachine
from talkavocado_common.events import JobRetryRequested, StepSucceeded
from talkavocado_common.models import ErrorCode, JobStatus
from talkavocado_common.pipeline import (
    ENDED_STATUSES,
    Command,
    EmitStatus,
    Event,
    JobRow,
    RequestStep,
    SetManifest,
)

from .helpers import PIPELINE, Driver, machine, one_step, task

ALLOWED = {
    None: {
        JobStatus.PENDING,
        JobStatus.PROCESSING,
        JobStatus.CANCELLED,
        JobStatus.FAILED,
        JobStatus.COMPLETED,
    },
    JobStatus.PENDING: {
        JobStatus.PROCESSING,
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
    },
    JobStatus.PROCESSING: {
        JobStatus.PROCESSING,
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
    },
    JobStatus.FAILED: {JobStatus.PROCESSING},
    JobStatus.COMPLETED: set(),
    JobStatus.CANCELLED: set(),
}
# The default pipeline is stricter: it never shows `pending` and starts with mark-processing.
ALLOWED_PIPELINE = {
    **ALLOWED,
    None: {JobStatus.PROCESSING, JobStatus.CANCELLED},
    JobStatus.PENDING: set(),
    JobStatus.PROCESSING: {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED},
}

MACHINES: dict[str, StateMachine] = {
    "pipeline": PIPELINE,
    "short-timeouts": one_step(
        timeout=60,
        heartbeat=20,
        retry=[
            {
                "ErrorEquals": ["States.ALL"],
                "IntervalSeconds": 3,
                "MaxAttempts": 2,
                "JitterStrategy": "FULL",
            }
        ],
    ),
    "uncaught-with-job-timeout": machine(
        {
            "a": task(
                "audio:audio-extraction",
                next="b",
                timeout=120,
                retry=[{"ErrorEquals": ["TIMEOUT"]}],
            ),
            "b": task("transcribe:transcription", heartbeat=10, timeout=100),
        },
        TimeoutSeconds=600,
    ),
}
CODES = list(ErrorCode)
ADVANCES = [0, 0.5, 1, 3, 9, 11, 21, 31, 61, 121, 601, 1801, 7200, 30000]


@dataclass
class Stats:
    outcomes: Counter[str] = field(default_factory=Counter)  # final statuses
    reached: Counter[str] = field(default_factory=Counter)  # statuses reached on the way
    ignored: int = 0
    events: int = 0
    retries_requested: int = 0

    def record(self, d: Driver, kind: str, commands: list[Command]) -> None:
        self.events += 1
        self.ignored += not commands
        self.reached[d.job.status.value] += bool(commands)
        self.retries_requested += bool(commands) and kind == "retry"


KINDS = ["succeed", "fail", "heartbeat", "stale", "tick", "cancel", "retry", "submit"]
STEP_EVENTS = ["succeed", "fail", "heartbeat"]


def random_run(seed: int, name: str, stats: Stats | None = None) -> Driver:
    rng = random.Random(seed)
    d = Driver(MACHINES[name], job_id=f"job-{seed}")
    strict = name == "pipeline"
    issued: set[str] = set()
    if rng.random() < 0.03:
        check(d, d.cancel(), None, issued, strict)
    before = d.row
    check(d, d.submit(transitions=rng.random() < 0.5), before, issued, strict)
    ended_for = 0
    for _ in range(300):
        before = d.job
        kind, run = random_event(rng, d, issued)
        commands = send(d, rng, kind, run)
        check(d, commands, before, issued, strict)
        if stats is not None:
            stats.record(d, kind, commands)
        ended_for = ended_for + 1 if d.job.ended else 0
        if ended_for > patience(d.job):
            break
    if stats is not None:
        stats.outcomes[d.job.status.value] += 1
    return d


def random_event(rng: random.Random, d: Driver, issued: set[str]) -> tuple[str, str | None]:
    """The kind of the next event, and the step run it names (None: the pending one). A stale
    event names a run that is over, or one that never was."""
    row = d.job
    kind = rng.choices(
        KINDS, weights=[30, 12, 15, 10, 25, 1, 4 if row.status is JobStatus.FAILED else 1, 1]
    )[0]
    if kind in STEP_EVENTS and row.pending is None:
        return "tick", None
    if kind != "stale":
        return kind, None
    kind = rng.choice(STEP_EVENTS)
    run = rng.choice(sorted(issued)) if issued and rng.random() < 0.8 else f"{d.job_id}/nope/1"
    return kind, run


def send(d: Driver, rng: random.Random, kind: str, run: str | None) -> list[Command]:
    """Delivers one event of `kind` to the driver; the commands it answers with."""
    if kind == "succeed":
        return d.succeed({"n": rng.randrange(100)}, run=run)
    if kind == "fail":
        return d.fail(rng.choice(CODES), "random", run=run)
    if kind == "heartbeat":
        return d.heartbeat(rng.random(), run=run)
    if kind == "tick":
        d.advance(rng.choice(ADVANCES))
        return d.tick()
    if kind == "cancel":
        return d.cancel()
    if kind == "retry":
        return d.retry()
    return d.submit(transitions=rng.random() < 0.5)


def patience(row: JobRow) -> int:
    """Events to keep sending once the job ended: longer after a failure, which a retry
    request may revive."""
    return 40 if row.status is JobStatus.FAILED else 15


def check(
    d: Driver, commands: list[Command], before: JobRow | None, issued: set[str], strict: bool
) -> None:
    """The invariants of one transition (`before` → `d.row`, giving `commands`)."""
    row = d.job
    event: Event = d.log[-1][0]

    # Ignored ⇔ no commands ⇔ the very same row.
    if not commands:
        assert row is before
        return
    assert row is not before

    # An ended job answers nothing but a retry request (when it failed).
    if before is not None and before.ended:
        assert isinstance(event, JobRetryRequested)
        assert before.status is JobStatus.FAILED

    check_status_event(row, commands)
    check_step_request(row, before, commands, issued)
    check_waiting(row)
    check_status_edges(row, before, commands, strict)
    check_progress(row, before)

    # The row survives the changelog.
    assert JobRow.from_json_bytes(row.to_json_bytes()) == row


def check_status_event(row: JobRow, commands: list[Command]) -> None:
    """Exactly one status event, last, mirroring the row."""
    emitted = [c for c in commands if isinstance(c, EmitStatus)]
    assert len(emitted) == 1
    assert commands[-1] is emitted[0]
    status = emitted[0].event
    assert (status.status, status.state, status.progress) == (row.status, row.state, row.progress)
    assert (status.error is not None) == (row.status is JobStatus.FAILED and row.error is not None)


def check_step_request(
    row: JobRow, before: JobRow | None, commands: list[Command], issued: set[str]
) -> None:
    """Never two pending step runs; every run id is new; the row waits for the one requested."""
    requested = [c for c in commands if isinstance(c, RequestStep)]
    assert len(requested) <= 1
    if requested:
        run_id = requested[0].request.step_run_id
        assert run_id not in issued
        issued.add(run_id)
        assert row.pending is not None
        assert row.pending.step_run_id == run_id
        assert row.attempts[row.pending.state] == row.pending.attempt
        assert run_id == f"{row.job_id}/{row.pending.state}/{row.pending.attempt}"
    elif row.pending is not None and before is not None:
        assert before.pending is not None
        assert row.pending.step_run_id == before.pending.step_run_id


def check_waiting(row: JobRow) -> None:
    """Running: waiting for exactly one thing. Ended: waiting for nothing."""
    if row.ended:
        assert row.status in ENDED_STATUSES
        assert row.pending is None
        assert row.retry_due is None
    else:
        assert (row.pending is None) != (row.retry_due is None)
        assert row.status not in ENDED_STATUSES


def check_status_edges(
    row: JobRow, before: JobRow | None, commands: list[Command], strict: bool
) -> None:
    """Status moves only along allowed edges, through every manifest update."""
    allowed = ALLOWED_PIPELINE if strict else ALLOWED
    current = before.status if before is not None else None
    for mark in (c for c in commands if isinstance(c, SetManifest)):
        assert mark.status in allowed[current]
        if mark.status is not JobStatus.FAILED:
            assert mark.error is None
        elif strict:  # the pipeline always knows why
            assert mark.error is not None
        current = mark.status
    assert row.status is current or (row.status is JobStatus.PENDING and current is None)


def check_progress(row: JobRow, before: JobRow | None) -> None:
    """Progress: within [0, 1], never down, 1 when completed."""
    assert 0.0 <= row.progress <= 1.0
    if before is not None:
        assert row.progress >= before.progress
    if row.status is JobStatus.COMPLETED:
        assert row.progress == 1.0


SEEDS = range(150)


@functools.cache
def random_runs(name: str) -> tuple[list[Driver], Stats]:
    """The random runs of one document, each checked against the invariants as it goes."""
    stats = Stats()
    return [random_run(seed, name, stats) for seed in SEEDS], stats


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_invariants_hold_for_random_event_sequences(name: str) -> None:
    _, stats = random_runs(name)
    # The generator really explores: all outcomes, plenty of ignored events, retry requests.
    assert stats.outcomes["completed"] > 0
    assert stats.outcomes["cancelled"] > 0
    assert stats.reached["failed"] > 0
    assert stats.ignored > stats.events // 10
    assert stats.retries_requested > 0


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_random_runs_are_deterministic(name: str) -> None:
    for seed in (1, 7, 42):
        first, second = random_run(seed, name), random_run(seed, name)
        assert first.log == second.log
        assert first.job == second.job


def test_every_random_pipeline_run_that_completes_ran_the_planned_steps_in_order() -> None:
    drivers, _ = random_runs("pipeline")
    for d in drivers:
        if d.job.status is not JobStatus.COMPLETED:
            continue
        transitions = d.job.context["options"]["transitions"]["enabled"]
        order = ["audio-extraction", "transcription", "smart-cut-planner", "video-cuts"]
        order += ["video-transitions"] if transitions else []
        order += ["subtitles-post-edit", "timeline-export", "branding-layer"]
        succeeded = [e.state for e, commands in d.log if commands and isinstance(e, StepSucceeded)]
        assert succeeded == order  # each once, in order, whatever failed and was retried
        assert set(d.job.context["results"]) == {s.replace("-", "_") for s in order}
