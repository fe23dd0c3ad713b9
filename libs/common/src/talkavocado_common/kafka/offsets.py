"""Which offset may be committed: everything before it handled (acked or dead-lettered).

Pure bookkeeping, per partition. Records are delivered in order; a valid one stays *pending*
until the caller acks it, an invalid one is *handled* as soon as its dead letter is produced.
The committable offset is the lowest pending offset, or one past the highest handled offset
when nothing is pending — so a dead letter never commits past a record still being worked on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

P = TypeVar("P")


@dataclass
class _PartitionState:
    pending: set[int] = field(default_factory=set)
    handled_upto: int | None = None  # one past the highest handled offset
    committed: int | None = None
    position: int | None = None  # one past the highest offset seen (delivered or handled)

    def saw(self, offset: int) -> None:
        if self.position is None or offset + 1 > self.position:
            self.position = offset + 1


class OffsetTracker(Generic[P]):
    def __init__(self) -> None:
        self._parts: dict[P, _PartitionState] = {}

    def _state(self, partition: P) -> _PartitionState:
        return self._parts.setdefault(partition, _PartitionState())

    def delivered(self, partition: P, offset: int) -> None:
        """A valid record was handed to the caller: not committable until acked."""
        state = self._state(partition)
        state.pending.add(offset)
        state.saw(offset)

    def handled(self, partition: P, offset: int) -> None:
        """A record is done: acked by the caller, or dead-lettered."""
        state = self._state(partition)
        state.pending.discard(offset)
        state.saw(offset)
        if state.handled_upto is None or offset + 1 > state.handled_upto:
            state.handled_upto = offset + 1

    def released(self, partition: P, offset: int) -> None:
        """A delivered record was handed back (it will be delivered again)."""
        state = self._state(partition)
        state.pending.discard(offset)
        if state.position is not None and offset < state.position:
            state.position = offset

    def position(self, partition: P) -> int | None:
        """Where consuming resumes after what this consumer has seen (None: never seen)."""
        state = self._parts.get(partition)
        return None if state is None else state.position

    def committable(self, partition: P) -> int | None:
        """The offset to commit now, or None when it would not advance the committed one."""
        state = self._parts.get(partition)
        if state is None:
            return None
        target = state.handled_upto
        if state.pending and target is not None:
            target = min(target, min(state.pending))
        if target is None or (state.committed is not None and target <= state.committed):
            return None
        return target

    def committed_offset(self, partition: P) -> int | None:
        """The last offset this consumer committed on the partition (None: none yet)."""
        state = self._parts.get(partition)
        return None if state is None else state.committed

    def committed(self, partition: P, offset: int) -> None:
        state = self._state(partition)
        if state.committed is None or offset > state.committed:
            state.committed = offset

    def pending(self, partition: P) -> frozenset[int]:
        state = self._parts.get(partition)
        return frozenset() if state is None else frozenset(state.pending)

    def forget(self, partition: P) -> None:
        """The partition was revoked: its bookkeeping belongs to the new owner now."""
        self._parts.pop(partition, None)

    def partitions(self) -> list[P]:
        return list(self._parts)


def partition_lags(
    partitions: Sequence[P],
    ends: Mapping[P, int],
    committed: Mapping[P, int | None],
    starts: Mapping[P, int],
) -> dict[P, int]:
    """Lag per partition: end offset minus the committed offset, or minus the start offset where
    the group never committed. Partitions whose offsets are unknown are left out."""
    lags: dict[P, int] = {}
    for tp in partitions:
        end, base = ends.get(tp), committed.get(tp)
        if base is None:
            base = starts.get(tp)
        if end is not None and base is not None:
            lags[tp] = max(0, int(end) - int(base))
    return lags
