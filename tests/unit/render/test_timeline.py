"""Frame snapping and crossfade layout of the edit decision list."""

from __future__ import annotations

import random
from fractions import Fraction
from itertools import pairwise

import pytest

from talkavocado_common.models import (
    AudioAnalysis,
    CutPlan,
    FrameRate,
    PlannerOptions,
    PlanRegion,
    PlanStats,
    Transcript,
)
from talkavocado_common.planning.planner import plan_cuts
from talkavocado_render.core.timeline import (
    TimelineError,
    add_crossfades,
    build_timeline,
    frame_rate_of,
    keep_frames,
)
from tests.unit.render.plans import analysis, transcript

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


def quiet_plan(duration: float, regions: list[tuple[float, float, str, float, float]]) -> CutPlan:
    """A plan whose keep regions say how much quiet they hold at each end."""
    p = plan(duration, [(s, e, a) for s, e, a, _, _ in regions])
    quiet = [
        r.model_copy(update={"lead_silence_sec": lead, "trail_silence_sec": trail})
        if r.action == "keep"
        else r
        for r, (_, _, _, lead, trail) in zip(p.regions, regions, strict=True)
    ]
    return p.model_copy(update={"regions": quiet})


def test_clips_carry_the_quiet_of_their_regions_widened_by_snapping() -> None:
    p = quiet_plan(
        4.0,
        [(0.0, 1.01, "keep", 0.1, 0.2), (1.01, 2.99, "cut", 0, 0), (2.99, 4.0, "keep", 0.3, 0.05)],
    )
    t = timeline_of(p)
    # 1.01 s snaps out to 1.04 s (frame 26), 2.99 s to 2.96 s (frame 74): 30 ms more quiet each.
    assert [(c.lead_silence_sec, c.trail_silence_sec) for c in t.clips] == [
        pytest.approx((0.1, 0.23)),
        pytest.approx((0.33, 0.05)),
    ]


def test_merged_clips_take_the_first_lead_and_the_last_trail() -> None:
    p = quiet_plan(
        2.0,
        [(0.0, 1.01, "keep", 0.1, 0.0), (1.01, 1.03, "cut", 0, 0), (1.03, 2.0, "keep", 0.0, 0.4)],
    )
    (clip,) = timeline_of(p).clips
    assert (clip.lead_silence_sec, clip.trail_silence_sec) == pytest.approx((0.1, 0.4))


def test_clamping_to_the_source_takes_quiet_away() -> None:
    p = quiet_plan(4.0, [(0.0, 4.0, "keep", 0.0, 0.1)])
    (clip,) = timeline_of(p, duration=3.98).clips
    assert clip.trail_silence_sec == pytest.approx(0.06)


def test_crossfades_are_capped_by_the_quiet_on_both_sides() -> None:
    p = quiet_plan(
        9.0,
        [
            (0.0, 2.0, "keep", 0.0, 0.13),  # 3.25 frames of quiet before the first join
            (2.0, 3.0, "cut", 0, 0),
            (3.0, 5.0, "keep", 0.3, 0.01),  # less than a frame before the second join
            (5.0, 6.0, "cut", 0, 0),
            (6.0, 9.0, "keep", 0.5, 0.0),
        ],
    )
    x = add_crossfades(timeline_of(p), 0.5)
    assert [c.transition_in_sec for c in x.clips] == pytest.approx([0.0, 3 / 25, 0.0])
    assert x.duration_sec == pytest.approx(7.0 - 3 / 25)


def test_crossfades_without_known_quiet_are_capped_by_length_only() -> None:
    t = timeline_of(plan(6.0, [(0.0, 2.0, "keep"), (2.0, 3.0, "cut"), (3.0, 6.0, "keep")]))
    assert t.clips[0].trail_silence_sec is None
    assert add_crossfades(t, 0.8).clips[1].transition_in_sec == pytest.approx(0.8)


def _talk(rng: random.Random) -> tuple[Transcript, AudioAnalysis, list[tuple[float, float]]]:
    """Words with sound exactly under them, pauses of every length between; maybe a breath."""
    t = rng.uniform(0.0, 1.0)
    words: list[tuple[float, float, str]] = []
    silences: list[tuple[float, float]] = [(0.0, t)] if t else []
    speech: list[tuple[float, float]] = []
    for _ in range(rng.randint(2, 12)):
        length = rng.uniform(0.2, 1.5)
        words.append((t, t + length, " word"))
        speech.append((t, t + length))
        t += length
        gap = rng.choice([0.05, 0.3, 0.9, 1.5, 3.0])
        if gap == 3.0 and rng.random() < 0.5:
            silences += [(t, t + 1.2), (t + 1.5, t + gap)]  # a breath in the pause
        else:
            silences.append((t, t + gap))
        t += gap
    return transcript(words, speech), analysis(t, silences), [(s, e) for s, e, _ in words]


@pytest.mark.parametrize("rate", [FPS25, FrameRate(num=30000, den=1001), FrameRate(num=60, den=1)])
@pytest.mark.parametrize("target_ms", [0, 100, 200])
@pytest.mark.parametrize("padding_ms", [0, 50, 120])
def test_crossfades_never_reach_kept_sound(
    rate: FrameRate, target_ms: int, padding_ms: int
) -> None:
    rng = random.Random(f"{rate.num}/{rate.den}-{target_ms}-{padding_ms}")
    options = PlannerOptions(target_pause_ms=target_ms, padding_ms=padding_ms, min_pause_ms=500)
    hard_joins = faded_joins = 0
    for _ in range(6):
        tr, an, sounds = _talk(rng)
        timeline = timeline_of(plan_cuts(tr, an, options), rate)
        for fade_ms in (200, 500, 1000, 2000):
            faded = add_crossfades(timeline, fade_ms / 1000)
            for previous, clip in pairwise(faded.clips):
                d = clip.transition_in_sec
                hard_joins += d == 0
                faded_joins += d > 0
                fading = [(previous.source_end - d, previous.source_end)]
                fading.append((clip.source_start, clip.source_start + d))
                for a, b in fading:
                    for s, e in sounds:
                        assert b <= s + 1e-6 or a >= e - 1e-6, (
                            f"{fade_ms} ms fade {a:.3f}-{b:.3f} reaches sound {s:.3f}-{e:.3f}"
                        )
    if padding_ms == target_ms == 0:
        # No quiet kept at any cut (snapping adds less than a frame): every join is hard.
        assert (hard_joins > 0, faded_joins) == (True, 0)
    else:
        assert faded_joins > 0
