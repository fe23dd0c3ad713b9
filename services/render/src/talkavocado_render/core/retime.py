"""Subtitles on the edited timeline: transcript words moved through the timeline's clips."""

from __future__ import annotations

from collections.abc import Sequence

from talkavocado_common.captions import Cue, CueWord, build_cues
from talkavocado_common.models import SubtitleOptions, Timeline, Word


def retime_words(words: Sequence[Word], timeline: Timeline) -> list[CueWord]:
    """Each kept word mapped onto the timeline. A word whose middle was cut is dropped (it was a
    filler or lies in a removed pause); a word that straddles a cut edge is clamped to its clip.
    The result is monotonic and non-overlapping even across crossfades."""
    moved: list[CueWord] = []
    clips = timeline.clips
    for word in sorted(words, key=lambda w: (w.start, w.end)):
        middle = (word.start + word.end) / 2
        clip = next((c for c in clips if c.source_start <= middle < c.source_end), None)
        if clip is None:
            continue
        offset = clip.timeline_start - clip.source_start
        start = max(word.start, clip.source_start) + offset
        end = min(word.end, clip.source_end) + offset
        if moved:
            start = max(start, moved[-1].end)
        end = max(end, start)
        moved.append(CueWord(text=word.word, start=start, end=min(end, timeline.duration_sec)))
    return moved


def retime_cues(words: Sequence[Word], timeline: Timeline, options: SubtitleOptions) -> list[Cue]:
    frame = timeline.frame_rate.den / timeline.frame_rate.num
    return build_cues(
        retime_words(words, timeline),
        max_chars_per_line=options.max_chars_per_line,
        max_lines=options.max_lines_per_cue,
        frame_duration=frame,
    )
