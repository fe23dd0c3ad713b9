"""A restart of the whole embedded stack does not strand the jobs in flight: `avocado up` is
SIGKILLed with its broker (in memory: every event and the orchestrator's changelog are gone)
during transcription, started again on the same port and storage, and the job completes, once,
resumed by the orchestrator's reconciler from what the manifest records."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from talkavocado_common.kafka import free_port
from tests.e2e.stack import (
    KEY,
    TENANT,
    Stack,
    assert_valid_edit,
    await_status_events,
    make_logo,
    read_manifest,
    submit,
    wait_for_end,
    wait_for_step,
)
from tests.mediagen import Recording

pytestmark = pytest.mark.slow


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (the services and the broker run in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_9(stack: Stack) -> None:
    """SIGKILL `avocado up`'s process group (the OOM killer, a closed terminal), then at once
    every process of the stack still alive: the services and the broker run in sessions of
    their own, outside the group, and this test is about the stack's state after a crash, not
    about how its processes go (the supervisor's lifeline has tests of its own)."""
    below = descendants(stack.pid)
    stack.kill_group(signal.SIGKILL)
    for pid in below:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in below) and time.monotonic() < deadline:
        time.sleep(0.05)
    stack.stop()  # closes its output


def alive(pid: int) -> bool:
    """Running (a zombie, killed and waiting for its parent's wait, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@contextlib.contextmanager
def stack_on(port: int, root: Path) -> Iterator[Stack]:
    running = Stack(
        port=port, storage=root / "storage", dev_key=KEY, cwd=root, own_group=True
    ).start()
    try:
        yield running
    finally:
        running.stop()


def test_the_whole_stack_killed_mid_transcription_resumes_the_job_once(
    tmp_path: Path, demo_recording: Recording
) -> None:
    port = free_port()
    # A job that failed before the crash (its logo is missing) can still be retried after it,
    # though the orchestrator's row of it is gone with the broker.
    logo = "logo-restart.png"
    with stack_on(port, tmp_path) as first:
        failed_id = submit(first, demo_recording, {"branding": {"logo": {"asset": logo}}})
        failed = wait_for_end(first, failed_id, within=120)
        assert (failed["status"], failed["error"]["step"]) == ("failed", "branding-layer"), failed
        job_id = submit(first, demo_recording)
        try:
            wait_for_step(first, job_id, "transcription", within=90)
        except AssertionError as exc:
            raise AssertionError("\n".join(first.lines[-60:])) from exc
        kill_9(first)
    audio = tmp_path / "storage" / "local" / TENANT / job_id / "audio"
    assert audio.is_dir(), "audio-extraction finished before the kill"
    with stack_on(port, tmp_path) as second:
        make_logo(second.storage / "local" / TENANT / "assets" / "branding" / logo)
        with second.client() as client:
            answer = client.post(f"/jobs/{failed_id}/retry", params={"tenantId": TENANT})
        assert answer.status_code == 202, answer.text
        job = wait_for_end(second, job_id, within=120)
        assert job["status"] == "completed", job
        assert_valid_edit(second, job_id, demo_recording)
        statuses = [e["status"] for e in await_status_events(second, job_id)]
        assert statuses.count("completed") == 1, statuses
        retried = wait_for_end(second, failed_id, within=120)
        assert retried["status"] == "completed", retried
        manifest = read_manifest(second, failed_id)
        # Resumed at the step that failed: transcription did not run again.
        assert manifest["steps"]["transcription"]["attempts"] == 1, manifest["steps"]
        assert manifest["steps"]["branding-layer"]["attempts"] >= 2, manifest["steps"]
