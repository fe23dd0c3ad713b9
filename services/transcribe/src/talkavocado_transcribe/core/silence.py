"""Pull Whisper's word edges out of pauses, using the pauses the audio step measured.

Whisper's word timestamps smear across pauses: the first word after a pause often starts inside
it, the last word before one often ends well into it (by a second on generated speech). The
audio-extraction step has already measured the recording's silences against its own noise
floor (`audio/analysis.json`); this step does not measure again. Word edges that fall inside a
pause long enough to hold no word are moved to the pause's edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from talkavocado_common.models import AudioAnalysis, Word

MIN_SILENCE_SEC = 0.25  # shorter quiet stretches are stop closures and breaths inside speech
EDGE_MARGIN_SEC = 0.05  # quiet onsets and tails sit just below any threshold
_EPSILON = 1e-6  # the analysis' times are rounded to the millisecond


def pauses_for_tightening(
    analysis: AudioAnalysis, *, min_silence_sec: float = MIN_SILENCE_SEC
) -> list[tuple[float, float]]:
    """The analysis' silences, as (start, end) in seconds, that are long enough to be pauses.

    The audio step reports quiet stretches from 120 ms on (it must not miss a short pause for the
    cut planner); a word may hold a quiet stretch that short, so only the longer ones move edges.
    """
    return [
        (s.start, s.end) for s in analysis.silences if s.end - s.start >= min_silence_sec - _EPSILON
    ]


def is_silent(analysis: AudioAnalysis) -> bool:
    """Nothing to transcribe: the audio step found one silence over the whole recording.

    "Whole" to within one analysis frame at either end: the silence's edges are quantised to the
    analysis windows. The speech level (a high percentile of the window levels) is not used: a
    few seconds of words in a long, otherwise silent recording leave it at the floor.
    """
    if analysis.duration_sec <= 0:
        return True
    frame = analysis.frame_ms / 1000
    return any(
        s.start <= frame + _EPSILON and s.end >= analysis.duration_sec - frame - _EPSILON
        for s in analysis.silences
    )


def tighten_words(
    words: Sequence[Word],
    silences: Sequence[tuple[float, float]],
    *,
    margin: float = EDGE_MARGIN_SEC,
) -> list[Word]:
    """Words whose start or end lies inside a pause, moved to the pause's edge (plus a margin);
    a word spanning a whole pause is cut back to the side with more sound (no spoken word holds
    a pause of MIN_SILENCE_SEC). A word wholly inside a pause (Whisper parks a sentence's last
    word there, often with zero length) moves, keeping its length, to the nearer edge: its
    sound is on that side.
    """
    out: list[Word] = []
    for word in words:
        start, end = word.start, word.end
        for a, b in silences:
            if a <= start and end <= b:
                length = end - start
                if start - a <= b - end:
                    end = a + margin
                    start = max(0.0, end - length)
                else:
                    start = b - margin
                    end = start + length
                continue
            if a <= start < b:  # sound follows the pause within the word
                start = max(start, b - margin)
            elif a < end <= b:  # sound precedes the pause within the word
                end = min(end, a + margin)
            elif start < a and b < end:
                # Sound on both sides: the word smeared over the pause into a neighbour's sound
                # (often an "um" it did not write). The word is the side with more sound.
                if end - b > a - start:
                    start = b - margin
                else:
                    end = a + margin
        out.append(replace(word, start=start, end=max(start, end)))
    return out
