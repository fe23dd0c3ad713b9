"""Pauses in real speech: sound the VAD calls non-speech (breaths, clicks, room tone) counts as
quiet for the pause decision; sound it calls speech is handled as before."""

from __future__ import annotations

import pytest

from talkavocado_common.models import PlannerOptions
from talkavocado_common.planning.planner import plan_cuts
from tests.unit.render.plans import (
    Span,
    analysis,
    assert_well_formed,
    cuts,
    kept_in,
    kept_words,
    transcript,
)

# "Hello" 0.5-1.0, a 2.4 s pause holding noise, "world." 3.4-3.9 (Whisper smears "Hello").
WORDS = [(0.5, 1.6, " Hello"), (3.4, 3.9, " world.")]
SPEECH: list[Span] = [(0.47, 1.03), (3.37, 3.93)]
PAUSE = (1.0, 3.4)
# Silences around: a breath at 1.45-1.8, a click at 2.3-2.33, 0.8 s of room tone at 2.4-3.2.
NOISY_PAUSE = [(0.0, 0.5), (1.0, 1.45), (1.8, 2.3), (2.33, 2.4), (3.2, 3.4), (3.9, 4.0)]


@pytest.mark.parametrize(("target_ms", "padding_ms"), [(400, 120), (200, 120), (100, 50), (0, 0)])
def test_a_pause_holding_only_non_speech_is_shortened_to_the_target(
    target_ms: int, padding_ms: int
) -> None:
    options = PlannerOptions(target_pause_ms=target_ms, padding_ms=padding_ms)
    plan = plan_cuts(transcript(WORDS, SPEECH), analysis(4.0, NOISY_PAUSE), options)
    assert_well_formed(plan)
    natural = max(target_ms, 2 * padding_ms) / 1000
    assert kept_in(plan, *PAUSE) == pytest.approx(natural, abs=1e-6)
    (pause,) = [c for c in cuts(plan) if c[2] == "pause"]
    # The cut edges stay `padding` clear of the words (here exactly half the natural gap).
    assert pause[0] == pytest.approx(PAUSE[0] + natural / 2)
    assert pause[1] == pytest.approx(PAUSE[1] - natural / 2)
    assert kept_words(plan) == ["Hello", "world."]


def test_without_vad_the_same_noise_is_sound_and_the_pause_survives() -> None:
    plan = plan_cuts(transcript(WORDS), analysis(4.0, NOISY_PAUSE), PlannerOptions())
    # Today's rule: the breath under smeared "Hello" and 0.8 s of room tone may be speech.
    assert kept_in(plan, *PAUSE) > 1.0


def test_a_short_non_speech_gap_is_kept_like_a_silent_one() -> None:
    # 0.9 s between the words with a breath in it: not a long pause, nothing to cut.
    plan = plan_cuts(
        transcript([(0.0, 1.0, " Hello"), (1.9, 2.4, " world.")], [(0.0, 1.0), (1.9, 2.4)]),
        analysis(2.4, [(1.0, 1.3), (1.6, 1.9)]),
        PlannerOptions(),
    )
    assert cuts(plan) == []


def test_a_long_non_speech_island_is_a_pause_however_long() -> None:
    # 2 s of room tone between two words: longer than any unworded sound, still a pause.
    plan = plan_cuts(
        transcript([(0.0, 1.0, " So"), (4.5, 5.0, " yes.")], [(0.0, 1.0), (4.5, 5.0)]),
        analysis(5.0, [(1.0, 1.5), (3.5, 4.5)]),
        PlannerOptions(),
    )
    assert cuts(plan) == [(1.2, 4.3, "pause")]


def test_a_quiet_real_word_between_pauses_is_kept() -> None:
    # "two" is quiet: the energy analysis barely sees it, the VAD and Whisper do.
    words = [(0.0, 0.5, " One"), (2.0, 2.3, " two"), (4.0, 4.5, " three.")]
    silences = [(0.5, 1.95), (2.35, 4.0)]
    speech = [(0.0, 0.5), (1.95, 2.35), (4.0, 4.5)]
    plan = plan_cuts(transcript(words, speech), analysis(4.5, silences), PlannerOptions())
    assert_well_formed(plan)
    assert kept_in(plan, 1.95 - 0.12, 2.35 + 0.12) == pytest.approx(0.64)
    assert [c[2] for c in cuts(plan)] == ["pause", "pause"]
    assert kept_words(plan) == ["One", "two", "three."]


def test_a_word_keeps_its_sound_even_where_the_vad_missed_it() -> None:
    words = [(0.0, 0.5, " One"), (2.0, 2.3, " two"), (4.0, 4.5, " three.")]
    silences = [(0.5, 1.95), (2.35, 4.0)]
    plan = plan_cuts(
        transcript(words, [(0.0, 0.5), (4.0, 4.5)]), analysis(4.5, silences), PlannerOptions()
    )
    assert kept_in(plan, 1.95, 2.35) == pytest.approx(0.4)
    assert kept_words(plan) == ["One", "two", "three."]


def test_speech_without_a_word_is_an_unworded_sound() -> None:
    # Whisper left the "uh" at 1.6-1.9 out; the VAD calls it speech.
    speech = [(0.0, 1.0), (1.6, 1.9), (2.5, 3.5)]
    plan = plan_cuts(
        transcript([(0.0, 1.0, " So"), (2.5, 3.5, " yes.")], speech),
        analysis(3.5, [(1.0, 1.6), (1.9, 2.5)]),
        PlannerOptions(),
    )
    assert cuts(plan) == [(1.2, 2.3, "unworded-sound")]


def test_long_speech_without_a_word_is_kept() -> None:
    # 2 s the VAD calls speech and no word covers: maybe words Whisper dropped.
    plan = plan_cuts(
        transcript([(0.0, 1.0, " So"), (4.5, 5.0, " yes.")], [(0.0, 3.5), (4.5, 5.0)]),
        analysis(5.0, [(1.0, 1.5), (3.5, 4.5)]),
        PlannerOptions(),
    )
    assert kept_in(plan, 1.5, 3.5) == pytest.approx(2.0)


def test_keep_regions_carry_the_quiet_at_their_edges_breaths_included() -> None:
    # A breath just before "world.": quiet to the VAD, so the keep region's quiet runs through it.
    silences = [(0.0, 0.5), (1.0, 3.25), (3.35, 3.4), (3.9, 4.0)]
    words = [(0.5, 1.0, " Hello"), (3.4, 3.9, " world.")]
    plan = plan_cuts(transcript(words, SPEECH), analysis(4.0, silences), PlannerOptions())
    assert_well_formed(plan)
    keeps = [
        (r.start, r.end, r.lead_silence_sec, r.trail_silence_sec)
        for r in plan.regions
        if r.action == "keep"
    ]
    assert keeps == [(0.0, 1.2, 0.5, 0.2), (3.2, 4.0, 0.2, 0.1)]
    # Without the VAD the breath is sound: the cut must end after it, and the quiet is short.
    plain = plan_cuts(transcript(words), analysis(4.0, silences), PlannerOptions())
    second = [r for r in plain.regions if r.action == "keep"][1]
    assert second.start == pytest.approx(3.375)
    assert second.lead_silence_sec == pytest.approx(0.025)


def test_a_region_with_no_sound_is_all_quiet() -> None:
    plan = plan_cuts(transcript([]), analysis(5.0, [(0.0, 5.0)]), PlannerOptions())
    (region,) = plan.regions
    assert (region.lead_silence_sec, region.trail_silence_sec) == (5.0, 5.0)
