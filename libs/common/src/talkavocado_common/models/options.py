"""Job options: what a client may ask of the pipeline. Every field has a default."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from .base import ContractModel

DEFAULT_FILLERS: tuple[str, ...] = (
    "um",
    "umm",
    "uh",
    "uhm",
    "erm",
    "er",
    "ah",
    "hmm",
    "you know",
    "i mean",
)


# Bounds of `planner.fillers`: the planner matches every phrase at every word.
MAX_FILLERS = 100
MAX_FILLER_CHARS = 40
MAX_FILLER_WORDS = 4
# One filler as the schema declares it: 1-4 words, white space anywhere (it is collapsed).
FILLER_PATTERN = rf"^\s*\S+(?:\s+\S+){{0,{MAX_FILLER_WORDS - 1}}}\s*$"
# White space as that pattern means it (JSON Schema patterns are ECMA-262 regular expressions):
# words are counted and collapsed by it, not by str.split(), which also splits at \x1c-\x1f
# and \x85 and so would refuse a filler the schema accepts (schemathesis found one).
_SCHEMA_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_SCHEMA_WORD = re.compile(f"[^{_SCHEMA_SPACE}]+")


def schema_words(text: str) -> list[str]:
    """`text`'s words, split where FILLER_PATTERN's \\s matches."""
    return _SCHEMA_WORD.findall(text)


class PlannerOptions(ContractModel):
    """Settings of the smart cut planner."""

    min_pause_ms: int = Field(
        1000, ge=100, le=60_000, description="Pauses longer than this are shortened."
    )
    target_pause_ms: int = Field(
        400,
        ge=0,
        le=5_000,
        description="Gap left where a long pause or a filler was cut (a natural gap).",
    )
    padding_ms: int = Field(
        120, ge=0, le=1_000, description="Sound kept on each side of every kept word, at least."
    )
    remove_fillers: bool = True
    fillers: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FILLERS),
        max_length=MAX_FILLERS,
        json_schema_extra={
            "items": {"type": "string", "maxLength": MAX_FILLER_CHARS, "pattern": FILLER_PATTERN}
        },
        description=f"Filler words and phrases (case-insensitive, punctuation ignored); at most "
        f"{MAX_FILLERS}, each at most {MAX_FILLER_CHARS} characters and {MAX_FILLER_WORDS} words.",
    )
    detect_unworded_sounds: bool = Field(
        True,
        description="Cut short sounds between pauses that the transcript has no word for "
        "(Whisper often leaves 'um'/'uh' out of the text).",
    )
    max_unworded_sound_ms: int = Field(
        900, ge=0, le=5_000, description="Longer unworded sounds are kept (they may be speech)."
    )

    @field_validator("fillers")
    @classmethod
    def _normalise_fillers(cls, value: list[str]) -> list[str]:
        # Checked as sent (the schema's maxLength and pattern), then normalised.
        words = [schema_words(f) for f in value]
        if any(not w for w in words):
            raise ValueError("filler entries must not be empty")
        for filler, its_words in zip(value, words, strict=True):
            if len(filler) > MAX_FILLER_CHARS or len(its_words) > MAX_FILLER_WORDS:
                raise ValueError(
                    f"each filler is at most {MAX_FILLER_CHARS} characters and "
                    f"{MAX_FILLER_WORDS} words; {filler[:MAX_FILLER_CHARS]!r} is longer"
                )
        return [" ".join(w).lower() for w in words]


class TransitionOptions(ContractModel):
    enabled: bool = False
    duration_ms: int = Field(200, ge=40, le=2_000, description="Crossfade length at each join.")


SubtitleFormat = Literal["srt", "vtt"]


def _both_formats() -> list[SubtitleFormat]:
    return ["srt", "vtt"]


class SubtitleOptions(ContractModel):
    burn_in: bool = False
    formats: list[SubtitleFormat] = Field(default_factory=_both_formats, min_length=1)
    max_chars_per_line: int = Field(42, ge=10, le=80)
    max_lines_per_cue: int = Field(2, ge=1, le=3)


LogoPosition = Literal["top-left", "top-right", "bottom-left", "bottom-right"]


class LogoOptions(ContractModel):
    asset: str = Field(description="File name under the tenant's branding assets.")
    position: LogoPosition = "top-right"
    opacity: float = Field(0.8, ge=0.0, le=1.0)
    scale: float = Field(
        0.15, gt=0.0, le=1.0, description="Logo width as a fraction of the video width."
    )
    margin: float = Field(
        0.03, ge=0.0, le=0.25, description="Margin as a fraction of the video width."
    )


class BrandingOptions(ContractModel):
    intro: str | None = Field(
        None, description="Intro clip: file name under the tenant's branding assets."
    )
    outro: str | None = Field(
        None, description="Outro clip: file name under the tenant's branding assets."
    )
    logo: LogoOptions | None = None


class TranscriptionOptions(ContractModel):
    model: str = Field("tiny.en", description="faster-whisper model name or local path.")
    language: str | None = Field(
        "en", description="Spoken language; null lets the model detect it."
    )
    verbatim_prompt: bool = Field(
        True, description="Prompt the model to keep disfluencies such as 'um' in the text."
    )
    beam_size: int = Field(5, ge=1, le=10)


class AudioOptions(ContractModel):
    """The finish of the edited sound (applied in the one final encode)."""

    loudness: float | Literal["off"] = Field(
        -16.0,
        description="Target integrated loudness of the edit in LUFS (EBU R128), or 'off' to "
        "leave the level as recorded. -16 suits online video and podcasts, -23 broadcast.",
        json_schema_extra={
            "anyOf": [
                {"type": "number", "minimum": -40.0, "maximum": -5.0},
                {"type": "string", "const": "off"},
            ]
        },
    )
    true_peak_db: float = Field(
        -1.5, ge=-9.0, le=0.0, description="Ceiling of the true peak after normalisation (dBTP)."
    )

    @field_validator("loudness", mode="before")
    @classmethod
    def _loudness_target_or_off(cls, value: object) -> object:
        # Checked before the union so a mistake reads as one sentence about the field, not
        # one error per member of `float | "off"`.
        if value == "off":
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("loudness is a target in LUFS (-40 to -5) or 'off'")
        if not -40.0 <= value <= -5.0:
            raise ValueError("loudness target must lie between -40 and -5 LUFS, or be 'off'")
        return value


class RenderOptions(ContractModel):
    crf: int = Field(20, ge=0, le=51, description="x264 constant rate factor.")
    preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower"
    ] = "veryfast"
    audio_bitrate_kbps: int = Field(160, ge=32, le=512)
    preview: bool = Field(False, description="Also write a low-resolution renders/preview.mp4.")


class JobOptions(ContractModel):
    planner: PlannerOptions = Field(default_factory=PlannerOptions)
    transitions: TransitionOptions = Field(default_factory=TransitionOptions)
    audio: AudioOptions = Field(default_factory=AudioOptions)
    subtitles: SubtitleOptions = Field(default_factory=SubtitleOptions)
    branding: BrandingOptions = Field(default_factory=BrandingOptions)
    transcription: TranscriptionOptions = Field(default_factory=TranscriptionOptions)
    render: RenderOptions = Field(default_factory=RenderOptions)
