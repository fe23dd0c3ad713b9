"""Subtitles on the edited timeline: the plan's kept words moved through the timeline's clips.

A plan places every word on the sound it was matched to and keeps or cuts it with that sound, so
the subtitles show exactly the kept words, in order, timed to their sound. Plans written before
plans carried words fall back to the transcript and the middle rule (`retime_words`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from talkavocado_common.captions import Cue, CueWord, build_cues
from talkavocado_common.models import CutPlan, PlanWord, SubtitleOptions, Timeline, Word


class _Clips:
    """The timeline's clips in source order (they are disjoint there), found by binary search."""

    def __init__(self, timeline: Timeline) -> None:
        self.clips = timeline.clips
        self.starts = [c.source_start for c in self.clips]

    def holding(self, t: float) -> int | None:
        at = bisect_right(self.starts, t) - 1
        if at >= 0 and t < self.clips[at].source_end:
            return at
        return None

    def nearest(self, t: float) -> int:
        at = self.holding(t)
        if at is not None:
            return at
        after = bisect_right(self.starts, t)
        candidates = [i for i in (after - 1, after) if 0 <= i < len(self.clips)]
        return min(candidates, key=lambda i: max(self.starts[i] - t, t - self.clips[i].source_end))


class _Mover:
    """Places words on the timeline one after another: monotonic and never overlapping, even
    across crossfades, and never past the timeline's end."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.moved: list[CueWord] = []

    def add(self, text: str, start: float, end: float, clip_index: int) -> None:
        clip = self.timeline.clips[clip_index]
        offset = clip.timeline_start - clip.source_start
        moved_start = max(start, clip.source_start) + offset
        moved_end = min(end, clip.source_end) + offset
        if self.moved:
            moved_start = max(moved_start, self.moved[-1].end)
        moved_end = min(max(moved_end, moved_start), self.timeline.duration_sec)
        self.moved.append(CueWord(text=text, start=min(moved_start, moved_end), end=moved_end))


def retime_words(words: Sequence[Word], timeline: Timeline) -> list[CueWord]:
    """Transcript words mapped onto the timeline (plans without words). A word whose middle was
    cut is dropped (it was a filler or lies in a removed pause); a word that straddles a cut edge
    is clamped to its clip."""
    clips = _Clips(timeline)
    mover = _Mover(timeline)
    for word in sorted(words, key=lambda w: (w.start, w.end)):
        at = clips.holding((word.start + word.end) / 2)
        if at is not None:
            mover.add(word.word, word.start, word.end, at)
    return mover.moved


def retime_plan_words(words: Sequence[PlanWord], timeline: Timeline) -> list[CueWord]:
    """The plan's kept words mapped onto the timeline, every one in the plan's order. A kept word
    lies in a kept region and every clip holds its regions whole, so its middle is in a clip;
    rounding aside, the nearest clip takes it."""
    clips = _Clips(timeline)
    mover = _Mover(timeline)
    for word in words:
        if word.action == "keep":
            mover.add(word.word, word.start, word.end, clips.nearest((word.start + word.end) / 2))
    return mover.moved


def final_cues(words: Sequence[CueWord], timeline: Timeline, options: SubtitleOptions) -> list[Cue]:
    frame = timeline.frame_rate.den / timeline.frame_rate.num
    return build_cues(
        words,
        max_chars_per_line=options.max_chars_per_line,
        max_lines=options.max_lines_per_cue,
        frame_duration=frame,
    )


def retime_cues(words: Sequence[Word], timeline: Timeline, options: SubtitleOptions) -> list[Cue]:
    """Cues from transcript words by the middle rule (plans without words)."""
    return final_cues(retime_words(words, timeline), timeline, options)


def plan_cues(plan: CutPlan, timeline: Timeline, options: SubtitleOptions) -> list[Cue] | None:
    """Cues from the plan's kept words; None for an older plan without words."""
    if plan.words is None:
        return None
    return final_cues(retime_plan_words(plan.words, timeline), timeline, options)
