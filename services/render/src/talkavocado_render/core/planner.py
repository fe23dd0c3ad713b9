"""The smart cut planner: a pure, deterministic function from transcript + audio analysis to a
cut plan that removes long pauses and filler words without cutting into a kept word.

Whisper's word timings smear across pauses and it often leaves "um"/"uh" out of the text, so the
measured audio decides *where* sound is and the transcript decides *what* it is:

1. Sound islands are the complement of the measured silences.
2. Each word claims the island it overlaps most (plus islands its span reaches across only a short
   gap — a word may contain a brief closure). A word with no overlap claims the nearest island.
3. An island claimed by a kept word is kept. One claimed only by filler words is cut. One claimed
   by nothing is an unworded sound: cut if short, unless a kept word's span reaches over it
   (it might hold that word).
4. Cuts happen only in the gaps between kept islands: a gap holding a removed sound, or a silence
   longer than the minimum pause, is shortened to a natural gap; both cut edges sit in silence,
   at least `padding` away from kept sound where the silence allows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from talkavocado_common.models import (
    AudioAnalysis,
    CutPlan,
    CutReason,
    Interval,
    PlannerOptions,
    PlanRegion,
    PlanStats,
    Transcript,
    Word,
)

# Gaps inside one word (stop closures) are shorter than this.
INTRA_WORD_GAP_SEC = 0.25
# A word with no overlapping sound claims the nearest island only if it is this close.
NEAREST_ISLAND_SEC = 0.5
# Cuts shorter than this are not worth a join.
MIN_CUT_SEC = 0.1
_TIME_DECIMALS = 6
_WORD_CHARS = re.compile(r"[^\w' ]+")


@dataclass(frozen=True)
class Island:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Removal:
    """A sound to cut, with why."""

    start: float
    end: float
    reason: CutReason
    text: str | None


def normalise(text: str) -> str:
    return " ".join(_WORD_CHARS.sub(" ", text.lower().replace("\u2019", "'")).split())


def sound_islands(silences: Sequence[Interval], duration: float) -> list[Island]:
    """Complement of the silences within [0, duration]."""
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


def find_fillers(words: Sequence[Word], fillers: Sequence[str]) -> dict[int, str]:
    """Word index -> the filler phrase it belongs to; longest phrase wins, no overlaps."""
    phrases = sorted({tuple(f.split()) for f in fillers if f.split()}, key=len, reverse=True)
    tokens = [normalise(w.word) for w in words]
    found: dict[int, str] = {}
    i = 0
    while i < len(tokens):
        for phrase in phrases:
            n = len(phrase)
            if tuple(tokens[i : i + n]) == phrase:
                for j in range(i, i + n):
                    found[j] = " ".join(phrase)
                i += n
                break
        else:
            i += 1
    return found


def _overlap(a_start: float, a_end: float, b: Island) -> float:
    return max(0.0, min(a_end, b.end) - max(a_start, b.start))


def claimed_islands(word: Word, islands: Sequence[Island]) -> list[int]:
    """Indices of the islands a word's sound is in (see module docstring, step 2)."""
    overlaps = [(_overlap(word.start, word.end, isl), i) for i, isl in enumerate(islands)]
    touching = [(ov, i) for ov, i in overlaps if ov > 0]
    if not touching:
        mid = (word.start + word.end) / 2
        distance, nearest = min(
            ((max(isl.start - mid, mid - isl.end, 0.0), i) for i, isl in enumerate(islands)),
            default=(float("inf"), -1),
        )
        return [nearest] if distance <= NEAREST_ISLAND_SEC else []
    # Most overlap wins; ties go to the island nearest the word's middle, then the earlier one.
    mid = (word.start + word.end) / 2
    _, primary = max(
        touching,
        key=lambda t: (
            round(t[0], 6),
            -abs((islands[t[1]].start + islands[t[1]].end) / 2 - mid),
            -t[1],
        ),
    )
    claimed = {primary}
    touched = sorted(i for _, i in touching)
    # Extend to neighbours across short gaps only (a closure inside the word, not a pause).
    for direction in (-1, 1):
        current = primary
        while True:
            nxt = current + direction
            if nxt not in touched:
                break
            left, right = (
                (islands[nxt], islands[current])
                if direction < 0
                else (islands[current], islands[nxt])
            )
            if right.start - left.end >= INTRA_WORD_GAP_SEC:
                break
            claimed.add(nxt)
            current = nxt
    return sorted(claimed)


@dataclass(frozen=True)
class _Classified:
    kept: list[Island]
    removals: list[Removal]


def classify(
    words: Sequence[Word], islands: Sequence[Island], options: PlannerOptions
) -> _Classified:
    fillers = find_fillers(words, options.fillers) if options.remove_fillers else {}
    kept_by: dict[int, bool] = {}
    filler_text: dict[int, list[str]] = {}
    protected: list[Island] = []
    for index, word in enumerate(words):
        claims = claimed_islands(word, islands)
        is_filler = index in fillers
        if not claims and not is_filler and word.end > word.start:
            # A kept word with no sound near it: trust its span rather than risk cutting it.
            protected.append(Island(word.start, word.end))
        for claim in claims:
            if is_filler:
                kept_by.setdefault(claim, False)
                texts = filler_text.setdefault(claim, [])
                if not texts or texts[-1] != fillers[index]:
                    texts.append(fillers[index])
            else:
                kept_by[claim] = True

    kept_word_spans = [(w.start, w.end) for i, w in enumerate(words) if i not in fillers]
    kept: list[Island] = list(protected)
    removals: list[Removal] = []
    for index, island in enumerate(islands):
        if kept_by.get(index) is True:
            kept.append(island)
        elif index in kept_by:  # claimed by fillers only
            removals.append(
                Removal(island.start, island.end, "filler", " ".join(filler_text[index]))
            )
        elif (
            options.detect_unworded_sounds
            and island.duration * 1000 <= options.max_unworded_sound_ms
            and not any(_overlap(s, e, island) > 0 for s, e in kept_word_spans)
        ):
            removals.append(Removal(island.start, island.end, "unworded-sound", None))
        else:
            kept.append(island)
    return _Classified(kept=_merge(kept), removals=sorted(removals, key=lambda r: r.start))


def _merge(islands: Sequence[Island]) -> list[Island]:
    merged: list[Island] = []
    for island in sorted(islands, key=lambda i: (i.start, i.end)):
        if merged and island.start <= merged[-1].end:
            merged[-1] = Island(merged[-1].start, max(merged[-1].end, island.end))
        else:
            merged.append(island)
    return merged


def _gap_cut(
    gap_start: float,
    gap_end: float,
    removals: Sequence[Removal],
    options: PlannerOptions,
    *,
    lead: bool,
    trail: bool,
) -> tuple[float, float] | None:
    """Where to cut inside a gap between kept sound (or a file edge), or None to keep it whole.

    `lead`/`trail`: the gap touches kept sound on its left/right (False at the file's edges).
    """
    gap = gap_end - gap_start
    min_pause = options.min_pause_ms / 1000
    padding = options.padding_ms / 1000
    natural = max(options.target_pause_ms / 1000, 2 * padding)
    if not removals and gap <= min_pause:
        return None
    # Silence to keep on each side: half the natural gap next to kept sound, none at file edges.
    keep_left = natural / 2 if lead else 0.0
    keep_right = natural / 2 if trail else 0.0
    cut_start = gap_start + keep_left
    cut_end = gap_end - keep_right
    if removals:
        first, last = removals[0], removals[-1]
        # Both edges must sit in silence: before the first removed sound, after the last one.
        if cut_start > first.start:
            cut_start = gap_start + (first.start - gap_start) / 2 if lead else gap_start
        if cut_end < last.end:
            cut_end = last.end + (gap_end - last.end) / 2 if trail else gap_end
    if cut_end - cut_start < MIN_CUT_SEC:
        return None
    return cut_start, cut_end


def plan_cuts(transcript: Transcript, analysis: AudioAnalysis, options: PlannerOptions) -> CutPlan:
    """The cut plan: regions covering [0, duration] in order, each keep or cut with a reason."""
    duration = analysis.duration_sec
    words = sorted(transcript.words(), key=lambda w: (w.start, w.end))
    islands = sound_islands(analysis.silences, duration)
    classified = classify(words, islands, options)
    kept = classified.kept

    cuts: list[PlanRegion] = []
    if kept:
        edges = [(0.0, kept[0].start, False, True)]
        edges += [(a.end, b.start, True, True) for a, b in pairwise(kept)]
        edges.append((kept[-1].end, duration, True, False))
        for gap_start, gap_end, lead, trail in edges:
            inside = [r for r in classified.removals if r.start >= gap_start and r.end <= gap_end]
            window = _gap_cut(gap_start, gap_end, inside, options, lead=lead, trail=trail)
            if window is None:
                continue
            reason: CutReason
            if inside:
                fillers = [r for r in inside if r.reason == "filler"]
                reason = "filler" if fillers else "unworded-sound"
                text = " ".join(r.text for r in fillers if r.text) or None
            elif not lead:
                reason, text = "leading-silence", None
            elif not trail:
                reason, text = "trailing-silence", None
            else:
                reason, text = "pause", None
            cuts.append(
                PlanRegion(
                    start=_t(window[0]), end=_t(window[1]), action="cut", reason=reason, text=text
                )
            )
    return _assemble(duration, cuts)


def _t(value: float) -> float:
    return round(value, _TIME_DECIMALS)


def _assemble(duration: float, cuts: Sequence[PlanRegion]) -> CutPlan:
    regions: list[PlanRegion] = []
    cursor = 0.0
    for cut in cuts:
        if cut.start > cursor:
            regions.append(
                PlanRegion(start=_t(cursor), end=cut.start, action="keep", reason="speech")
            )
        regions.append(cut)
        cursor = cut.end
    if duration > cursor or not regions:
        regions.append(
            PlanRegion(start=_t(cursor), end=_t(duration), action="keep", reason="speech")
        )
    kept = sum(r.end - r.start for r in regions if r.action == "keep")
    by_reason: dict[str, int] = {}
    for cut in cuts:
        by_reason[cut.reason] = by_reason.get(cut.reason, 0) + 1
    stats = PlanStats(
        source_duration_sec=_t(duration),
        kept_duration_sec=_t(kept),
        removed_duration_sec=_t(duration - kept),
        cuts_by_reason=dict(sorted(by_reason.items())),
    )
    return CutPlan(duration_sec=_t(duration), regions=regions, stats=stats)
