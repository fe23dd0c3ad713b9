"""Did Whisper skip the start of a window? The voice-activity detector says where speech is.

Prompted at a window's start, tiny.en sometimes begins its text several seconds into the window,
silently dropping what was said before (as if the prompt had already said it). Speech the VAD
heard before the window's first word is the tell; the engine then runs the window unprompted.
"""

from __future__ import annotations

from collections.abc import Sequence

from .merge import TimedSegment
from .windows import Window

ONSET_SLACK_SEC = 0.5  # Whisper's first word may start this much after the speech onset
SKIPPED_SPEECH_SEC = 1.5  # more unworded speech than this at the start: words were dropped


def speech_before_first_word(
    segments: Sequence[TimedSegment],
    speech: Sequence[tuple[float, float]],
    window: Window,
) -> float:
    """Seconds of VAD speech in the window before its first word (less the slack); all of the
    window's speech when it has no word."""
    first = next((w.start for s in segments for w in s.words), window.end + ONSET_SLACK_SEC)
    until = min(window.end, first - ONSET_SLACK_SEC)
    return sum(max(0.0, min(b, until) - max(a, window.start)) for a, b in speech)


def skipped_start(
    segments: Sequence[TimedSegment],
    speech: Sequence[tuple[float, float]],
    window: Window,
) -> bool:
    return speech_before_first_word(segments, speech, window) > SKIPPED_SPEECH_SEC
