"""`python -m talkavocado_audio` runs the real audio-extraction handler from Kafka: the step
succeeds, the artifacts are stored and the manifest records them."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from talkavocado_common.events import StepSucceeded, Topics
from talkavocado_common.kafka import ensure_topics, free_port
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import StepStatus
from talkavocado_common.settings import KafkaSettings
from talkavocado_common.storage import LocalStorage
from tests.mediagen import DEMO_SCRIPT, make_recording
from tests.support.jobs import create_job
from tests.support.kafka import TopicReader, count, publish, step_requested

ROOT = Path(__file__).resolve().parents[3]


async def wait_healthy(port: int, process: asyncio.subprocess.Process, within: float) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise AssertionError(f"the service exited with {process.returncode}")
            try:
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the service never became healthy")


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_audio_service_extracts_audio_from_a_kafka_request(
    kafka: KafkaSettings, topics: Topics, storage: LocalStorage, tmp_path: Path
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOX_OPTS", "-R")
        recording = make_recording(DEMO_SCRIPT, tmp_path / "talk.mp4")
    keys = await create_job(storage, "job-audio", recording=recording.path)
    await ensure_topics(kafka)
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "KAFKA_IDEMPOTENCE": str(kafka.idempotence).lower(),
        "KAFKA_SESSION_TIMEOUT_MS": str(kafka.session_timeout_ms),
        "KAFKA_HEARTBEAT_INTERVAL_MS": str(kafka.heartbeat_interval_ms),
        "STORAGE_URL": str(storage.root),
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": str(port),
    }
    service = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "talkavocado_audio",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await wait_healthy(port, service, within=20)
        async with TopicReader(kafka, topics.results) as results:
            await publish(
                kafka,
                topics.steps("audio"),
                step_requested(job_id="job-audio", step="audio-extraction", timeout=60),
            )
            seen = await results.wait_for(
                count(lambda r: r.type in ("step.succeeded", "step.failed")), within=60
            )
        done = seen[-1].payload
        assert isinstance(done, StepSucceeded), done
        assert done.result["mp3"] == keys.audio_mp3
        assert done.result["wav"] == keys.audio_wav
        assert done.result["durationSec"] == pytest.approx(recording.duration, abs=0.1)
        for key in (keys.audio_mp3, keys.audio_wav, keys.audio_analysis):
            assert await storage.exists(key), key
        manifest = await ManifestStore(storage).get(keys)
        assert manifest.audio is not None
        assert manifest.audio.mp3 == keys.audio_mp3
        assert manifest.steps["audio-extraction"].status == StepStatus.SUCCEEDED
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        assert (
            'talkavocado_step_duration_seconds_count{outcome="succeeded",service="audio",'
            'step="audio-extraction"} 1.0' in metrics
        )
    finally:
        if service.returncode is None:
            service.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(service.communicate(), 15)
    assert service.returncode == 0, output.decode()
