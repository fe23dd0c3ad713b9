"""Hand-made transcripts, analyses and plans for the planner, timeline and retime tests."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from talkavocado_common.models import (
    AudioAnalysis,
    CutPlan,
    FrameRate,
    Interval,
    Segment,
    Timeline,
    Transcript,
    Word,
)
from talkavocado_render.core.timeline import build_timeline

W = tuple[float, float, str]
Span = tuple[float, float]
FPS25 = FrameRate(num=25, den=1)


def analysis(duration: float, silences: Sequence[Span]) -> AudioAnalysis:
    return AudioAnalysis(
        duration_sec=duration,
        sample_rate=16000,
        integrated_lufs=-20.0,
        noise_floor_db=-70.0,
        speech_level_db=-20.0,
        silence_threshold_db=-55.0,
        frame_ms=10,
        min_silence_ms=100,
        silences=[Interval(start=s, end=e) for s, e in silences],
    )


def transcript(words: Sequence[W], speech: Sequence[Span] | None = None) -> Transcript:
    ws = [Word(start=s, end=e, word=t, probability=0.9) for s, e, t in words]
    end = max((w.end for w in ws), default=0.0)
    return Transcript(
        language="en",
        duration_sec=end,
        model="test",
        segments=[Segment(id=0, start=0.0, end=end, text="".join(w.word for w in ws), words=ws)],
        speech=None if speech is None else [Interval(start=s, end=e) for s, e in speech],
    )


def cuts(plan: CutPlan) -> list[tuple[float, float, str]]:
    return [(r.start, r.end, r.reason) for r in plan.regions if r.action == "cut"]


def kept_in(plan: CutPlan, start: float, end: float) -> float:
    """Seconds of [start, end] the plan keeps."""
    return sum(
        max(0.0, min(r.end, end) - max(r.start, start)) for r in plan.regions if r.action == "keep"
    )


def assert_well_formed(plan: CutPlan) -> None:
    """Regions cover [0, duration] in order; every plan word lies wholly in a region of its own
    action."""
    assert plan.regions[0].start == 0.0
    assert plan.regions[-1].end == pytest.approx(plan.duration_sec)
    for a, b in zip(plan.regions, plan.regions[1:], strict=False):
        assert a.end == pytest.approx(b.start)
        assert a.start < a.end
        assert not (a.action == b.action == "keep")
    for region in plan.regions:
        if region.action == "keep":
            assert region.lead_silence_sec is not None
            assert region.trail_silence_sec is not None
            assert region.lead_silence_sec <= region.end - region.start + 1e-6
            assert region.trail_silence_sec <= region.end - region.start + 1e-6
    assert plan.words is not None
    for word in plan.words:
        assert word.start <= word.end
        holding = [r for r in plan.regions if r.start <= word.start and word.end <= r.end]
        assert holding, f"{word} straddles regions"
        assert any(r.action == word.action for r in holding), f"{word} lies in the wrong region"


def kept_words(plan: CutPlan) -> list[str]:
    assert plan.words is not None
    return [w.word.strip() for w in plan.words if w.action == "keep"]


def timeline_of(plan: CutPlan, rate: FrameRate = FPS25, duration: float | None = None) -> Timeline:
    return build_timeline(
        plan,
        source_key="t/x/j/input/a.mp4",
        rate=rate,
        width=320,
        height=240,
        has_audio=True,
        source_duration=plan.duration_sec if duration is None else duration,
    )
