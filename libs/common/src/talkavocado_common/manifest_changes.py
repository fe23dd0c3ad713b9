"""Every change a part of the platform makes to a job's manifest, as a typed value, and the one
table that says who writes which field.

A change is a frozen dataclass with `apply(manifest) -> manifest`; `ManifestStore.update` takes
it as is (it is callable). Each change touches only the fields `WRITES` gives its writer — a
test applies every change to a full manifest and compares — so two writers racing on one
manifest (the orchestrator setting the status while a step records its output) never undo each
other's fields, whatever the order of their compare-and-swap retries.

Status lives in two places on purpose: the orchestrator's row is the truth of where the job is
in the pipeline; the manifest's `status`/`error` is its durable, client-facing copy, written
only by the orchestrator (SetStatus) and, before a job has been submitted, by the API (its upload
claim's transitions in talkavocado_api.usecases, pure functions checked against this table too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, TypeVar

from .models import (
    AudioArtifacts,
    ErrorInfo,
    ExportArtifact,
    JobStatus,
    LogEntry,
    Manifest,
    RenderArtifact,
    Revision,
    StepRecord,
    StepStatus,
    SubtitleArtifact,
    TranscriptArtifacts,
)

# writer -> the top-level manifest fields its changes may set. "plan.x" names a field of plan,
# "revisions.x" that field of a review revision's entry ("revisions": a new entry).
WRITES: Mapping[str, frozenset[str]] = {
    # The upload claim's step record and log (talkavocado_api.usecases.upload_claim) and, before
    # the job is submitted, its status: rejected input, cancel before upload. A review's render
    # request adds the revision's entry.
    "api": frozenset({"steps", "logs", "status", "error", "revisions"}),
    # ... and, when a job ends, the records of steps still running (SetStatus).
    "orchestrator": frozenset({"status", "error", "steps"}),
    "step-runner": frozenset({"steps", "logs"}),
    "audio-extraction": frozenset({"audio"}),
    "transcription": frozenset({"transcript", "subtitles"}),
    "smart-cut-planner": frozenset({"plan.cut_plan"}),
    "video-cuts": frozenset({"plan.timeline", "revisions.timeline"}),
    "video-transitions": frozenset({"plan.timeline", "revisions.timeline"}),
    "subtitles-post-edit": frozenset({"subtitles", "revisions.subtitles"}),
    "timeline-export": frozenset({"exports", "revisions.exports"}),
    "branding-layer": frozenset({"renders", "revisions.renders"}),
}
# Writers that act for a step run: their changes are refused once the job has ended (a
# cancelled job gets nothing more from its steps; ManifestStore.update checks, under CAS).
STEP_WRITERS: frozenset[str] = frozenset(WRITES) - {"api", "orchestrator"}
# The statuses in which step writers are refused.
CLOSED_STATUSES: frozenset[JobStatus] = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
)


def refuses(writer: str | None, status: JobStatus) -> bool:
    """Whether a change by `writer` must be refused on a manifest in `status`: a step's writes
    into a job that has ended (cancelled, failed, completed)."""
    return writer in STEP_WRITERS and status in CLOSED_STATUSES


# How a job's end closes a step that is still running.
_CLOSED_STEP = {JobStatus.CANCELLED: StepStatus.CANCELLED, JobStatus.FAILED: StepStatus.FAILED}


@dataclass(frozen=True)
class SetStatus:
    """The job's status and error (None clears it): the orchestrator's transition commands.
    A job that ends cancelled or failed while a step runs closes that step's record too: the
    step's own last record is refused once the job has ended (step_runner.py), so it would
    otherwise say `running` for good."""

    status: JobStatus
    error: ErrorInfo | None
    writer: str = "orchestrator"

    def apply(self, m: Manifest) -> Manifest:
        update: dict[str, object] = {"status": self.status, "error": self.error}
        closed = _CLOSED_STEP.get(self.status)
        running = [n for n, r in m.steps.items() if r.status is StepStatus.RUNNING]
        if closed is not None and running:
            update["steps"] = {
                **m.steps,
                **{n: m.steps[n].model_copy(update={"status": closed}) for n in running},
            }
        return m.model_copy(update=update)

    __call__ = apply


@dataclass(frozen=True)
class RecordStep:
    """A step run's record and one log line (the step runner, around every handler)."""

    step: str
    record: StepRecord
    message: str
    level: Literal["info", "error"]
    time: datetime
    writer: str = "step-runner"

    def apply(self, m: Manifest) -> Manifest:
        entry = LogEntry(time=self.time, level=self.level, step=self.step, message=self.message)
        return m.model_copy(
            update={"steps": {**m.steps, self.step: self.record}, "logs": [*m.logs, entry]}
        )

    __call__ = apply


@dataclass(frozen=True)
class RecordAudio:
    artifacts: AudioArtifacts
    writer: str = "audio-extraction"

    def apply(self, m: Manifest) -> Manifest:
        return m.model_copy(update={"audio": self.artifacts})

    __call__ = apply


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


_K = TypeVar("_K", bound=_Keyed)


def _replace_by_key(current: Sequence[_K], ours: Sequence[_K]) -> list[_K]:
    """`ours` in place of the entries with the same keys: a rerun must not list a file twice."""
    mine = {a.key for a in ours}
    return [a for a in current if a.key not in mine] + list(ours)


@dataclass(frozen=True)
class RecordTranscript:
    transcript: TranscriptArtifacts
    captions: tuple[SubtitleArtifact, ...]
    writer: str = "transcription"

    def apply(self, m: Manifest) -> Manifest:
        return m.model_copy(
            update={
                "transcript": self.transcript,
                "subtitles": _replace_by_key(m.subtitles, self.captions),
            }
        )

    __call__ = apply


@dataclass(frozen=True)
class RecordCutPlan:
    key: str
    writer: str = "smart-cut-planner"

    def apply(self, m: Manifest) -> Manifest:
        return m.model_copy(update={"plan": m.plan.model_copy(update={"cut_plan": self.key})})

    __call__ = apply


def _in_revision(m: Manifest, number: int, update: Callable[[Revision], Revision]) -> Manifest:
    """The manifest with revision `number`'s entry updated (the API made the entry before it
    asked for the render, so a missing one is an error, not something to invent)."""
    if m.revision(number) is None:
        raise ValueError(f"revision {number} is not in the manifest of job {m.job_id}")
    revisions = [update(r) if r.revision == number else r for r in m.revisions]
    return m.model_copy(update={"revisions": revisions})


_Holder = TypeVar("_Holder", Manifest, Revision)


def _record_artifacts(
    m: Manifest, revision: int | None, field: str, ours: Sequence[_K]
) -> Manifest:
    """The manifest's list `field` (or revision `revision`'s) with `ours` in place of the
    entries with the same keys."""

    def replace(holder: _Holder) -> _Holder:
        return holder.model_copy(update={field: _replace_by_key(getattr(holder, field), ours)})

    return replace(m) if revision is None else _in_revision(m, revision, replace)


@dataclass(frozen=True)
class RecordTimeline:
    """The edit's timeline; with `revision`, that review revision's."""

    key: str
    writer: Literal["video-cuts", "video-transitions"] = "video-cuts"
    revision: int | None = None

    def apply(self, m: Manifest) -> Manifest:
        if self.revision is not None:
            return _in_revision(
                m, self.revision, lambda r: r.model_copy(update={"timeline": self.key})
            )
        return m.model_copy(update={"plan": m.plan.model_copy(update={"timeline": self.key})})

    __call__ = apply


@dataclass(frozen=True)
class RecordSubtitles:
    """The final subtitles; with `revision`, that review revision's."""

    subtitles: tuple[SubtitleArtifact, ...]
    writer: str = "subtitles-post-edit"
    revision: int | None = None

    def apply(self, m: Manifest) -> Manifest:
        return _record_artifacts(m, self.revision, "subtitles", self.subtitles)

    __call__ = apply


@dataclass(frozen=True)
class RecordExports:
    """The timeline exports; with `revision`, that review revision's."""

    exports: tuple[ExportArtifact, ...]
    writer: str = "timeline-export"
    revision: int | None = None

    def apply(self, m: Manifest) -> Manifest:
        return _record_artifacts(m, self.revision, "exports", self.exports)

    __call__ = apply


@dataclass(frozen=True)
class RecordRenders:
    """The renders; with `revision`, that review revision's."""

    renders: tuple[RenderArtifact, ...]
    writer: str = "branding-layer"
    revision: int | None = None

    def apply(self, m: Manifest) -> Manifest:
        return _record_artifacts(m, self.revision, "renders", self.renders)

    __call__ = apply


@dataclass(frozen=True)
class RequestRevision:
    """The API, accepting a review's render: the revision's entry (once; a repeat is a no-op)."""

    entry: Revision
    writer: str = "api"

    def apply(self, m: Manifest) -> Manifest:
        if m.revision(self.entry.revision) is not None:
            return m
        return m.model_copy(update={"revisions": [*m.revisions, self.entry]})

    __call__ = apply


StepChange = (
    RecordAudio
    | RecordTranscript
    | RecordCutPlan
    | RecordTimeline
    | RecordSubtitles
    | RecordExports
    | RecordRenders
)
ManifestChange = SetStatus | RecordStep | RequestRevision | StepChange
