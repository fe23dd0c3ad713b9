"""Edit decision list: the plan's keep regions snapped to the source's frame grid, and
crossfades at the joins. Pure functions; exact frame arithmetic with Fractions."""

from __future__ import annotations

import math
from collections.abc import Sequence
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


def keep_frames(plan: CutPlan, rate: FrameRate, total_frames: int) -> list[tuple[int, int]]:
    """Keep regions as [start, end) frame ranges, snapped outwards (a kept region never loses a
    sample to the grid), clamped to the source and merged where they meet."""
    fps = _fps(rate)
    ranges: list[tuple[int, int]] = []
    for region in plan.regions:
        if region.action != "keep":
            continue
        start = max(0, math.floor(Fraction(region.start) * fps + Fraction(_EPS)))
        end = min(total_frames, math.ceil(Fraction(region.end) * fps - Fraction(_EPS)))
        if end <= start:
            continue
        if ranges and start <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], end))
        else:
            ranges.append((start, end))
    return ranges


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
    frames = keep_frames(plan, rate, total_frames)
    if not frames:
        raise TimelineError("the cut plan keeps nothing of the recording")
    clips = [
        TimelineClip(
            source_start_frame=s,
            source_end_frame=e,
            source_start=0.0,
            source_end=0.0,
            timeline_start=0.0,
        )
        for s, e in frames
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
    of either neighbouring clip, so no clip is swallowed by its transitions."""
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
            frames = min(wanted, limit)
        clips.append(clip.model_copy(update={"transition_in_sec": float(frames / fps)}))
    placed, duration = layout(clips, timeline.frame_rate)
    return timeline.model_copy(update={"clips": placed, "duration_sec": duration})
