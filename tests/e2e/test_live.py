"""The running pipeline as a client sees it, through `avocado up`: status events streamed live
over SSE from Kafka while the job runs, a failed job retried through the orchestrator, and a step
timeout fired by the orchestrator's own timer (a worker frozen mid-step)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from talkavocado_common.kafka import free_port
from tests.e2e.stack import (
    KEY,
    TENANT,
    Stack,
    create_job,
    make_logo,
    read_manifest,
    submit,
    upload_input,
    wait_for_end,
)
from tests.mediagen import Recording

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_ORDER = [
    "audio-extraction",
    "transcription",
    "smart-cut-planner",
    "video-cuts",
    "subtitles-post-edit",
    "timeline-export",
    "branding-layer",
]


@dataclass
class Arrival:
    at: float  # time.monotonic() when the frame arrived
    event: dict[str, Any]  # the CloudEvent
    manifest_status: str  # the job's stored status at that moment

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.event["data"])


@dataclass
class EventStream:
    """GET /jobs/{id}/events read in a thread, each frame kept with its arrival time."""

    stack: Stack
    job_id: str
    arrivals: list[Arrival] = field(default_factory=list)
    ended: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._client: httpx.Client | None = None
        self._closing = False

    def start(self) -> EventStream:
        self._thread.start()
        self.wait_for(lambda a: True, within=30)  # subscribed: the current status came
        return self

    def _read(self) -> None:
        try:
            self._client = httpx.Client(
                base_url=self.stack.url,
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=httpx.Timeout(10, read=120),
            )
            with (
                self._client as client,
                client.stream(
                    "GET", f"/jobs/{self.job_id}/events", params={"tenantId": TENANT}
                ) as response,
            ):
                assert response.status_code == 200, response.read()
                assert response.headers["content-type"].startswith("text/event-stream")
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        status = read_manifest(self.stack, self.job_id)["status"]
                        event = json.loads(line.removeprefix("data: "))
                        self.arrivals.append(Arrival(time.monotonic(), event, status))
        except BaseException as exc:  # reported by the test thread
            if not self._closing:
                self.error = exc
        finally:
            self.ended.set()

    def wait_for(self, matches: Any, within: float) -> Arrival:
        """The first arrival that `matches` (waiting for it)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = next((a for a in list(self.arrivals) if matches(a)), None)
            if found is not None:
                return found
            if self.ended.is_set() and self.error is not None:
                raise AssertionError(f"the event stream failed: {self.error!r}")
            time.sleep(0.05)
        seen = [(a.data["status"], a.data.get("message")) for a in self.arrivals]
        raise AssertionError(
            f"no such event within {within} s; seen: {seen}; last lines:\n" + self.stack.tail()
        )

    def close(self) -> None:
        """Hang up (a stream that has not ended holds the API's graceful stop)."""
        self._closing = True
        if self._client is not None:
            self._client.close()
        self._thread.join(10)

    def wait_ended(self, within: float) -> list[Arrival]:
        assert self.ended.wait(within), "the event stream did not end"
        assert self.error is None, f"the event stream failed: {self.error!r}"
        return list(self.arrivals)


def first_index(states: list[str | None], name: str) -> int:
    return states.index(name) if name in states else -1


def test_status_events_stream_live_over_sse_while_the_job_runs(
    stack: Stack, demo_recording: Recording
) -> None:
    job_id, upload_url = create_job(stack, demo_recording)
    stream = EventStream(stack, job_id).start()  # open before the job runs
    upload_input(stack, upload_url, demo_recording)
    arrivals = stream.wait_ended(within=180)  # the stream ends by itself at the end

    events = [a.event for a in arrivals]
    assert all(e["type"] == "job.status-changed" and e["subject"] == job_id for e in events)
    assert len({e["id"] for e in events}) == len(events), "an event came twice"
    statuses = [a.data["status"] for a in arrivals]
    assert statuses[0] == "pending", statuses  # the current status, from the manifest
    assert statuses[-1] == "completed", statuses
    assert set(statuses[1:-1]) == {"processing"}, statuses
    progress = [a.data["progress"] for a in arrivals[1:]]
    assert progress == sorted(progress), f"progress went back: {progress}"
    # Every step reported while it ran, in the pipeline's order ...
    states = [a.data.get("state") for a in arrivals]
    order = [first_index(states, step) for step in PIPELINE_ORDER]
    assert -1 not in order, list(zip(PIPELINE_ORDER, order, strict=True))
    assert order == sorted(order), list(zip(PIPELINE_ORDER, order, strict=True))
    # ... and live: those events arrived while the job was still running, spread over its run,
    # not replayed at its end.
    running = [a for a in arrivals if a.manifest_status == "processing"]
    assert len(running) >= len(PIPELINE_ORDER), [
        (a.data["state"], a.manifest_status) for a in arrivals
    ]
    assert arrivals[-1].at - running[0].at > 2.0
    assert read_manifest(stack, job_id)["status"] == "completed"


def wait_until_changed(stack: Stack, job_id: str, before: dict[str, Any], within: float) -> None:
    deadline = time.monotonic() + within
    while read_manifest(stack, job_id) == before:
        assert time.monotonic() < deadline, "the retry never reached the orchestrator"
        time.sleep(0.1)


def test_a_failed_job_is_retried_through_the_orchestrator(
    stack: Stack, demo_recording: Recording
) -> None:
    # The logo is missing at first: the job fails in its last step, for a reason a retry fixes.
    logo = f"logo-{os.getpid()}-{time.monotonic_ns()}.png"
    job_id = submit(stack, demo_recording, {"branding": {"logo": {"asset": logo}}})
    job = wait_for_end(stack, job_id)
    assert job["status"] == "failed", job
    assert job["error"]["step"] == "branding-layer", job["error"]
    assert logo in job["error"]["message"], job["error"]
    failed = read_manifest(stack, job_id)
    runs_before = {step: failed["steps"][step]["attempts"] for step in PIPELINE_ORDER}

    make_logo(stack.storage / "local" / TENANT / "assets" / "branding" / logo)
    with stack.client() as client:
        answer = client.post(f"/jobs/{job_id}/retry", params={"tenantId": TENANT})
    assert answer.status_code == 202, answer.text
    wait_until_changed(stack, job_id, failed, within=30)
    job = wait_for_end(stack, job_id)
    assert job["status"] == "completed", job
    assert job["artifacts"]["renders"] == [f"local/{TENANT}/{job_id}/renders/final.mp4"]
    # Resumed at the step that failed: the steps before it did not run again.
    done = read_manifest(stack, job_id)
    assert done.get("error") is None
    assert {s: done["steps"][s]["attempts"] for s in PIPELINE_ORDER[:-1]} == {
        s: runs_before[s] for s in PIPELINE_ORDER[:-1]
    }
    assert done["steps"]["branding-layer"]["status"] == "succeeded"


# -- a step timeout, in a stack of its own -----------------------------------------------------

HEARTBEAT_SECONDS = 3


@pytest.fixture(scope="module")
def tight_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack whose pipeline gives audio-extraction a 3 s heartbeat timeout, and whose workers
    hand back a step in flight at once when stopped."""
    root = tmp_path_factory.mktemp("tight-stack")
    document = json.loads((ROOT / "contracts" / "pipeline.asl.json").read_text())
    document["States"]["audio-extraction"]["HeartbeatSeconds"] = HEARTBEAT_SECONDS
    pipeline = root / "pipeline.asl.json"
    pipeline.write_text(json.dumps(document))
    running = Stack(
        port=free_port(),
        storage=root / "storage",
        dev_key=KEY,
        cwd=root,
        log=root / "avocado-up.log",
        env={"ORCHESTRATOR_PIPELINE": str(pipeline), "SHUTDOWN_GRACE_SECONDS": "1"},
    ).start()
    try:
        yield running
    finally:
        running.stop()


def heard_running(arrival: Arrival) -> bool:
    """A status event of audio-extraction sent on the step's heartbeat, not on its request: the
    orchestrator has started the step's heartbeat clock."""
    message = str(arrival.data.get("message"))
    return arrival.data.get("state") == "audio-extraction" and "requested" not in message


def freeze_audio_mid_step(stack: Stack, recording: Recording) -> tuple[str, EventStream, int]:
    """A job whose audio worker (with its ffmpeg) is SIGSTOPped after the orchestrator heard the
    step's first heartbeat and before the step ended. Frozen earlier, the first heartbeat may
    not be out yet, and without one only TimeoutSeconds runs; so a job whose step ends first is
    left behind and another one tried."""
    for _ in range(3):
        job_id, upload_url = create_job(stack, recording)
        stream = EventStream(stack, job_id).start()
        upload_input(stack, upload_url, recording)
        stream.wait_for(heard_running, within=90)
        worker = stack.pid_of("audio")
        os.killpg(worker, signal.SIGSTOP)  # the worker and its ffmpeg freeze: no more heartbeats
        step = read_manifest(stack, job_id)["steps"].get("audio-extraction", {})
        if step.get("status") == "running":
            return job_id, stream, worker
        os.killpg(worker, signal.SIGCONT)
        stream.close()
    raise AssertionError("audio-extraction ended each time before its worker could be frozen")


def test_a_frozen_step_is_noticed_by_the_orchestrators_timer(
    tight_stack: Stack, demo_recording: Recording
) -> None:
    stack = tight_stack
    job_id, stream, worker = freeze_audio_mid_step(stack, demo_recording)
    frozen_at = time.monotonic()
    try:
        silence = stream.wait_for(
            lambda a: "no heartbeat from the step" in str(a.data.get("message")), within=30
        )
        # Only the orchestrator's timer can say so (the worker is frozen), and it did within
        # the heartbeat interval (+ its 1 s tick, + slack for a loaded machine).
        assert silence.at - frozen_at < HEARTBEAT_SECONDS + 5, silence.at - frozen_at
        assert silence.data["state"] == "audio-extraction", silence.data
        assert silence.data["status"] == "processing", silence.data  # not the job's failure
    finally:
        os.killpg(worker, signal.SIGCONT)
    # Thawed, the step is run to its end (the same execution, or its retry) and the pipeline
    # moves on.
    stream.wait_for(lambda a: a.data.get("state") == "transcription", within=60)
    stream.close()
    manifest = read_manifest(stack, job_id)
    assert manifest["steps"]["audio-extraction"]["status"] == "succeeded", manifest["steps"]
    assert manifest["status"] == "processing", manifest["status"]
    assert stack.pid_of("audio") == worker, "the worker was frozen, not restarted"
