"""Edit decision list: the plan's keep regions snapped to the source's frame grid, and
crossfades at the joins. Pure functions; exact frame arithmetic with Fractions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from talkavocado_common.models import CutPlan, FrameRate, Timeline, TimelineClip

_EPS = 1e-6


class TimelineError(ValueError):
    """The plan cannot become a timeline (e.g. it keeps nothing)."""


def frame_rate_of(fps: Fraction) -> FrameRate:
    # 29.97 comes from ffprobe as 30000/1001; keep such ratios exact.
    exact = fps.limit_denominator(1001)
    return FrameRate(num=exact.numerator, den=exact.denominator)


def _fps(rate: FrameRate) -> Fraction:
    return Fraction(rate.num, rate.den)


def frame_time(frame: int, rate: FrameRate) -> float:
    return float(frame / _fps(rate))


@dataclass(frozen=True)
class _Run:
    """Keep regions that became one frame range, with the quiet at its two ends (None when the
    plan does not say)."""

    start: int
    end: int
    lead_silence: float | None
    trail_silence: float | None


def _keep_runs(plan: CutPlan, rate: FrameRate, total_frames: int) -> list[_Run]:
    fps = _fps(rate)
    runs: list[_Run] = []
    for region in plan.regions:
        if region.action != "keep":
            continue
        start = max(0, math.floor(Fraction(region.start) * fps + Fraction(_EPS)))
        end = min(total_frames, math.ceil(Fraction(region.end) * fps - Fraction(_EPS)))
        if end <= start:
            continue
        # Snapping outwards adds only quiet (the cut side of an edge is quiet); clamping to the
        # source may take some away.
        lead = _widened(region.lead_silence_sec, region.start - float(start / fps))
        trail = _widened(region.trail_silence_sec, float(end / fps) - region.end)
        if runs and start <= runs[-1].end:
            last = runs[-1]
            runs[-1] = _Run(last.start, max(last.end, end), last.lead_silence, trail)
        else:
            runs.append(_Run(start, end, lead, trail))
    return runs


def _widened(silence: float | None, by: float) -> float | None:
    return None if silence is None else max(0.0, silence + by)


def keep_frames(plan: CutPlan, rate: FrameRate, total_frames: int) -> list[tuple[int, int]]:
    """Keep regions as [start, end) frame ranges, snapped outwards (a kept region never loses a
    sample to the grid), clamped to the source and merged where they meet."""
    return [(run.start, run.end) for run in _keep_runs(plan, rate, total_frames)]


def layout(clips: Sequence[TimelineClip], rate: FrameRate) -> tuple[list[TimelineClip], float]:
    """Place clips one after another, each overlapping the previous by its transition."""
    placed: list[TimelineClip] = []
    cursor = Fraction(0)
    fps = _fps(rate)
    for index, clip in enumerate(clips):
        transition = (
            Fraction(0)
            if index == 0
            else Fraction(clip.transition_in_sec).limit_denominator(100_000)
        )
        start = cursor - transition
        length = Fraction(clip.source_end_frame - clip.source_start_frame) / fps
        placed.append(
            clip.model_copy(
                update={
                    "timeline_start": float(start),
                    "transition_in_sec": float(transition),
                    "source_start": float(clip.source_start_frame / fps),
                    "source_end": float(clip.source_end_frame / fps),
                }
            )
        )
        cursor = start + length
    return placed, float(cursor)


def build_timeline(
    plan: CutPlan,
    *,
    source_key: str,
    rate: FrameRate,
    width: int,
    height: int,
    has_audio: bool,
    source_duration: float,
) -> Timeline:
    total_frames = max(1, math.floor(Fraction(source_duration) * _fps(rate) + Fraction(_EPS)))
    runs = _keep_runs(plan, rate, total_frames)
    if not runs:
        raise TimelineError("the cut plan keeps nothing of the recording")
    clips = [
        TimelineClip(
            source_start_frame=run.start,
            source_end_frame=run.end,
            source_start=0.0,
            source_end=0.0,
            timeline_start=0.0,
            lead_silence_sec=run.lead_silence,
            trail_silence_sec=run.trail_silence,
        )
        for run in runs
    ]
    placed, duration = layout(clips, rate)
    return Timeline(
        source_key=source_key,
        frame_rate=rate,
        width=width,
        height=height,
        has_audio=has_audio,
        source_duration_sec=source_duration,
        clips=placed,
        duration_sec=duration,
    )


def add_crossfades(timeline: Timeline, duration_sec: float) -> Timeline:
    """A crossfade of about `duration_sec` (whole frames) at every join, never longer than half
    of either neighbouring clip, so no clip is swallowed by its transitions, and never longer
    than the quiet on either side of the join (whole frames, rounded down), so no fade reaches a
    word; where there is less than a frame of quiet the join is a hard cut. Clips that do not
    know their quiet (older timelines) are capped by length only."""
    fps = _fps(timeline.frame_rate)
    wanted = max(1, round(Fraction(duration_sec) * fps))
    clips: list[TimelineClip] = []
    for index, clip in enumerate(timeline.clips):
        frames = 0
        if index > 0:
            previous = timeline.clips[index - 1]
            limit = (
                min(
                    previous.source_end_frame - previous.source_start_frame,
                    clip.source_end_frame - clip.source_start_frame,
                )
                // 2
            )
            quiet = _quiet_frames(previous, clip, fps)
            frames = min(wanted, limit) if quiet is None else min(wanted, limit, quiet)
        clips.append(clip.model_copy(update={"transition_in_sec": float(frames / fps)}))
    placed, duration = layout(clips, timeline.frame_rate)
    return timeline.model_copy(update={"clips": placed, "duration_sec": duration})


def _quiet_frames(previous: TimelineClip, clip: TimelineClip, fps: Fraction) -> int | None:
    """Whole frames of quiet on both sides of the join: the previous clip's tail fades out over
    its last frames while this clip's head fades in over its first."""
    if previous.trail_silence_sec is None or clip.lead_silence_sec is None:
        return None
    quiet = min(previous.trail_silence_sec, clip.lead_silence_sec)
    return max(0, math.floor(Fraction(quiet) * fps + Fraction(_EPS)))
