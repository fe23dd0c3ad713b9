"""The stack end to end, shared by the e2e tests: `avocado up` as a child process (one per test
module, shared by every test of it that can share it), a client with the dev key, and helpers to
submit a job, wait for a step or the end, read the job's status events from the stack's broker
and check the edit's sound."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from talkavocado_cli.stack_process import StackProcess
from talkavocado_common.events import Topics
from talkavocado_common.models import Timeline
from talkavocado_common.settings import KafkaSettings
from tests.e2e.audiocheck import decode, sentence_matches
from tests.mediagen import Recording
from tests.support.kafka import TopicReader

KEY = "m3JfUTlowx4zZJepHyxm2nOyRsAwl0CsnCCqKq_3V9c"  # avocado keys new
TENANT = "demo-tenant"


class Stack(StackProcess):
    def tail(self, count: int = 40) -> str:
        """The stack's last output lines (for a failure's message)."""
        return "\n".join(self.lines[-count:])

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
        )


def submit(stack: Stack, recording: Recording, options: dict[str, Any] | None = None) -> str:
    """POST /jobs and PUT the recording: the job id of a job submitted to the pipeline."""
    job_id, upload_url = create_job(stack, recording, options)
    upload_input(stack, upload_url, recording)
    return job_id


def wait_for_end(stack: Stack, job_id: str, within: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + within
    with stack.client() as client:
        while time.monotonic() < deadline:
            job = client.get(f"/jobs/{job_id}", params={"tenantId": TENANT}).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                return dict(job)
            time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end; last lines:\n" + stack.tail())


def wait_for_step(stack: Stack, job_id: str, step: str, within: float = 60) -> None:
    manifest = stack.storage / "local" / TENANT / job_id / "manifest.json"
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if manifest.is_file():
            steps = json.loads(manifest.read_text()).get("steps", {})
            if steps.get(step, {}).get("status") == "running":
                return
        time.sleep(0.05)
    raise AssertionError(f"{step} never ran for {job_id}; last lines:\n" + stack.tail())


def await_status_events(stack: Stack, job_id: str) -> list[dict[str, Any]]:
    """Every job.status-changed of the job on the stack's own broker (read from the start)."""
    (bootstrap,) = [
        m.group(1) for line in stack.lines if (m := re.search(r"Kafka at ([\d.:]+)\)", line))
    ]

    async def read() -> list[dict[str, Any]]:
        settings = KafkaSettings(bootstrap_servers=bootstrap, idempotence=False)
        async with TopicReader(settings, Topics(settings.topic_prefix).status) as reader:
            await reader.quiet(2.0)
            return [
                r.event.data
                for r in reader.seen
                if r.event is not None and r.event.subject == job_id
            ]

    return asyncio.run(read())


def assert_valid_edit(stack: Stack, job_id: str, recording: Recording) -> None:
    prefix = stack.storage / "local" / TENANT / job_id
    timeline = Timeline.model_validate_json((prefix / "plan" / "timeline.json").read_bytes())
    source = decode(recording.path)
    output = decode(prefix / "renders" / "final.mp4")
    for piece in recording.of_kind("speech"):
        clip = next(c for c in timeline.clips if c.source_start <= piece.start < c.source_end)
        out_start = clip.timeline_start + piece.start - clip.source_start
        ok, detail = sentence_matches(source, output, piece.start, piece.end, out_start)
        assert ok, f"{piece.text!r}: {detail}"


def children_named(pid: int, name: str) -> list[int]:
    """Pids of the live processes named `name` whose parent is `pid` (e.g. a service's ffmpeg)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if comm == name and int(ppid) == pid and state != "Z":
            found.append(int(entry))
    return found


def cancel(stack: Stack, job_id: str, reason: str | None = None) -> dict[str, Any]:
    """POST /jobs/{id}/cancel; the answer's body."""
    with stack.client() as client:
        answer = client.post(
            f"/jobs/{job_id}/cancel",
            params={"tenantId": TENANT},
            json={"reason": reason} if reason else None,
        )
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def create_job(
    stack: Stack, recording: Recording, options: dict[str, Any] | None = None
) -> tuple[str, str]:
    """POST /jobs only (nothing runs until `upload_input`): (job id, upload URL)."""
    with stack.client() as client:
        created = client.post(
            "/jobs",
            json={
                "tenantId": TENANT,
                "input": {
                    "originalFilename": recording.path.name,
                    "bytes": recording.path.stat().st_size,
                    "mimeType": "video/mp4",
                },
                "options": options or {},
            },
        )
    assert created.status_code == 201, created.text
    job = created.json()
    return str(job["jobId"]), str(job["uploadUrl"])


def upload_input(stack: Stack, upload_url: str, recording: Recording) -> None:
    """PUT the recording: the job is submitted to the pipeline."""
    with stack.client() as client, recording.path.open("rb") as body:
        uploaded = client.put(upload_url, content=body, headers={"content-type": "video/mp4"})
    assert uploaded.status_code == 202, uploaded.text


def read_manifest(stack: Stack, job_id: str) -> dict[str, Any]:
    """The job's manifest as stored (local storage)."""
    path = stack.storage / "local" / TENANT / job_id / "manifest.json"
    return dict(json.loads(path.read_text()))


def make_logo(path: Path) -> None:
    """A 64x64 white PNG: a branding asset for tests whose logo goes missing and comes back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            *("ffmpeg", "-nostdin", "-loglevel", "error", "-y"),
            *("-f", "lavfi", "-i", "color=c=white:s=64x64", "-frames:v", "1", str(path)),
        ],
        check=True,
    )
