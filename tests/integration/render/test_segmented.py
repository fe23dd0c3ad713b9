"""The segmented full encode with real ffmpeg: the same render as the one-piece encode (frames,
duration, sync, sound), a valid single H.264 track; claims, a dead worker's claim taken over,
a cancelled job leaving nothing behind, and the render-segment sub-step's own answers."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from talkavocado_common.manifest_changes import SetStatus
from talkavocado_common.models import (
    BrandingOptions,
    ErrorCode,
    JobOptions,
    JobStatus,
    LogoOptions,
    SubtitleOptions,
)
from talkavocado_common.steps import StepEnv, StepError, StepRequest
from talkavocado_common.storage import LocalStorage
from talkavocado_render import segmented
from talkavocado_render.core.segments import Claim
from talkavocado_render.segment_step import render_segment
from talkavocado_render.segmented import SegmentStore, take_and_encode

from .conftest import (
    FPS,
    INTRO_SECONDS,
    OUTRO_SECONDS,
    Job,
    gray_frames,
    make_timeline,
    probe_streams,
)
from .test_branding import SUBTITLES, assert_av_layout, assert_sync

pytestmark = pytest.mark.slow

FRAME = 1 / FPS
# Crossfades at every join (a full encode), cuts every ~2 s of output: 4 pieces of the 8 s source.
RANGES = [(0, 60), (70, 130), (140, 200)]
FADE = 6


@pytest.fixture
def split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RENDER_SEGMENTED", "1")
    monkeypatch.setenv("RENDER_SEGMENT_MIN_TIMELINE_SECONDS", "1")
    monkeypatch.setenv("RENDER_SEGMENT_SECONDS", "2")
    monkeypatch.setenv("RENDER_SEGMENT_POLL_SECONDS", "0.1")


def decode_errors(path: Path) -> str:
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    ).stderr


def stream_types(path: Path) -> list[str]:
    return subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


async def segment_keys(job: Job) -> list[str]:
    return await job.storage.list(job.keys.key("renders/segments") + "/")


def branded_options() -> JobOptions:
    return JobOptions(
        branding=BrandingOptions(
            intro="intro.mp4",
            outro="outro.mp4",
            logo=LogoOptions(asset="logo.png", position="top-right", opacity=0.8, scale=0.2),
        ),
        subtitles=SubtitleOptions(burn_in=True),
    )


async def prepare_branded(job: Job, source: Path, intro: Path, outro: Path, logo: Path) -> None:
    await job.prepare(source, make_timeline(RANGES, transition_frames=FADE))
    await job.put_asset("intro.mp4", intro)
    await job.put_asset("outro.mp4", outro)
    await job.put_asset("logo.png", logo)
    await job.put_subtitles(SUBTITLES)


async def test_a_segmented_render_equals_the_one_piece_render(
    tmp_path: Path,
    sync_source: Path,
    intro_clip: Path,
    outro_clip: Path,
    logo_png: Path,
    monkeypatch: pytest.MonkeyPatch,
    split: None,
) -> None:
    timeline = make_timeline(RANGES, transition_frames=FADE)
    whole, pieces = Job(tmp_path / "whole"), Job(tmp_path / "pieces")
    for job in (whole, pieces):
        await prepare_branded(job, sync_source, intro_clip, outro_clip, logo_png)

    monkeypatch.setenv("RENDER_SEGMENTED", "0")
    one = await whole.run(branded_options())
    monkeypatch.setenv("RENDER_SEGMENTED", "1")
    result = await pieces.run(branded_options())

    assert one["renderPath"] == "full"
    assert result["renderPath"] == "segmented"
    assert "4 segments" in result["renderReason"]
    manifest = await pieces.manifests.get(pieces.keys)
    assert manifest.renders[0].render_path == "segmented"
    assert set(manifest.steps) == set()  # the handler ran alone: nothing recorded but renders
    a, b = whole.path_of(whole.keys.final_render), pieces.path_of(pieces.keys.final_render)
    total = INTRO_SECONDS + timeline.duration_sec + OUTRO_SECONDS
    assert result["expectedDurationSec"] == pytest.approx(one["expectedDurationSec"])
    for path in (a, b):
        assert_av_layout(path, total, channels=2)  # frames, duration ± 1 frame, AAC, faststart
        assert decode_errors(path) == ""
    streams_a, streams_b = probe_streams(a), probe_streams(b)
    assert streams_b["video"]["nb_read_packets"] == streams_a["video"]["nb_read_packets"]
    assert [s for s in streams_b if s != "format"] == ["video", "audio"]
    out = stream_types(b)
    assert out == ["video", "audio"]  # one video stream
    # The same pictures (two encodes of the same frames), and the same sync.
    frames_a, frames_b = gray_frames(a), gray_frames(b)
    assert frames_a.shape == frames_b.shape
    per_frame = np.abs(frames_a.astype(int) - frames_b.astype(int)).mean(axis=(1, 2))
    assert per_frame.max() < 2.0, per_frame.argmax()
    assert_sync(b, timeline, lead_frames=round(INTRO_SECONDS * FPS))
    # The pieces were removed after the join.
    assert await segment_keys(pieces) == []


async def test_a_dead_workers_claim_is_taken_over(
    job: Job,
    sync_source: Path,
    monkeypatch: pytest.MonkeyPatch,
    split: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("RENDER_SEGMENT_LEASE_SECONDS", "1")
    await job.prepare(sync_source, make_timeline(RANGES, transition_frames=FADE))
    write_plan = SegmentStore.write_plan

    async def and_a_dead_claim(self: SegmentStore, document: dict[str, object]) -> None:
        await write_plan(self, document)
        # A worker claimed segment 1 and died: its lease runs out in a second.
        dead = Claim("dead-worker", time.time() + 1.0)
        await self.storage.write_bytes(self.claim_key(1), dead.to_bytes(), if_none_match=True)

    monkeypatch.setattr(SegmentStore, "write_plan", and_a_dead_claim)
    caplog.set_level("INFO")
    result = await job.run()
    assert result["renderPath"] == "segmented"
    assert "3 segments" in result["renderReason"]
    assert "(3 by the step's own worker)" in result["renderReason"]
    assert "took over segment 1" in caplog.text
    assert decode_errors(job.path_of(job.keys.final_render)) == ""
    assert await segment_keys(job) == []


async def test_a_cancelled_job_stops_the_render_and_leaves_no_piece(
    job: Job, sync_source: Path, monkeypatch: pytest.MonkeyPatch, split: None
) -> None:
    await job.prepare(sync_source, make_timeline(RANGES, transition_frames=FADE))
    encode_piece = segmented.encode_piece
    cancelled = asyncio.Event()

    async def cancel_at_the_second(*args: object, **kwargs: object) -> Path:
        if args[2] == 1:  # the segment index
            await job.manifests.update(job.keys, SetStatus(JobStatus.CANCELLED, None))
            cancelled.set()
            await asyncio.sleep(3600)
        return await encode_piece(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(segmented, "encode_piece", cancel_at_the_second)
    task = asyncio.create_task(job.run())
    await asyncio.wait_for(cancelled.wait(), 60)
    assert await segment_keys(job)  # the plan, a claim and the first piece are there
    task.cancel()  # what the worker's watch does
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await segment_keys(job) == []
    assert not await job.storage.exists(job.keys.final_render)


async def test_claims_are_exclusive_renewed_and_lost_to_a_takeover(tmp_path: Path) -> None:
    from talkavocado_common.storage import JobKeys

    storage = LocalStorage(tmp_path)
    store = SegmentStore(storage, JobKeys("test", "acme", "job-1"), "0123456789abcdef")
    assert store.claim_key(3).startswith("test/acme/job-1/renders/segments/0123456789abcdef/")
    first = await store.claim(0, "a", 0.3)
    assert first is not None
    assert await store.claim(0, "b", 0.3) is None  # held
    # Renewed, it stays a's past its first lease.
    keeper = asyncio.create_task(store.keep(0, "a", first, 0.3))
    await asyncio.sleep(0.5)
    assert await store.claim(0, "b", 0.3) is None
    keeper.cancel()
    # a stalls: once its lease has run out b takes the segment over, and a's next renewal
    # finds that out.
    stalled = await store.claim(1, "a", 0.2)
    assert stalled is not None
    await asyncio.sleep(0.25)
    assert await store.claim(1, "b", 10) is not None
    with pytest.raises(segmented.ClaimLost):
        await asyncio.wait_for(store.keep(1, "a", stalled, 0.2), 2)
    with pytest.raises(ValueError, match="invalid segment plan id"):
        SegmentStore(storage, JobKeys("test", "acme", "job-1"), "../../other")

    async def broken() -> Path:
        raise RuntimeError("ffmpeg died")

    with pytest.raises(RuntimeError):
        await take_and_encode(store, 5, "a", 10, broken)
    assert not await storage.exists(store.claim_key(5))  # released for another worker


async def test_the_sub_step_answers_without_work_when_there_is_none(
    job: Job, sync_source: Path
) -> None:
    await job.prepare(sync_source, make_timeline(RANGES))
    env = StepEnv(storage=job.storage, manifests=job.manifests, workdir=job.workdir)

    def request(segment: object) -> StepRequest:
        return StepRequest(step="render-segment", keys=job.keys, context={"segment": segment})

    over = await render_segment(request({"plan": "0123456789abcdef", "index": 0}), env)
    assert over == {
        "plan": "0123456789abcdef",
        "segment": 0,
        "encoded": False,
        "why": "the render is over",
    }
    for bad in (None, {"plan": "x"}, {"plan": "../../x", "index": 0}, {"plan": "a", "index": True}):
        with pytest.raises(StepError) as caught:
            await render_segment(request(bad), env)
        assert caught.value.code is ErrorCode.INPUT_INVALID
