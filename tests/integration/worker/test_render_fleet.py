"""A long render spread over the fleet, on the real broker: two render workers, one
branding-layer request; its segments go out as render-segment sub-steps keyed apart, the other
worker encodes some while the step's own worker encodes the rest, and the result is one render.
The sub-steps' heartbeats and results carry run ids of their own (the orchestrator ignores them:
tests/unit/orchestrator/test_substep_events.py) and the manifest records only the step."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest

from talkavocado_common.events import StepSucceeded, Topics
from talkavocado_common.manifest_store import ManifestStore
from talkavocado_common.models import FrameRate, Timeline, TimelineClip
from talkavocado_common.settings import KafkaSettings
from talkavocado_common.steps import StepEnv, StepHandler, StepRequest, StepResult
from talkavocado_common.storage import LocalStorage
from talkavocado_common.topology import load_handlers
from tests.support.jobs import create_job
from tests.support.kafka import Received, TopicReader, publish, step_requested

from .conftest import Workers

pytestmark = pytest.mark.slow

FPS = 25
SECONDS = 16
SEGMENTS = 8  # 2 s each


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    out = tmp_path / "talk.mp4"
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=s=320x240:r={FPS}:d={SECONDS}",
            "-f", "lavfi", "-i", f"sine=f=440:r=44100:d={SECONDS}",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS), "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-shortest", str(out),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return out


def packets(path: Path) -> list[str]:
    return subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-show_entries",
         "stream=codec_type,nb_read_packets", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip


def decode_errors(path: Path) -> str:
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    ).stderr


def crossfaded_timeline(ranges: list[tuple[int, int]], fade: int) -> Timeline:
    clips, cursor = [], 0
    for index, (start, end) in enumerate(ranges):
        placed = cursor - (fade if index else 0)
        clips.append(
            TimelineClip(
                source_start_frame=start,
                source_end_frame=end,
                source_start=start / FPS,
                source_end=end / FPS,
                timeline_start=placed / FPS,
                transition_in_sec=(fade if index else 0) / FPS,
            )
        )
        cursor = placed + end - start
    return Timeline(
        source_key="x",
        frame_rate=FrameRate(num=FPS, den=1),
        width=320,
        height=240,
        has_audio=True,
        source_duration_sec=SECONDS,
        clips=clips,
        duration_sec=cursor / FPS,
    )


def tracked(name: str, ran: list[tuple[str, str, StepResult]]) -> Mapping[str, StepHandler]:
    """The render service's handlers, noting which worker ran what and its result."""
    handlers = load_handlers("render", include_substeps=True)

    def wrap(step: str, handler: StepHandler) -> StepHandler:
        async def run(req: StepRequest, env: StepEnv) -> StepResult:
            result = await handler(req, env)
            ran.append((name, step, result))
            return result

        return run

    return {step: wrap(step, handler) for step, handler in handlers.items()}


async def test_two_render_workers_share_the_segments_of_one_render(
    kafka: KafkaSettings,
    storage: LocalStorage,
    workers: Workers,
    recording: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RENDER_SEGMENT_MIN_TIMELINE_SECONDS", "1")
    monkeypatch.setenv("RENDER_SEGMENT_SECONDS", str(SECONDS / SEGMENTS))
    monkeypatch.setenv("RENDER_SEGMENT_POLL_SECONDS", "0.1")
    # More partitions than segments: the sub-steps' keys spread them over both members.
    fleet = kafka.model_copy(update={"partitions": 8})
    topics = Topics(fleet.topic_prefix)
    keys = await create_job(storage, "job-fleet", recording=recording)
    timeline = crossfaded_timeline([(0, 200), (210, 400)], fade=10)  # 380 frames, 15.2 s
    await storage.write_bytes(keys.timeline, timeline.to_json_bytes())
    ran: list[tuple[str, str, StepResult]] = []
    for name in ("a", "b"):
        await workers.start(tracked(name, ran), service="render", kafka_settings=fleet)

    parent_run = "job-fleet/branding-layer/1"
    request = step_requested(
        job_id="job-fleet", step="branding-layer", service="render", timeout=300
    )

    def done(seen: list[Received]) -> bool:
        subs = [r for r in seen if isinstance(r.payload, StepSucceeded)]
        return len(subs) == SEGMENTS + 1

    began = datetime.now(UTC)
    async with (
        TopicReader(fleet, topics.results) as results,
        TopicReader(fleet, topics.steps("render")) as requests,
    ):
        await publish(fleet, topics.steps("render"), request)
        seen = await results.wait_for(done, within=240)
        asked = await requests.wait_for(lambda seen: len(seen) == SEGMENTS + 1)
    segment_requests = [r for r in asked if r.key != b"job-fleet"]
    assert len(segment_requests) == SEGMENTS
    assert all(r.payload.step == "render-segment" for r in segment_requests)  # type: ignore[union-attr]
    # Keyed apart from the job: the sub-steps spread over the topic's partitions.
    assert len({r.partition for r in segment_requests}) > 1
    succeeded = [r for r in seen if isinstance(r.payload, StepSucceeded)]
    parent = next(r.payload for r in succeeded if r.payload.step_run_id == parent_run)
    assert isinstance(parent, StepSucceeded)
    assert parent.result["renderPath"] == "segmented", parent.result
    here = int(re.search(r"\((\d+) by the step's own worker\)", parent.result["renderReason"])[1])  # type: ignore[index]
    subs = [r for r in succeeded if r.payload.step_run_id != parent_run]
    assert {r.payload.step_run_id for r in subs} == {  # type: ignore[union-attr]
        f"{parent_run}/segment-{i:04d}" for i in range(SEGMENTS)
    }
    assert all(r.key == b"job-fleet" for r in subs)  # results go back keyed by job, in order
    encoded_by_subs = [r for r in subs if r.payload.result["encoded"]]  # type: ignore[union-attr]
    # Every segment encoded exactly once: some by the step's own worker, the rest by the other.
    assert here + len(encoded_by_subs) == SEGMENTS
    assert 1 <= here < SEGMENTS
    parent_worker = next(name for name, step, _ in ran if step == "branding-layer")
    encoders = {
        name for name, step, result in ran if step == "render-segment" and result["encoded"]
    }
    assert encoders == {"b" if parent_worker == "a" else "a"}
    out = storage.local_path(keys.final_render)
    assert out is not None
    assert out.exists()
    probe = packets(out)
    assert probe[0] == "video,380"
    assert probe[1].startswith("audio,")
    assert decode_errors(out) == ""
    manifest = await ManifestStore(storage).get(keys)
    assert set(manifest.steps) == {"branding-layer"}  # the sub-steps are not recorded
    assert manifest.renders[0].render_path == "segmented"
    assert await storage.list(keys.key("renders/segments") + "/") == []
    print(f"segmented render on 2 workers: {(datetime.now(UTC) - began).total_seconds():.1f} s")
