"""Commit bookkeeping: a dead letter never commits past a record still being worked on."""

from __future__ import annotations

from talkavocado_common.kafka import OffsetTracker

P = "topic[0]"


def test_nothing_to_commit_before_anything_is_handled() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    assert tracker.committable(P) is None
    tracker.delivered(P, 5)
    assert tracker.committable(P) is None


def test_ack_commits_past_the_record() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    tracker.delivered(P, 5)
    tracker.handled(P, 5)
    assert tracker.committable(P) == 6
    tracker.committed(P, 6)
    assert tracker.committable(P) is None  # no advance, no commit


def test_dead_letter_after_a_pending_record_waits_for_it() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    tracker.delivered(P, 5)
    tracker.handled(P, 6)  # dead letter
    assert tracker.committable(P) == 5  # up to, never past, the pending record
    tracker.committed(P, 5)
    tracker.handled(P, 5)
    assert tracker.committable(P) == 7


def test_dead_letters_alone_commit_past_themselves() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    tracker.handled(P, 0)
    tracker.handled(P, 1)
    assert tracker.committable(P) == 2


def test_out_of_order_acks_commit_the_contiguous_prefix() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    for offset in (10, 11, 12):
        tracker.delivered(P, offset)
    tracker.handled(P, 12)
    assert tracker.committable(P) == 10
    tracker.committed(P, 10)
    tracker.handled(P, 10)
    assert tracker.committable(P) == 11
    tracker.handled(P, 11)
    assert tracker.committable(P) == 13


def test_position_and_release() -> None:
    tracker: OffsetTracker[str] = OffsetTracker()
    assert tracker.position(P) is None
    tracker.delivered(P, 3)
    tracker.delivered(P, 4)
    assert tracker.position(P) == 5
    tracker.released(P, 4)
    assert tracker.position(P) == 4
    assert tracker.pending(P) == {3}
    tracker.forget(P)
    assert tracker.partitions() == []


def test_partition_lags_count_from_the_commit_or_the_start() -> None:
    from talkavocado_common.kafka.offsets import partition_lags

    lags = partition_lags(
        ["a", "b", "c", "d"],
        ends={"a": 10, "b": 7, "c": 5},
        committed={"a": 4, "b": None, "c": 9},
        starts={"b": 2},
    )
    # a: 10 - 4; b never committed: 7 - its start 2; c committed past a stale end: 0; d unknown.
    assert lags == {"a": 6, "b": 5, "c": 0}
