"""The cut planner on hand-made transcripts and analyses with known answers."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from talkavocado_common.models import (
    AudioAnalysis,
    CutPlan,
    Interval,
    PlannerOptions,
    Segment,
    Transcript,
    Word,
)
from talkavocado_render.core.planner import find_fillers, plan_cuts, sound_islands

W = tuple[float, float, str]


def analysis(duration: float, silences: Sequence[tuple[float, float]]) -> AudioAnalysis:
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


def transcript(words: Sequence[W]) -> Transcript:
    ws = [Word(start=s, end=e, word=t, probability=0.9) for s, e, t in words]
    end = max((w.end for w in ws), default=0.0)
    return Transcript(
        language="en",
        duration_sec=end,
        model="test",
        segments=[Segment(id=0, start=0.0, end=end, text="".join(w.word for w in ws), words=ws)],
    )


def cuts(plan: CutPlan) -> list[tuple[float, float, str]]:
    return [(r.start, r.end, r.reason) for r in plan.regions if r.action == "cut"]


def assert_well_formed(plan: CutPlan) -> None:
    assert plan.regions[0].start == 0.0
    assert plan.regions[-1].end == pytest.approx(plan.duration_sec)
    for a, b in zip(plan.regions, plan.regions[1:], strict=False):
        assert a.end == pytest.approx(b.start)
        assert a.start < a.end
        assert not (a.action == b.action == "keep")


def test_long_pause_is_shortened_to_a_natural_gap() -> None:
    plan = plan_cuts(
        transcript([(0.5, 1.0, " Hello"), (3.0, 3.5, " world.")]),
        analysis(4.0, [(0.0, 0.5), (1.0, 3.0), (3.5, 4.0)]),
        PlannerOptions(),
    )
    assert cuts(plan) == [(1.2, 2.8, "pause")]
    assert_well_formed(plan)
    assert plan.stats.removed_duration_sec == pytest.approx(1.6)
    assert plan.stats.cuts_by_reason == {"pause": 1}


def test_pause_at_or_below_minimum_is_kept() -> None:
    plan = plan_cuts(
        transcript([(0.5, 1.0, " Hello"), (2.0, 2.5, " world.")]),
        analysis(3.0, [(1.0, 2.0)]),
        PlannerOptions(),
    )
    assert cuts(plan) == []
    assert [r.action for r in plan.regions] == ["keep"]


def test_transcribed_filler_between_pauses_is_cut_with_its_text() -> None:
    plan = plan_cuts(
        transcript([(0.0, 1.0, " So"), (1.6, 1.9, " um,"), (2.5, 3.5, " yes.")]),
        analysis(3.5, [(1.0, 1.6), (1.9, 2.5)]),
        PlannerOptions(),
    )
    (cut,) = [r for r in plan.regions if r.action == "cut"]
    assert (cut.reason, cut.text) == ("filler", "um")
    assert cut.start == pytest.approx(1.2)
    assert cut.end == pytest.approx(2.3)
    assert cut.start <= 1.6
    assert cut.end >= 1.9


def test_multi_word_filler_is_found_and_cut() -> None:
    words = [(0.0, 1.0, " Well,"), (1.5, 1.7, " you"), (1.7, 1.9, " know,"), (2.5, 3.0, " yes.")]
    assert find_fillers(
        [Word(start=s, end=e, word=t, probability=1) for s, e, t in words], ["you know"]
    ) == {1: "you know", 2: "you know"}
    plan = plan_cuts(transcript(words), analysis(3.0, [(1.0, 1.5), (1.9, 2.5)]), PlannerOptions())
    assert [(r.reason, r.text) for r in plan.regions if r.action == "cut"] == [
        ("filler", "you know")
    ]


def test_part_of_a_phrase_is_not_a_filler() -> None:
    words = [Word(start=0, end=1, word=" you", probability=1)]
    assert find_fillers(words, ["you know"]) == {}


def test_filler_sharing_sound_with_a_kept_word_is_not_cut() -> None:
    plan = plan_cuts(
        transcript([(0.0, 0.4, " So"), (0.4, 0.7, " um"), (0.7, 1.2, " yes.")]),
        analysis(1.2, []),
        PlannerOptions(),
    )
    assert cuts(plan) == []


def test_unworded_short_sound_between_pauses_is_cut() -> None:
    # Whisper left the "uh" at 1.6-1.9 out of the text.
    plan = plan_cuts(
        transcript([(0.0, 1.0, " So"), (2.5, 3.5, " yes.")]),
        analysis(3.5, [(1.0, 1.6), (1.9, 2.5)]),
        PlannerOptions(),
    )
    assert cuts(plan) == [(1.2, 2.3, "unworded-sound")]


def test_long_unworded_sound_is_kept() -> None:
    plan = plan_cuts(
        transcript([(0.0, 1.0, " So"), (4.5, 5.0, " yes.")]),
        analysis(5.0, [(1.0, 1.5), (3.5, 4.5)]),
        PlannerOptions(max_unworded_sound_ms=900),
    )
    # The 2 s sound at 1.5-3.5 may be speech: it stays; only the 1 s pause is... not > 1 s.
    assert all(not (c[0] < 3.5 and c[1] > 1.5) for c in cuts(plan))


def test_unworded_sound_under_a_smeared_kept_word_is_kept() -> None:
    # "yes" is timed 1.5-3.4 across the pause: the sound at 1.6-1.9 might be part of it.
    plan = plan_cuts(
        transcript([(0.0, 1.0, " So"), (1.5, 3.4, " yes.")]),
        analysis(3.5, [(1.0, 1.6), (1.9, 2.5)]),
        PlannerOptions(),
    )
    assert all(not (s < 1.9 and e > 1.6) for s, e, _ in cuts(plan))


def test_smeared_word_timing_does_not_stop_a_pause_cut() -> None:
    # Whisper stretched "Hello" to 2.9 s; the audio says the pause is 1.0-3.0.
    plan = plan_cuts(
        transcript([(0.5, 2.9, " Hello"), (3.0, 3.5, " world.")]),
        analysis(4.0, [(1.0, 3.0), (3.5, 4.0)]),
        PlannerOptions(),
    )
    assert cuts(plan) == [(1.2, 2.8, "pause")]


def test_leading_and_trailing_silence_are_trimmed() -> None:
    plan = plan_cuts(
        transcript([(2.0, 3.0, " Hi.")]),
        analysis(6.0, [(0.0, 2.0), (3.0, 6.0)]),
        PlannerOptions(),
    )
    assert cuts(plan) == [(0.0, 1.8, "leading-silence"), (3.2, 6.0, "trailing-silence")]


def test_fillers_stay_when_removal_is_off() -> None:
    plan = plan_cuts(
        transcript([(0.0, 1.0, " So"), (1.6, 1.9, " um,"), (2.5, 3.5, " yes.")]),
        analysis(3.5, [(1.0, 1.6), (1.9, 2.5)]),
        PlannerOptions(remove_fillers=False),
    )
    assert cuts(plan) == []


def test_custom_filler_list() -> None:
    words = [(0.0, 1.0, " So"), (1.6, 1.9, " like,"), (2.5, 3.5, " yes.")]
    silences = [(1.0, 1.6), (1.9, 2.5)]
    assert cuts(plan_cuts(transcript(words), analysis(3.5, silences), PlannerOptions())) == []
    plan = plan_cuts(transcript(words), analysis(3.5, silences), PlannerOptions(fillers=["Like"]))
    assert [r.text for r in plan.regions if r.action == "cut"] == ["like"]


def test_word_without_sound_nearby_is_protected() -> None:
    # A quiet word inside the measured silence: never cut it.
    plan = plan_cuts(
        transcript([(0.0, 0.5, " One"), (2.0, 2.3, " two"), (4.0, 4.5, " three.")]),
        analysis(4.5, [(0.5, 4.0)]),
        PlannerOptions(),
    )
    for start, end, _ in cuts(plan):
        assert end <= 2.0 or start >= 2.3


def test_padding_sets_the_least_gap_kept() -> None:
    plan = plan_cuts(
        transcript([(0.0, 1.0, " A"), (3.0, 4.0, " B")]),
        analysis(4.0, [(1.0, 3.0)]),
        PlannerOptions(target_pause_ms=0, padding_ms=150),
    )
    assert cuts(plan) == [(1.15, 2.85, "pause")]


def test_silent_recording_is_kept_whole() -> None:
    plan = plan_cuts(transcript([]), analysis(5.0, [(0.0, 5.0)]), PlannerOptions())
    assert [(r.start, r.end, r.action) for r in plan.regions] == [(0.0, 5.0, "keep")]


def test_sound_islands_are_the_complement_of_silences() -> None:
    islands = sound_islands([Interval(start=1, end=2), Interval(start=3, end=5)], 5.0)
    assert [(i.start, i.end) for i in islands] == [(0.0, 1.0), (2.0, 3.0)]


def _random_case(rng: random.Random) -> tuple[Transcript, AudioAnalysis, list[tuple[float, float]]]:
    """Alternating sound/silence; most sounds carry a word, some a filler, some nothing."""
    t = rng.uniform(0, 1.5)
    silences: list[tuple[float, float]] = [(0.0, t)] if t > 0 else []
    words: list[W] = []
    kept_sounds: list[tuple[float, float]] = []
    for _ in range(rng.randint(1, 25)):
        length = rng.uniform(0.15, 2.0)
        kind = rng.random()
        if kind < 0.7:
            n = rng.randint(1, 4)
            step = length / n
            for k in range(n):
                jitter = rng.uniform(-0.05, 0.3)  # Whisper-like smear, mostly outwards
                words.append((max(0.0, t + k * step - 0.02), t + (k + 1) * step + jitter, " word"))
            kept_sounds.append((t, t + length))
        elif kind < 0.85:
            words.append((t, t + length, rng.choice([" um", " uh,", " Erm."])))
        t += length
        gap = rng.choice([0.12, 0.3, 0.7, 1.2, 2.5, 4.0])
        silences.append((t, t + gap))
        t += gap
    return transcript(words), analysis(t, silences), kept_sounds


@pytest.mark.parametrize("seed", range(40))
def test_random_plans_never_cut_kept_speech_and_are_deterministic(seed: int) -> None:
    rng = random.Random(seed)
    tr, an, kept_sounds = _random_case(rng)
    plan = plan_cuts(tr, an, PlannerOptions())
    assert_well_formed(plan)
    for start, end, reason in cuts(plan):
        assert reason in {
            "pause",
            "filler",
            "unworded-sound",
            "leading-silence",
            "trailing-silence",
        }
        for s, e in kept_sounds:
            assert end <= s or start >= e, f"cut {start}-{end} enters kept sound {s}-{e}"
    for silence in an.silences:
        if silence.duration > 1.0 and silence.start > 0 and silence.end < an.duration_sec:
            # Every long inner pause is shortened to at most the natural gap (or a filler cut).
            kept = silence.duration - sum(
                max(0.0, min(e, silence.end) - max(s, silence.start)) for s, e, _ in cuts(plan)
            )
            assert kept <= 0.4 + 1e-6
    assert plan_cuts(tr, an, PlannerOptions()).to_json_bytes() == plan.to_json_bytes()
