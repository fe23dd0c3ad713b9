"""Pure logic of the transcription step: model resolution, prompt, Whisper output → Transcript."""

from .convert import WhisperSegmentLike, WhisperWordLike, to_transcript, transcript_cue_words
from .model import DEFAULT_MODEL, VERBATIM_PROMPT, ModelSource, initial_prompt, resolve_model
from .silence import find_silences, frame_levels_db, tighten_words

__all__ = [
    "DEFAULT_MODEL",
    "VERBATIM_PROMPT",
    "ModelSource",
    "WhisperSegmentLike",
    "WhisperWordLike",
    "find_silences",
    "frame_levels_db",
    "initial_prompt",
    "resolve_model",
    "tighten_words",
    "to_transcript",
    "transcript_cue_words",
]
