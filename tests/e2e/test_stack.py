"""The platform end to end: `avocado up` (embedded broker, five services as processes), jobs
through REST → Kafka → orchestrator → step services → renders/final.mp4, and the stack surviving
`kill -9` of a service while a job is in flight."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from talkavocado_cli.stack_process import StackProcess
from talkavocado_common.events import Topics
from talkavocado_common.kafka import free_port
from talkavocado_common.models import Timeline
from talkavocado_common.settings import KafkaSettings
from tests.e2e.audiocheck import decode, sentence_matches
from tests.mediagen import Recording
from tests.support.kafka import TopicReader

pytestmark = pytest.mark.slow

KEY = "e2e-dev-key-0123456789abcdef"
TENANT = "demo-tenant"


class Stack(StackProcess):
    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("stack")
    running = Stack(port=free_port(), storage=root / "storage", dev_key=KEY, cwd=root).start()
    try:
        yield running
    finally:
        code = running.stop()
    assert code == 0, "\n".join(running.lines[-20:])


def submit(stack: Stack, recording: Recording, options: dict[str, Any] | None = None) -> str:
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
        with recording.path.open("rb") as body:
            uploaded = client.put(
                job["uploadUrl"], content=body, headers={"content-type": "video/mp4"}
            )
        assert uploaded.status_code == 202, uploaded.text
        return str(job["jobId"])


def wait_for_end(stack: Stack, job_id: str, within: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + within
    with stack.client() as client:
        while time.monotonic() < deadline:
            job = client.get(f"/jobs/{job_id}", params={"tenantId": TENANT}).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                return dict(job)
            time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end; last lines:\n" + "\n".join(stack.lines[-30:]))


def wait_for_step(stack: Stack, job_id: str, step: str, within: float = 60) -> None:
    manifest = stack.storage / "local" / TENANT / job_id / "manifest.json"
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if manifest.is_file():
            steps = json.loads(manifest.read_text()).get("steps", {})
            if steps.get(step, {}).get("status") == "running":
                return
        time.sleep(0.05)
    raise AssertionError(f"{step} never ran for {job_id}")


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


def test_a_job_runs_through_rest_and_kafka(stack: Stack, demo_recording: Recording) -> None:
    job_id = submit(stack, demo_recording, {"transitions": {"enabled": True}})
    job = wait_for_end(stack, job_id)
    assert job["status"] == "completed", job
    assert job["artifacts"]["renders"] == [f"local/{TENANT}/{job_id}/renders/final.mp4"]
    assert_valid_edit(stack, job_id, demo_recording)
    with stack.client() as client:
        ranged = client.get(
            f"/jobs/{job_id}/artifacts/renders/final.mp4",
            params={"tenantId": TENANT},
            headers={"Range": "bytes=0-99"},
        )
        assert ranged.status_code == 206
        assert len(ranged.content) == 100
        events = client.get(f"/jobs/{job_id}/events", params={"tenantId": TENANT})
        assert events.status_code == 200
        assert '"status":"completed"' in events.text.replace(" ", "")


@pytest.mark.parametrize(
    ("service", "during"),
    [
        ("audio", "audio-extraction"),
        ("transcribe", "transcription"),
        ("orchestrator", "transcription"),
        ("render", "branding-layer"),
    ],
)
def test_kill_9_of_a_service_mid_job_still_completes_once(
    stack: Stack, demo_recording: Recording, service: str, during: str
) -> None:
    job_id = submit(stack, demo_recording)
    wait_for_step(stack, job_id, during)
    victim = stack.pid_of(service)
    os.kill(victim, signal.SIGKILL)
    job = wait_for_end(stack, job_id, within=240)
    assert job["status"] == "completed", job
    assert stack.pid_of(service) != victim, "the supervisor did not restart the service"
    assert_valid_edit(stack, job_id, demo_recording)
    renders = list((stack.storage / "local" / TENANT / job_id / "renders").iterdir())
    assert [p.name for p in renders] == ["final.mp4"]
    # Exactly once: the job completed one time, whatever was redelivered meanwhile.
    completions = await_status_events(stack, job_id)
    assert [e["status"] for e in completions].count("completed") == 1
