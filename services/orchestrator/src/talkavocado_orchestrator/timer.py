"""The timer: rows whose deadline or retry time has come get a Tick on the tick topic (keyed by
job id, so it reaches the agent that owns the row), once per wakeup. So does the row of an ended
job once its retention is over: the agent then deletes it (a table is only written in a stream).

The timer reads no rows: an in-memory index (job id → its next wakeup, and a heap of them)
is kept by the agent as it writes and deletes rows, and rebuilt from the table once a recovery
from the changelog completes (a start, a rebalance). Each tick costs in the rows due, not in
the rows held."""

from __future__ import annotations

import heapq
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from talkavocado_common.models import JobStatus
from talkavocado_common.pipeline.row import JobRow
from talkavocado_common.pipeline.transition import next_wakeup

from .shell import encode_tick

log = logging.getLogger(__name__)

SendTick = Callable[[str, bytes], Awaitable[None]]  # (job id, encoded Tick)

# Stale heap entries (a row's earlier wakeups) are dropped lazily as they come due; the heap
# is compacted when they outnumber the live ones by this factor (plus a floor).
_COMPACT_FACTOR = 2
_COMPACT_FLOOR = 1024


@dataclass(frozen=True)
class Retention:
    """How long the row of an ended job is kept. A failed job's row is what `retry` resumes
    from (its failed state and the results so far), so it is kept longer; after it, a retry
    resumes from the manifest's record that the API sends with it (transition.py)."""

    ended: timedelta = timedelta(hours=1)
    failed: timedelta = timedelta(days=7)

    def of(self, row: JobRow) -> timedelta:
        return self.failed if row.status is JobStatus.FAILED else self.ended


def wakeup_of(row: JobRow, retention: Retention) -> datetime | None:
    """When the row needs a Tick: its next deadline or retry time while the job runs; the end of
    its retention once the job has ended (None: it has neither, e.g. not yet started)."""
    if row.ended_at is not None:
        return row.ended_at + retention.of(row)
    return next_wakeup(row)


def expired(row: JobRow, now: datetime, retention: Retention) -> bool:
    """Whether the row belongs to an ended job whose retention is over (the row is deleted)."""
    return row.ended_at is not None and now >= row.ended_at + retention.of(row)


class WakeupIndex:
    """Job id → next wakeup, with a min-heap of (wakeup, job id). A job's earlier entries stay
    in the heap until they come due and are then skipped (they no longer match)."""

    def __init__(self) -> None:
        self._at: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []

    def __len__(self) -> int:
        return len(self._at)

    def get(self, job_id: str) -> datetime | None:
        return self._at.get(job_id)

    def set(self, job_id: str, wakeup: datetime | None) -> None:
        if wakeup is None:
            self._at.pop(job_id, None)
            return
        if self._at.get(job_id) == wakeup:
            return
        self._at[job_id] = wakeup
        heapq.heappush(self._heap, (wakeup, job_id))
        if len(self._heap) > _COMPACT_FACTOR * len(self._at) + _COMPACT_FLOOR:
            self._compact()

    def discard(self, job_id: str) -> None:
        self._at.pop(job_id, None)

    def pop_due(self, now: datetime) -> list[tuple[str, datetime]]:
        """The (job id, wakeup) pairs due at `now`, removed from the index: each wakeup is
        handed out once (set it again to have it handed out again)."""
        due: list[tuple[str, datetime]] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            wakeup, job_id = heapq.heappop(heap)
            if self._at.get(job_id) == wakeup:
                del self._at[job_id]
                due.append((job_id, wakeup))
        return due

    def rebuild(self, wakeups: Iterable[tuple[str, datetime | None]]) -> None:
        self._at = {job_id: at for job_id, at in wakeups if at is not None}
        self._compact()

    def _compact(self) -> None:
        self._heap = [(at, job_id) for job_id, at in self._at.items()]
        heapq.heapify(self._heap)


class Ticker:
    """Sends Ticks with `send` for the index's due rows; `rows` (the job-state table: job id →
    JSON row) is read only to rebuild the index."""

    def __init__(
        self,
        rows: Mapping[str, str],
        send: SendTick,
        index: WakeupIndex,
        retention: Retention,
    ) -> None:
        self.rows = rows
        self.send = send
        self.index = index
        self.retention = retention

    async def tick(self) -> None:
        """One reading of the clock: a Tick for each row due now, once per wakeup."""
        now = datetime.now(UTC)
        due = self.index.pop_due(now)
        for n, (job_id, _) in enumerate(due):
            try:
                await self.send(job_id, encode_tick(job_id, now))
            except Exception:
                # Due again at the next reading (unless the agent has set a newer wakeup).
                for later, at in due[n:]:
                    if self.index.get(later) is None:
                        self.index.set(later, at)
                log.exception("could not send %d tick(s); trying again at the next tick", len(due))
                return

    def track(self, job_id: str, row: JobRow | None) -> None:
        """The agent wrote `row` for the job (None: deleted it)."""
        self.index.set(job_id, wakeup_of(row, self.retention) if row is not None else None)

    async def rebuild(self) -> None:
        """Index every row of the table (after a recovery from the changelog: its rows were
        written by another process, or by this one before a restart)."""
        wakeups: list[tuple[str, datetime | None]] = []
        for job_id, value in list(self.rows.items()):
            try:
                wakeups.append((job_id, wakeup_of(JobRow.from_json_bytes(value), self.retention)))
            except ValueError:  # a row that does not parse gets no tick; the agent would fail it
                log.warning("row of job %s does not parse; not indexed", job_id)
        self.index.rebuild(wakeups)
        log.info("timer index rebuilt: %d rows, %d with a wakeup", len(self.rows), len(self.index))
