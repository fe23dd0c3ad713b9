"""Benchmark: what the orchestrator's timer costs per reading of the clock, with many idle rows.

The timer runs every ORCHESTRATOR_TICK_SECONDS (1 s by default). Before, it parsed every row
of the job-state table on each reading (JobRow.from_json_bytes + next_wakeup): its cost grew
with the rows held, ended jobs included. Now it pops the due entries of an in-memory heap kept
by the agent (timer.WakeupIndex), so a reading costs in the rows due; the table is parsed once
per recovery (Ticker.rebuild). Both run here, in this process, on the same rows: the ratio is
from one run. No broker: sending a Tick is a no-op coroutine.

    .venv/bin/python -m bench.timer [--rows 10000] [--due 0,10,100] [--readings 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from talkavocado_common.asl import default_pipeline_path, load_file
from talkavocado_common.events import JobSubmitted
from talkavocado_common.models import InputInfo, JobOptions
from talkavocado_common.pipeline.row import JobRow
from talkavocado_common.pipeline.transition import next_wakeup, transition
from talkavocado_orchestrator.shell import encode_tick
from talkavocado_orchestrator.timer import Retention, Ticker, WakeupIndex

ROOT = Path(__file__).resolve().parents[1]
MACHINE = load_file(default_pipeline_path())


def idle_row(job_id: str, now: datetime) -> JobRow:
    """A job waiting on its first step (deadline 30 min away, as the document sets it)."""
    submitted = JobSubmitted(
        job_id=job_id,
        tenant_id="bench-tenant",
        env="bench",
        options=JobOptions(),
        input=InputInfo(
            key=f"bench/bench-tenant/{job_id}/input/talk.mp4",
            original_filename="talk.mp4",
            bytes=1,
            mime_type="video/mp4",
        ),
        manifest_key=f"bench/bench-tenant/{job_id}/manifest.json",
    )
    row, _ = transition(None, submitted, now, MACHINE)
    assert row is not None
    return row


def make_rows(count: int, due: int, now: datetime) -> dict[str, str]:
    """`count` rows: the first `due` have a deadline that has passed, the rest are idle."""
    rows: dict[str, str] = {}
    for n in range(count):
        at = now - timedelta(hours=1) if n < due else now
        rows[f"job-{n:06d}"] = idle_row(f"job-{n:06d}", at).to_json_bytes().decode()
    return rows


class LegacyTicker:
    """The timer as it was: every row parsed on every reading."""

    def __init__(self, rows: dict[str, str]) -> None:
        self.rows = rows
        self.ticked: dict[str, datetime] = {}

    async def tick(self) -> None:
        now = datetime.now(UTC)
        for key, value in list(self.rows.items()):
            wakeup = next_wakeup(JobRow.from_json_bytes(value))
            if wakeup is None:
                self.ticked.pop(key, None)
            elif wakeup <= now and self.ticked.get(key) != wakeup:
                self.ticked[key] = wakeup
                await _send(key, encode_tick(key, now))


async def _send(job_id: str, tick: bytes) -> None:
    return None


async def per_reading(tick: object, readings: int, refill: object = None) -> float:
    """Median seconds of one reading; `refill()` runs before each (outside the timing)."""
    times: list[float] = []
    for _ in range(readings):
        if callable(refill):
            refill()
        began = time.perf_counter()
        await tick()  # type: ignore[operator]
        times.append(time.perf_counter() - began)
    return statistics.median(times)


async def measure(rows_count: int, due: int, readings: int) -> dict[str, float]:
    now = datetime.now(UTC)
    rows = make_rows(rows_count, due, now)
    legacy = LegacyTicker(rows)

    def forget_legacy() -> None:
        legacy.ticked.clear()  # as if each reading found `due` rows with new wakeups

    before = await per_reading(legacy.tick, readings, forget_legacy)
    ticker = Ticker(rows, _send, WakeupIndex(), Retention())
    began = time.perf_counter()
    await ticker.rebuild()
    rebuild = time.perf_counter() - began
    due_rows = [(job_id, JobRow.from_json_bytes(rows[job_id])) for job_id in list(rows)[:due]]

    def reindex_due() -> None:
        for job_id, row in due_rows:  # the agent writing the due rows' new wakeups
            ticker.index.discard(job_id)
            ticker.track(job_id, row)

    after = await per_reading(ticker.tick, readings, reindex_due)
    return {"rows": rows_count, "due": due, "before": before, "after": after, "rebuild": rebuild}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000, help="rows in the table")
    parser.add_argument("--due", default="0,10,100", help="rows due per reading (comma list)")
    parser.add_argument("--readings", type=int, default=30, help="readings timed per case")
    args = parser.parse_args(argv)
    results = []
    print(f"{'rows':>7}{'due':>6}{'before ms':>11}{'after ms':>10}{'ratio':>9}{'rebuild ms':>12}")
    for due in (int(x) for x in str(args.due).split(",") if x.strip()):
        r = asyncio.run(measure(args.rows, due, args.readings))
        results.append(r)
        print(
            f"{r['rows']:>7}{r['due']:>6}{r['before'] * 1000:>11.2f}{r['after'] * 1000:>10.3f}"
            f"{r['before'] / max(r['after'], 1e-9):>8.0f}x{r['rebuild'] * 1000:>12.1f}",
            flush=True,
        )
    idle = results[0]
    print(
        f"{idle['rows']} idle rows, one reading per second: the timer took "
        f"{idle['before'] * 1000:.1f} ms/s ({idle['before'] / idle['rows'] * 1e6:.1f} µs per row) "
        f"before, {idle['after'] * 1e6:.1f} µs/s now ({idle['before'] / idle['after']:.0f}x less); "
        f"the index is rebuilt once per recovery in {idle['rebuild'] * 1000:.0f} ms"
    )
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "timer.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"saved {out / 'timer.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
