"""The row survives the changelog (JSON round trip) and replaying it is deterministic."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from talkavocado_common.models import ErrorCode
from talkavocado_common.pipeline import JobRow, Tick, next_wakeup, seed_for, transition

from .helpers import PIPELINE, T0, TRACE, Driver


def journey() -> Driver:
    """A job that has been through most things: heartbeats, a retry, a failure, a retry request."""
    d = Driver()
    d.submit(transitions=True)
    d.advance(5)
    d.heartbeat(0.4, "working")
    d.succeed({"mp3": "audio/job-1.mp3", "nested": {"list": [1, 2.5, None, True]}})
    d.fail(ErrorCode.TRANSIENT_DEPENDENCY)
    d.tick_at(d.job.retry_due or d.now)
    d.fail(ErrorCode.INPUT_INVALID, "garbled")
    d.advance(30)
    d.retry()
    d.succeed()
    return d


def test_rows_round_trip_through_json_at_every_step() -> None:
    d = journey()
    assert len(d.rows) == len(d.log)
    for row in d.rows:
        restored = JobRow.from_json_bytes(row.to_json_bytes())
        assert restored == row
        assert restored.to_json_bytes() == row.to_json_bytes()
    kinds = {
        "pending": any(r.pending for r in d.rows),
        "retry_due": any(r.retry_due for r in d.rows),
        "error": any(r.error for r in d.rows),
        "heartbeat": any(r.pending and r.pending.last_heartbeat for r in d.rows),
    }
    assert all(kinds.values()), kinds


def test_the_row_json_is_plain_json() -> None:
    d = journey()
    data = json.loads(d.job.to_json_bytes())
    assert data["job_id"] == "job-1"
    assert data["status"] == "processing"
    assert data["pending"]["step_run_id"] == "job-1/smart-cut-planner/1"
    assert data["context"]["results"]["audio_extraction"]["nested"] == {
        "list": [1, 2.5, None, True]
    }
    assert data["correlation_id"] == TRACE.correlation_id
    assert data["schema_version"] == 1


def test_a_restored_row_continues_exactly_like_the_original() -> None:
    """What a restarted orchestrator does with a row from the changelog: the same commands."""
    original = Driver()
    original.submit()
    original.fail(ErrorCode.TRANSIENT_DEPENDENCY)

    restored = Driver()
    restored.row = JobRow.from_json_bytes(original.job.to_json_bytes())
    restored.now = original.now
    for d in (original, restored):
        d.tick(40)
        d.fail(ErrorCode.TRANSIENT_DEPENDENCY)
        d.tick(40)
        d.heartbeat(0.5)
        d.succeed()
    assert restored.log == original.log[-5:]
    assert restored.job == original.job


def test_replaying_the_same_events_gives_the_same_rows_and_commands() -> None:
    first, second = journey(), journey()
    assert first.log == second.log
    assert first.job == second.job


def test_transition_never_modifies_its_input() -> None:
    d = journey()  # Driver.send asserts it on every event
    row = d.job
    snapshot = row.to_json_bytes()
    transition(row, Tick(T0), T0 + timedelta(days=1), PIPELINE)
    assert row.to_json_bytes() == snapshot


def test_unknown_fields_in_a_row_are_refused() -> None:
    data = json.loads(journey().job.to_json_bytes())
    data["surprise"] = 1
    with pytest.raises(ValueError, match="surprise"):
        JobRow.from_json_bytes(json.dumps(data))


def test_seq_counts_the_changes_and_updated_at_follows_them() -> None:
    d = Driver()
    d.submit()
    assert d.job.seq == 1
    d.advance(3)
    d.heartbeat(0.2)
    assert (d.job.seq, d.job.updated_at, d.job.created_at) == (2, T0 + timedelta(seconds=3), T0)
    d.tick()  # nothing due: no change
    assert d.job.seq == 2


def test_seed_is_stable_and_differs_between_jobs() -> None:
    assert seed_for("job-1") == seed_for("job-1")
    assert seed_for("job-1") != seed_for("job-2")
    assert 0 <= seed_for("job-1") < 2**63
    d = Driver()
    d.submit()
    assert d.job.seed == seed_for("job-1")


def test_next_wakeup_is_the_earliest_deadline() -> None:
    d = Driver()
    d.submit()
    assert next_wakeup(d.job) == T0 + timedelta(seconds=1800)  # the step's TimeoutSeconds
    d.heartbeat(0.1)
    assert next_wakeup(d.job) == T0 + timedelta(seconds=30)  # started: the heartbeat deadline
    d.fail(ErrorCode.TRANSIENT_DEPENDENCY)
    assert next_wakeup(d.job) == d.job.retry_due
    d.cancel()
    assert next_wakeup(d.job) is None


def test_ticking_at_next_wakeup_always_changes_a_running_row() -> None:
    d = Driver()
    d.submit()
    for _ in range(4):
        wake = next_wakeup(d.job)
        assert wake is not None
        d.tick_at(wake - timedelta(microseconds=1))
        assert d.log[-1][1] == []
        assert d.tick_at(wake) != []
