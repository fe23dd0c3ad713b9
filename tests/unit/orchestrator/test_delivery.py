"""No event lost, no state leaked, without faust: the backoff policy, commands retried until
carried out (and the event acknowledged only then, never when abandoned), rows of ended jobs
removed after their retention, and the timer's index of wakeups."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from faust.types.tuples import Message
from prometheus_client import CollectorRegistry

from talkavocado_common.events import CloudEvent, Topics, encode, new_event
from talkavocado_common.models import ErrorCode, JobStatus
from talkavocado_common.pipeline import JobRow
from talkavocado_common.pipeline.transition import next_wakeup
from talkavocado_common.storage import NotFound
from talkavocado_orchestrator.agent import JobStateAgent, partition_still_ours
from talkavocado_orchestrator.backoff import Backoff, backoff_delay
from talkavocado_orchestrator.dead_letter import DeadLetters
from talkavocado_orchestrator.metrics import OrchestratorMetrics
from talkavocado_orchestrator.retrying import Abandoned, Retry
from talkavocado_orchestrator.shell import Executor, encode_tick, tick_topic
from talkavocado_orchestrator.timer import Retention, Ticker, WakeupIndex, expired, wakeup_of

from .helpers import PIPELINE, T0, Driver, submitted

TOPICS = Topics("t.")
FAST = Backoff(initial=0.001, cap=0.002)


# -- the backoff policy (pure) ------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = Backoff(initial=0.2, cap=5.0, jitter=0.0)
    assert [backoff_delay(policy, n, 0.5) for n in range(1, 7)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0]
    assert backoff_delay(policy, 10_000, 0.5) == 5.0  # no overflow after days of retrying


def test_backoff_jitter_draws_within_the_top_share() -> None:
    policy = Backoff(initial=1.0, cap=8.0, jitter=0.5)
    assert backoff_delay(policy, 3, 0.0) == 2.0  # (1 - jitter) * base
    assert backoff_delay(policy, 3, 0.5) == 3.0
    assert backoff_delay(policy, 3, 0.999999) == pytest.approx(4.0)
    assert backoff_delay(policy, 50, 0.0) == 4.0  # the cap is jittered too: never above it


@pytest.mark.parametrize(
    "args", [{"initial": 0}, {"initial": 2, "cap": 1}, {"multiplier": 0.5}, {"jitter": 1.5}]
)
def test_backoff_refuses_a_policy_that_makes_no_sense(args: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(**args)
    with pytest.raises(ValueError, match="retry counts from 1"):
        backoff_delay(Backoff(), 0, 0.5)


# -- the retry loop -----------------------------------------------------------------------------


@pytest.fixture
def metrics() -> OrchestratorMetrics:
    return OrchestratorMetrics(CollectorRegistry())


def retries(metrics: OrchestratorMetrics, command: str) -> float:
    value = metrics.registry.get_sample_value(
        "talkavocado_orchestrator_command_retries_total", {"command": command}
    )
    return value or 0.0


class Flaky:
    """Fails the first `failures` calls with OSError, then succeeds."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise OSError(28, "No space left on device")


async def test_a_failing_action_is_retried_until_it_succeeds(metrics: OrchestratorMetrics) -> None:
    action = Flaky(failures=3)
    await Retry(FAST, metrics).run("SetManifest", action)
    assert action.calls == 4
    assert retries(metrics, "SetManifest") == 3


async def test_the_wait_ends_promptly_when_the_event_is_no_longer_ours(
    metrics: OrchestratorMetrics,
) -> None:
    ours = True
    retry = Retry(Backoff(initial=30, cap=30), metrics, proceed=lambda: ours, poll=0.01)
    task = asyncio.create_task(retry.run("SetManifest", Flaky(failures=1)))
    await asyncio.sleep(0.05)
    assert not task.done()  # waiting 30 s to retry
    ours = False  # a rebalance or a stop
    began = time.monotonic()
    with pytest.raises(Abandoned):
        await task
    assert time.monotonic() - began < 0.5


# -- the agent: retried commands, manual acks ---------------------------------------------------


class _Sent:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, CloudEvent]] = []

    async def __call__(self, topic: str, key: str, event: CloudEvent) -> None:
        self.events.append((topic, key, event))


class FlakyManifests:
    """A manifest store whose storage is down for the first `failures` writes."""

    def __init__(self, failures: int) -> None:
        self.down = Flaky(failures)
        self.written: list[Any] = []

    async def update(self, keys: Any, change: Any) -> Any:
        await self.down()
        self.written.append(change)


class MissingManifests:
    async def update(self, keys: Any, change: Any) -> Any:
        raise NotFound(keys.manifest)


def make_agent(
    rows: dict[str, str],
    sent: _Sent,
    metrics: OrchestratorMetrics,
    manifests: Any,
    *,
    proceed: Any = lambda: True,
    index: WakeupIndex | None = None,
    retention: Retention | None = None,
) -> JobStateAgent:
    retry = Retry(FAST, metrics, proceed=proceed)
    index = index if index is not None else WakeupIndex()  # an empty index is falsy
    ticker = Ticker(rows, _no_ticks, index, retention or Retention())
    return JobStateAgent(
        topics=TOPICS,
        machine=PIPELINE,
        rows=rows,
        executor=Executor(TOPICS, manifests, sent, retry),
        dead_letters=DeadLetters(sent, TOPICS.dlq, "orch", metrics),
        metrics=metrics,
        retention=ticker.retention,
        track=ticker.track,
    )


async def _no_ticks(job_id: str, tick: bytes) -> None:
    raise AssertionError("no tick expected")


def submission(job_id: str = "job-1", offset: int = 3) -> Message:
    event = new_event(
        "job.submitted", submitted(job_id), source="/t", subject=job_id, tenant_id="tenant-a"
    )
    return Message(TOPICS.commands, 0, offset, 0.0, 0, None, job_id.encode(), encode(event), None)


def tick_record(job_id: str, at: Any) -> Message:
    value = encode_tick(job_id, at)
    return Message(tick_topic(TOPICS), 0, 7, 0.0, 0, None, job_id.encode(), value, None)


async def test_storage_down_twice_the_submission_is_still_carried_out_once(
    metrics: OrchestratorMetrics,
) -> None:
    rows: dict[str, str] = {}
    sent = _Sent()
    manifests = FlakyManifests(failures=2)
    index = WakeupIndex()
    agent = make_agent(rows, sent, metrics, manifests, index=index)
    record = submission()
    await agent.process(record, b"job-1", record.value, [])
    row = JobRow.from_json_bytes(rows["job-1"])
    assert row.status is JobStatus.PROCESSING
    assert manifests.down.calls == 3
    assert len(manifests.written) == 1  # the processing status, recorded once
    # Each command carried out once: the retried write did not repeat the ones before it.
    assert [t for t, _, _ in sent.events] == [TOPICS.steps("audio"), TOPICS.status]
    assert retries(metrics, "SetManifest") == 2
    assert index.get("job-1") == next_wakeup(row)  # the timer knows the new row


async def test_an_abandoned_event_leaves_no_row_and_propagates(
    metrics: OrchestratorMetrics,
) -> None:
    rows: dict[str, str] = {}
    ours = [True, False]  # the first attempt fails, then the partition is taken away
    agent = make_agent(rows, _Sent(), metrics, FlakyManifests(5), proceed=lambda: ours.pop(0))
    record = submission()
    with pytest.raises(Abandoned):
        await agent.process(record, b"job-1", record.value, [])
    assert rows == {}


class FakeStream:
    """What the agent uses of a faust stream: noack(), events(), ack()."""

    def __init__(self, events: list[Any]) -> None:
        self._events = events
        self.acked: list[int] = []

    def noack(self) -> FakeStream:
        return self

    async def events(self) -> AsyncIterator[Any]:
        for event in self._events:
            yield event

    async def ack(self, event: Any) -> bool:
        self.acked.append(event.message.offset)
        return True


class FakeEvent:
    def __init__(self, message: Message) -> None:
        self.message = message
        self.key = message.key
        self.value = message.value


async def test_only_events_carried_out_are_acknowledged(metrics: OrchestratorMetrics) -> None:
    """The first submission's storage never comes back before a rebalance: it is not acked
    (so not committed: redelivered), and faust is told not to wait for it; the next is."""
    rows: dict[str, str] = {}
    released: list[int] = []
    manifests = FlakyManifests(failures=1)
    ours = iter([True, False, True, True, True])
    agent = make_agent(rows, _Sent(), metrics, manifests, proceed=lambda: next(ours, True))
    agent.release = lambda message: released.append(message.offset)
    stream = FakeStream([FakeEvent(submission("job-1", 3)), FakeEvent(submission("job-2", 4))])
    await agent.orchestrate(stream)  # type: ignore[arg-type]
    assert stream.acked == [4]
    assert released == [3]
    assert list(rows) == ["job-2"]
    abandoned = metrics.registry.get_sample_value(
        "talkavocado_orchestrator_events_total", {"outcome": "abandoned"}
    )
    assert abandoned == 1.0


async def test_a_record_whose_handling_fails_is_dead_lettered_not_lost(
    metrics: OrchestratorMetrics,
) -> None:
    rows = {"job-1": '{"not": "a row"}'}  # a changelog entry from who knows where
    sent = _Sent()
    stream = FakeStream([FakeEvent(submission("job-1", 5))])
    await make_agent(rows, sent, metrics, MissingManifests()).orchestrate(stream)  # type: ignore[arg-type]
    ((topic, _, letter),) = sent.events
    assert topic == TOPICS.dlq
    assert "the orchestrator failed on it: ValidationError" in letter.payload().reason  # type: ignore[attr-defined]
    assert stream.acked == [5]


# -- retention of ended rows --------------------------------------------------------------------


def ended(status: JobStatus) -> JobRow:
    d = Driver(PIPELINE)
    d.submit()
    if status is JobStatus.CANCELLED:
        d.cancel()
    elif status is JobStatus.FAILED:
        d.fail(ErrorCode.INPUT_INVALID)
    else:
        while not d.job.ended:
            d.succeed()
    assert d.job.status is status
    return d.job


@pytest.mark.parametrize(
    ("status", "kept"),
    [
        (JobStatus.COMPLETED, timedelta(hours=1)),
        (JobStatus.CANCELLED, timedelta(hours=1)),
        (JobStatus.FAILED, timedelta(days=7)),
    ],
)
def test_an_ended_row_is_due_when_its_retention_is_over(status: JobStatus, kept: timedelta) -> None:
    row = ended(status)
    assert row.ended_at is not None
    retention = Retention()
    assert wakeup_of(row, retention) == row.ended_at + kept
    assert not expired(row, row.ended_at + kept - timedelta(seconds=1), retention)
    assert expired(row, row.ended_at + kept, retention)


async def test_a_tick_after_the_retention_deletes_the_row_and_a_retry_then_is_ignored(
    metrics: OrchestratorMetrics,
) -> None:
    retention = Retention(ended=timedelta(hours=1), failed=timedelta(hours=2))
    index = WakeupIndex()
    rows = {
        "job-1": ended(JobStatus.COMPLETED).to_json_bytes().decode(),
        "job-2": ended(JobStatus.FAILED).model_copy(update={"job_id": "job-2"}).model_dump_json(),
    }
    agent = make_agent(rows, _Sent(), metrics, MissingManifests(), index=index, retention=retention)
    for job_id in rows:
        agent.track(job_id, JobRow.from_json_bytes(rows[job_id]))
    end = JobRow.from_json_bytes(rows["job-1"]).ended_at
    assert end is not None
    for at, left in [
        (end + timedelta(minutes=59), ["job-1", "job-2"]),
        (end + timedelta(hours=1), ["job-2"]),  # the completed job's row goes first
        (end + timedelta(hours=2), []),
    ]:
        for job_id in list(rows):
            record = tick_record(job_id, at)
            await agent.process(record, job_id.encode(), record.value, [])
        assert list(rows) == left
    assert len(index) == 0
    removed = "talkavocado_orchestrator_rows_removed_total"
    assert metrics.registry.get_sample_value(removed, {"status": "completed"}) == 1.0
    assert metrics.registry.get_sample_value(removed, {"status": "failed"}) == 1.0


# -- the timer's index --------------------------------------------------------------------------


def test_the_index_hands_out_only_due_wakeups_and_the_latest_one_per_job() -> None:
    index = WakeupIndex()
    index.set("a", T0 + timedelta(seconds=10))
    index.set("b", T0 + timedelta(seconds=5))
    index.set("a", T0 + timedelta(seconds=20))  # moved later: its first entry is stale
    index.set("c", None)
    assert len(index) == 2
    assert index.pop_due(T0) == []
    assert index.pop_due(T0 + timedelta(seconds=10)) == [("b", T0 + timedelta(seconds=5))]
    assert index.pop_due(T0 + timedelta(seconds=30)) == [("a", T0 + timedelta(seconds=20))]
    assert len(index) == 0


def test_the_heap_does_not_grow_with_moved_wakeups() -> None:
    index = WakeupIndex()
    for n in range(10_000):  # one job whose heartbeat deadline keeps moving
        index.set("a", T0 + timedelta(seconds=n))
    assert len(index._heap) <= 1024 + 2  # compacted
    assert index.pop_due(T0 + timedelta(days=1)) == [("a", T0 + timedelta(seconds=9_999))]


async def test_rows_recovered_from_the_changelog_are_ticked_after_the_rebuild() -> None:
    """A restarted orchestrator: the table holds rows it did not write; the recovery callback
    indexes them, and the due ones are ticked, the others not."""
    due, idle = Driver(PIPELINE, "job-due"), Driver(PIPELINE, "job-idle")
    due.submit()  # submitted in 2025: long due
    idle.submit()
    idle.row = idle.job.model_copy(update={"deadline": None})  # a second row, far from due
    idle.row.pending = idle.pending.model_copy(
        update={"deadline": T0 + timedelta(days=36_500), "heartbeat_deadline": None}
    )
    rows = {
        "job-due": due.job.to_json_bytes().decode(),
        "job-idle": idle.job.to_json_bytes().decode(),
        "job-garbage": "{",
    }
    ticks: list[str] = []

    async def send(job_id: str, tick: bytes) -> None:
        ticks.append(job_id)

    ticker = Ticker(rows, send, WakeupIndex(), Retention())
    await ticker.tick()
    assert ticks == []  # nothing indexed before the recovery completes
    await ticker.rebuild()
    await ticker.tick()
    assert ticks == ["job-due"]
    assert len(ticker.index) == 1  # job-idle waits; the garbage row is skipped


async def test_a_tick_that_cannot_be_sent_is_due_again() -> None:
    d = Driver(PIPELINE)
    d.submit()
    attempts: list[str] = []

    async def send(job_id: str, tick: bytes) -> None:
        attempts.append(job_id)
        if len(attempts) == 1:
            raise OSError("broker away")

    ticker = Ticker({}, send, WakeupIndex(), Retention())
    ticker.track("job-1", d.job)
    await ticker.tick()
    await ticker.tick()
    await ticker.tick()
    assert attempts == ["job-1", "job-1"]


class _Flow:
    def __init__(self) -> None:
        self.active = True

    def is_active(self) -> bool:
        return self.active


class _App:
    def __init__(self) -> None:
        self.should_stop = False
        self.flow_control = _Flow()
        self.consumer_generation_id = 3


def test_the_event_stops_being_ours_on_a_stop_or_a_rebalance() -> None:
    app = _App()
    proceed = partition_still_ours(app)  # type: ignore[arg-type]
    assert proceed()  # outside a stream there is no event to compare generations with
    app.flow_control.active = False  # faust suspends the flow for a rebalance and a stop
    assert not proceed()
    app.flow_control.active = True
    app.should_stop = True
    assert not proceed()
