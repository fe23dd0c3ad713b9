"""faster-whisper output → the Transcript contract, and transcript words → caption words."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Protocol

from talkavocado_common.captions import CueWord
from talkavocado_common.models import Segment, Transcript, Word

from .silence import tighten_words


class WhisperWordLike(Protocol):
    """What is used of faster_whisper.transcribe.Word (duck-typed: plain attributes)."""

    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def word(self) -> str: ...
    @property
    def probability(self) -> float: ...


class WhisperSegmentLike(Protocol):
    """What is used of faster_whisper.transcribe.Segment."""

    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def text(self) -> str: ...
    @property
    def words(self) -> Sequence[WhisperWordLike] | None: ...


def _ms(t: float) -> float:
    return round(t, 3)


def to_transcript(
    segments: Iterable[WhisperSegmentLike],
    *,
    language: str,
    duration: float,
    model: str,
    silences: Sequence[tuple[float, float]] = (),
) -> Transcript:
    """Build the transcript: words inside [0, duration], in order, never overlapping, edges out
    of pauses (see silence.tighten_words), times in whole milliseconds; segments renumbered from
    0 and spanning their words; segments without words or text dropped."""
    limit = max(0.0, float(duration))

    def clamp(t: float) -> float:
        return min(max(0.0, float(t)), limit) if limit > 0 else max(0.0, float(t))

    raw: list[tuple[WhisperSegmentLike, list[Word]]] = []
    for seg in segments:
        words = [
            Word(
                start=clamp(w.start),
                end=clamp(max(w.start, w.end)),
                word=w.word,
                probability=min(1.0, max(0.0, float(w.probability))),
            )
            for w in (seg.words or [])
        ]
        raw.append((seg, tighten_words(words, silences)))

    out: list[Segment] = []
    previous_end = 0.0
    for seg, words in raw:
        text = seg.text.strip()
        if not words and not text:
            continue
        fixed: list[Word] = []
        for w in words:
            # Whisper's neighbouring words may overlap a little; the earlier one yields.
            start = _ms(max(w.start, previous_end))
            end = _ms(max(w.end, start))
            fixed.append(replace(w, start=start, end=end))
            previous_end = end
        if fixed:
            seg_start, seg_end = fixed[0].start, fixed[-1].end
        else:
            seg_start = _ms(max(clamp(seg.start), previous_end))
            seg_end = _ms(max(clamp(seg.end), seg_start))
            previous_end = seg_end
        out.append(Segment(id=len(out), start=seg_start, end=seg_end, text=text, words=fixed))
    return Transcript(language=language, duration_sec=_ms(limit), model=model, segments=out)


def transcript_cue_words(transcript: Transcript) -> list[CueWord]:
    return [CueWord(w.word, w.start, w.end) for w in transcript.words()]
