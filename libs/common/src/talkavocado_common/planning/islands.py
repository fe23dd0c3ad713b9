"""Sound islands (the complement of the measured silences), which of them the voice-activity
detector calls speech, and which of them each word claims. Binary searches over the sorted,
disjoint islands: each lookup is O(log n + the islands it returns)."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from talkavocado_common.models import Interval, Word

# Gaps inside one word (stop closures) are shorter than this.
INTRA_WORD_GAP_SEC = 0.25
# A word with no overlapping sound claims the nearest island only if it is this close.
NEAREST_ISLAND_SEC = 0.5
# An island less than this share of which the VAD calls speech is non-speech. The VAD's stretches
# run a little past the voice (padding, a short hangover), so a breath right after a word may
# touch one; a voiced "um" lies almost wholly inside one.
SPEECH_MIN_SHARE = 0.5


@dataclass(frozen=True)
class Island:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def sound_islands(silences: Sequence[Interval], duration: float) -> list[Island]:
    """Complement of the silences within [0, duration]: in order, disjoint, never empty."""
    islands: list[Island] = []
    cursor = 0.0
    for silence in sorted(silences, key=lambda s: s.start):
        start, end = max(0.0, silence.start), min(duration, silence.end)
        if start > cursor:
            islands.append(Island(cursor, start))
        cursor = max(cursor, end)
    if duration > cursor:
        islands.append(Island(cursor, duration))
    return islands


class IslandIndex:
    """Islands in order and disjoint, so both their starts and their ends are sorted."""

    def __init__(self, islands: Sequence[Island]) -> None:
        self.islands = list(islands)
        self.starts = [i.start for i in self.islands]
        self.ends = [i.end for i in self.islands]

    def __len__(self) -> int:
        return len(self.islands)

    def touching(self, start: float, end: float) -> range:
        """Indices of the islands that overlap (start, end)."""
        if end <= start:
            return range(0)
        first = bisect_right(self.ends, start)
        stop = bisect_left(self.starts, end)
        return range(first, max(first, stop))

    def around(self, t: float) -> range:
        """The island holding or just before `t` and the one after: the nearest is one of them."""
        at = bisect_right(self.starts, t)
        return range(max(0, at - 1), min(len(self.islands), at + 1))


def distance(island: Island, t: float) -> float:
    return max(island.start - t, t - island.end, 0.0)


def overlap(start: float, end: float, island: Island) -> float:
    return max(0.0, min(end, island.end) - max(start, island.start))


def non_speech(index: IslandIndex, speech: Sequence[Interval] | None) -> list[bool]:
    """Per island: does the VAD call it non-speech? All False when speech was not measured."""
    if speech is None:
        return [False] * len(index)
    stretches = IslandIndex(_merged(speech))
    flags: list[bool] = []
    for island in index.islands:
        voiced = sum(
            overlap(island.start, island.end, stretches.islands[k])
            for k in stretches.touching(island.start, island.end)
        )
        flags.append(voiced < SPEECH_MIN_SHARE * island.duration)
    return flags


def _merged(intervals: Sequence[Interval]) -> list[Island]:
    merged: list[Island] = []
    for interval in sorted(intervals, key=lambda i: (i.start, i.end)):
        if interval.end <= interval.start:
            continue
        if merged and interval.start <= merged[-1].end:
            merged[-1] = Island(merged[-1].start, max(merged[-1].end, interval.end))
        else:
            merged.append(Island(interval.start, interval.end))
    return merged


def claimed_islands(word: Word, index: IslandIndex, quiet: Sequence[bool]) -> list[int]:
    """Indices (ascending) of the islands a word's sound is in: the one it overlaps most — speech
    before non-speech, as the VAD tells speech apart better than Whisper times a word — plus
    touched neighbours across closure-short gaps. With no overlap: the nearest island, if close."""
    islands = index.islands
    mid = (word.start + word.end) / 2
    touching = [
        (ov, i)
        for i in index.touching(word.start, word.end)
        if (ov := overlap(word.start, word.end, islands[i])) > 0
    ]
    if not touching:
        near = [
            (quiet[i], d, i)
            for i in index.around(mid)
            if (d := distance(islands[i], mid)) <= NEAREST_ISLAND_SEC
        ]
        return [min(near)[2]] if near else []
    # Most overlap wins; ties go to the island nearest the word's middle, then the earlier one.
    _, primary = max(
        touching,
        key=lambda t: (
            not quiet[t[1]],
            round(t[0], 6),
            -abs((islands[t[1]].start + islands[t[1]].end) / 2 - mid),
            -t[1],
        ),
    )
    touched = {i for _, i in touching}
    first = last = primary
    # Extend to neighbours across short gaps only (a closure inside the word, not a pause).
    while (
        first - 1 in touched and islands[first].start - islands[first - 1].end < INTRA_WORD_GAP_SEC
    ):
        first -= 1
    while last + 1 in touched and islands[last + 1].start - islands[last].end < INTRA_WORD_GAP_SEC:
        last += 1
    return list(range(first, last + 1))
