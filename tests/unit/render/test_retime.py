"""Transcript words moved onto the edited timeline."""

from __future__ import annotations

from itertools import pairwise

import pytest

from talkavocado_common.models import (
    CutPlan,
    FrameRate,
    PlanRegion,
    PlanStats,
    PlanWord,
    SubtitleOptions,
    Timeline,
    TimelineClip,
    Word,
)
from talkavocado_render.core.retime import (
    plan_cues,
    retime_cues,
    retime_plan_words,
    retime_words,
)
from talkavocado_render.core.timeline import add_crossfades, layout

RATE = FrameRate(num=25, den=1)


def timeline(*ranges: tuple[int, int]) -> Timeline:
    clips = [
        TimelineClip(
            source_start_frame=s, source_end_frame=e, source_start=0, source_end=0, timeline_start=0
        )
        for s, e in ranges
    ]
    placed, duration = layout(clips, RATE)
    return Timeline(
        source_key="k",
        frame_rate=RATE,
        width=320,
        height=240,
        has_audio=True,
        source_duration_sec=20,
        clips=placed,
        duration_sec=duration,
    )


def word(start: float, end: float, text: str) -> Word:
    return Word(start=start, end=end, word=text, probability=0.9)


def test_words_shift_by_the_time_cut_before_them() -> None:
    t = timeline((0, 50), (100, 150))  # keep 0-2 s and 4-6 s
    moved = retime_words([word(0.5, 1.0, " one"), word(4.5, 5.0, " two")], t)
    assert [(w.text, w.start, w.end) for w in moved] == [(" one", 0.5, 1.0), (" two", 2.5, 3.0)]


def test_words_in_cut_regions_are_dropped() -> None:
    t = timeline((0, 50), (100, 150))
    moved = retime_words([word(0.5, 1.0, " one"), word(2.5, 3.0, " um"), word(4.5, 5.0, " two")], t)
    assert [w.text for w in moved] == [" one", " two"]


def test_word_straddling_a_cut_edge_is_clamped_to_its_clip() -> None:
    t = timeline((0, 50), (100, 150))
    (moved,) = retime_words([word(3.9, 4.5, " smeared")], t)
    assert (moved.start, moved.end) == (2.0, 2.5)


def test_crossfades_keep_words_monotonic_and_apart() -> None:
    t = add_crossfades(timeline((0, 50), (100, 150)), 0.4)
    moved = retime_words([word(1.5, 1.99, " end"), word(4.0, 4.5, " start")], t)
    assert moved[0].end <= moved[1].start
    assert moved[1].start == pytest.approx(max(1.6, moved[0].end))


def test_cues_are_frame_aligned_and_never_overlap() -> None:
    t = timeline((0, 200), (250, 500))
    words = [word(0.1 + 0.37 * i, 0.1 + 0.37 * i + 0.3, f" w{i}") for i in range(50)]
    cues = retime_cues(words, t, SubtitleOptions())
    assert cues
    frame = 1 / 25
    for a, b in pairwise(cues):
        assert a.end <= b.start + 1e-9
    for cue in cues:
        assert cue.start < cue.end
        for edge in (cue.start, cue.end):
            assert abs(edge / frame - round(edge / frame)) < 1e-6
        assert all(len(line) <= 42 for line in cue.lines)
        assert len(cue.lines) <= 2
    text = " ".join(" ".join(c.lines) for c in cues).split()
    kept = [w.word.strip() for w in words if not 8.0 <= (w.start + w.end) / 2 < 10.0]
    assert text == kept


def plan_with_words(words: list[tuple[float, float, str, str]] | None) -> CutPlan:
    regions = [(0.0, 2.0, "keep"), (2.0, 4.0, "cut"), (4.0, 6.0, "keep")]
    return CutPlan(
        duration_sec=6.0,
        regions=[
            PlanRegion(start=s, end=e, action=a, reason="speech" if a == "keep" else "filler")
            for s, e, a in regions
        ],
        stats=PlanStats(
            source_duration_sec=6, kept_duration_sec=4, removed_duration_sec=2, cuts_by_reason={}
        ),
        words=None
        if words is None
        else [PlanWord(start=s, end=e, word=t, action=a) for s, e, t, a in words],
    )


def test_the_plans_kept_words_are_shown_and_its_cut_words_are_not() -> None:
    plan = plan_with_words(
        [
            (0.5, 1.0, " So,", "keep"),
            (2.5, 2.8, " um,", "cut"),  # cut with its sound, although Whisper put it at 4.05
            (4.0, 4.6, " customer", "keep"),
            (4.6, 5.2, " service.", "keep"),
        ]
    )
    moved = retime_plan_words(plan.words or [], timeline((0, 50), (100, 150)))
    assert [w.text for w in moved] == [" So,", " customer", " service."]
    assert [t for w in moved for t in (w.start, w.end)] == pytest.approx([0.5, 1, 2, 2.6, 2.6, 3.2])
    cues = plan_cues(plan, timeline((0, 50), (100, 150)), SubtitleOptions())
    assert cues is not None
    assert " ".join(" ".join(c.lines) for c in cues).split() == ["So,", "customer", "service."]


def test_every_kept_word_is_shown_in_the_plans_order_even_where_times_disagree() -> None:
    # A kept word the grid left just outside its clip, and one timed before its predecessor.
    words = [
        (1.9, 2.0, " edge", "keep"),
        (1.5, 1.8, " early", "keep"),
        (3.99, 4.3, " next", "keep"),
    ]
    t = add_crossfades(timeline((0, 50), (100, 150)), 0.4)
    moved = retime_plan_words(plan_with_words(words).words or [], t)
    assert [w.text for w in moved] == [" edge", " early", " next"]
    for a, b in pairwise(moved):
        assert a.end <= b.start
    assert all(w.start <= w.end <= t.duration_sec for w in moved)


def test_an_older_plan_without_words_gives_no_plan_cues() -> None:
    assert plan_cues(plan_with_words(None), timeline((0, 50)), SubtitleOptions()) is None
