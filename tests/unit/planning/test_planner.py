"""The cut planner on hand-made transcripts and analyses with known answers."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from talkavocado_common.models import (
    AudioAnalysis,
    CutPlan,
    Interval,
    PlannerOptions,
    PlanWord,
    Transcript,
    Word,
)
from talkavocado_common.planning.planner import find_fillers, plan_cuts, sound_islands
from tests.unit.render.plans import W, analysis, assert_well_formed, cuts, kept_in, transcript


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


@dataclass
class _Case:
    transcript: Transcript
    analysis: AudioAnalysis
    kept_sounds: list[tuple[float, float]]
    # Inner pauses (between two sounds): start, end, and whether only a VAD can tell it is one
    # (it holds room tone longer than any unworded sound that is cut).
    pauses: list[tuple[float, float, bool]] = field(default_factory=list)
    filler_words: set[int] = field(default_factory=set)
    # Fillers Whisper parked over the next sound: word index -> the sound it was said in.
    parked: dict[int, tuple[float, float]] = field(default_factory=dict)


@dataclass
class _Layout:
    """A random recording laid out left to right: its sound and silence, Whisper's words, and
    in `case` what the plan must respect."""

    t: float  # where the next sound or pause starts
    silences: list[tuple[float, float]]
    case: _Case = field(default_factory=lambda: _Case(transcript([]), analysis(1.0, []), []))
    speech: list[tuple[float, float]] = field(default_factory=list)
    words: list[W] = field(default_factory=list)
    parked: tuple[str, float] | None = None  # a filler said in the last pause, and where

    def write_parked_filler(self, start: float, end: float) -> None:
        """Whisper's word for the filler said in the last pause, timed `start`-`end`."""
        if self.parked is None:
            return
        text, said_at = self.parked
        self.case.filler_words.add(len(self.words))
        self.case.parked[len(self.words)] = (said_at, said_at + 0.3)
        self.words.append((start, end, text))
        self.parked = None

    def finish(self, *, vad: bool) -> _Case:
        self.write_parked_filler(self.t - 0.05, self.t)
        case = self.case
        case.transcript = transcript(self.words, self.speech if vad else None)
        case.analysis = analysis(self.t, self.silences)
        if case.pauses and case.pauses[-1][1] >= self.t - 1e-9:
            case.pauses.pop()  # the trailing pause is trailing silence, not a pause
        return case


def _random_case(rng: random.Random, *, vad: bool) -> _Case:
    """Alternating sound/pause. Most sounds carry words (Whisper-smeared), some a filler — said
    there or parked over the start of the next sound — some nothing; pauses may hold breaths,
    clicks and room tone (non-speech to the VAD)."""
    t = rng.uniform(0, 1.5)
    layout = _Layout(t, [(0.0, t)] if t > 0 else [])
    for _ in range(rng.randint(1, 25)):
        sound = _add_sound(rng, layout)
        _add_pause(rng, layout, sound)
    return layout.finish(vad=vad)


def _sound_kind(roll: float) -> str:
    if roll < 0.7:
        return "words"
    if roll < 0.85:
        return "filler"
    return "unworded"


def _add_sound(rng: random.Random, layout: _Layout) -> str:
    """One sound at `layout.t`; returns its kind: words (kept), a filler or unworded."""
    t = layout.t
    length = rng.uniform(0.15, 2.0)
    kind = _sound_kind(rng.random())
    layout.speech.append((t, t + length))
    layout.write_parked_filler(t - 0.05, t + 0.2)
    if kind == "words":
        layout.words += _smeared_words(rng, t, length)
        layout.case.kept_sounds.append((t, t + length))
    elif kind == "filler":
        layout.case.filler_words.add(len(layout.words))
        layout.words.append((t, t + length, rng.choice([" um", " uh,", " Erm."])))
    layout.t += length
    return kind


def _smeared_words(rng: random.Random, start: float, length: float) -> list[W]:
    n = rng.randint(1, 4)
    step = length / n
    words: list[W] = []
    for k in range(n):
        jitter = rng.uniform(-0.05, 0.3)  # Whisper-like smear, mostly outwards
        words.append((max(0.0, start + k * step - 0.02), start + (k + 1) * step + jitter, " word"))
    return words


def _add_pause(rng: random.Random, layout: _Layout, sound: str) -> None:
    """The pause after a sound of kind `sound`: plain silence, noises, or a parked filler."""
    t = layout.t
    gap = rng.choice([0.12, 0.3, 0.7, 1.2, 2.5, 4.0])
    if gap >= 2.5 and rng.random() < 0.5 and sound != "filler":
        # Breaths, clicks, room tone well inside the pause (no smeared word reaches them).
        room_tone = _add_noises(rng, layout.silences, t, t + gap)
        layout.case.pauses.append((t, t + gap, room_tone))
    elif gap >= 2.5 and rng.random() < 0.3 and sound == "words":
        # An "um" said in the middle of the pause; Whisper writes it over the next sound.
        um = t + gap / 2 - 0.15
        layout.silences += [(t, um), (um + 0.3, t + gap)]
        layout.speech.append((um, um + 0.3))
        layout.parked = (rng.choice([" Umm,", " uh"]), um)
    else:
        layout.silences.append((t, t + gap))
        layout.case.pauses.append((t, t + gap, False))
    layout.t += gap


def _add_noises(
    rng: random.Random, silences: list[tuple[float, float]], start: float, end: float
) -> bool:
    """The silences of a pause from `start` to `end` holding noises at least 0.35 s inside it;
    returns whether one is room tone (longer than any unworded sound that is cut)."""
    cursor, room_tone = start, False
    while True:
        noise = rng.choice([0.03, 0.2, 0.4, 1.2])
        at = cursor + rng.uniform(0.35, 0.6)
        if at + noise > end - 0.35:
            break
        silences.append((cursor, at))
        room_tone |= noise > 0.9
        cursor = at + noise
    silences.append((cursor, end))
    return room_tone


def _inside_kept(plan: CutPlan, start: float, end: float) -> bool:
    return any(
        r.start <= start + 1e-6 and end <= r.end + 1e-6 for r in plan.regions if r.action == "keep"
    )


@pytest.mark.parametrize("vad", [False, True])
@pytest.mark.parametrize("seed", range(40))
def test_random_plans_never_cut_kept_speech_and_are_deterministic(seed: int, vad: bool) -> None:
    rng = random.Random(seed)
    case = _random_case(rng, vad=vad)
    plan = plan_cuts(case.transcript, case.analysis, PlannerOptions())
    assert_well_formed(plan)
    _assert_cuts_spare_kept_sounds(plan, case)
    assert plan.words is not None
    assert len(plan.words) == len(case.transcript.words())
    _assert_only_fillers_are_cut(plan, plan.words, case)
    _assert_parked_fillers_are_cut(plan, plan.words, case)
    _assert_keep_edges_hold_no_kept_sound(plan, case)
    _assert_long_pauses_are_shortened(plan, case, vad=vad)
    again = plan_cuts(case.transcript, case.analysis, PlannerOptions())
    assert again.to_json_bytes() == plan.to_json_bytes()


def _assert_cuts_spare_kept_sounds(plan: CutPlan, case: _Case) -> None:
    for start, end, reason in cuts(plan):
        assert reason in {
            "pause",
            "filler",
            "unworded-sound",
            "leading-silence",
            "trailing-silence",
        }
        for s, e in case.kept_sounds:
            assert end <= s or start >= e, f"cut {start}-{end} enters kept sound {s}-{e}"


def _assert_only_fillers_are_cut(plan: CutPlan, decisions: list[PlanWord], case: _Case) -> None:
    for index, word in enumerate(decisions):
        if index not in case.filler_words:
            assert word.action == "keep", f"word {index} {word} was cut"
            assert _inside_kept(plan, word.start, word.end)


def _assert_parked_fillers_are_cut(plan: CutPlan, decisions: list[PlanWord], case: _Case) -> None:
    """A parked filler is cut, and so is the sound it was said in; parked over a kept word's
    sound, it is timed to its own."""
    words = case.transcript.words()
    for index, (s, e) in case.parked.items():
        assert decisions[index].action == "cut"
        assert kept_in(plan, s, e) == 0.0
        if any(words[index].end > ks and words[index].start < ke for ks, ke in case.kept_sounds):
            assert (decisions[index].start, decisions[index].end) == pytest.approx((s, e))


def _assert_keep_edges_hold_no_kept_sound(plan: CutPlan, case: _Case) -> None:
    """The quiet a keep region reports at its edges holds no kept sound."""
    for region in plan.regions:
        if region.action == "keep":
            assert region.lead_silence_sec is not None
            assert region.trail_silence_sec is not None
            for s, e in case.kept_sounds:
                assert e <= region.start or s >= region.start + region.lead_silence_sec - 1e-6
                assert s >= region.end or e <= region.end - region.trail_silence_sec + 1e-6


def _assert_long_pauses_are_shortened(plan: CutPlan, case: _Case, *, vad: bool) -> None:
    """Every long inner pause is shortened to at most the natural gap (or a filler cut); room
    tone hides a pause from the planner unless a VAD tells it apart."""
    for start, end, room_tone in case.pauses:
        if end - start > 1.0 and start > 0 and (vad or not room_tone):
            assert kept_in(plan, start, end) <= 0.4 + 1e-6, f"pause {start:.2f}-{end:.2f}"
