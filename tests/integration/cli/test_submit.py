"""`avocado submit` as a real subprocess against the real API app under uvicorn (random port):
LocalStorage on disk, real ffprobe, the in-memory publisher and status feed. For --wait the test
plays the orchestrator: it pushes job.status-changed events into the feed, writes the artifacts
and sets the manifest's status, and even drops the event stream once mid-job."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from talkavocado_api import ApiSettings, InMemoryPublisher, InMemoryStatusFeed, create_app
from talkavocado_api.ports import storage_check
from talkavocado_cli.submit import JobProgress, TransferProgress
from talkavocado_common.events import CloudEvent, JobStatusChanged, new_event
from talkavocado_common.events.models import StepError
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import (
    ErrorCode,
    ErrorInfo,
    JobStatus,
    Manifest,
    RenderArtifact,
    StepStatus,
    SubtitleArtifact,
)
from talkavocado_common.settings import StorageSettings
from talkavocado_common.storage import JobKeys, LocalStorage
from tests.mediagen import DEMO_SCRIPT, Recording, make_recording
from tests.support.http import serve_on_loopback

AVOCADO = Path(sys.executable).with_name("avocado")
TENANT = "demo-tenant"
KEY = "VlcDlv40TwW5CkixgJeQAPmHS_OxPunqXlW6BtUsMk4"  # avocado keys new
ENV = "it"
DROP_MARK = "test: drop the stream here"
SRT = b"1\n00:00:00,000 --> 00:00:01,500\nHello and welcome.\n\n"
VTT = b"WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello and welcome.\n\n"


class DroppingFeed(InMemoryStatusFeed):
    """The in-memory feed, plus `drop(job_id)`: each current subscription of the job ends after
    the events pushed before it (as a failing Kafka consumer would), so the API ends the SSE
    stream before the job has ended and the client must reconnect."""

    def __init__(self) -> None:
        super().__init__()
        self.subscriptions: dict[str, int] = {}

    def subscribe(self, job_id: str) -> AsyncIterator[CloudEvent]:
        self.subscriptions[job_id] = self.subscriptions.get(job_id, 0) + 1
        return _UntilDropped(super().subscribe(job_id))

    def drop(self, job_id: str) -> None:
        self.push(status_event(job_id, JobStatus.PROCESSING, 0.0, None, message=DROP_MARK))


class _UntilDropped:
    def __init__(self, inner: AsyncIterator[CloudEvent]) -> None:
        self.inner = inner

    def __aiter__(self) -> _UntilDropped:
        return self

    async def __anext__(self) -> CloudEvent:
        event = await anext(self.inner)
        if event.data.get("message") == DROP_MARK:
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        await self.inner.aclose()  # type: ignore[attr-defined]


@dataclass
class Server:
    url: str
    storage: LocalStorage
    publisher: InMemoryPublisher
    feed: DroppingFeed

    def keys(self, job_id: str) -> JobKeys:
        return JobKeys(ENV, TENANT, job_id)

    @property
    def manifests(self) -> ManifestStore:
        return ManifestStore(self.storage)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("avocado: error:")]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return make_recording(DEMO_SCRIPT, tmp_path_factory.mktemp("media") / "talk.mp4")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    storage = LocalStorage(tmp_path / "storage")
    publisher, feed = InMemoryPublisher(), DroppingFeed()
    settings = ApiSettings(
        keys=f"{TENANT}:{KEY}",
        storage=StorageSettings(STORAGE_URL=str(tmp_path / "storage"), TALKAVOCADO_ENV=ENV),
        sse_keepalive_seconds=0.5,
        MAX_UPLOAD_BYTES=50_000_000,
    )
    app = create_app(
        settings,
        storage=storage,
        publisher=publisher,
        status_feed=feed,
        readiness_checks={"storage": storage_check(storage)},
    )
    async with serve_on_loopback(app) as url:
        yield Server(url, storage, publisher, feed)


async def avocado(
    *args: str | Path, cwd: Path, api: str | None = None, key: str | None = KEY
) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AVOCADO_")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    if api is not None:
        env["AVOCADO_API_URL"] = api
    if key is not None:
        env["AVOCADO_API_KEY"] = key
    process = await asyncio.create_subprocess_exec(
        AVOCADO,
        "submit",
        *map(str, args),
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        pytest.fail(f"avocado submit hung; stderr:\n{err.decode()}")
    assert process.returncode is not None
    result = Result(process.returncode, out.decode(), err.decode())
    assert "Traceback" not in result.stderr, result.stderr
    return result


@contextlib.asynccontextmanager
async def background(coro: Awaitable[Any]) -> AsyncIterator[asyncio.Future[Any]]:
    """Run `coro` alongside the block; cancelled if the block fails before it is done."""
    task = asyncio.ensure_future(coro)
    try:
        yield task
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def status_event(
    job_id: str,
    status: JobStatus,
    progress: float,
    state: str | None,
    *,
    message: str = "",
    error: StepError | None = None,
) -> CloudEvent:
    payload = JobStatusChanged(
        job_id=job_id,
        tenant_id=TENANT,
        env=ENV,
        status=status,
        state=state,
        progress=progress,
        message=message,
        error=error,
    )
    return new_event(
        "job.status-changed",
        payload,
        source="test-orchestrator",
        subject=job_id,
        tenant_id=TENANT,
    )


async def until(predicate: Callable[[], bool], seconds: float = 20) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - state changed by the server's tasks
            await asyncio.sleep(0.02)


async def submitted_job(server: Server) -> str:
    async with asyncio.timeout(30):
        event = await server.publisher.wait_for("job.submitted")
    return event.subject


STEPS = [("audio-extraction", 0.1), ("transcription", 0.3), ("smart-cut-planner", 0.5)]


async def run_the_job(
    server: Server, outcome: JobStatus, *, drop: bool = False, video: bytes = b""
) -> str:
    """What the orchestrator and the step services would do, seen from the API."""
    job_id = await submitted_job(server)
    keys = server.keys(job_id)
    await until(lambda: server.feed.subscriber_count(job_id) > 0)
    await server.manifests.update(
        keys, lambda m: m.model_copy(update={"status": JobStatus.PROCESSING})
    )
    for state, progress in STEPS:
        server.feed.push(status_event(job_id, JobStatus.PROCESSING, progress, state))
    if drop:
        server.feed.drop(job_id)
        await until(
            lambda: (
                server.feed.subscriptions[job_id] >= 2 and server.feed.subscriber_count(job_id) > 0
            )
        )
        server.feed.push(status_event(job_id, JobStatus.PROCESSING, 0.7, "video-cuts"))
    if outcome == JobStatus.COMPLETED:
        await server.storage.write_bytes(keys.final_render, video)
        await server.storage.write_bytes(keys.final_subtitles("srt"), SRT)
        await server.storage.write_bytes(keys.final_subtitles("vtt"), VTT)

        def complete(m: Manifest) -> Manifest:
            return m.model_copy(
                update={
                    "status": JobStatus.COMPLETED,
                    "renders": [
                        RenderArtifact(
                            key=keys.final_render,
                            kind="final",
                            duration_sec=20.0,
                            width=640,
                            height=360,
                            bytes=len(video),
                        )
                    ],
                    "subtitles": [
                        SubtitleArtifact(
                            key=keys.final_subtitles("srt"), format="srt", kind="final"
                        ),
                        SubtitleArtifact(
                            key=keys.final_subtitles("vtt"), format="vtt", kind="final"
                        ),
                    ],
                }
            )

        await server.manifests.update(keys, complete)
        server.feed.push(status_event(job_id, JobStatus.COMPLETED, 1.0, "mark-complete"))
    elif outcome == JobStatus.FAILED:
        error = ErrorInfo(
            code=ErrorCode.TRANSIENT_DEPENDENCY,
            message="the transcription model could not be loaded after 3 attempts",
            step="transcription",
        )
        await server.manifests.update(
            keys, lambda m: m.model_copy(update={"status": JobStatus.FAILED, "error": error})
        )
        server.feed.push(
            status_event(
                job_id,
                JobStatus.FAILED,
                0.3,
                "mark-failed",
                error=StepError(code=error.code, message=error.message),
            )
        )
    else:
        await server.manifests.update(
            keys, lambda m: m.model_copy(update={"status": JobStatus.CANCELLED})
        )
        server.feed.push(status_event(job_id, JobStatus.CANCELLED, 0.3, "cancelled"))
    return job_id


# --- the tests ----------------------------------------------------------------------------------


async def test_submit_creates_uploads_and_submits_the_job(
    server: Server, recording: Recording, tmp_path: Path
) -> None:
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"transitions": {"enabled": True}}))
    result = await avocado(recording.path, "--options", options, cwd=tmp_path, api=server.url)

    assert result.code == 0, result.stderr
    job_id = result.stdout.strip()
    submitted = server.publisher.of_type("job.submitted")
    assert [event.subject for event in submitted] == [job_id]
    assert submitted[0].data["options"]["transitions"]["enabled"] is True
    keys = server.keys(job_id)
    manifest = await server.manifests.get(keys)
    assert manifest.status == JobStatus.PENDING
    assert manifest.steps["upload"].status == StepStatus.SUCCEEDED
    assert manifest.input is not None
    assert manifest.input.original_filename == "talk.mp4"
    assert manifest.input.mime_type == "video/mp4"
    stored, _ = await server.storage.read_bytes(manifest.input.key)
    assert stored == recording.path.read_bytes()
    # Progress on stderr, plain lines (not a terminal): no carriage-return redraws.
    assert f"avocado: job {job_id} created" in result.stderr
    assert "uploading talk.mp4" in result.stderr
    assert "checked and submitted" in result.stderr
    assert "\r" not in result.stderr


async def test_wait_follows_the_job_reconnects_and_downloads_the_results(
    server: Server, recording: Recording, tmp_path: Path
) -> None:
    video = os.urandom(3_000_000)  # several chunks: the download's progress shows
    async with background(run_the_job(server, JobStatus.COMPLETED, drop=True, video=video)) as job:
        result = await avocado(recording.path, "--wait", cwd=tmp_path, api=server.url)
        job_id = await job

    assert result.code == 0, result.stderr
    out = tmp_path / "avocado-output" / job_id  # the default --out
    assert (out / "final.mp4").read_bytes() == video
    assert (out / "final.srt").read_bytes() == SRT
    assert (out / "final.vtt").read_bytes() == VTT
    assert not list(out.glob("*.part"))
    lines = result.stdout.splitlines()
    assert lines[0] == job_id
    start = lines.index("{")
    assert lines[1:start] == [
        str(Path("avocado-output") / job_id / name)
        for name in ("final.mp4", "final.srt", "final.vtt")
    ]
    final = json.loads("\n".join(lines[start:]))
    assert final["jobId"] == job_id
    assert final["status"] == "completed"
    assert final["artifacts"]["renders"] == [server.keys(job_id).final_render]
    # Per-step progress, the reconnect, and the download's progress, all on stderr.
    for state, progress in STEPS:
        assert f"[processing] {state}" in result.stderr
        assert f"{progress:4.0%}" in result.stderr
    assert "[processing] video-cuts" in result.stderr
    assert "[completed] mark-complete" in result.stderr
    assert "reconnecting" in result.stderr
    assert server.feed.subscriptions[job_id] == 2
    assert "downloading renders/final.mp4" in result.stderr
    assert result.errors == []


@pytest.mark.parametrize(
    ("outcome", "error_line"),
    [
        (
            JobStatus.FAILED,
            "avocado: error: TRANSIENT_DEPENDENCY: "
            "the transcription model could not be loaded after 3 attempts",
        ),
        (JobStatus.CANCELLED, "avocado: error: cancelled: the job was cancelled"),
    ],
)
async def test_a_job_that_does_not_complete_exits_1(
    server: Server, recording: Recording, tmp_path: Path, outcome: JobStatus, error_line: str
) -> None:
    out = tmp_path / "results"
    async with background(run_the_job(server, outcome)) as job:
        result = await avocado(recording.path, "--out", out, cwd=tmp_path, api=server.url)
        job_id = await job

    assert result.code == 1, result.stderr
    assert result.errors == [error_line]
    assert result.stderr.splitlines()[-1] == error_line
    lines = result.stdout.splitlines()
    assert lines[0] == job_id
    assert json.loads("\n".join(lines[1:]))["status"] == outcome.value
    assert not out.exists() or not any(out.iterdir())


async def test_a_bad_key_is_one_line_and_exit_2(
    server: Server, recording: Recording, tmp_path: Path
) -> None:
    result = await avocado(
        recording.path, "--api", server.url, cwd=tmp_path, key="not-the-key-0123456789"
    )
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"avocado: error: the API at {server.url} refused the API key: invalid API key "
        "(check --key or AVOCADO_API_KEY)"
    ]
    assert result.stdout == ""
    assert server.publisher.events == []


async def test_no_key_at_all_is_a_usage_error(recording: Recording, tmp_path: Path) -> None:
    result = await avocado(recording.path, cwd=tmp_path, key=None)
    assert result.code == 2
    assert len(result.errors) == 1
    assert "no API key: pass --key KEY or set AVOCADO_API_KEY" in result.errors[0]


async def test_an_api_that_is_not_running_is_named(recording: Recording, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result = await avocado(recording.path, "--wait", cwd=tmp_path, api=url)
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"avocado: error: cannot reach the API at {url} (is `avocado up` running?)"
    ]


@pytest.mark.parametrize("name", ["notes.mp4", "notes.txt"])
async def test_a_text_file_gets_the_apis_message_and_exit_2(
    server: Server, tmp_path: Path, name: str
) -> None:
    notes = tmp_path / name
    notes.write_text("Talking points for the demo.\n" * 200)
    result = await avocado(notes, "--wait", cwd=tmp_path, api=server.url)

    assert result.code == 2
    assert result.stdout == ""
    assert server.publisher.of_type("job.submitted") == []
    [job_id] = {key.split("/")[2] for key in await server.storage.list(f"{ENV}/{TENANT}/")}
    manifest = await server.manifests.get(server.keys(job_id))
    assert manifest.status == JobStatus.FAILED
    assert manifest.error is not None
    assert manifest.error.code == ErrorCode.INPUT_INVALID
    # The API's own sentence (from its 422), as the manifest records it.
    assert result.errors == [f"avocado: error: the API refused {name}: {manifest.error.message}"]
    assert result.stderr.splitlines()[-1] == result.errors[0]
    if name == "notes.mp4":
        assert manifest.error.message == (
            "The file is not a video recording that can be read. "
            "It contains text, not audio or video."
        )


async def test_bad_options_get_the_apis_message_and_exit_2(
    server: Server, recording: Recording, tmp_path: Path
) -> None:
    options = tmp_path / "options.json"
    options.write_text(json.dumps({"planner": {"minPauseMs": 5}}))
    result = await avocado(recording.path, "--options", options, cwd=tmp_path, api=server.url)
    assert result.code == 2
    [line] = result.errors
    assert line.startswith("avocado: error: creating the job: options.planner.minPauseMs:")
    assert "100" in line
    assert server.publisher.events == []

    options.write_text("{not json")
    result = await avocado(recording.path, "--options", options, cwd=tmp_path, api=server.url)
    assert result.code == 2
    [line] = result.errors
    assert line.startswith(f"avocado: error: options file {options} is not valid JSON")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_on_a_terminal() -> None:
    screen = FakeTerminal()
    transfer = TransferProgress("uploading talk.mp4", 4_000_000, stream=screen)
    for _ in range(4):
        transfer.advance(1_000_000)
    transfer.finish()
    assert screen.getvalue().startswith("\r\x1b[2Kuploading talk.mp4 [")
    assert screen.getvalue().endswith("\n")
    assert screen.getvalue().count("\n") == 1

    screen = FakeTerminal()
    job = JobProgress(stream=screen)
    job.update({"status": "processing", "state": "transcription", "progress": 0.3})
    job.update({"status": "processing", "state": "transcription", "progress": 0.35})
    job.update({"status": "processing", "progress": 0.0, "message": "current status"})
    job.update({"status": "completed", "state": "mark-complete", "progress": 1.0})
    job.close()
    lines = screen.getvalue().split("\n")
    assert len(lines) == 3  # one line per state, redrawn in place
    assert "transcription" in lines[0]
    assert lines[0].rstrip().endswith("35% current status")  # progress never goes back
    assert "[completed] mark-complete" in lines[1]
    assert "100%" in lines[1]
