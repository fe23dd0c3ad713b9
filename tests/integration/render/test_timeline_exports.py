"""The timeline-export step on real storage: the four files under the job's (and a review
revision's) exports/, listed in the manifest, each read back with its OTIO adapter and compared
with plan/timeline.json to the frame, and the written XML checked as it is."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import pytest

from talkavocado_common.captions import parse_srt
from talkavocado_common.manifest_changes import RequestRevision
from talkavocado_common.models import (
    CutPlan,
    FrameRate,
    JobOptions,
    PlanRegion,
    PlanStats,
    Revision,
    Segment,
    Timeline,
    Transcript,
    TransitionOptions,
    Word,
)
from talkavocado_common.steps import StepEnv, StepRequest
from talkavocado_common.topology import load_handlers
from talkavocado_render.core.exports import EXPORT_FORMATS
from tests.integration.render.conftest import Job
from tests.integration.render.test_edit_steps import SPEECH, prepared, transcript
from tests.support.timeline_exports import check_ranges, edit_timeline, fcpxml_frames

__all__ = ["prepared"]  # the fixture, shared with the describing steps' tests

NTSC = FrameRate(num=30000, den=1001)


async def run(job: Job, keys_revision: int | None, options: JobOptions, *steps: str) -> None:
    env = StepEnv(
        storage=job.storage, manifests=job.manifests, workdir=job.workdir, progress=lambda *_: None
    )
    keys = job.keys.for_revision(keys_revision)
    handlers = load_handlers("render")
    for step in steps:
        await handlers[step](StepRequest(step=step, keys=keys, options=options), env)


async def read_text(job: Job, key: str) -> str:
    data, _ = await job.storage.read_bytes(key)
    return data.decode()


async def test_the_edit_of_a_real_recording_exports_to_the_frame(prepared: Job) -> None:
    job = prepared
    await job.storage.write_bytes(job.keys.transcript_json, transcript(SPEECH).to_json_bytes())
    options = JobOptions(transitions=TransitionOptions(enabled=True, duration_ms=200))
    await run(
        job,
        None,
        options,
        "smart-cut-planner",
        "video-cuts",
        "video-transitions",
        "subtitles-post-edit",
        "timeline-export",
    )
    manifest = await job.manifests.get(job.keys)
    assert [(e.format, e.key) for e in manifest.exports] == [
        (fmt, f"{job.keys.prefix}exports/timeline.{fmt}") for fmt in EXPORT_FORMATS
    ]
    timeline = Timeline.model_validate_json(await read_text(job, job.keys.timeline))
    assert len(timeline.clips) == 3
    assert any(c.transition_in_sec > 0 for c in timeline.clips)
    cues = parse_srt(await read_text(job, job.keys.final_subtitles("srt")))
    for export in manifest.exports:
        text = await read_text(job, export.key)
        read = check_ranges(export.format, text, timeline)
        if export.format in ("otio", "xml", "fcpxml"):
            markers = [m.name for clip in read.find_clips() for m in clip.markers if m.name]
            assert markers[: len(cues)] == [" ".join(c.lines) for c in cues]
    fcpxml = await read_text(job, job.keys.timeline_export("fcpxml"))
    root, frame = fcpxml_frames(fcpxml)
    assert frame == Fraction(1, 25)
    fmt = root.find("resources/format")
    assert fmt is not None
    assert (fmt.get("width"), fmt.get("height")) == ("320", "240")  # the probed recording's
    asset = root.find("resources/asset")
    assert asset is not None
    assert (asset.get("src"), asset.get("hasVideo"), asset.get("hasAudio")) == (
        "source.mp4",
        "1",
        "1",
    )
    assert root.find("library/event/project/sequence/spine/asset-clip") is not None
    xml = await read_text(job, job.keys.timeline_export("xml"))
    assert "<pathurl>source.mp4</pathurl>" in xml
    assert "<width>320</width>" in xml


def ntsc_timeline(source_key: str) -> Timeline:
    ranges = [(9, 57, 0), (96, 150, 5), (181, 235, 2)]  # ~0.3-1.9 s, 3.2-5.0 s, 6.0-7.8 s
    return edit_timeline(
        NTSC, ranges, source_key=source_key, size=(320, 240), source_duration_sec=8.0
    )


async def test_a_review_revision_at_29_97_gets_its_own_exports(job: Job, sync_source: Path) -> None:
    await job.prepare(sync_source, None)
    await job.manifests.update(
        job.keys,
        RequestRevision(
            Revision(
                revision=2,
                requested_at=datetime.now(UTC),
                edits=1,
                cut_plan=job.keys.for_revision(2).cut_plan,
            )
        ),
    )
    keys = job.keys.for_revision(2)
    manifest = await job.manifests.get(job.keys)
    assert manifest.input is not None
    timeline = ntsc_timeline(manifest.input.key)
    plan = CutPlan(
        duration_sec=8.0,
        regions=[PlanRegion(start=0.0, end=8.0, action="keep", reason="speech")],
        stats=PlanStats(
            source_duration_sec=8.0,
            kept_duration_sec=8.0,
            removed_duration_sec=0,
            cuts_by_reason={},
        ),
    )
    words = [Word(start=0.4, end=0.9, word=" Hello", probability=0.9)]
    words.append(Word(start=3.5, end=4.0, word=" again.", probability=0.9))
    said = Transcript(
        language="en",
        duration_sec=8.0,
        model="tiny.en",
        segments=[Segment(id=0, start=0.4, end=4.0, text="", words=words)],
    )
    await job.storage.write_bytes(keys.timeline, timeline.to_json_bytes())
    await job.storage.write_bytes(keys.cut_plan, plan.to_json_bytes())
    await job.storage.write_bytes(job.keys.transcript_json, said.to_json_bytes())

    await run(job, 2, JobOptions(), "timeline-export")

    manifest = await job.manifests.get(job.keys)
    assert manifest.exports == []  # the automatic edit's are not touched
    entry = manifest.revision(2)
    assert entry is not None
    assert [e.key for e in entry.exports] == [
        f"{job.keys.prefix}revisions/2/exports/timeline.{fmt}" for fmt in EXPORT_FORMATS
    ]
    for export in entry.exports:
        text = await read_text(job, export.key)
        check_ranges(export.format, text, timeline)
    _, frame = fcpxml_frames(await read_text(job, keys.timeline_export("fcpxml")))
    assert frame == Fraction(1001, 30000)
    edl = await read_text(job, keys.timeline_export("edl"))
    assert edl.splitlines()[1] == "FCM: DROP FRAME"
    assert ";" in edl.splitlines()[3]


@pytest.mark.parametrize("missing", ["timeline", "cut plan"])
async def test_a_missing_input_is_the_steps_clear_error(
    job: Job, sync_source: Path, missing: str
) -> None:
    from talkavocado_common.steps import StepError

    await job.prepare(sync_source, None if missing == "timeline" else ntsc_timeline("k"))
    with pytest.raises(StepError, match=f"the {missing} is missing"):
        await run(job, None, JobOptions(), "timeline-export")
