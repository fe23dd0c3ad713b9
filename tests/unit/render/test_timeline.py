"""Frame snapping and crossfade layout of the edit decision list."""

from __future__ import annotations

from fractions import Fraction

import pytest

from talkavocado_common.models import CutPlan, FrameRate, PlanRegion, PlanStats
from talkavocado_render.core.timeline import (
    TimelineError,
    add_crossfades,
    build_timeline,
    frame_rate_of,
    keep_frames,
)

FPS25 = FrameRate(num=25, den=1)


def plan(duration: float, regions: list[tuple[float, float, str]]) -> CutPlan:
    return CutPlan(
        duration_sec=duration,
        regions=[
            PlanRegion(start=s, end=e, action=a, reason="speech" if a == "keep" else "pause")  # type: ignore[arg-type]
            for s, e, a in regions
        ],
        stats=PlanStats(
            source_duration_sec=duration,
            kept_duration_sec=0,
            removed_duration_sec=0,
            cuts_by_reason={},
        ),
    )


def timeline_of(p: CutPlan, rate: FrameRate = FPS25, duration: float | None = None):  # type: ignore[no-untyped-def]
    return build_timeline(
        p,
        source_key="t/x/j/input/a.mp4",
        rate=rate,
        width=320,
        height=240,
        has_audio=True,
        source_duration=p.duration_sec if duration is None else duration,
    )


def test_keep_regions_snap_outwards_to_frames() -> None:
    p = plan(4.0, [(0.0, 1.01, "keep"), (1.01, 2.99, "cut"), (2.99, 4.0, "keep")])
    # 1.01 s = frame 25.25 -> keep ends at frame 26; 2.99 s = 74.75 -> next keep starts at 74.
    assert keep_frames(p, FPS25, 100) == [(0, 26), (74, 100)]


def test_exact_frame_edges_are_not_widened() -> None:
    p = plan(4.0, [(0.0, 1.0, "keep"), (1.0, 3.0, "cut"), (3.0, 4.0, "keep")])
    assert keep_frames(p, FPS25, 100) == [(0, 25), (75, 100)]


def test_keeps_that_meet_after_snapping_merge() -> None:
    p = plan(2.0, [(0.0, 1.01, "keep"), (1.01, 1.03, "cut"), (1.03, 2.0, "keep")])
    assert keep_frames(p, FPS25, 50) == [(0, 50)]


def test_timeline_places_clips_back_to_back() -> None:
    t = timeline_of(plan(4.0, [(0.0, 1.0, "keep"), (1.0, 3.0, "cut"), (3.0, 4.0, "keep")]))
    assert [(c.source_start, c.source_end, c.timeline_start) for c in t.clips] == [
        (0.0, 1.0, 0.0),
        (3.0, 4.0, 1.0),
    ]
    assert t.duration_sec == pytest.approx(2.0)


def test_ntsc_rate_is_kept_exact() -> None:
    rate = frame_rate_of(Fraction(30000, 1001))
    assert (rate.num, rate.den) == (30000, 1001)
    t = timeline_of(plan(2.0, [(0.0, 0.5, "keep"), (0.5, 1.5, "cut"), (1.5, 2.0, "keep")]), rate)
    for clip in t.clips:
        assert clip.source_start == pytest.approx(clip.source_start_frame * 1001 / 30000)
    total = sum(c.source_end_frame - c.source_start_frame for c in t.clips)
    assert t.duration_sec == pytest.approx(total * 1001 / 30000)


def test_clamped_to_the_source_length() -> None:
    t = timeline_of(plan(4.0, [(0.0, 4.0, "keep")]), duration=3.98)
    assert t.clips[-1].source_end_frame == 99


def test_plan_that_keeps_nothing_is_refused() -> None:
    with pytest.raises(TimelineError, match="keeps nothing"):
        timeline_of(plan(1.0, [(0.0, 1.0, "cut")]))


def test_crossfades_overlap_joins_and_shorten_the_timeline() -> None:
    t = timeline_of(
        plan(
            6.0,
            [
                (0.0, 2.0, "keep"),
                (2.0, 3.0, "cut"),
                (3.0, 4.0, "keep"),
                (4.0, 5.0, "cut"),
                (5.0, 6.0, "keep"),
            ],
        )
    )
    x = add_crossfades(t, 0.2)
    assert [c.transition_in_sec for c in x.clips] == [0.0, 0.2, 0.2]
    assert [c.timeline_start for c in x.clips] == pytest.approx([0.0, 1.8, 2.6])
    assert x.duration_sec == pytest.approx(t.duration_sec - 0.4)


def test_crossfade_is_whole_frames_and_at_most_half_a_clip() -> None:
    t = timeline_of(plan(3.0, [(0.0, 2.0, "keep"), (2.0, 2.8, "cut"), (2.8, 3.0, "keep")]))
    x = add_crossfades(t, 0.5)  # the last clip is 5 frames: at most 2 frames of fade
    assert x.clips[1].transition_in_sec == pytest.approx(2 / 25)
    y = add_crossfades(t, 0.05)  # 1.25 frames rounds to 1 frame
    assert y.clips[1].transition_in_sec == pytest.approx(1 / 25)


def test_single_clip_gets_no_transition() -> None:
    t = timeline_of(plan(3.0, [(0.0, 3.0, "keep")]))
    assert add_crossfades(t, 0.3).clips[0].transition_in_sec == 0.0
