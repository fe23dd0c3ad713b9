"""Every manifest change touches only the fields its writer owns (talkavocado_common.
manifest_changes.WRITES), keeps what other writers recorded, and can be applied again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from talkavocado_common.manifest_changes import (
    WRITES,
    ManifestChange,
    RecordAudio,
    RecordCutPlan,
    RecordExports,
    RecordRenders,
    RecordStep,
    RecordSubtitles,
    RecordTimeline,
    RecordTranscript,
    RequestRevision,
    SetStatus,
)
from talkavocado_common.models import (
    AudioArtifacts,
    ErrorCode,
    ErrorInfo,
    ExportArtifact,
    InputInfo,
    JobStatus,
    Manifest,
    PlanArtifacts,
    RenderArtifact,
    Revision,
    StepRecord,
    StepStatus,
    SubtitleArtifact,
    TranscriptArtifacts,
)
from talkavocado_common.topology import STEPS

T0 = datetime(2026, 1, 1, tzinfo=UTC)
K = "e/t/j/"


def full_manifest() -> Manifest:
    """A manifest with every field already set by someone, so a change that clobbers another
    writer's field shows."""
    return Manifest(
        job_id="j",
        tenant_id="t",
        env="e",
        status=JobStatus.PROCESSING,
        input=InputInfo(key=K + "input/a.mp4", original_filename="a.mp4", bytes=1, mime_type="v"),
        audio=AudioArtifacts(mp3=K + "old.mp3", wav=K + "old.wav", analysis=K + "old.json"),
        transcript=TranscriptArtifacts(json_key=K + "t.json", srt=K + "t.srt", vtt=K + "t.vtt"),
        plan=PlanArtifacts(cut_plan=K + "old-plan.json", timeline=K + "old-timeline.json"),
        renders=[
            RenderArtifact(
                key=K + "r.mp4", kind="final", duration_sec=1, width=2, height=2, bytes=1
            )
        ],
        subtitles=[SubtitleArtifact(key=K + "s.srt", format="srt", kind="source")],
        exports=[ExportArtifact(key=K + "exports/old.edl", format="edl")],
        steps={"x": StepRecord(status=StepStatus.SUCCEEDED, attempts=1, started_at=T0)},
        revisions=[
            Revision(
                revision=2,
                requested_at=T0,
                edits=1,
                cut_plan=K + "revisions/2/plan/cut_plan.json",
                timeline=K + "revisions/2/plan/old-timeline.json",
                renders=[
                    RenderArtifact(
                        key=K + "revisions/2/r.mp4",
                        kind="final",
                        duration_sec=1,
                        width=2,
                        height=2,
                        bytes=1,
                    )
                ],
                subtitles=[
                    SubtitleArtifact(key=K + "revisions/2/s.srt", format="srt", kind="final")
                ],
            )
        ],
        created_at=T0,
        updated_at=T0,
    )


CHANGES: list[ManifestChange] = [
    SetStatus(JobStatus.FAILED, ErrorInfo(code=ErrorCode.INTERNAL, message="m", step="s")),
    RecordStep(
        "audio-extraction",
        StepRecord(status=StepStatus.RUNNING, attempts=2, started_at=T0),
        "audio-extraction started",
        "info",
        T0,
    ),
    RecordAudio(AudioArtifacts(mp3=K + "a.mp3", wav=K + "a.wav", analysis=K + "a.json")),
    RecordTranscript(
        TranscriptArtifacts(json_key=K + "n.json", srt=K + "n.srt", vtt=K + "n.vtt"),
        (SubtitleArtifact(key=K + "n.srt", format="srt", kind="source"),),
    ),
    RecordCutPlan(K + "plan/cut_plan.json"),
    RecordTimeline(K + "plan/timeline.json"),
    RecordTimeline(K + "plan/timeline.json", "video-transitions"),
    RecordSubtitles((SubtitleArtifact(key=K + "f.srt", format="srt", kind="final"),)),
    RecordExports((ExportArtifact(key=K + "exports/timeline.otio", format="otio"),)),
    RecordExports(
        (ExportArtifact(key=K + "revisions/2/exports/timeline.xml", format="xml"),), revision=2
    ),
    RecordRenders(
        (RenderArtifact(key=K + "r.mp4", kind="final", duration_sec=2, width=4, height=4, bytes=9),)
    ),
    RecordTimeline(K + "revisions/2/plan/timeline.json", revision=2),
    RecordTimeline(K + "revisions/2/plan/timeline.json", "video-transitions", revision=2),
    RecordSubtitles(
        (SubtitleArtifact(key=K + "revisions/2/f.srt", format="srt", kind="final"),), revision=2
    ),
    RecordRenders(
        (
            RenderArtifact(
                key=K + "revisions/2/r.mp4",
                kind="final",
                duration_sec=2,
                width=4,
                height=4,
                bytes=9,
            ),
        ),
        revision=2,
    ),
    RequestRevision(
        Revision(revision=3, requested_at=T0, edits=2, cut_plan=K + "revisions/3/plan/c.json")
    ),
]


def changed_fields(before: Manifest, after: Manifest) -> set[str]:
    old: dict[str, Any] = before.model_dump()
    new: dict[str, Any] = after.model_dump()
    fields = {name for name in old if old[name] != new[name]}
    if "plan" in fields:
        fields.remove("plan")
        fields |= {f"plan.{k}" for k in old["plan"] if old["plan"][k] != new["plan"][k]}
    if "revisions" in fields:
        before_entries = {r["revision"]: r for r in old["revisions"]}
        after_entries = {r["revision"]: r for r in new["revisions"]}
        if set(before_entries) == set(after_entries):  # entries changed, none added
            fields.remove("revisions")
            for number, entry in after_entries.items():
                was = before_entries[number]
                fields |= {f"revisions.{k}" for k in entry if entry[k] != was[k]}
    return fields


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: f"{type(c).__name__}-{c.writer}")
def test_a_change_touches_only_its_writers_fields(change: ManifestChange) -> None:
    before = full_manifest()
    after = change(before)
    touched = changed_fields(before, after)
    assert touched, "the change changes something"
    assert touched <= WRITES[change.writer], f"{change.writer} wrote {touched}"


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: f"{type(c).__name__}-{c.writer}")
def test_applying_a_change_again_changes_nothing_more(change: ManifestChange) -> None:
    once = change(full_manifest())
    if isinstance(change, RecordStep):  # a log line per call: the one append-only field
        assert len(change(once).logs) == len(once.logs) + 1
        return
    assert change(once) == once


def test_artifact_lists_are_replaced_by_key_not_appended() -> None:
    renders = next(c for c in CHANGES if isinstance(c, RecordRenders) and c.revision is None)
    after = renders(full_manifest())
    assert [r.key for r in after.renders] == [K + "r.mp4"]
    assert after.renders[0].bytes == 9
    subtitles = RecordSubtitles((SubtitleArtifact(key=K + "s.srt", format="srt", kind="final"),))
    assert [(s.key, s.kind) for s in subtitles(full_manifest()).subtitles] == [
        (K + "s.srt", "final")
    ]


def test_every_step_and_every_writer_is_in_the_table() -> None:
    assert {step.name for step in STEPS} <= set(WRITES)
    assert {change.writer for change in CHANGES} <= set(WRITES)
    assert set(WRITES) - {step.name for step in STEPS} == {"api", "orchestrator", "step-runner"}


def test_the_apis_upload_claim_transitions_touch_only_the_apis_fields() -> None:
    """The API's changes are the upload claim's pure transitions (talkavocado_api.usecases)."""
    from talkavocado_api.usecases.control import cancel_before_upload
    from talkavocado_api.usecases.upload_claim import claim, finish

    pending = full_manifest().model_copy(update={"status": JobStatus.PENDING, "steps": {}})
    started = datetime.now(UTC)
    claimed = claim(started, timedelta(minutes=5))(pending)
    error = ErrorInfo(code=ErrorCode.INPUT_INVALID, message="not media", step="upload")
    ends = [
        finish(started, StepStatus.SUCCEEDED, "info", "uploaded")(claimed),
        finish(started, StepStatus.FAILED, "warning", "client went away")(claimed),
        finish(
            started,
            StepStatus.FAILED,
            "error",
            "rejected",
            {"status": JobStatus.FAILED, "error": error},
        )(claimed),
    ]
    for before, after in [(pending, claimed), *((claimed, end) for end in ends)]:
        assert changed_fields(before, after) <= WRITES["api"]
    assert changed_fields(pending, cancel_before_upload(pending)) <= WRITES["api"]
    assert "status" in changed_fields(claimed, ends[2])


def test_a_job_that_ends_closes_the_records_of_steps_still_running() -> None:
    running = StepRecord(status=StepStatus.RUNNING, attempts=1, started_at=T0, run="r1")
    before = full_manifest().model_copy(update={"steps": {**full_manifest().steps, "y": running}})
    for status, closed in (
        (JobStatus.CANCELLED, StepStatus.CANCELLED),
        (JobStatus.FAILED, StepStatus.FAILED),
    ):
        after = SetStatus(status, None)(before)
        assert after.steps["y"] == running.model_copy(update={"status": closed})
        assert after.steps["x"] == before.steps["x"]  # a finished step's record is kept
        assert SetStatus(status, None)(after) == after
    # A job that goes on (or back to) processing leaves the running step alone.
    assert SetStatus(JobStatus.PROCESSING, None)(before).steps == before.steps


def test_a_revisions_records_go_to_its_entry_and_a_missing_entry_is_an_error() -> None:
    manifest = full_manifest()
    renders = RecordRenders(
        (
            RenderArtifact(
                key=K + "revisions/2/n.mp4",
                kind="final",
                duration_sec=3,
                width=4,
                height=4,
                bytes=9,
            ),
        ),
        revision=2,
    )(manifest)
    entry = renders.revision(2)
    assert entry is not None
    assert [r.key for r in entry.renders] == [K + "revisions/2/r.mp4", K + "revisions/2/n.mp4"]
    assert renders.renders == manifest.renders  # the automatic edit's stay as they were
    with pytest.raises(ValueError, match="revision 5 is not in the manifest"):
        RecordTimeline(K + "t.json", revision=5)(manifest)
    # A repeated render request adds nothing.
    again = RequestRevision(
        Revision(revision=2, requested_at=T0, edits=9, cut_plan=K + "other.json")
    )(manifest)
    assert again == manifest
