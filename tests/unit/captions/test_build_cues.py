"""build_cues: grouping, line layout, timing guarantees."""

from __future__ import annotations

import random
from collections.abc import Sequence
from itertools import pairwise

import pytest

from talkavocado_common.captions import Cue, CueWord, build_cues


def words_of(
    text: str, *, start: float = 0.0, step: float = 0.3, gap: float = 0.0
) -> list[CueWord]:
    """Evenly timed words, `step` apart, each `step - gap` long."""
    out = []
    t = start
    for token in text.split():
        out.append(CueWord(f" {token}", t, t + step - gap))
        t += step
    return out


def tokens(cues: Sequence[Cue]) -> list[str]:
    return [token for cue in cues for line in cue.lines for token in line.split()]


def assert_invariants(
    cues: Sequence[Cue],
    words: Sequence[CueWord],
    *,
    max_chars: int = 42,
    max_lines: int = 2,
    frame: float | None = None,
) -> None:
    expected = [w.text.strip() for w in words if w.text.strip()]
    assert tokens(cues) == expected, "a word was lost, duplicated or reordered"
    long_words = {t for t in expected if len(t) > max_chars}
    for cue in cues:
        assert 1 <= len(cue.lines) <= max_lines
        for line in cue.lines:
            assert line == line.strip()
            assert len(line) <= max_chars or line in long_words, line
        assert cue.start < cue.end, cue
        assert cue.start >= 0
    for a, b in pairwise(cues):
        assert a.end <= b.start + 1e-9, (a, b)
        assert a.start < b.start
    if frame is not None:
        for cue in cues:
            for t in (cue.start, cue.end):
                assert abs(t / frame - round(t / frame)) < 1e-6, t


def test_empty_input_gives_no_cues() -> None:
    assert build_cues([]) == []


def test_short_sentence_is_one_cue_on_one_line() -> None:
    words = words_of("Hello there, world.", start=1.0)
    cues = build_cues(words)
    assert cues == [Cue(start=1.0, end=1.9, lines=("Hello there, world.",))]


def test_cue_times_come_from_first_and_last_word() -> None:
    words = [CueWord(" One", 2.0, 2.4), CueWord(" two", 2.5, 2.9), CueWord(" three.", 3.0, 3.6)]
    (cue,) = build_cues(words)
    assert (cue.start, cue.end) == (2.0, 3.6)


def test_sentences_start_new_cues() -> None:
    words = words_of("Welcome to the show. Today we talk about editing video with open tools.")
    cues = build_cues(words)
    assert [c.lines for c in cues] == [
        ("Welcome to the show.",),
        ("Today we talk about editing", "video with open tools."),
    ]


def test_very_short_sentences_are_kept_together() -> None:
    words = [CueWord(" Yes.", 0.0, 0.2), CueWord(" No.", 0.25, 0.45), CueWord(" Maybe.", 0.5, 0.9)]
    cues = build_cues(words)
    assert len(cues) == 1
    assert cues[0].lines == ("Yes. No. Maybe.",)


def test_long_segment_becomes_more_cues_and_keeps_every_word() -> None:
    text = " ".join(f"word{i}" for i in range(60))  # no punctuation at all
    words = words_of(text, step=0.25)
    cues = build_cues(words)
    assert len(cues) >= 5
    assert_invariants(cues, words)


def test_long_gap_breaks_the_cue() -> None:
    words = [CueWord(" so", 0.0, 0.3), CueWord(" then", 1.5, 1.8)]
    cues = build_cues(words, break_gap_sec=1.0)
    assert [c.lines for c in cues] == [("so",), ("then",)]
    assert cues[0].end <= cues[1].start


def test_short_gap_does_not_break() -> None:
    words = [CueWord(" so", 0.0, 0.3), CueWord(" then", 0.9, 1.2)]
    assert len(build_cues(words, break_gap_sec=1.0)) == 1


def test_max_cue_duration_is_kept() -> None:
    words = words_of("a b c d e f g h i j k l m n o p", step=1.0)
    cues = build_cues(words, max_cue_sec=3.0, min_cue_sec=0.0)
    for cue in cues:
        assert cue.end - cue.start <= 3.0 + 1e-9
    assert_invariants(cues, words)


def test_single_word_longer_than_the_cue_limit_still_gets_a_cue() -> None:
    words = [CueWord(" hello", 0.0, 9.0), CueWord(" world", 9.0, 9.5)]
    cues = build_cues(words, max_cue_sec=7.0)
    assert tokens(cues) == ["hello", "world"]
    assert_invariants(cues, words)


def test_word_longer_than_a_line_gets_its_own_line() -> None:
    giant = "Pneumonoultramicroscopicsilicovolcanoconiosis-and-more"
    words = words_of(f"It is {giant} indeed.")
    cues = build_cues(words, max_chars_per_line=20)
    assert_invariants(cues, words, max_chars=20)
    assert any(giant in cue.lines for cue in cues)


def test_lines_are_balanced() -> None:
    words = words_of("This sentence is long enough to need two lines on the screen")
    (cue,) = build_cues(words)
    first, second = cue.lines
    assert abs(len(first) - len(second)) <= 12


def test_line_break_prefers_punctuation() -> None:
    words = words_of("When the light turns green, the cars start moving again slowly")
    (cue,) = build_cues(words)
    assert cue.lines[0].endswith("green,")


def test_line_does_not_end_with_an_article_when_avoidable() -> None:
    words = words_of("We walked along the river for hours and then we sat down")
    (cue,) = build_cues(words, max_chars_per_line=32)
    assert not cue.lines[0].lower().endswith((" the", " a", " to"))


def test_max_lines_one_and_three() -> None:
    text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    words = words_of(text, step=0.2)
    for max_lines in (1, 3):
        cues = build_cues(words, max_chars_per_line=20, max_lines=max_lines)
        assert_invariants(cues, words, max_chars=20, max_lines=max_lines)
    assert max(len(c.lines) for c in build_cues(words, max_chars_per_line=20, max_lines=3)) == 3


def test_min_duration_extends_up_to_the_next_cue_only() -> None:
    words = [CueWord(" Hi.", 0.0, 0.2), CueWord(" Bye.", 2.0, 2.2), CueWord(" Ok.", 2.5, 2.6)]
    cues = build_cues(words, min_cue_sec=0.8)
    assert cues[0] == Cue(0.0, 0.8, ("Hi.",))
    # "Bye." is followed by "Ok." 0.5 s later; they may share a cue, never overlap.
    assert_invariants(cues, words)
    assert cues[-1].end >= 2.6


def test_last_cue_extends_to_min_duration() -> None:
    cues = build_cues([CueWord(" Hi.", 5.0, 5.1)], min_cue_sec=0.8)
    assert cues == [Cue(5.0, 5.8, ("Hi.",))]


def test_zero_length_and_identical_words_still_give_positive_non_overlapping_cues() -> None:
    words = [CueWord(f" w{i}.", 1.0, 1.0) for i in range(30)]
    cues = build_cues(words, max_chars_per_line=10, max_lines=1)
    assert len(cues) > 1
    assert_invariants(cues, words, max_chars=10, max_lines=1)


def test_overlapping_whisper_times_are_clamped() -> None:
    words = [
        CueWord(" First", 0.0, 1.2),
        CueWord(" sentence.", 0.5, 2.5),
        CueWord(" Second", 2.3, 2.9),
        CueWord(" one.", 1.9, 3.4),  # starts before its predecessor: out of order
    ]
    cues = build_cues(words)
    assert_invariants(cues, words)


def test_negative_times_are_clamped_to_zero() -> None:
    cues = build_cues([CueWord(" Hi", -0.2, 0.5)])
    assert cues[0].start == 0.0


def test_empty_word_text_is_kept_in_order_without_breaking_lines() -> None:
    words = [CueWord(" Hello", 0.0, 0.4), CueWord("  ", 0.4, 0.5), CueWord(" world.", 0.5, 0.9)]
    assert build_cues(words)[0].lines == ("Hello world.",)


@pytest.mark.parametrize("fps", [24.0, 25.0, 30000 / 1001, 60.0])
def test_frame_grid(fps: float) -> None:
    frame = 1 / fps
    words = words_of("Frame accurate captions. They never overlap, ever. " * 4, step=0.13)
    cues = build_cues(words, frame_duration=frame)
    assert_invariants(cues, words, frame=frame)


def test_frame_grid_with_words_closer_than_a_frame() -> None:
    frame = 1 / 25
    words = [CueWord(f" a{i}.", 0.01 * i, 0.01 * i + 0.005) for i in range(20)]
    cues = build_cues(words, frame_duration=frame, max_chars_per_line=10, max_lines=1)
    assert_invariants(cues, words, max_chars=10, max_lines=1, frame=frame)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="max_chars_per_line"):
        build_cues(words_of("a"), max_chars_per_line=0)
    with pytest.raises(ValueError, match="frame_duration"):
        build_cues(words_of("a"), frame_duration=0.0)


# Property-style: random word lists, fixed seeds.

VOCAB = (  # noqa: SIM905
    "the a of and to in is you that it he was for on are as with his they I at be this "
    "have from or one had by word but not what all were we when your can said there use "
    "an each which she do how their if will up other about out many then them these so "
    "some her would make like him into time has look two more write go see number no way "
    "could people my than first water been call who oil its now find long down day did "
    "get come made may part extraordinarily internationalisation counterrevolutionaries"
).split()


def random_words(rng: random.Random, n: int) -> list[CueWord]:
    words = []
    t = rng.uniform(0, 2)
    for _ in range(n):
        token = rng.choice(VOCAB)
        roll = rng.random()
        if roll < 0.08:
            token += rng.choice([".", "?", "!"])
        elif roll < 0.15:
            token += ","
        if rng.random() < 0.01:
            token = "x" * rng.randint(43, 70)  # longer than any line
        duration = rng.choice(
            [0.0, rng.uniform(0.02, 0.15), rng.uniform(0.1, 0.6), 8.0 * rng.random()]
        )
        words.append(CueWord(f" {token}", t, t + duration))
        gap = rng.choice([0.0, 0.0, rng.uniform(0, 0.3), rng.uniform(0.5, 2.5)])
        # Whisper's words sometimes overlap slightly.
        t = max(0.0, t + duration + gap - (0.05 if rng.random() < 0.1 else 0.0))
    return words


@pytest.mark.parametrize("seed", range(40))
def test_random_word_lists_hold_every_guarantee(seed: int) -> None:
    rng = random.Random(seed)
    words = random_words(rng, rng.randint(1, 400))
    max_chars = rng.choice([10, 20, 32, 42, 60])
    max_lines = rng.choice([1, 2, 3])
    frame = rng.choice([None, 1 / 25, 1 / 30, 1001 / 30000, 1 / 60])
    cues = build_cues(
        words,
        max_chars_per_line=max_chars,
        max_lines=max_lines,
        max_cue_sec=rng.choice([3.0, 7.0]),
        min_cue_sec=rng.choice([0.0, 0.8, 1.5]),
        frame_duration=frame,
    )
    assert_invariants(cues, words, max_chars=max_chars, max_lines=max_lines, frame=frame)


@pytest.mark.parametrize("seed", range(20))
def test_random_cues_respect_max_duration_when_words_allow(seed: int) -> None:
    rng = random.Random(1000 + seed)
    words = words_of(
        " ".join(rng.choice(VOCAB[:-3]) for _ in range(200)), step=rng.uniform(0.1, 0.5)
    )
    cues = build_cues(words, max_cue_sec=4.0, min_cue_sec=0.0)
    assert_invariants(cues, words)
    for cue in cues:
        assert cue.end - cue.start <= 4.0 + 1e-6


def test_large_input_is_fast_enough() -> None:
    rng = random.Random(7)
    words = random_words(rng, 20_000)
    cues = build_cues(words)
    assert_invariants(cues, words)
