"""Where to cut a long recording into windows that Whisper transcribes one at a time.

Whisper is handed one window of audio at a time so the step's memory does not grow with the
recording (the whole spectrogram of an hour is gigabytes). A window ends inside a measured
silence, where no word can be cut in two; only when a stretch of `max_sec` holds no silence is a
window cut hard, and then the next one starts `overlap_sec` earlier so that the words around the
hard cut are heard whole by one of the two (merge.merge_windows picks the seam).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# A silence this long is as safe a cut as any longer one: length counts up to here.
SAFE_SILENCE_SEC = 2.0
# How much nearness to the target length is worth against silence length: a silence one second
# longer may lie this many seconds farther from the target.
SEC_FROM_TARGET_PER_SILENCE_SEC = 10.0


@dataclass(frozen=True)
class WindowPolicy:
    """Window lengths in seconds. The longest window bounds the step's memory (its spectrogram:
    ~1 MB a second; a 120 s window peaks the step near 360 MB, a 150 s one near 420 MB).
    Whisper decodes 30 s chunks and pads a window's last one: 60 s windows wasted ~12 % of the
    decoding (realtime factor 0.153 against 0.135 for one whole window, 7.4 min talk); around
    100 s the padding is lost in the noise (0.137)."""

    min_sec: float = 30.0
    target_sec: float = 100.0
    max_sec: float = 120.0
    overlap_sec: float = 10.0  # shared by two windows at a hard cut
    # Prompt every window after the first with the verbatim prompt and the previous window's
    # last words. Off: tiny.en, so prompted at a window's start, often skips its first seconds
    # (8-16 s of speech lost in 2 of 3 windows of a generated talk) or writes 30 s as one
    # segment. Off, every window is prompted as a whole-recording run prompts its 30 s chunks
    # after the first (faster-whisper uses the prompt for the first chunk only when
    # condition_on_previous_text is off): the first window alone gets the verbatim prompt.
    carry_prompt: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.min_sec <= self.target_sec <= self.max_sec:
            raise ValueError("window lengths must satisfy 0 < min <= target <= max")
        if not 0 <= self.overlap_sec < self.min_sec:
            raise ValueError("the overlap must be shorter than the shortest window")

    @classmethod
    def whole(cls) -> WindowPolicy:
        """One window for any length (the reference the windowed run is checked against)."""
        return cls(min_sec=math.inf, target_sec=math.inf, max_sec=math.inf, overlap_sec=0.0)


DEFAULT_POLICY = WindowPolicy()


@dataclass(frozen=True)
class Window:
    """[start, end) of the recording in seconds. `hard_start`: the window begins before the
    previous one ends (a hard cut), so their words must be merged at a seam."""

    start: float
    end: float
    hard_start: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start


def _best_cut(
    silences: Sequence[tuple[float, float]], lo: float, hi: float, target: float
) -> float | None:
    """The middle of the best silence whose middle lies in [lo, hi]: long (up to
    SAFE_SILENCE_SEC) and near the target; None when there is none."""
    best: tuple[float, float] | None = None  # (score, cut)
    for a, b in silences:
        cut = (a + b) / 2
        if not lo <= cut <= hi:
            continue
        score = min(b - a, SAFE_SILENCE_SEC) - abs(cut - target) / SEC_FROM_TARGET_PER_SILENCE_SEC
        if best is None or score > best[0]:
            best = (score, cut)
    return None if best is None else best[1]


def plan_windows(
    duration: float,
    silences: Sequence[tuple[float, float]],
    policy: WindowPolicy = DEFAULT_POLICY,
) -> list[Window]:
    """Consecutive windows covering [0, duration]: each at most `max_sec` long and (but for a
    recording shorter than that) at least `min_sec`; cut in the middle of a silence whenever
    one lies in reach, else hard with an overlap. `silences` are (start, end) in seconds."""
    if duration <= 0:
        return []
    ordered = sorted(silences)
    windows: list[Window] = []
    start, hard = 0.0, False
    while duration - start > policy.max_sec:
        # The last window must not end up shorter than min_sec either.
        lo, hi = start + policy.min_sec, min(start + policy.max_sec, duration - policy.min_sec)
        cut = _best_cut(ordered, lo, hi, start + policy.target_sec)
        if cut is not None:
            windows.append(Window(start, cut, hard))
            start, hard = cut, False
        else:
            end = start + policy.max_sec
            windows.append(Window(start, end, hard))
            start, hard = end - policy.overlap_sec, True
    windows.append(Window(start, duration, hard))
    return windows
