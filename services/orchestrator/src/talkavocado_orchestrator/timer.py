"""The timer: rows whose deadline or retry time has come get a Tick on the tick topic (keyed by
job id, so it reaches the agent that owns the row), once per wakeup."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from talkavocado_common.pipeline.row import JobRow
from talkavocado_common.pipeline.transition import next_wakeup

from .shell import encode_tick

SendTick = Callable[[str, bytes], Awaitable[None]]  # (job id, encoded Tick)


class Ticker:
    """Reads `rows` (the job-state table: job id → JSON row) and sends Ticks with `send`."""

    def __init__(self, rows: Mapping[str, str], send: SendTick) -> None:
        self.rows = rows
        self.send = send
        self.ticked: dict[str, datetime] = {}  # job id → the wakeup already ticked

    async def tick(self) -> None:
        """One reading of the clock: a Tick for each row due now and not yet ticked."""
        now = datetime.now(UTC)
        for key, value in list(self.rows.items()):
            if self.due(key, value, now):
                await self.send(key, encode_tick(key, now))

    def due(self, key: str, value: str, now: datetime) -> bool:
        """Whether row `key` needs a Tick at `now`; remembers the wakeup it is ticked for."""
        wakeup = next_wakeup(JobRow.from_json_bytes(value))
        if wakeup is None:
            self.ticked.pop(key, None)
            return False
        if wakeup <= now and self.ticked.get(key) != wakeup:
            self.ticked[key] = wakeup
            return True
        return False
