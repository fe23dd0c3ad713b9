"""Pure logic of the transcription step: model resolution, prompt, the audio step's analysis
→ pauses, Whisper output → Transcript."""

from .convert import WhisperSegmentLike, WhisperWordLike, to_transcript, transcript_cue_words
from .model import DEFAULT_MODEL, VERBATIM_PROMPT, ModelSource, initial_prompt, resolve_model
from .silence import (
    MIN_SILENCE_SEC,
    is_silent,
    pauses_for_tightening,
    tighten_words,
)

__all__ = [
    "DEFAULT_MODEL",
    "MIN_SILENCE_SEC",
    "VERBATIM_PROMPT",
    "ModelSource",
    "WhisperSegmentLike",
    "WhisperWordLike",
    "initial_prompt",
    "is_silent",
    "pauses_for_tightening",
    "resolve_model",
    "tighten_words",
    "to_transcript",
    "transcript_cue_words",
]
