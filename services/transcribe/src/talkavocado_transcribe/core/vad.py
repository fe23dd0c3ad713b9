"""Silero VAD speech probabilities → speech stretches, tuned for finding pauses.

faster_whisper.vad.get_speech_timestamps takes the whole signal; the engine computes the model's
probabilities window by window instead (carrying the model's state and context across windows,
so they are the very numbers a whole-signal run gives) and this turns them into stretches. The
rule is the helper's (speech starts at `threshold`, ends after `min_silence_ms` below
`neg_threshold`, padded by `speech_pad_ms`), with settings for pauses rather than for Whisper:
a gap as short as a breath between two sentences must show as a gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

FRAME_SAMPLES = 512  # Silero VAD v6 at 16 kHz: one probability per 32 ms


@dataclass(frozen=True)
class VadSettings:
    threshold: float = 0.5
    neg_threshold: float | None = None  # None: threshold - 0.15
    min_speech_ms: int = 0  # an "uh" or a one-syllable word is speech too
    min_silence_ms: int = 150  # a breath pause between sentences is 0.2-0.5 s
    speech_pad_ms: int = 30  # onsets and tails just under the threshold

    @property
    def end_threshold(self) -> float:
        if self.neg_threshold is not None:
            return self.neg_threshold
        return max(self.threshold - 0.15, 0.01)


DEFAULT_VAD = VadSettings()


def speech_stretches(
    probabilities: Sequence[float],
    total_samples: int,
    sample_rate: int = 16_000,
    settings: VadSettings = DEFAULT_VAD,
    frame_samples: int = FRAME_SAMPLES,
) -> list[tuple[float, float]]:
    """(start, end) in seconds of the stretches called speech, in order, never overlapping;
    `probabilities[i]` is the speech probability of samples [i*frame, (i+1)*frame)."""
    min_silence = sample_rate * settings.min_silence_ms / 1000
    min_speech = sample_rate * settings.min_speech_ms / 1000
    pad = int(sample_rate * settings.speech_pad_ms / 1000)
    ending = settings.end_threshold

    found: list[tuple[int, int]] = []
    start: int | None = None
    quiet_since = 0  # sample where the probability last fell below `ending`, 0: not falling
    for i, p in enumerate(probabilities):
        at = i * frame_samples
        if p >= settings.threshold:
            quiet_since = 0
            if start is None:
                start = at
            continue
        if start is not None and p < ending:
            if not quiet_since:
                quiet_since = at
            if at - quiet_since >= min_silence:
                if quiet_since - start > min_speech:
                    found.append((start, quiet_since))
                start, quiet_since = None, 0
    if start is not None and total_samples - start > min_speech:
        found.append((start, total_samples))

    return [(a / sample_rate, b / sample_rate) for a, b in _padded(found, pad, total_samples)]


def _gap_share(gap: int, pad: int) -> int:
    """Padding each neighbour takes from a gap: `pad`, or half a gap too short for two pads."""
    return gap // 2 if gap < 2 * pad else pad


def _padded(spans: Sequence[tuple[int, int]], pad: int, total: int) -> list[tuple[int, int]]:
    """Spans (in samples) widened by `pad` on each side, within [0, total], never overlapping."""
    if not spans:
        return []
    shares = [_gap_share(following[0] - span[1], pad) for span, following in pairwise(spans)]
    padded = [
        (start - before, end + after)
        for (start, end), before, after in zip(spans, [pad, *shares], [*shares, pad], strict=True)
    ]
    # Only the outer edges can run past the recording: inner ones stop at their gap's middle.
    padded[0] = (max(0, padded[0][0]), padded[0][1])
    padded[-1] = (padded[-1][0], min(total, padded[-1][1]))
    return padded


def speech_seconds(stretches: Sequence[tuple[float, float]]) -> float:
    return sum(b - a for a, b in stretches)
