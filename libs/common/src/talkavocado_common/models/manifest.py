"""manifest.json: the job's durable record (docs/architecture.md §6)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from .base import ContractModel
from .errors import ErrorCode
from .options import JobOptions

SCHEMA_VERSION = "1.0.0"


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the job was cancelled while the step ran


class InputInfo(ContractModel):
    key: str
    original_filename: str
    bytes: int = Field(ge=0)
    mime_type: str


class AudioArtifacts(ContractModel):
    mp3: str
    wav: str
    analysis: str


class TranscriptArtifacts(ContractModel):
    json_key: str = Field(alias="json")
    srt: str
    vtt: str


class PlanArtifacts(ContractModel):
    cut_plan: str | None = None
    timeline: str | None = None


class RenderArtifact(ContractModel):
    key: str
    kind: Literal["final", "preview"]
    duration_sec: float = Field(ge=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    bytes: int = Field(ge=0)
    render_path: Literal["smart", "full", "segmented"] | None = Field(
        None,
        description="How the final render was made: 'smart' copied the source's GOPs and "
        "re-encoded only the partial GOPs at the cuts; 'full' decoded and encoded every frame; "
        "'segmented' encoded every frame in segments spread over the render workers, joined "
        "by stream copy.",
    )
    render_reason: str | None = Field(
        None,
        max_length=500,
        description="Why that path ran: what the smart render copied, or why the edit took "
        "the full encode (an effect on the picture, the source's codec or timing, a failure).",
    )


class SubtitleArtifact(ContractModel):
    key: str
    format: Literal["srt", "vtt"]
    kind: Literal["source", "final"]


class ExportArtifact(ContractModel):
    """An editable timeline of the edit (the timeline-export step), for an editing program."""

    key: str
    format: Literal["otio", "fcpxml", "xml", "edl"] = Field(
        description="otio: OpenTimelineIO; fcpxml: Final Cut Pro X / DaVinci Resolve; xml: "
        "Final Cut Pro 7 XML (Premiere Pro, Resolve, Kdenlive); edl: CMX 3600."
    )


class StepRecord(ContractModel):
    status: StepStatus
    attempts: int = Field(ge=1)
    started_at: datetime
    finished_at: datetime | None = None
    duration_sec: float | None = Field(None, ge=0)
    run: str | None = Field(
        None,
        max_length=100,
        description="Token of the execution that wrote this record (a worker running the "
        "attempt). An execution that finds another token here has been superseded and stops.",
    )


class LogEntry(ContractModel):
    time: datetime
    level: Literal["info", "warning", "error"]
    step: str | None = None
    message: str


class ErrorInfo(ContractModel):
    code: ErrorCode
    message: str
    step: str | None = None


class Revision(ContractModel):
    """A review's re-render of the edit from a person's adjusted cut plan (revision 1, the
    automatic edit, is the manifest's own `plan`, `renders` and `subtitles`)."""

    revision: int = Field(ge=2)
    requested_at: datetime
    edits: int = Field(ge=0, description="How many keep/cut edits the adjusted plan holds.")
    cut_plan: str = Field(description="The adjusted plan this revision renders.")
    timeline: str | None = None
    renders: list[RenderArtifact] = Field(default_factory=list)
    subtitles: list[SubtitleArtifact] = Field(default_factory=list)
    exports: list[ExportArtifact] = Field(default_factory=list)


class Manifest(ContractModel):
    schema_version: str = Field(SCHEMA_VERSION, pattern=r"^\d+\.\d+\.\d+$")
    job_id: str
    tenant_id: str
    env: str
    status: JobStatus
    options: JobOptions = Field(default_factory=JobOptions)
    input: InputInfo | None = None
    audio: AudioArtifacts | None = None
    transcript: TranscriptArtifacts | None = None
    plan: PlanArtifacts = Field(default_factory=PlanArtifacts)
    renders: list[RenderArtifact] = Field(default_factory=list)
    subtitles: list[SubtitleArtifact] = Field(default_factory=list)
    exports: list[ExportArtifact] = Field(
        default_factory=list, description="The edit as timelines for editing programs."
    )
    revisions: list[Revision] = Field(
        default_factory=list, description="Review revisions, oldest first (revision 2 on)."
    )
    steps: dict[str, StepRecord] = Field(default_factory=dict)
    logs: list[LogEntry] = Field(default_factory=list)
    error: ErrorInfo | None = None
    created_at: datetime
    updated_at: datetime

    def revision(self, number: int) -> Revision | None:
        return next((r for r in self.revisions if r.revision == number), None)
