"""Artifacts the media steps exchange: audio analysis, transcript, cut plan, timeline.

Times are seconds on the source recording unless a field says otherwise.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic.dataclasses import dataclass

from .base import RECORD_CONFIG, ContractModel

_Seconds = Annotated[float, Field(ge=0)]


@dataclass(config=RECORD_CONFIG, frozen=True, slots=True)
class Interval:
    start: _Seconds
    end: _Seconds

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if self.end < self.start:
            raise ValueError(f"interval ends ({self.end}) before it starts ({self.start})")
        return self

    @property
    def duration(self) -> float:
        return self.end - self.start


class AudioAnalysis(ContractModel):
    """audio/analysis.json: what the audio step measured."""

    duration_sec: float = Field(ge=0)
    sample_rate: int = Field(gt=0, description="Sample rate of the analysed (ASR) audio.")
    integrated_lufs: float | None = Field(
        description="EBU R128 integrated loudness; null if silent."
    )
    noise_floor_db: float = Field(
        description="Level of the recording's quiet background (dBFS RMS)."
    )
    speech_level_db: float = Field(description="Typical level of the loud parts (dBFS RMS).")
    silence_threshold_db: float = Field(description="Frames below this level count as silence.")
    frame_ms: int = Field(gt=0, description="Analysis window length.")
    min_silence_ms: int = Field(gt=0, description="Shorter quiet stretches are not reported.")
    silences: list[Interval] = Field(description="Quiet stretches, in order, not overlapping.")
    true_peak_dbtp: float | None = Field(
        None, description="EBU R128 true peak of the recording (dBTP); null if not measured."
    )
    loudness_range_lu: float | None = Field(
        None, description="EBU R128 loudness range (LU); null if not measured."
    )
    loudness_threshold_lufs: float | None = Field(
        None,
        description="The relative gate of the integrated loudness measurement (LUFS); null if "
        "not measured.",
    )


@dataclass(config=RECORD_CONFIG, frozen=True, slots=True)
class Word:
    start: _Seconds
    end: _Seconds
    word: str
    probability: Annotated[float, Field(ge=0, le=1)]


class Segment(ContractModel):
    id: int = Field(ge=0)
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str
    words: list[Word]


class Transcript(ContractModel):
    """transcripts/transcript.json."""

    language: str
    duration_sec: float = Field(ge=0)
    model: str
    segments: list[Segment]
    speech: list[Interval] | None = Field(
        None,
        description="Stretches a voice-activity detector (Silero VAD) calls speech, in order, "
        "not overlapping; null when not measured. Sound outside them (breaths, clicks, room "
        "tone) is not speech.",
    )

    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]


CutReason = Literal[
    "speech",
    "pause",
    "filler",
    "unworded-sound",
    "leading-silence",
    "trailing-silence",
    "edited",  # a person changed the plan's decision here (planning.edits)
]


class PlanRegion(ContractModel):
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    action: Literal["keep", "cut"]
    reason: CutReason
    text: str | None = Field(None, description="The words this region removes, for filler cuts.")
    lead_silence_sec: float | None = Field(
        None,
        ge=0,
        description="Keep regions: quiet at the region's start before its first kept sound "
        "(a crossfade or fade there touches no word).",
    )
    trail_silence_sec: float | None = Field(
        None, ge=0, description="Keep regions: quiet at the region's end after its last kept sound."
    )


@dataclass(config=RECORD_CONFIG, frozen=True, slots=True)
class PlanWord:
    """A transcript word as the plan decided it: where its sound is, and whether it stays."""

    start: _Seconds
    end: _Seconds
    word: str
    action: Literal["keep", "cut"]


class PlanStats(ContractModel):
    source_duration_sec: float = Field(ge=0)
    kept_duration_sec: float = Field(ge=0)
    removed_duration_sec: float = Field(ge=0)
    cuts_by_reason: dict[str, int]


class CutPlan(ContractModel):
    """plan/cut_plan.json: keep/cut regions covering the whole source, with a reason for each."""

    duration_sec: float = Field(ge=0)
    regions: list[PlanRegion]
    stats: PlanStats
    words: list[PlanWord] | None = Field(
        None,
        description="Every transcript word in order, timed to the sound it was matched to and "
        "kept or cut with it: the subtitles show exactly the kept ones. Null in older plans.",
    )


class FrameRate(ContractModel):
    num: int = Field(gt=0)
    den: int = Field(gt=0)

    @property
    def fps(self) -> float:
        return self.num / self.den


class TimelineClip(ContractModel):
    """A kept range of the source, frame-aligned, and where it lands on the edited timeline."""

    source_start_frame: int = Field(ge=0)
    source_end_frame: int = Field(gt=0, description="Exclusive.")
    source_start: float = Field(ge=0)
    source_end: float = Field(ge=0)
    timeline_start: float = Field(ge=0)
    transition_in_sec: float = Field(
        0.0, ge=0, description="Crossfade with the previous clip; it overlaps that clip's end."
    )
    lead_silence_sec: float | None = Field(
        None, ge=0, description="Quiet at the clip's start before its first kept sound."
    )
    trail_silence_sec: float | None = Field(
        None, ge=0, description="Quiet at the clip's end after its last kept sound."
    )


class Timeline(ContractModel):
    """plan/timeline.json: the edit decision list that the render encodes once."""

    source_key: str
    frame_rate: FrameRate
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    has_audio: bool
    source_duration_sec: float = Field(ge=0)
    clips: list[TimelineClip] = Field(min_length=1)
    duration_sec: float = Field(ge=0, description="Length of the edited timeline.")
