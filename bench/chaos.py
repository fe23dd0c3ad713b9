"""Soak benchmark: jobs through `avocado up` while random services are SIGKILLed.

Starts the stack (`avocado up`: embedded broker, five services under the supervisor), submits
`--jobs` small generated talks over REST, then every `--kill-every` seconds for `--kill-for`
seconds SIGKILLs one service process chosen at random (api, orchestrator, audio, transcribe,
render — never the broker; the supervisor restarts it). It waits for every job to end, then reads
every `job.status-changed` from the broker and prints, per outcome:

- completed: jobs whose manifest ended `completed` with a renders/final.mp4;
- failed / stuck: jobs that ended `failed`, or never ended within `--timeout`;
- duplicated: jobs with more than one `completed` status event (exactly-once broken).

Goal: all complete, each exactly once. Figures are printed and saved under bench/out/, never
asserted.

    .venv/bin/python -m bench.chaos [--jobs 24] [--kill-every 3] [--kill-for 150] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from talkavocado_cli.samplegen import long_script, make_recording
from talkavocado_cli.stack_process import StackProcess
from talkavocado_common.events import Topics
from talkavocado_common.kafka import free_port
from talkavocado_common.settings import KafkaSettings
from tests.support.kafka import TopicReader

ROOT = Path(__file__).resolve().parents[1]
KEY = secrets.token_urlsafe(32)  # ≥ 128 bits, as `avocado keys new` makes them
TENANT = "demo-tenant"
SERVICES = ("api", "orchestrator", "audio", "transcribe", "render")
ENDED = ("completed", "failed", "cancelled")


def client(stack: StackProcess) -> httpx.Client:
    return httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)


def submit(stack: StackProcess, source: Path) -> str:
    """One job through REST (before the chaos starts: a submission is not what is measured)."""
    with client(stack) as http:
        created = http.post(
            "/jobs",
            json={
                "tenantId": TENANT,
                "input": {
                    "originalFilename": source.name,
                    "bytes": source.stat().st_size,
                    "mimeType": "video/mp4",
                },
            },
        )
        created.raise_for_status()
        job = created.json()
        with source.open("rb") as body:
            http.put(
                job["uploadUrl"], content=body, headers={"content-type": "video/mp4"}
            ).raise_for_status()
    return str(job["jobId"])


class Chaos(threading.Thread):
    """SIGKILLs a random service every `every` seconds for `duration` seconds."""

    def __init__(self, stack: StackProcess, every: float, duration: float, seed: int) -> None:
        super().__init__(daemon=True)
        self.stack, self.every, self.duration = stack, every, duration
        self.rng = random.Random(seed)
        self.kills: Counter[str] = Counter()
        self.missed = 0  # the chosen service was down (restarting) at that moment
        self.stopping = threading.Event()

    def run(self) -> None:
        end = time.monotonic() + self.duration
        while time.monotonic() < end and not self.stopping.wait(self.every):
            service = self.rng.choice(SERVICES)
            try:
                os.kill(self.stack.pid_of(service), signal.SIGKILL)
            except (ProcessLookupError, LookupError):
                self.missed += 1
                continue
            self.kills[service] += 1


def statuses(stack: StackProcess, jobs: list[str]) -> dict[str, str]:
    """Each job's status from GET /jobs/{id}; 'unknown' while the API is down."""
    found: dict[str, str] = {}
    try:
        with client(stack) as http:
            for job_id in jobs:
                answer = http.get(f"/jobs/{job_id}", params={"tenantId": TENANT})
                found[job_id] = answer.json()["status"] if answer.status_code == 200 else "unknown"
    except httpx.HTTPError:
        return dict.fromkeys(jobs, "unknown")
    return found


def wait_for_all(stack: StackProcess, jobs: list[str], timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    last: dict[str, str] = {}
    while time.monotonic() < deadline:
        current = statuses(stack, jobs)
        if "unknown" not in current.values():
            last = current
        if last and all(s in ENDED for s in last.values()):
            return last
        time.sleep(2)
    return last or dict.fromkeys(jobs, "unknown")


def status_events(stack: StackProcess) -> dict[str, list[dict[str, Any]]]:
    """Every job.status-changed on the stack's broker: job id → the events' data, in order."""
    (bootstrap,) = {
        m.group(1) for line in stack.lines if (m := re.search(r"Kafka at ([\d.:]+)\)", line))
    }

    async def read() -> dict[str, list[dict[str, Any]]]:
        settings = KafkaSettings(bootstrap_servers=bootstrap, idempotence=False)
        by_job: dict[str, list[dict[str, Any]]] = {}
        async with TopicReader(settings, Topics(settings.topic_prefix).status) as reader:
            await reader.quiet(3.0)
            for r in reader.seen:
                if r.event is not None and r.event.subject:
                    by_job.setdefault(r.event.subject, []).append(dict(r.event.data))
        return by_job

    return asyncio.run(read())


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    sources = [
        make_recording(long_script(seconds), work / f"talk-{seconds}.mp4").path
        for seconds in args.talk_seconds
    ]
    stack = StackProcess(
        port=free_port(), storage=work / "storage", dev_key=KEY, cwd=work, log=work / "up.log"
    ).start()
    try:
        jobs = [submit(stack, sources[i % len(sources)]) for i in range(args.jobs)]
        began = time.monotonic()
        chaos = Chaos(stack, args.kill_every, args.kill_for, args.seed)
        chaos.start()
        ended = wait_for_all(stack, jobs, args.timeout)
        chaos.stopping.set()
        chaos.join()
        elapsed = time.monotonic() - began
        events = status_events(stack)
    finally:
        stack.stop()
    outcome: Counter[str] = Counter()
    for job_id in jobs:
        status = ended.get(job_id, "unknown")
        final = work / "storage" / "local" / TENANT / job_id / "renders" / "final.mp4"
        if status == "completed" and not final.is_file():
            status = "completed without render"
        outcome[status if status in ENDED or status.startswith("completed") else "stuck"] += 1
    completions = {
        job_id: [e["status"] for e in events.get(job_id, [])].count("completed") for job_id in jobs
    }
    return {
        "jobs": args.jobs,
        "talks_seconds": args.talk_seconds,
        "kill_every_s": args.kill_every,
        "kill_for_s": args.kill_for,
        "kills": dict(chaos.kills),
        "kills_total": sum(chaos.kills.values()),
        "kills_missed_restarting": chaos.missed,
        "completed": outcome["completed"],
        "failed": outcome["failed"],
        "cancelled": outcome["cancelled"],
        "stuck": outcome["stuck"],
        "completed_without_render": outcome["completed without render"],
        "duplicated": sum(1 for n in completions.values() if n > 1),
        "completed_events_missing": sum(
            1 for j, n in completions.items() if n == 0 and ended.get(j) == "completed"
        ),
        "not_completed": {
            j: {
                "status": ended.get(j),
                "last_messages": [e.get("message") for e in events.get(j, [])][-6:],
                "steps": _steps(work, j),
            }
            for j in jobs
            if ended.get(j) != "completed"
        },
        "seconds_to_all_ended": round(elapsed, 1),
    }


def _steps(work: Path, job_id: str) -> dict[str, Any]:
    manifest = work / "storage" / "local" / TENANT / job_id / "manifest.json"
    try:
        steps = json.loads(manifest.read_text())["steps"]
    except (OSError, ValueError, KeyError):
        return {}
    return {name: [r.get("status"), r.get("attempts")] for name, r in steps.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--kill-every", type=float, default=3.0, help="seconds between kills")
    parser.add_argument("--kill-for", type=float, default=150.0, help="seconds of chaos")
    parser.add_argument("--timeout", type=float, default=900.0, help="for all jobs to end")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--talk-seconds", type=float, nargs="+", default=[6.0, 9.0, 12.0], help="talk lengths"
    )
    parser.add_argument("--keep", action="store_true", help="keep the stack's directory")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="avocado-chaos-"))
    try:
        figures = measure(args, tmp)
    finally:
        if args.keep:
            print(f"chaos: the stack's storage and logs are in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    print(
        f"chaos: {figures['completed']}/{figures['jobs']} completed, {figures['failed']} failed, "
        f"{figures['stuck']} stuck, {figures['duplicated']} duplicated; "
        f"{figures['kills_total']} kills in {args.kill_for:g} s"
    )
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "chaos.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
