"""A person's keep/cut edits over the planner's plan (planning.edits): later edits win, an edit
that agrees with the plan changes nothing, words follow their region, statistics are recounted,
and bad edits are refused with a sentence."""

from __future__ import annotations

import random

import pytest

from talkavocado_common.models import CutPlan, PlannerOptions
from talkavocado_common.planning.edits import MAX_EDITS, EditError, PlanEdit, apply_edits
from talkavocado_common.planning.planner import plan_cuts
from tests.unit.render.plans import analysis, cuts, kept_in, transcript


def talk() -> CutPlan:
    """'Hello um world.' then, after a long pause, 'Again': a filler cut and a pause cut."""
    return plan_cuts(
        transcript(
            [(0.5, 1.0, " Hello"), (1.3, 1.6, " um"), (1.9, 2.4, " world."), (5.0, 5.5, " Again")]
        ),
        analysis(6.0, [(0.0, 0.5), (1.0, 1.3), (1.6, 1.9), (2.4, 5.0), (5.5, 6.0)]),
        PlannerOptions(),
    )


def edit(start: float, end: float, action: str) -> PlanEdit:
    return PlanEdit.model_validate({"start": start, "end": end, "action": action})


def words(plan: CutPlan) -> list[tuple[str, str]]:
    assert plan.words is not None
    return [(w.word.strip(), w.action) for w in plan.words]


def assert_covers(plan: CutPlan) -> None:
    assert plan.regions[0].start == 0.0
    assert plan.regions[-1].end == pytest.approx(plan.duration_sec)
    for a, b in zip(plan.regions, plan.regions[1:], strict=False):
        assert a.end == pytest.approx(b.start)
        assert a.start < a.end
    kept = sum(r.end - r.start for r in plan.regions if r.action == "keep")
    assert plan.stats.kept_duration_sec == pytest.approx(kept, abs=1e-3)
    assert plan.stats.removed_duration_sec == pytest.approx(plan.duration_sec - kept, abs=1e-3)


def test_the_automatic_plan_cuts_the_filler_and_the_pause() -> None:
    plan = talk()
    assert [reason for _, _, reason in cuts(plan)] == ["filler", "pause"]
    assert ("um", "cut") in words(plan)


def test_restoring_a_filler_cut_keeps_its_word_and_recounts() -> None:
    plan = talk()
    filler = next(r for r in plan.regions if r.reason == "filler")
    edited = apply_edits(plan, [edit(filler.start, filler.end, "keep")])
    assert [reason for _, _, reason in cuts(edited)] == ["pause"]
    restored = [r for r in edited.regions if r.reason == "edited"]
    assert [(r.start, r.end, r.action) for r in restored] == [(filler.start, filler.end, "keep")]
    assert ("um", "keep") in words(edited)
    length = filler.end - filler.start
    assert edited.stats.removed_duration_sec == pytest.approx(
        plan.stats.removed_duration_sec - length, abs=1e-3
    )
    assert edited.stats.cuts_by_reason == {"pause": 1}
    assert_covers(edited)


def test_cutting_a_kept_word_splits_its_region_and_names_the_word() -> None:
    plan = talk()
    edited = apply_edits(plan, [edit(0.45, 1.05, "cut")])
    cut = next(r for r in edited.regions if r.reason == "edited")
    assert (cut.start, cut.end, cut.action, cut.text) == (0.45, 1.05, "cut", "Hello")
    assert ("Hello", "cut") in words(edited)
    before, after = (edited.regions[i] for i in (0, 2))
    speech = plan.regions[0]
    # The quiet the planner measured survives only at the edges the pieces share with it.
    assert before.lead_silence_sec == min(speech.lead_silence_sec or 0.0, 0.45)
    assert before.trail_silence_sec is None
    assert after.lead_silence_sec is None
    assert edited.stats.cuts_by_reason == {"edited": 1, "filler": 1, "pause": 1}
    assert_covers(edited)


def test_later_edits_win_where_they_overlap() -> None:
    plan = talk()
    edited = apply_edits(plan, [edit(0.2, 1.0, "cut"), edit(0.5, 0.7, "keep")])
    head = [(r.start, r.end, r.action, r.reason) for r in edited.regions if r.end <= 1.0]
    # The keep inside the cut agrees with the plan again: the plan's own region, unedited.
    assert head == [
        (0.0, 0.2, "keep", "speech"),
        (0.2, 0.5, "cut", "edited"),
        (0.5, 0.7, "keep", "speech"),
        (0.7, 1.0, "cut", "edited"),
    ]
    assert_covers(edited)


def test_an_edit_that_agrees_with_the_plan_changes_nothing() -> None:
    plan = talk()
    pause = next(r for r in plan.regions if r.reason == "pause")
    assert apply_edits(plan, [edit(pause.start, pause.end, "cut")]) == plan
    assert apply_edits(plan, []) is plan


def test_an_edit_over_a_cut_and_its_neighbours_keeps_all_of_it() -> None:
    plan = talk()
    edited = apply_edits(plan, [edit(0.0, 6.0, "keep")])
    assert cuts(edited) == []
    assert kept_in(edited, 0.0, 6.0) == pytest.approx(6.0)
    assert all(action == "keep" for _, action in words(edited))
    assert edited.stats.cuts_by_reason == {}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (edit(2.0, 2.0, "cut"), "must be before end"),
        (edit(3.0, 2.0, "cut"), "must be before end"),
        (edit(6.5, 7.0, "cut"), "after the recording's end"),
        (edit(5.0, 6.5, "keep"), "after the recording's end"),
    ],
)
def test_bad_edits_are_refused_with_a_sentence(bad: PlanEdit, message: str) -> None:
    with pytest.raises(EditError, match=message):
        apply_edits(talk(), [edit(0.1, 0.2, "cut"), bad])


def test_an_edit_a_hair_past_the_end_is_clamped() -> None:
    plan = talk()
    edited = apply_edits(plan, [edit(5.8, 6.02, "cut")])
    assert edited.regions[-1].end == pytest.approx(6.0)
    assert_covers(edited)


def test_too_many_edits_are_refused() -> None:
    with pytest.raises(EditError, match=f"at most {MAX_EDITS}"):
        apply_edits(talk(), [edit(0.1, 0.2, "cut")] * (MAX_EDITS + 1))


def test_random_edits_decide_every_point_as_the_last_one_over_it() -> None:
    plan = talk()
    rng = random.Random(7)
    for _ in range(200):
        edits = []
        for _ in range(rng.randint(1, 6)):
            start = round(rng.uniform(0, 5.9), 2)
            end = round(rng.uniform(start + 0.01, 6.0), 2)
            edits.append(edit(start, end, rng.choice(["keep", "cut"])))
        edited = apply_edits(plan, edits)
        assert_covers(edited)
        for step in range(600):
            at = step / 100 + 0.005
            wanted = next((e.action for e in reversed(edits) if e.start <= at < e.end), None)
            planned = next(r.action for r in plan.regions if r.start <= at < r.end)
            got = next(r for r in edited.regions if r.start <= at < r.end)
            assert got.action == (wanted or planned), (edits, at)
            assert (got.reason == "edited") == (wanted is not None and wanted != planned)
        assert edited.words is not None
        for word in edited.words:
            middle = (word.start + word.end) / 2
            assert word.action == next(
                r.action for r in edited.regions if r.start <= middle < r.end
            )
