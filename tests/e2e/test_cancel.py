"""Cancellation reaches the work, through the running stack: a job cancelled while its final
render encodes has its ffmpeg killed within 5 s, ends `cancelled` with no renders/final.mp4, and
the render worker takes the next job."""

from __future__ import annotations

import time

import pytest

from tests.e2e.stack import (
    TENANT,
    Stack,
    await_status_events,
    cancel,
    children_named,
    read_manifest,
    submit,
    wait_for_end,
    wait_for_step,
)
from tests.mediagen import Recording

pytestmark = pytest.mark.slow

# A slower encode than the default, so the render is still running when the cancel comes.
SLOW_RENDER = {"render": {"preset": "slower", "preview": True}}


def wait_for_ffmpeg(pid: int, within: float) -> list[int]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = children_named(pid, "ffmpeg")
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"no ffmpeg under pid {pid} within {within} s")


def test_cancel_during_branding_layer_stops_the_render_and_frees_the_worker(
    stack: Stack, demo_recording: Recording
) -> None:
    job_id = submit(stack, demo_recording, SLOW_RENDER)
    # The next job goes in now (its first steps overlap this one's); its render steps queue
    # behind the cancelled render on the render worker.
    following = submit(stack, demo_recording)
    wait_for_step(stack, job_id, "branding-layer", within=120)
    render = stack.pid_of("render")
    wait_for_ffmpeg(render, within=30)

    asked = time.monotonic()
    assert cancel(stack, job_id, "e2e")["status"] == "processing"
    while children_named(render, "ffmpeg") and time.monotonic() - asked < 10:
        time.sleep(0.02)
    stopped = time.monotonic() - asked
    assert stopped < 5, f"the render's ffmpeg still ran {stopped:.1f} s after the cancel"

    job = wait_for_end(stack, job_id, within=30)
    assert job["status"] == "cancelled", job
    # The step the cancel stopped says so, rather than `running` for good.
    steps = read_manifest(stack, job_id)["steps"]
    assert steps["branding-layer"]["status"] == "cancelled", steps
    assert steps["subtitles-post-edit"]["status"] == "succeeded", steps

    # The worker is free: the next job runs through the render to the end.
    assert wait_for_end(stack, following, within=180)["status"] == "completed"
    assert stack.pid_of("render") == render  # stopped, not crashed

    # Nothing of the cancelled render was kept (checked once the worker has long moved on).
    renders = stack.storage / "local" / TENANT / job_id / "renders"
    assert not (renders / "final.mp4").exists()
    assert not renders.exists() or not list(renders.iterdir())
    statuses = [e["status"] for e in await_status_events(stack, job_id)]
    assert statuses.count("cancelled") == 1
    assert "completed" not in statuses
