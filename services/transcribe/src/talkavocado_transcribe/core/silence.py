"""Pull Whisper's word edges out of pauses.

Whisper's word timestamps smear across pauses: the first word after a pause often starts inside
it, the last word before one often ends well into it (by a second on generated speech). Pauses
are found from the signal's own level — relative to the recording's noise floor, so a noisy
room works too — and word edges that fall inside a pause are moved to the pause's edge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from talkavocado_common.models import Word

FRAME_SEC = 0.02
MIN_SILENCE_SEC = 0.25  # shorter dips are stop consonants and breaths inside speech
EDGE_MARGIN_SEC = 0.05  # quiet onsets and tails sit just below any threshold
MIN_DYNAMIC_RANGE_DB = 15.0  # below this the pauses cannot be told from speech: change nothing
FLOOR_DB = -100.0


def frame_levels_db(
    samples: npt.NDArray[np.float32], sample_rate: int, frame_sec: float = FRAME_SEC
) -> npt.NDArray[np.float64]:
    """RMS level of each frame in dBFS (floored at -100 dB so digital silence stays finite)."""
    frame = max(1, round(sample_rate * frame_sec))
    count = len(samples) // frame
    if count == 0:
        return np.zeros(0, dtype=np.float64)
    frames = samples[: count * frame].astype(np.float64).reshape(count, frame)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    levels: npt.NDArray[np.float64] = np.maximum(20 * np.log10(np.maximum(rms, 1e-10)), FLOOR_DB)
    return levels


def find_silences(
    levels_db: npt.NDArray[np.float64],
    frame_sec: float = FRAME_SEC,
    *,
    min_silence_sec: float = MIN_SILENCE_SEC,
) -> list[tuple[float, float]]:
    """Quiet stretches (start, end) in seconds, against the recording's own noise floor."""
    if len(levels_db) == 0:
        return []
    floor = float(np.percentile(levels_db, 5))
    loud = float(np.percentile(levels_db, 95))
    spread = loud - floor
    if spread < MIN_DYNAMIC_RANGE_DB:
        return []
    # A third of the way up from the floor, but never closer than 6 dB to it nor 20 dB above it.
    threshold = floor + min(max(6.0, spread / 3), 20.0)
    quiet = levels_db < threshold
    silences: list[tuple[float, float]] = []
    run_start: int | None = None
    for index, is_quiet in enumerate([*quiet.tolist(), False]):
        if is_quiet and run_start is None:
            run_start = index
        elif not is_quiet and run_start is not None:
            start, end = run_start * frame_sec, index * frame_sec
            if end - start >= min_silence_sec - 1e-9:
                silences.append((start, end))
            run_start = None
    return silences


def tighten_words(
    words: Sequence[Word],
    silences: Sequence[tuple[float, float]],
    *,
    margin: float = EDGE_MARGIN_SEC,
) -> list[Word]:
    """Words whose start or end lies inside a pause, moved to the pause's edge (plus a margin);
    a word spanning a whole pause is cut back to the side with more sound (no spoken word holds
    a pause of MIN_SILENCE_SEC). A word wholly inside a pause is left alone: there is no sound
    to move it to.
    """
    out: list[Word] = []
    for word in words:
        start, end = word.start, word.end
        for a, b in silences:
            if a <= start and end <= b:
                continue
            if a <= start < b:  # sound follows the pause within the word
                start = max(start, b - margin)
            elif a < end <= b:  # sound precedes the pause within the word
                end = min(end, a + margin)
            elif start < a and b < end:
                # Sound on both sides: the word smeared over the pause into a neighbour's sound
                # (often an "um" it did not write). The word is the side with more sound.
                if end - b > a - start:
                    start = b - margin
                else:
                    end = a + margin
        out.append(word.model_copy(update={"start": start, "end": max(start, end)}))
    return out
