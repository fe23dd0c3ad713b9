"""Every storage key is built and checked here: `{env}/{tenantId}/{jobId}/...` (docs/architecture.md §6)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

TENANT_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-_]{0,62}[a-z0-9])?$")
# env and job ids are ours to mint but may arrive from outside: same shape, more length.
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$")
SEGMENT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._ -]{0,254}$")
# The index of active jobs sits beside the tenants: `{env}/_active/{tenantId}/{jobId}`. A tenant id
# cannot start with '_', so no tenant's prefix ever holds it or lies under it.
ACTIVE_SEGMENT = "_active"


# Revision 1 is the automatic edit (its outputs at the job's own keys); a review's re-renders
# count from 2.
FIRST_REVIEW_REVISION = 2


class InvalidKey(ValueError):
    """A tenant id, job id or path that would leave its prefix, or is malformed."""


def validate_tenant_id(tenant_id: str) -> str:
    if not isinstance(tenant_id, str) or not TENANT_ID_RE.fullmatch(tenant_id):
        raise InvalidKey(
            f"invalid tenant id {tenant_id!r}: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting and ending with a letter or digit"
        )
    return tenant_id


def _validate_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not NAME_RE.fullmatch(value) or ".." in value:
        raise InvalidKey(f"invalid {kind} {value!r}")
    return value


def validate_relative_path(path: str) -> str:
    """A path below a prefix: no absolute path, no '..', no empty or hidden-dot segments."""
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
        raise InvalidKey(f"invalid path {path!r}: must be relative")
    segments = path.split("/")
    for segment in segments:
        if segment in ("", ".", "..") or not SEGMENT_RE.fullmatch(segment):
            raise InvalidKey(f"invalid path {path!r}: bad segment {segment!r}")
    return path


def build_key(env: str, tenant_id: str, *parts: str) -> str:
    """The one key builder: validated env, tenant and relative parts joined under the tenant."""
    _validate_name("env", env)
    validate_tenant_id(tenant_id)
    rel = "/".join(validate_relative_path(p) for p in parts)
    return f"{env}/{tenant_id}/{rel}"


@dataclass(frozen=True)
class JobKeys:
    """All keys of one job. Construction validates; every property stays under `prefix`.

    With a `revision` (a review's re-render, 2 and up), the edit's outputs — cut plan, timeline,
    final subtitles, timeline exports, renders — are that revision's, under `revisions/<n>/`; the recording, its
    audio, transcript and the manifest are the job's own."""

    env: str
    tenant_id: str
    job_id: str
    revision: int | None = None

    def __post_init__(self) -> None:
        _validate_name("env", self.env)
        validate_tenant_id(self.tenant_id)
        _validate_name("job id", self.job_id)
        if self.revision is not None and (
            isinstance(self.revision, bool) or not isinstance(self.revision, int)
        ):
            raise InvalidKey(f"revision must be a whole number, not {self.revision!r}")
        if self.revision is not None and self.revision < FIRST_REVIEW_REVISION:
            raise InvalidKey(f"revision {self.revision}: reviews count from 2")

    def for_revision(self, revision: int | None) -> JobKeys:
        """These keys with the edit's outputs of `revision` (None or 1: the automatic edit's)."""
        wanted = None if revision in (None, 1) else revision
        return self if wanted == self.revision else replace(self, revision=wanted)

    def _edit(self, relative: str) -> str:
        if self.revision is None:
            return self.key(relative)
        return self.key(f"revisions/{self.revision}/{relative}")

    @property
    def prefix(self) -> str:
        return f"{self.env}/{self.tenant_id}/{self.job_id}/"

    def key(self, relative: str) -> str:
        """A key under the job prefix; refuses anything that would leave it."""
        return build_key(self.env, self.tenant_id, self.job_id, relative)

    def owns(self, key: str) -> bool:
        return key.startswith(self.prefix) and ".." not in key.split("/")

    @property
    def manifest(self) -> str:
        return self.key("manifest.json")

    @property
    def active(self) -> str:
        """The job's entry in the index of active jobs (outside the job and tenant prefixes)."""
        return f"{active_prefix(self.env)}{self.tenant_id}/{self.job_id}"

    def input(self, filename: str) -> str:
        return self.key(f"input/{safe_filename(filename)}")

    @property
    def audio_mp3(self) -> str:
        return self.key(f"audio/{self.job_id}.mp3")

    @property
    def audio_wav(self) -> str:
        return self.key("audio/asr-16k-mono.wav")

    @property
    def audio_analysis(self) -> str:
        return self.key("audio/analysis.json")

    @property
    def transcript_json(self) -> str:
        return self.key("transcripts/transcript.json")

    def source_captions(self, fmt: Literal["srt", "vtt"]) -> str:
        return self.key(f"transcripts/captions.source.{fmt}")

    @property
    def cut_plan(self) -> str:
        return self._edit("plan/cut_plan.json")

    @property
    def timeline(self) -> str:
        return self._edit("plan/timeline.json")

    def final_subtitles(self, fmt: Literal["srt", "vtt"]) -> str:
        return self._edit(f"subtitles/final.{fmt}")

    def timeline_export(self, fmt: Literal["otio", "fcpxml", "xml", "edl"]) -> str:
        """The edit as a timeline for an editing program (the timeline-export step)."""
        return self._edit(f"exports/timeline.{fmt}")

    @property
    def plan_edits(self) -> str:
        """A person's edits over the automatic plan (the review app), job-wide."""
        return self.key("plan/edits.json")

    @property
    def final_render(self) -> str:
        return self._edit("renders/final.mp4")

    @property
    def preview_render(self) -> str:
        return self._edit("renders/preview.mp4")

    def branding_asset(self, name: str) -> str:
        return build_key(
            self.env, self.tenant_id, "assets", "branding", validate_relative_path(name)
        )


def active_prefix(env: str) -> str:
    """Where the index of one environment's active jobs lives: one small object per job."""
    _validate_name("env", env)
    return f"{env}/{ACTIVE_SEGMENT}/"


def parse_active_key(key: str) -> JobKeys | None:
    """The job an index key names (`{env}/_active/{tenantId}/{jobId}`), or None for anything
    else: a malformed key is skipped, never followed outside its prefix."""
    parts = key.split("/")
    if len(parts) != 4 or parts[1] != ACTIVE_SEGMENT:
        return None
    try:
        return JobKeys(parts[0], parts[2], parts[3])
    except InvalidKey:
        return None


def safe_filename(filename: str) -> str:
    """A client's file name reduced to one safe path segment (keeps the extension)."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")[:120]
    return cleaned or "upload"
