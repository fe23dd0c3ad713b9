"""Caption cues from timed words, and SRT / WebVTT writing and reading. Pure functions.

Used for the source captions (transcription step) and the re-timed final subtitles
(subtitles-post-edit). Guarantees of `build_cues`:

- every word lands in exactly one cue, in order; nothing is dropped (long speech → more cues);
- every line fits `max_chars_per_line` (a single longer word gets a line of its own), every cue
  has at most `max_lines` lines;
- cue times are monotonic and never overlap, every cue has a positive length, and all times sit
  on a grid (`frame_duration`, else whole milliseconds, so SRT/VTT formatting keeps them exact).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate

__all__ = [
    "Cue",
    "CueWord",
    "build_cues",
    "format_srt",
    "format_vtt",
    "parse_srt",
    "parse_vtt",
]


@dataclass(frozen=True)
class CueWord:
    text: str  # as spoken, e.g. " Hello," (leading spaces allowed; stripped for layout)
    start: float  # seconds
    end: float


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]


# Break costs, in units of "one more cue". A cue boundary after a sentence end is free, after a
# clause mark or at a short pause it is cheap, in the middle of a phrase it costs a full cue.
# A sentence end inside a cue costs a little more than an extra cue, so sentences start new cues
# unless that would leave cues shorter than `min_cue_sec` (which costs extra as well).
_CUE_COST = 1.0
_MID_PHRASE_BREAK = 1.0
_CLAUSE_BREAK = 0.3
_PAUSE_BREAK = 0.4
_WEAK_WORD_BREAK = 0.4
_INTERNAL_SENTENCE_END = 1.2
_SHORT_CUE = 0.8
_SHORT_PAUSE_SEC = 0.3

# Lines are balanced by the sum of squared lengths; a break after punctuation is worth this many
# "squared characters", a break right after an article or preposition costs as much.
_LINE_PUNCT_BONUS = 60.0
_LINE_WEAK_PENALTY = 60.0

_CLOSERS = "\"')]}\u201d\u2019\u00bb"  # quotes and brackets after a full stop
_SENTENCE_END = re.compile("[.?!\u2026]$")
_CLAUSE_END = re.compile("[,;:\u2013\u2014-]$")  # also en and em dashes
# Words a line or cue should not end on: articles, prepositions, conjunctions, possessives.
_WEAK_WORDS = frozenset(
    "a an the to of in on at for by with from and or but that as if into my your our their".split()  # noqa: SIM905
)


def _tail(token: str) -> str:
    return token.rstrip(_CLOSERS)


def _is_sentence_end(token: str) -> bool:
    return bool(_SENTENCE_END.search(_tail(token)))


def _is_clause_end(token: str) -> bool:
    return bool(_CLAUSE_END.search(_tail(token)))


def _is_weak(token: str) -> bool:
    return token.lower() in _WEAK_WORDS


def _min_lines(lengths: Sequence[int], max_chars: int) -> int:
    """Fewest lines for these tokens (greedy fill is optimal for contiguous lines)."""
    lines = 0
    current = -1  # length of the current line; -1 = no line open
    for n in lengths:
        if n == 0:
            continue
        if current >= 0 and current + 1 + n <= max_chars:
            current += 1 + n
        else:
            lines += 1
            current = n
    return lines


def _layout(tokens: Sequence[str], max_chars: int, max_lines: int) -> tuple[str, ...]:
    """Lay out tokens on the fewest lines, balanced, preferring breaks at punctuation."""
    words = [t for t in tokens if t]
    if not words:
        return ()
    count = max(1, min(_min_lines([len(w) for w in words], max_chars), len(words)))
    if count == 1:
        return (" ".join(words),)
    back = _line_starts_table(words, count, max_chars)
    lines: list[str] = []
    j = len(words)
    for k in range(count, 0, -1):
        i = back[k][j]
        lines.append(" ".join(words[i:j]))
        j = i
    return tuple(reversed(lines))


def _line_break_cost(last: str) -> float:
    """Cost of ending a line (not the last one) after the word `last`."""
    if _is_sentence_end(last) or _is_clause_end(last):
        return -_LINE_PUNCT_BONUS
    return _LINE_WEAK_PENALTY if _is_weak(last) else 0.0


def _lines_ending_at(prefix: Sequence[int], j: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """(start, length) of each line that can end before word j, longest last; `prefix[i]` is
    the length of the first i words. A single word always fits, however long."""
    for i in range(j - 1, -1, -1):
        length = prefix[j] - prefix[i] + (j - i - 1)
        if j - i > 1 and length > max_chars:
            return
        yield i, length


def _line_starts_table(words: Sequence[str], count: int, max_chars: int) -> list[list[int]]:
    """back[k][j]: where the last line starts in the cheapest layout of words[:j] on k lines,
    each line costing its squared length plus the cost of the break that ends it."""
    n = len(words)
    prefix = [0, *accumulate(len(w) for w in words)]
    # The last line's end is not a break: it costs nothing.
    ending = [*(_line_break_cost(w) for w in words[:-1]), 0.0]
    inf = math.inf
    # best[k][j]: cheapest way to put words[:j] on k lines.
    best = [[inf] * (n + 1) for _ in range(count + 1)]
    back = [[0] * (n + 1) for _ in range(count + 1)]
    best[0][0] = 0.0
    for k in range(1, count + 1):
        for j in range(1, n + 1):
            for i, length in _lines_ending_at(prefix, j, max_chars):
                if best[k - 1][i] == inf:
                    continue
                cost = best[k - 1][i] + float(length**2) + ending[j - 1]
                if cost < best[k][j]:
                    best[k][j] = cost
                    back[k][j] = i
    return back


def _sanitise(words: Sequence[CueWord]) -> tuple[list[float], list[float]]:
    """Starts made non-decreasing and non-negative, ends at or after their starts."""
    starts: list[float] = []
    ends: list[float] = []
    previous = 0.0
    for w in words:
        start = max(float(w.start), previous, 0.0)
        starts.append(start)
        ends.append(max(float(w.end), start))
        previous = start
    return starts, ends


@dataclass(frozen=True)
class _Timeline:
    """The words' measures a cue's limits are checked against, by word index."""

    lengths: Sequence[int]
    starts: Sequence[float]
    ends: Sequence[float]
    gaps: Sequence[float]  # quiet before each word (0 before the first)
    sentence_end: Sequence[bool]


@dataclass(frozen=True)
class _CueLimits:
    """What one cue may hold: lines of `max_chars`, `max_lines` of them, `max_cue_sec` of time
    and no pause of `break_gap_sec` or more."""

    max_chars: int
    max_lines: int
    max_cue_sec: float
    break_gap_sec: float


def _group(
    tokens: Sequence[str],
    starts: Sequence[float],
    ends: Sequence[float],
    *,
    max_chars: int,
    max_lines: int,
    max_cue_sec: float,
    break_gap_sec: float,
    min_cue_sec: float,
) -> list[tuple[int, int]]:
    """Split words into cues [i, j) with the least total cost (dynamic programming)."""
    n = len(tokens)
    gaps = [0.0] + [starts[i] - ends[i - 1] for i in range(1, n)]  # gap before word i
    timeline = _Timeline(
        lengths=[len(t) for t in tokens],
        starts=starts,
        ends=ends,
        gaps=gaps,
        sentence_end=[_is_sentence_end(t) for t in tokens],
    )
    limits = _CueLimits(max_chars, max_lines, max_cue_sec, break_gap_sec)
    # closing[j - 1]: cost of a cue boundary after word j - 1; ending with the last word is free.
    closing = [
        *(_cue_break_cost(tokens[j - 1], gaps[j], break_gap_sec) for j in range(1, n)),
        0.0,
    ]
    best = [math.inf] * (n + 1)
    back = [0] * (n + 1)
    best[0] = 0.0
    for j in range(1, n + 1):
        for i, length_sec, internal_ends in _cue_starts(timeline, j, limits):
            cost = best[i] + _CUE_COST + closing[j - 1] + internal_ends * _INTERNAL_SENTENCE_END
            if length_sec < min_cue_sec:
                cost += _SHORT_CUE
            if cost < best[j]:
                best[j] = cost
                back[j] = i
    spans: list[tuple[int, int]] = []
    j = n
    while j > 0:
        i = back[j]
        spans.append((i, j))
        j = i
    spans.reverse()
    return spans


def _cue_break_cost(last: str, gap: float, break_gap_sec: float) -> float:
    """Cost of a cue boundary after the word `last`, followed by `gap` seconds of quiet."""
    if _is_sentence_end(last) or gap >= break_gap_sec:
        return 0.0
    if _is_clause_end(last):
        return _CLAUSE_BREAK
    if gap >= _SHORT_PAUSE_SEC:
        return _PAUSE_BREAK
    return _MID_PHRASE_BREAK + (_WEAK_WORD_BREAK if _is_weak(last) else 0.0)


def _cue_starts(
    timeline: _Timeline, j: int, limits: _CueLimits
) -> Iterator[tuple[int, float, int]]:
    """Each first word i of a cue ending before word j, nearest first, with the cue's length in
    seconds and the number of sentences ending inside it; stops at the first that breaks a limit
    (a one-word cue is always allowed)."""
    cue_end = timeline.ends[j - 1]
    yield j - 1, cue_end - timeline.starts[j - 1], 0
    internal_ends = 0
    for i in range(j - 2, -1, -1):
        # Extending the cue back to word i brings the gap after it and its ending inside.
        if timeline.gaps[i + 1] >= limits.break_gap_sec:
            return
        if timeline.sentence_end[i]:
            internal_ends += 1
        cue_end = max(cue_end, timeline.ends[i])
        if cue_end - timeline.starts[i] > limits.max_cue_sec:
            return
        # Lines needed only grow as the cue grows backwards: the first misfit ends the scan.
        if _min_lines(timeline.lengths[i:j], limits.max_chars) > limits.max_lines:
            return
        yield i, cue_end - timeline.starts[i], internal_ends


def build_cues(
    words: Sequence[CueWord],
    *,
    max_chars_per_line: int = 42,
    max_lines: int = 2,
    max_cue_sec: float = 7.0,
    break_gap_sec: float = 1.0,
    min_cue_sec: float = 0.8,
    frame_duration: float | None = None,
) -> list[Cue]:
    """Group timed words (sorted by start) into caption cues; see the module doc for guarantees."""
    if max_chars_per_line < 1 or max_lines < 1:
        raise ValueError("max_chars_per_line and max_lines must be at least 1")
    if frame_duration is not None and not frame_duration > 0:
        raise ValueError(f"frame_duration must be positive, got {frame_duration}")
    if not words:
        return []
    tokens = [w.text.strip() for w in words]
    starts, ends = _sanitise(words)
    spans = _group(
        tokens,
        starts,
        ends,
        max_chars=max_chars_per_line,
        max_lines=max_lines,
        max_cue_sec=max_cue_sec,
        break_gap_sec=break_gap_sec,
        min_cue_sec=min_cue_sec,
    )

    # All timing in integer ticks of the grid: equal stays equal, strict stays strict.
    tick = frame_duration if frame_duration is not None else 0.001

    def seconds(ticks: int) -> float:
        # k / 1000 is the double nearest to k ms (k * 0.001 may not be: 1900 * 0.001 != 1.9).
        return ticks / 1000 if frame_duration is None else ticks * frame_duration

    begin = [round(starts[i] / tick) for i, _ in spans]
    finish = [round(max(ends[i:j]) / tick) for i, j in spans]
    for k in range(1, len(spans)):
        begin[k] = max(begin[k], begin[k - 1] + 1)
    min_ticks = math.ceil(min_cue_sec / tick - 1e-9)
    cues: list[Cue] = []
    for k, (i, j) in enumerate(spans):
        limit = begin[k + 1] if k + 1 < len(spans) else None
        # At least one tick long and, room permitting, min_cue_sec; never past the next start
        # (begin[k + 1] > begin[k], so both hold at once).
        wanted = max(finish[k], begin[k] + 1, begin[k] + min_ticks)
        end = wanted if limit is None else min(wanted, limit)
        lines = _layout(tokens[i:j], max_chars_per_line, max_lines)
        cues.append(Cue(start=seconds(begin[k]), end=seconds(end), lines=lines))
    return cues


# ---------------------------------------------------------------------------------------------
# SRT / WebVTT


def _timestamp(seconds: float, separator: str) -> str:
    ms = max(0, round(seconds * 1000))
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def format_srt(cues: Sequence[Cue]) -> str:
    """SubRip: 1-based index, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, text lines, blank line."""
    blocks = []
    for index, cue in enumerate(cues, start=1):
        timing = f"{_timestamp(cue.start, ',')} --> {_timestamp(cue.end, ',')}"
        blocks.append("\n".join([str(index), timing, *cue.lines]) + "\n")
    return "\n".join(blocks)


def _vtt_escape(line: str) -> str:
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT: `WEBVTT` header, `HH:MM:SS.mmm --> HH:MM:SS.mmm`, text escaped for VTT."""
    blocks = ["WEBVTT\n"]
    for cue in cues:
        timing = f"{_timestamp(cue.start, '.')} --> {_timestamp(cue.end, '.')}"
        blocks.append("\n".join([timing, *(_vtt_escape(line) for line in cue.lines)]) + "\n")
    return "\n".join(blocks)


_TIME_RE = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{1,3})$")


def _parse_time(text: str) -> float:
    match = _TIME_RE.match(text.strip())
    if not match:
        raise ValueError(f"invalid caption timestamp {text.strip()!r}")
    hours, minutes, seconds, fraction = match.groups()
    millis = int(fraction.ljust(3, "0"))
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + millis / 1000


def _parse_timing(line: str) -> tuple[float, float]:
    left, _, right = line.partition("-->")
    # WebVTT may put cue settings after the end time ("00:00:01.000 align:start").
    fields = right.split()
    if not fields:
        raise ValueError(f"invalid caption timing line {line!r}")
    return _parse_time(left), _parse_time(fields[0])


def _blocks(text: str) -> list[list[str]]:
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.split("\n"):
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def parse_srt(text: str) -> list[Cue]:
    """Read SubRip text; raises ValueError on a block without a valid timing line."""
    cues = []
    for block in _blocks(text):
        timing_at = next((n for n, line in enumerate(block) if "-->" in line), None)
        if timing_at is None or timing_at > 1:
            raise ValueError(f"SRT block without a timing line: {block[0]!r}")
        start, end = _parse_timing(block[timing_at])
        cues.append(Cue(start=start, end=end, lines=tuple(block[timing_at + 1 :])))
    return cues


def parse_vtt(text: str) -> list[Cue]:
    """Read WebVTT text (header, optional cue ids, NOTE/STYLE/REGION blocks skipped)."""
    blocks = _blocks(text)
    if not blocks or not blocks[0][0].startswith("WEBVTT"):
        raise ValueError("not a WebVTT document: it must start with 'WEBVTT'")
    cues = []
    for block in blocks[1:]:
        if block[0].split(maxsplit=1)[0] in ("NOTE", "STYLE", "REGION"):
            continue
        timing_at = next((n for n, line in enumerate(block) if "-->" in line), None)
        if timing_at is None or timing_at > 1:
            raise ValueError(f"WebVTT block without a timing line: {block[0]!r}")
        start, end = _parse_timing(block[timing_at])
        lines = tuple(html.unescape(line) for line in block[timing_at + 1 :])
        cues.append(Cue(start=start, end=end, lines=lines))
    return cues
