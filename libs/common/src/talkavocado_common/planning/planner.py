"""The smart cut planner: a pure, deterministic function from transcript + audio analysis to a
cut plan that removes long pauses and filler words without cutting into a kept word.

Whisper's word timings smear across pauses and it often leaves "um"/"uh" out of the text or
parks them a second away from where they were said, so the measured audio decides *where* sound
is, the voice-activity detector (when measured) whether it is speech, and the transcript *what*
it is:

1. Sound islands are the complement of the measured silences. An island that overlaps the VAD's
   speech little or not at all is non-speech (a breath, a click, room tone).
2. Each word claims the island it overlaps most (speech before non-speech), plus islands its span
   reaches across only a short gap — a word may contain a brief closure. A word with no overlap
   claims the nearest island.
3. Fillers are reconciled with the sound (fillers.py): a filler whose claimed sound is a kept
   word's is moved to the unclaimed island it belongs to, so it is cut with that sound.
4. An island claimed by a kept word is kept. One claimed only by fillers is cut. One claimed by
   nothing is non-speech — quiet, like a silence — or an unworded sound: cut if short, unless a
   kept word's span reaches over it (it might hold that word).
5. Cuts happen only in the gaps between kept islands: a gap holding a removed sound, or a quiet
   stretch longer than the minimum pause, is shortened to a natural gap; both cut edges sit in
   quiet, at least `padding` away from kept sound where the quiet allows.

Everything is sorted sweeps and binary searches: O(n log n) in words + islands.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise

from talkavocado_common.models import (
    AudioAnalysis,
    CutPlan,
    CutReason,
    Interval,
    PlannerOptions,
    PlanRegion,
    PlanWord,
    Transcript,
    Word,
)

from .edits import plan_stats
from .fillers import FillerRun, filler_runs, reconcile_fillers
from .islands import Island, IslandIndex, claimed_islands, non_speech, sound_islands

__all__ = [
    "Island",
    "find_fillers",
    "normalise",
    "plan_cuts",
    "plan_words_cuts",
    "sound_islands",
]

# Cuts shorter than this are not worth a join.
MIN_CUT_SEC = 0.1
_TIME_DECIMALS = 6
_WORD_CHARS = re.compile(r"[^\w' ]+")


@dataclass(frozen=True)
class Removal:
    """A sound to cut, with why."""

    start: float
    end: float
    reason: CutReason
    text: str | None


def normalise(text: str) -> str:
    return " ".join(_WORD_CHARS.sub(" ", text.lower().replace("\u2019", "'")).split())


def find_fillers(words: Sequence[Word], fillers: Sequence[str]) -> dict[int, str]:
    """Word index -> the filler phrase it belongs to; longest phrase wins, no overlaps."""
    runs = filler_runs([normalise(w.word) for w in words], fillers)
    return {i: run.text for run in runs for i in run.indices}


@dataclass(frozen=True)
class _Classified:
    kept: list[Island]
    removals: list[Removal]
    # Every island that is sound to keep or cut (non-speech is left out: it counts as quiet).
    sounds: list[Island]


class _SpanCover:
    """Does any of these spans overlap an interval? Spans sorted by start, prefix max of ends."""

    def __init__(self, spans: Sequence[tuple[float, float]]) -> None:
        ordered = sorted(spans)
        self._starts = [s for s, _ in ordered]
        self._max_ends = list(accumulate((e for _, e in ordered), max))

    def overlaps(self, start: float, end: float) -> bool:
        before = bisect_left(self._starts, end)  # spans starting before the interval ends
        return before > 0 and self._max_ends[before - 1] > start


def _classify(
    words: Sequence[Word],
    claims: Sequence[Sequence[int]],
    runs: Sequence[FillerRun],
    index: IslandIndex,
    quiet: Sequence[bool],
    options: PlannerOptions,
) -> _Classified:
    filler_words = {i for run in runs for i in run.indices}
    kept_claims, protected = _kept_word_islands(words, claims, filler_words)
    filler_text = _filler_texts(runs, claims)
    kept_spans = _SpanCover(
        [(w.start, w.end) for i, w in enumerate(words) if i not in filler_words]
    )
    kept: list[Island] = list(protected)
    removals: list[Removal] = []
    for i, island in enumerate(index.islands):
        if i in kept_claims:
            kept.append(island)
        elif i in filler_text:
            removals.append(Removal(island.start, island.end, "filler", " ".join(filler_text[i])))
        elif quiet[i]:
            continue  # non-speech nobody claims: quiet, like a silence
        elif _is_unworded_sound(island, kept_spans, options):
            removals.append(Removal(island.start, island.end, "unworded-sound", None))
        else:
            kept.append(island)
    merged = _merge(kept)
    return _Classified(
        kept=merged,
        removals=removals,  # islands are in order and disjoint, so these are too
        sounds=_merge([*merged, *(Island(r.start, r.end) for r in removals)]),
    )


def _kept_word_islands(
    words: Sequence[Word], claims: Sequence[Sequence[int]], filler_words: set[int]
) -> tuple[set[int], list[Island]]:
    """The islands claimed by kept (non-filler) words, and the spans of kept words that claim
    none, to keep as they are."""
    kept_claims: set[int] = set()
    protected: list[Island] = []
    for i, word in enumerate(words):
        if i in filler_words:
            continue
        kept_claims.update(claims[i])
        if not claims[i] and word.end > word.start:
            # A kept word with no sound near it: trust its span rather than risk cutting it.
            protected.append(Island(word.start, word.end))
    return kept_claims, protected


def _filler_texts(
    runs: Sequence[FillerRun], claims: Sequence[Sequence[int]]
) -> dict[int, list[str]]:
    """Island index -> the filler phrases claiming it, in order; back-to-back runs of the same
    phrase on one island are named once."""
    filler_text: dict[int, list[str]] = {}
    for run in runs:
        for claim in sorted({c for i in run.indices for c in claims[i]}):
            texts = filler_text.setdefault(claim, [])
            if not texts or texts[-1] != run.text:
                texts.append(run.text)
    return filler_text


def _is_unworded_sound(island: Island, kept_spans: _SpanCover, options: PlannerOptions) -> bool:
    """Whether an island nobody claims is a sound to cut: short, and outside every kept word's
    span (it might hold that word)."""
    return (
        options.detect_unworded_sounds
        and island.duration * 1000 <= options.max_unworded_sound_ms
        and not kept_spans.overlaps(island.start, island.end)
    )


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
    # Quiet to keep on each side: half the natural gap next to kept sound, none at file edges.
    keep_left = natural / 2 if lead else 0.0
    keep_right = natural / 2 if trail else 0.0
    cut_start = gap_start + keep_left
    cut_end = gap_end - keep_right
    if removals:
        first, last = removals[0], removals[-1]
        # Both edges must sit in quiet: before the first removed sound, after the last one.
        if cut_start > first.start:
            cut_start = gap_start + (first.start - gap_start) / 2 if lead else gap_start
        if cut_end < last.end:
            cut_end = last.end + (gap_end - last.end) / 2 if trail else gap_end
    if cut_end - cut_start < MIN_CUT_SEC:
        return None
    return cut_start, cut_end


def _cuts(classified: _Classified, duration: float, options: PlannerOptions) -> list[PlanRegion]:
    kept, removals = classified.kept, classified.removals
    if not kept:
        return []
    removal_starts = [r.start for r in removals]
    removal_ends = [r.end for r in removals]
    edges = [(0.0, kept[0].start, False, True)]
    edges += [(a.end, b.start, True, True) for a, b in pairwise(kept)]
    edges.append((kept[-1].end, duration, True, False))
    cuts: list[PlanRegion] = []
    for gap_start, gap_end, lead, trail in edges:
        lo = bisect_left(removal_starts, gap_start)
        hi = bisect_right(removal_ends, gap_end)
        inside = removals[lo:hi] if hi > lo else []
        window = _gap_cut(gap_start, gap_end, inside, options, lead=lead, trail=trail)
        if window is None:
            continue
        reason: CutReason
        text: str | None = None
        if inside:
            fillers = [r for r in inside if r.reason == "filler"]
            reason = "filler" if fillers else "unworded-sound"
            text = " ".join(r.text for r in fillers if r.text) or None
        elif not lead:
            reason = "leading-silence"
        elif not trail:
            reason = "trailing-silence"
        else:
            reason = "pause"
        cuts.append(
            PlanRegion(
                start=_t(window[0]), end=_t(window[1]), action="cut", reason=reason, text=text
            )
        )
    return cuts


def plan_cuts(transcript: Transcript, analysis: AudioAnalysis, options: PlannerOptions) -> CutPlan:
    """The cut plan: regions covering [0, duration] in order, each keep or cut with a reason;
    keep regions carry the quiet at their edges, and every transcript word is placed on the
    sound it was matched to, kept or cut with it."""
    return plan_words_cuts(transcript.words(), transcript.speech, analysis, options)


def plan_words_cuts(
    words: Sequence[Word],
    speech: Sequence[Interval] | None,
    analysis: AudioAnalysis,
    options: PlannerOptions,
) -> CutPlan:
    """plan_cuts on the transcript's words (in spoken order: filler phrases and reconciliation
    need it) and VAD speech alone: a caller may drop the rest of a long transcript first."""
    duration = analysis.duration_sec
    index = IslandIndex(sound_islands(analysis.silences, duration))
    quiet = non_speech(index, speech)
    claims = [claimed_islands(w, index, quiet) for w in words]
    runs = (
        filler_runs([normalise(w.word) for w in words], options.fillers)
        if options.remove_fillers
        else []
    )
    reconciled = reconcile_fillers(words, claims, runs, index, quiet)
    claims = [reconciled.get(i, c) for i, c in enumerate(claims)]
    classified = _classify(words, claims, runs, index, quiet, options)
    regions = _with_quiet_edges(
        _regions(duration, _cuts(classified, duration, options)), classified
    )
    plan_words = _plan_words(words, claims, set(reconciled), index, regions, duration)
    return CutPlan(
        duration_sec=_t(duration),
        regions=regions,
        stats=plan_stats(duration, regions),
        words=plan_words,
    )


def _t(value: float) -> float:
    return round(value, _TIME_DECIMALS)


def _regions(duration: float, cuts: Sequence[PlanRegion]) -> list[PlanRegion]:
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
    return regions


def _with_quiet_edges(regions: Sequence[PlanRegion], classified: _Classified) -> list[PlanRegion]:
    """Each keep region with the quiet before its first sound and after its last one (all of it
    when it holds no sound): a crossfade there fades no word."""
    sounds = classified.sounds
    starts = [s.start for s in sounds]
    ends = [s.end for s in sounds]
    out: list[PlanRegion] = []
    for region in regions:
        if region.action != "keep":
            out.append(region)
            continue
        length = region.end - region.start
        first = bisect_right(ends, region.start)  # first sound ending after the region starts
        last = bisect_left(starts, region.end) - 1  # last sound starting before it ends
        if first > last:
            lead = trail = length
        else:
            lead = max(0.0, sounds[first].start - region.start)
            trail = max(0.0, region.end - sounds[last].end)
        out.append(
            region.model_copy(
                update={
                    "lead_silence_sec": _t(min(lead, length)),
                    "trail_silence_sec": _t(min(trail, length)),
                }
            )
        )
    return out


def _plan_words(
    words: Sequence[Word],
    claims: Sequence[Sequence[int]],
    reconciled: set[int],
    index: IslandIndex,
    regions: Sequence[PlanRegion],
    duration: float,
) -> list[PlanWord]:
    """Every word timed to its sound and kept or cut with the region that sound is in."""
    islands = index.islands
    region_starts = [r.start for r in regions]
    placed: list[PlanWord] = []
    for i, word in enumerate(words):
        start, end = min(word.start, duration), min(word.end, duration)
        if claims[i]:
            hull_start, hull_end = islands[claims[i][0]].start, islands[claims[i][-1]].end
            if i in reconciled:
                start, end = hull_start, hull_end
            else:
                start, end = max(start, hull_start), min(end, hull_end)
                if end <= start:  # claimed by proximity, not overlap: the sound is the island
                    start, end = hull_start, hull_end
        start, end = _t(start), _t(max(start, end))
        at = max(0, bisect_right(region_starts, (start + end) / 2) - 1)
        region = regions[at]
        start = min(max(start, region.start), region.end)
        end = min(max(end, start), region.end)
        placed.append(PlanWord(start=start, end=end, word=word.word, action=region.action))
    return placed
