"""Whisper's output of each window → one stream of segments on the recording's clock.

Windows cut inside a silence share no audio: their segments are shifted by the window's start
and follow each other. Windows after a hard cut share `overlap_sec` of audio, so the words in
it were heard twice: the two word lists are aligned there by text and joined at one matched
word near the middle of the overlap, far from both windows' edges (where Whisper hears a cut
word badly). Nothing in the overlap is lost or doubled.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from .convert import WhisperSegmentLike
from .windows import Window

PROMPT_TAIL_WORDS = 30  # the previous window's last words; Whisper's prompt holds ~220 tokens
SEAM_MAX_SHIFT_SEC = 1.0  # two windows' readings of one word lie closer than this


@dataclass(frozen=True)
class TimedWord:
    start: float
    end: float
    word: str
    probability: float

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2


@dataclass(frozen=True)
class TimedSegment:
    start: float
    end: float
    text: str
    words: tuple[TimedWord, ...]


def shift_segments(segments: Iterable[WhisperSegmentLike], window: Window) -> list[TimedSegment]:
    """Segments of one window on the recording's clock, clamped into the window."""

    def at(t: float) -> float:
        return min(max(window.start + float(t), window.start), window.end)

    out = []
    for seg in segments:
        words = tuple(
            TimedWord(at(w.start), at(max(w.start, w.end)), w.word, float(w.probability))
            for w in (seg.words or ())
        )
        out.append(TimedSegment(at(seg.start), at(max(seg.start, seg.end)), seg.text, words))
    return out


def _norm(word: str) -> str:
    return "".join(re.findall(r"[a-z0-9']+", word.lower()))


def _seam(
    left: Sequence[TimedWord], right: Sequence[TimedWord], lo: float, hi: float
) -> tuple[int, int]:
    """(k, m): the merged words are left[:k] + right[m:]. Joined after a word both windows
    heard (same text, about the same time) nearest the middle of the overlap [lo, hi]; without
    one, at the middle by time."""
    middle = (lo + hi) / 2
    li = [i for i, w in enumerate(left) if lo <= w.middle <= hi]
    ri = [j for j, w in enumerate(right) if lo <= w.middle <= hi]
    matcher = difflib.SequenceMatcher(
        a=[_norm(left[i].word) for i in li], b=[_norm(right[j].word) for j in ri], autojunk=False
    )
    best: tuple[float, int, int] | None = None
    for a, b, size in matcher.get_matching_blocks():
        for n in range(size):
            i, j = li[a + n], ri[b + n]
            if (
                not _norm(left[i].word)
                or abs(left[i].middle - right[j].middle) > SEAM_MAX_SHIFT_SEC
            ):
                continue
            distance = abs(left[i].middle - middle)
            if best is None or distance < best[0]:
                best = (distance, i + 1, j + 1)
    if best is not None:
        return best[1], best[2]
    k = sum(1 for w in left if w.middle < middle)
    m = sum(1 for w in right if w.middle < middle)
    return k, m


def _take(segments: Sequence[TimedSegment], first: int, stop: int | None) -> list[TimedSegment]:
    """The segments holding words [first, stop) of their flattened word list (stop None: to the
    end); a segment losing some of its words is rebuilt from the rest (text included)."""
    out: list[TimedSegment] = []
    index = 0
    for seg in segments:
        lo, hi = index, index + len(seg.words)
        index = hi
        if not seg.words:
            # A segment without words goes with the words before it.
            if first <= lo and (stop is None or lo < stop):
                out.append(seg)
            continue
        end = hi if stop is None else min(stop, hi)
        keep = seg.words[max(first, lo) - lo : max(end, lo) - lo]
        if len(keep) == len(seg.words):
            out.append(seg)
        elif keep:
            text = "".join(w.word for w in keep)
            out.append(replace(seg, start=keep[0].start, end=keep[-1].end, text=text, words=keep))
    return out


def merge_windows(
    windows: Sequence[Window], outputs: Sequence[Sequence[TimedSegment]]
) -> list[TimedSegment]:
    """The segments of all windows (already shifted), in order, joined at hard-cut seams."""
    if len(windows) != len(outputs):
        raise ValueError("one output per window")
    merged: list[TimedSegment] = []
    for index, (window, segments) in enumerate(zip(windows, outputs, strict=True)):
        if index == 0 or not window.hard_start:
            merged.extend(segments)
            continue
        previous = windows[index - 1]
        # Only the previous window's segments can reach into this one's overlap.
        boundary = next(
            (n for n in range(len(merged)) if merged[n].end > window.start), len(merged)
        )
        kept, tail = merged[:boundary], merged[boundary:]
        left = [w for s in tail for w in s.words]
        right = [w for s in segments for w in s.words]
        k, m = _seam(left, right, window.start, previous.end)
        merged = kept + _take(tail, 0, k) + _take(segments, m, None)
    return merged


def window_prompt(verbatim: str | None, previous_text: str) -> str | None:
    """The prompt for a window: the verbatim style prompt, then the last words said before the
    window (Whisper continues text it has seen, rather than starting a new one cold)."""
    tail = " ".join(previous_text.split()[-PROMPT_TAIL_WORDS:])
    parts = [p for p in (verbatim, tail) if p]
    return " ".join(parts) if parts else None
