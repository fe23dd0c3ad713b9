"""Filler words: found in the transcript, and reconciled with the sound they were said in.

Whisper tiny.en often parks an "um"/"uh" a second or so from where it was said — after the
pause, over the start of the next word — while the sound itself sits alone in the pause. Left
there, the filler's own sound is cut as an unworded sound but its word stays in a kept region
and shows in the subtitles. So a filler whose claimed sound belongs to a kept word is moved to
the unclaimed island it belongs to: in spoken order (between the islands of the kept words
around it), short, nearest first and speech before non-speech. The island is then cut as that
filler, and the word with it. A kept word's island is never taken.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from talkavocado_common.models import Word

from .islands import IslandIndex

# A filler's own sound is short; a longer island may hold words Whisper dropped.
FILLER_MAX_SOUND_SEC = 1.2
# Whisper parks a filler up to ~1.5 s away from its sound; look a little further.
FILLER_SEARCH_SEC = 2.5
_STRETCH = re.compile(r"(\w)\1+")


@dataclass(frozen=True)
class FillerRun:
    """One occurrence of a filler phrase: words first..last (inclusive) of the transcript."""

    first: int
    last: int
    text: str

    @property
    def indices(self) -> range:
        return range(self.first, self.last + 1)


def _unstretched(token: str) -> str:
    # Whisper spells a drawn-out filler as it sounds: "Uhh...", "Ummm", "Hmmm".
    return _STRETCH.sub(r"\1", token)


def filler_runs(tokens: Sequence[str], fillers: Sequence[str]) -> list[FillerRun]:
    """The filler phrases among normalised word tokens, in order; longest phrase wins, no
    overlaps; a drawn-out spelling matches ("uhh" is "uh"). O(words x distinct phrase lengths)."""
    by_length: dict[int, set[tuple[str, ...]]] = {}
    for filler in fillers:
        phrase = tuple(_unstretched(w) for w in filler.split())
        if phrase:
            by_length.setdefault(len(phrase), set()).add(phrase)
    lengths = sorted(by_length, reverse=True)
    keys = [_unstretched(t) for t in tokens]
    runs: list[FillerRun] = []
    i = 0
    while i < len(tokens):
        for n in lengths:
            phrase = tuple(keys[i : i + n])
            if len(phrase) == n and phrase in by_length[n]:
                runs.append(FillerRun(i, i + n - 1, " ".join(tokens[i : i + n])))
                i += n
                break
        else:
            i += 1
    return runs


def reconcile_fillers(
    words: Sequence[Word],
    claims: Sequence[Sequence[int]],
    runs: Sequence[FillerRun],
    index: IslandIndex,
    quiet: Sequence[bool],
) -> dict[int, list[int]]:
    """Word index -> the island a misplaced filler word is moved to (its new claim)."""
    filler_words = {i for run in runs for i in run.indices}
    kept_claims = {c for i, claim in enumerate(claims) if i not in filler_words for c in claim}
    before, after = _kept_bounds(claims, filler_words, len(index))
    islands = index.islands
    owns = [sorted({c for i in run.indices for c in claims[i]}) for run in runs]
    misplaced = [not own or not kept_claims.isdisjoint(own) for own in owns]
    # Misplaced fillers after each one between the same kept words: each needs a sound left.
    later: list[int] = [0] * len(runs)
    pending: dict[int, int] = {}
    for r in range(len(runs) - 1, -1, -1):
        if misplaced[r]:
            bound = after[runs[r].last]
            later[r] = pending.get(bound, 0)
            pending[bound] = later[r] + 1
    taken: set[int] = set()
    floor = -1  # fillers keep their spoken order on the islands too
    moved: dict[int, list[int]] = {}
    for r, run in enumerate(runs):
        if not misplaced[r]:
            floor = max(floor, owns[r][-1])  # already on a sound of its own
            taken.update(owns[r])
            continue
        start = words[run.first].start
        end = max(words[i].end for i in run.indices)
        low, high = max(before[run.first], floor), after[run.last]
        eligible = [
            k
            for k in index.touching(start - FILLER_SEARCH_SEC, end + FILLER_SEARCH_SEC)
            if low < k < high
            and k not in kept_claims
            and k not in taken
            and islands[k].duration <= FILLER_MAX_SOUND_SEC
        ]
        if later[r]:
            eligible = eligible[: -later[r]]
        if not eligible:
            continue  # its sound is a kept word's, or nowhere: the word stays where it is
        chosen = min(
            eligible,
            key=lambda k: (quiet[k], max(islands[k].start - end, start - islands[k].end, 0.0), k),
        )
        taken.add(chosen)
        floor = chosen
        for i in run.indices:
            moved[i] = [chosen]
    return moved


def _kept_bounds(
    claims: Sequence[Sequence[int]], filler_words: set[int], island_count: int
) -> tuple[list[int], list[int]]:
    """Per word: the last island a kept word before it claims (-1 if none) and the first island
    a kept word after it claims (island_count if none) — in transcript order."""
    before: list[int] = []
    running = -1
    for i, claim in enumerate(claims):
        before.append(running)
        if i not in filler_words and claim:
            running = max(running, claim[-1])
    after = [island_count] * len(claims)
    running = island_count
    for i in range(len(claims) - 1, -1, -1):
        after[i] = running
        if i not in filler_words and claims[i]:
            running = min(running, claims[i][0])
    return before, after
