"""The whole pipeline with S3 storage (moto's S3 server on loopback): `avocado process` and the
platform under `avocado up`, every artifact read back from the bucket; nothing written outside
the configured prefix or on local disk; an unusable bucket is one clear line."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from talkavocado_common.kafka import free_port
from talkavocado_common.models import Timeline
from talkavocado_common.storage import Storage, open_storage
from tests.e2e.audiocheck import decode, sentence_matches
from tests.e2e.conftest import media_info
from tests.e2e.stack import KEY, TENANT, Stack, submit, wait_for_end
from tests.mediagen import Recording
from tests.support.s3 import S3Server, s3_server  # noqa: F401

pytestmark = pytest.mark.slow

AVOCADO = Path(sys.executable).with_name("avocado")


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "AWS_", "KAFKA_"))}
    return {**env, **extra}


def bucket_storage(server: S3Server, bucket: str, prefix: str) -> Storage:
    settings = server.settings(bucket, prefix)
    return open_storage(settings.storage_url, settings)


async def everything_in(server: S3Server, bucket: str) -> list[str]:
    """Every key in the bucket, prefix included (a storage over the bucket root)."""
    settings = server.settings(bucket, "")
    root = open_storage(f"s3://{bucket}", settings)
    try:
        return await root.list("")
    finally:
        await root.aclose()


def assert_valid_edit(final: Path, timeline: Timeline, recording: Recording) -> None:
    """Every spoken sentence whole in the output, and the output as long as the timeline."""
    info = media_info(final)
    assert info.video is not None
    assert info.video.duration == pytest.approx(timeline.duration_sec, abs=1 / recording.fps)
    source, output = decode(recording.path), decode(final)
    for piece in recording.of_kind("speech"):
        clip = next(c for c in timeline.clips if c.source_start <= piece.start < c.source_end)
        out_start = clip.timeline_start + piece.start - clip.source_start
        ok, detail = sentence_matches(source, output, piece.start, piece.end, out_start)
        assert ok, f"{piece.text!r}: {detail}"


def test_avocado_process_with_s3_storage(
    s3_server: S3Server,  # noqa: F811
    demo_recording: Recording,
    tmp_path: Path,
) -> None:
    bucket = s3_server.create_bucket()
    proc = subprocess.run(
        [
            str(AVOCADO),
            "process",
            str(demo_recording.path),
            "--tenant",
            "acme",
            "--storage",
            f"s3://{bucket}/media",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=child_env(s3_server.env(bucket, "media")),
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"under s3://{bucket}/media/" in proc.stderr
    manifest = json.loads(proc.stdout)
    assert manifest["status"] == "completed"
    prefix = f"local/acme/{manifest['jobId']}/"

    async def fetch() -> tuple[list[str], Timeline]:
        storage = bucket_storage(s3_server, bucket, "media")
        try:
            await storage.download_to(prefix + "renders/final.mp4", tmp_path / "final.mp4")
            data, _ = await storage.read_bytes(manifest["plan"]["timeline"])
        finally:
            await storage.aclose()
        return await everything_in(s3_server, bucket), Timeline.model_validate_json(data)

    keys, timeline = asyncio.run(fetch())
    assert f"media/{prefix}manifest.json" in keys
    assert all(k.startswith(f"media/{prefix}") for k in keys), keys
    assert_valid_edit(tmp_path / "final.mp4", timeline, demo_recording)
    assert list(tmp_path.iterdir()) == [tmp_path / "final.mp4"]  # nothing stored on local disk


def test_the_platform_with_s3_storage(
    s3_server: S3Server,  # noqa: F811
    demo_recording: Recording,
    tmp_path: Path,
) -> None:
    bucket = s3_server.create_bucket()
    stack = Stack(
        port=free_port(),
        storage=tmp_path / "unused",
        dev_key=KEY,
        cwd=tmp_path,
        storage_url=f"s3://{bucket}/data",
        env={**s3_server.env(bucket, "data"), "LOG_FORMAT": "json"},
    ).start()
    try:
        job_id = submit(stack, demo_recording)
        job = wait_for_end(stack, job_id)
        assert job["status"] == "completed", job
        with stack.client() as client:
            params = {"tenantId": TENANT}
            link = client.get(f"/jobs/{job_id}/links/renders/final.mp4", params=params).json()
            timeline_json = client.get(
                f"/jobs/{job_id}/artifacts/plan/timeline.json", params=params
            )
        assert timeline_json.status_code == 200
        assert link["direct"] is True
        # The presigned link needs no API key: a client downloads straight from the bucket.
        with httpx.Client(timeout=60) as anonymous:
            final = anonymous.get(link["url"])
        assert final.status_code == 200
        (tmp_path / "final.mp4").write_bytes(final.content)
    finally:
        code = stack.stop()
    assert code == 0, "\n".join(stack.lines[-20:])
    timeline = Timeline.model_validate_json(timeline_json.content)
    assert_valid_edit(tmp_path / "final.mp4", timeline, demo_recording)
    keys = asyncio.run(everything_in(s3_server, bucket))
    # Everything under the job's prefix, but for its entry in the index of active jobs (removed
    # by the orchestrator's reconciler on its next pass).
    index_entry = f"data/local/_active/{TENANT}/{job_id}"
    assert all(k.startswith(f"data/local/{TENANT}/{job_id}/") or k == index_entry for k in keys), (
        keys
    )
    assert not (tmp_path / "unused").exists()
    assert_one_trace_in_json_logs(stack.lines, job_id)


# What `avocado up`'s supervisor itself writes about a service (not the service's output).
SUPERVISOR_LINE = re.compile(r"^(started \(pid \d+\)|exited with .*|stopping.*|stopped.*)$")


def assert_one_trace_in_json_logs(lines: list[str], job_id: str) -> None:
    """Every service logged JSON lines about the job with its context, all in one trace."""
    records: dict[str, list[dict[str, object]]] = {}
    for line in lines:
        name, bar, text = line.partition(" | ")
        if not bar or SUPERVISOR_LINE.match(text):
            continue
        record = json.loads(text)  # every line a service writes is one JSON object
        for key in ("timestamp", "level", "service", "logger", "message", "correlationId"):
            assert key in record, (key, record)
        assert {"tenantId", "jobId", "step", "traceId", "spanId"} <= record.keys(), record
        if record["jobId"] == job_id:
            records.setdefault(name.strip(), []).append(record)
    assert set(records) == {"api", "orchestrator", "audio", "transcribe", "render"}, set(records)
    for service, found in records.items():
        assert all(r["service"] == service for r in found)
        assert all(r["tenantId"] == TENANT for r in found), [
            r for r in found if r["tenantId"] != TENANT
        ][:3]
    for service in ("audio", "transcribe", "render"):
        assert all(r["step"] for r in records[service]), records[service]
    # One trace from the upload that submitted the job through every step (the API's other
    # requests about the job, polls and downloads, are traces of their own).
    pipeline = {
        service: {r["traceId"] for r in records[service]}
        for service in ("orchestrator", "audio", "transcribe", "render")
    }
    (trace,) = pipeline["orchestrator"]
    assert all(found == {trace} for found in pipeline.values()), pipeline
    upload = [r for r in records["api"] if r["traceId"] == trace]
    assert upload, "the pipeline's trace does not start at an API request"


def test_a_missing_bucket_is_one_clear_line(
    s3_server: S3Server,  # noqa: F811
    demo_recording: Recording,
    tmp_path: Path,
) -> None:
    env = child_env(s3_server.env("no-such-bucket"))
    process = subprocess.run(
        [str(AVOCADO), "process", str(demo_recording.path), "--storage", "s3://no-such-bucket/x"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert process.returncode == 1
    assert process.stderr == "avocado: error: storage: bucket 'no-such-bucket' does not exist\n"
    up = subprocess.run(
        [str(AVOCADO), "up", "--port", str(free_port()), "--storage", "s3://no-such-bucket/x"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    # Checked before any service starts.
    assert up.returncode == 1
    assert up.stderr == "avocado: error: storage: bucket 'no-such-bucket' does not exist\n"
