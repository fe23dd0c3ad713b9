"""The platform end to end: `avocado up` (embedded broker, five services as processes), jobs
through REST → Kafka → orchestrator → step services → renders/final.mp4, and the stack surviving
`kill -9` of a service while a job is in flight."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from tests.e2e.stack import (
    TENANT,
    Stack,
    assert_valid_edit,
    await_status_events,
    submit,
    wait_for_end,
    wait_for_step,
)
from tests.mediagen import Recording

pytestmark = pytest.mark.slow


class Receiver(BaseHTTPRequestHandler):
    """A webhook endpoint on loopback: keeps every call's headers and body."""

    calls: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The README's check of a Standard Webhooks signature."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, sig.removeprefix("v1,"))
        for sig in headers["webhook-signature"].split()
    )


def test_a_job_runs_through_rest_and_kafka(stack: Stack, demo_recording: Recording) -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    with stack.client() as client:
        hook = client.post(
            "/webhooks",
            params={"tenantId": TENANT},
            json={
                "url": f"http://127.0.0.1:{receiver.server_port}/hook",
                "events": ["job.completed"],
            },
        )
        assert hook.status_code == 201, hook.text
    job_id = submit(stack, demo_recording, {"transitions": {"enabled": True}})
    job = wait_for_end(stack, job_id)
    assert job["status"] == "completed", job
    deadline = time.monotonic() + 30
    while not Receiver.calls and time.monotonic() < deadline:
        time.sleep(0.2)
    receiver.shutdown()
    receiver.server_close()
    ((headers, body),) = Receiver.calls
    assert verify(hook.json()["secret"], headers, body)
    payload = json.loads(body)
    assert payload["type"] == "job.completed"
    assert (payload["data"]["jobId"], payload["data"]["status"]) == (job_id, "completed")
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
        # The edit as an editable timeline, with the crossfades the job asked for.
        fcpxml = client.get(
            f"/jobs/{job_id}/artifacts/exports/timeline.fcpxml", params={"tenantId": TENANT}
        )
        assert fcpxml.status_code == 200
        assert fcpxml.headers["content-type"].startswith("application/xml")
        assert "<transition" in fcpxml.text
        assert "<asset-clip" in fcpxml.text
        deliveries = client.get(
            f"/webhooks/{hook.json()['id']}/deliveries", params={"tenantId": TENANT}
        )
        assert deliveries.status_code == 200, deliveries.text
        assert "delivered" in deliveries.text
        events = client.get(f"/jobs/{job_id}/events", params={"tenantId": TENANT})
        assert events.status_code == 200
        assert '"status":"completed"' in events.text.replace(" ", "")


# The orchestrator (faust, its state table) and one step worker, in its longest step: the audio
# and transcribe services run the same worker runtime as the render (its redelivery after a
# crash has integration tests of its own, tests/integration/worker), so killing them as well
# cost the suite two more whole jobs without reaching other code.
@pytest.mark.parametrize(
    ("service", "during"),
    [
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
