"""The platform end to end: `avocado up` (embedded broker, five services as processes), jobs
through REST → Kafka → orchestrator → step services → renders/final.mp4, and the stack surviving
`kill -9` of a service while a job is in flight."""

from __future__ import annotations

import os
import signal

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
