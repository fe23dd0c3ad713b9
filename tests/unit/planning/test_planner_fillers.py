"""Filler reconciliation: a filler Whisper parked away from its sound is cut with that sound,
and the plan's words say so (the subtitles show exactly the kept ones)."""

from __future__ import annotations

import pytest

from talkavocado_common.models import CutPlan, PlannerOptions, SubtitleOptions
from talkavocado_common.planning.planner import find_fillers, plan_cuts
from talkavocado_render.core.retime import plan_cues
from talkavocado_render.core.timeline import add_crossfades
from tests.unit.render.plans import (
    W,
    analysis,
    assert_well_formed,
    cuts,
    kept_in,
    kept_words,
    timeline_of,
    transcript,
)

# "...on your phone." — an "uhh" at 1.5-1.8 in the pause — "Umm, customer service."
# Whisper parks each filler 1.2-1.5 s late, over the start of the next word.
PHONE: list[W] = [(0.0, 0.3, " on"), (0.3, 0.6, " your"), (0.6, 1.1, " phone.")]
UH_SOUND = (1.5, 1.8)
UM_SOUND = (4.4, 4.7)
WORDS: list[W] = [
    *PHONE,
    (2.95, 3.25, " Uhh..."),
    (3.0, 3.5, " thanks."),
    (5.9, 6.2, " Umm,"),
    (6.0, 6.6, " customer"),
    (6.6, 7.2, " service."),
]
SILENCES = [(1.1, 1.5), (1.8, 3.0), (3.5, 4.4), (4.7, 6.0), (7.2, 7.5)]
SPEECH = [(0.0, 1.1), UH_SOUND, (3.0, 3.5), UM_SOUND, (6.0, 7.2)]
KEPT = ["on", "your", "phone.", "thanks.", "customer", "service."]


def words_of_cues(plan: CutPlan, fade_sec: float = 0.0) -> list[str]:
    timeline = timeline_of(plan)
    if fade_sec:
        timeline = add_crossfades(timeline, fade_sec)
    cues = plan_cues(plan, timeline, SubtitleOptions())
    assert cues is not None
    return " ".join(" ".join(c.lines) for c in cues).split()


@pytest.mark.parametrize("vad", [True, False])
def test_parked_fillers_are_cut_with_their_own_sound(vad: bool) -> None:
    plan = plan_cuts(
        transcript(WORDS, SPEECH if vad else None), analysis(7.5, SILENCES), PlannerOptions()
    )
    assert_well_formed(plan)
    filler_cuts = [r for r in plan.regions if r.action == "cut" and r.reason == "filler"]
    assert [r.text for r in filler_cuts] == ["uhh", "umm"]
    assert kept_in(plan, *UH_SOUND) == 0.0
    assert kept_in(plan, *UM_SOUND) == 0.0
    assert plan.words is not None
    placed = {w.word.strip(): (w.start, w.end, w.action) for w in plan.words}
    assert placed["Uhh..."] == (*UH_SOUND, "cut")
    assert placed["Umm,"] == (*UM_SOUND, "cut")
    assert kept_words(plan) == KEPT
    # The next words keep their sound whole.
    assert kept_in(plan, 3.0, 3.5) == pytest.approx(0.5)
    assert kept_in(plan, 6.0, 7.2) == pytest.approx(1.2)


@pytest.mark.parametrize("fade_sec", [0.0, 0.2, 1.0])
def test_subtitles_show_every_kept_word_in_order_and_no_cut_filler(fade_sec: float) -> None:
    plan = plan_cuts(transcript(WORDS, SPEECH), analysis(7.5, SILENCES), PlannerOptions())
    assert words_of_cues(plan, fade_sec) == KEPT


def test_kept_words_are_timed_to_their_sound_not_whispers_guess() -> None:
    # Whisper smears "phone." 1 s into the pause; its sound ends at 1.1.
    words = [*PHONE[:2], (0.6, 2.1, " phone."), (3.0, 3.5, " thanks.")]
    plan = plan_cuts(
        transcript(words), analysis(3.5, [(1.1, 3.0)]), PlannerOptions(target_pause_ms=400)
    )
    assert plan.words is not None
    assert (plan.words[2].start, plan.words[2].end) == (0.6, 1.1)


def test_without_a_sound_of_its_own_a_filler_stays_with_the_kept_sound() -> None:
    # "um" shares one island with its neighbours: nothing to cut, and it is heard, so it stays.
    plan = plan_cuts(
        transcript([(0.0, 0.4, " So"), (0.4, 0.7, " um"), (0.7, 1.2, " yes.")]),
        analysis(1.2, []),
        PlannerOptions(),
    )
    assert cuts(plan) == []
    assert kept_words(plan) == ["So", "um", "yes."]


def test_a_filler_never_takes_a_kept_words_sound() -> None:
    # The only other island near the parked "um" is "two"'s: the filler must not take it.
    words = [(0.0, 0.5, " One"), (1.5, 1.8, " two"), (3.0, 3.3, " um"), (3.05, 3.5, " three.")]
    silences = [(0.5, 1.5), (1.8, 3.0)]
    plan = plan_cuts(transcript(words), analysis(3.5, silences), PlannerOptions())
    assert_well_formed(plan)
    assert kept_in(plan, 1.5, 1.8) == pytest.approx(0.3)
    assert kept_in(plan, 3.0, 3.5) == pytest.approx(0.5)
    assert "filler" not in plan.stats.cuts_by_reason


def test_fillers_keep_their_order_on_the_sounds() -> None:
    # Two fillers said in one pause, both parked over "yes": each gets its own sound, in order.
    words = [(0.0, 1.0, " So"), (4.0, 4.1, " uh,"), (4.02, 4.2, " um,"), (4.0, 4.5, " yes.")]
    silences = [(1.0, 1.8), (2.1, 2.7), (3.0, 4.0)]
    speech = [(0.0, 1.0), (1.8, 2.1), (2.7, 3.0), (4.0, 4.5)]
    plan = plan_cuts(transcript(words, speech), analysis(4.5, silences), PlannerOptions())
    assert plan.words is not None
    assert [(w.word, w.start, w.end, w.action) for w in plan.words[1:3]] == [
        (" uh,", 1.8, 2.1, "cut"),
        (" um,", 2.7, 3.0, "cut"),
    ]
    (cut,) = cuts(plan)
    assert cut[2] == "filler"
    assert [r.text for r in plan.regions if r.action == "cut"] == ["uh um"]


def test_a_filler_prefers_speech_to_a_breath() -> None:
    # A breath (non-speech) nearer to the parked "um" than the "um" itself (speech).
    words = [(0.0, 1.0, " So"), (3.9, 4.1, " um"), (4.0, 4.5, " yes.")]
    silences = [(1.0, 1.5), (1.8, 3.3), (3.6, 4.0)]
    speech = [(0.0, 1.0), (1.5, 1.8), (4.0, 4.5)]
    plan = plan_cuts(transcript(words, speech), analysis(4.5, silences), PlannerOptions())
    assert plan.words is not None
    assert (plan.words[1].start, plan.words[1].end) == (1.5, 1.8)


def test_drawn_out_spellings_are_fillers() -> None:
    words = [(0.0, 1.0, " Uhh..."), (1.0, 2.0, " Ummm,"), (2.0, 3.0, " hm."), (3.0, 4.0, " summer")]
    found = find_fillers(list(transcript(words).words()), ["uh", "umm", "hmm", "sum"])
    assert found == {0: "uhh", 1: "ummm", 2: "hm"}
