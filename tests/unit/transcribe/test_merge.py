"""Window outputs → one stream: shifted onto the recording's clock, joined without losing or
doubling a word, and the prompt for the next window."""

from __future__ import annotations

from itertools import pairwise

from talkavocado_transcribe.core import VERBATIM_PROMPT
from talkavocado_transcribe.core.merge import (
    PROMPT_TAIL_WORDS,
    TimedSegment,
    TimedWord,
    merge_windows,
    shift_segments,
    window_prompt,
)
from talkavocado_transcribe.core.windows import Window
from tests.unit.transcribe.fakes import FakeSegment, FakeWord


def seg(*words: tuple[float, float, str]) -> TimedSegment:
    timed = tuple(TimedWord(a, b, w, 0.9) for a, b, w in words)
    return TimedSegment(timed[0].start, timed[-1].end, "".join(w.word for w in timed), timed)


def texts(segments: list[TimedSegment]) -> list[str]:
    return [w.word.strip() for s in segments for w in s.words]


def test_shift_moves_words_onto_the_recording_clock_and_into_the_window() -> None:
    window = Window(60.0, 120.0)
    out = shift_segments(
        [
            FakeSegment(
                0.5, 2.0, " Hi there.", [FakeWord(0.5, 1.0, " Hi"), FakeWord(1.0, 2.0, " there.")]
            ),
            FakeSegment(58.0, 61.0, " Late.", [FakeWord(59.0, 61.0, " Late.")]),
            FakeSegment(3.0, 4.0, " No words.", None),
        ],  # type: ignore[list-item]
        window,
    )
    assert [(w.start, w.end, w.word) for w in out[0].words] == [
        (60.5, 61.0, " Hi"),
        (61.0, 62.0, " there."),
    ]
    assert (out[0].start, out[0].end, out[0].text) == (60.5, 62.0, " Hi there.")
    assert (out[1].words[0].start, out[1].words[0].end) == (119.0, 120.0)  # clamped to the window
    assert out[2].words == ()


def test_windows_cut_in_silence_are_concatenated() -> None:
    windows = [Window(0.0, 10.0), Window(10.0, 20.0)]
    a = [seg((1.0, 2.0, " One"), (2.0, 3.0, " two."))]
    b = [seg((11.0, 12.0, " Three.")), seg((14.0, 15.0, " Four."))]
    assert merge_windows(windows, [a, b]) == a + b


def test_hard_cut_joins_at_a_word_both_windows_heard() -> None:
    # Window 1 ends hard at 120 s inside "cutting"; window 2 starts at 110 s inside "seven".
    windows = [Window(0.0, 120.0), Window(110.0, 200.0, hard_start=True)]
    left = [
        seg((100.0, 101.0, " Before"), (109.5, 110.5, " seven"), (112.0, 112.5, " eight")),
        seg((114.8, 115.2, " nine"), (117.0, 117.5, " ten"), (119.6, 120.0, " cut")),
    ]
    right = [
        seg((110.0, 110.5, " even"), (112.1, 112.6, " eight"), (114.9, 115.3, " nine")),
        seg((117.1, 117.5, " ten"), (119.6, 120.2, " cutting"), (125.0, 126.0, " after.")),
    ]
    merged = merge_windows(windows, [left, right])
    assert texts(merged) == ["Before", "seven", "eight", "nine", "ten", "cutting", "after."]
    # The seam is after "nine" (nearest the middle of the overlap, 115 s): both sides rebuilt.
    assert [s.text for s in merged] == [" Before seven eight", " nine", " ten cutting after."]
    words = [w for s in merged for w in s.words]
    assert all(a.start <= b.start for a, b in pairwise(words))


def test_hard_cut_without_common_words_splits_at_the_middle() -> None:
    windows = [Window(0.0, 120.0), Window(110.0, 200.0, hard_start=True)]
    left = [seg((111.0, 112.0, " alpha"), (116.0, 117.0, " beta"))]
    right = [seg((111.0, 112.0, " alfa"), (116.0, 117.0, " better"), (130.0, 131.0, " gamma"))]
    assert texts(merge_windows(windows, [left, right])) == ["alpha", "better", "gamma"]


def test_repeated_words_are_matched_near_their_own_time() -> None:
    # "the" at 111 s and at 118 s: the pair must be the same utterance, not two different ones.
    windows = [Window(0.0, 120.0), Window(110.0, 200.0, hard_start=True)]
    left = [seg((111.0, 111.3, " the"), (113.0, 113.5, " cat"), (118.0, 118.3, " the"))]
    right = [seg((113.1, 113.5, " cat"), (118.1, 118.3, " the"), (121.0, 121.5, " dog."))]
    assert texts(merge_windows(windows, [left, right])) == ["the", "cat", "the", "dog."]


def test_three_windows_with_two_hard_cuts() -> None:
    windows = [
        Window(0.0, 120.0),
        Window(110.0, 230.0, hard_start=True),
        Window(220.0, 250.0, hard_start=True),
    ]
    one = [seg((50.0, 51.0, " a"), (114.0, 115.0, " b"), (118.0, 119.0, " c"))]
    two = [
        seg((114.1, 115.0, " b"), (118.0, 119.0, " c"), (224.0, 225.0, " d"), (229.0, 230.0, " e"))
    ]
    three = [seg((224.0, 225.1, " d"), (229.0, 230.0, " e"), (240.0, 241.0, " f"))]
    assert texts(merge_windows(windows, [one, two, three])) == ["a", "b", "c", "d", "e", "f"]


def test_window_without_words() -> None:
    windows = [Window(0.0, 120.0), Window(110.0, 200.0, hard_start=True)]
    left = [seg((50.0, 51.0, " a"))]
    assert texts(merge_windows(windows, [left, []])) == ["a"]
    right = [seg((150.0, 151.0, " b"))]
    assert texts(merge_windows(windows, [[], right])) == ["b"]


def test_prompt_is_the_verbatim_prompt_then_the_last_words() -> None:
    said = " ".join(f"w{n}" for n in range(100))
    prompt = window_prompt(VERBATIM_PROMPT, said)
    assert prompt is not None
    assert prompt.startswith(VERBATIM_PROMPT + " ")
    tail = prompt.removeprefix(VERBATIM_PROMPT + " ").split()
    assert tail == [f"w{n}" for n in range(100 - PROMPT_TAIL_WORDS, 100)]


def test_prompt_without_either_part() -> None:
    assert window_prompt(VERBATIM_PROMPT, "") == VERBATIM_PROMPT
    assert window_prompt(None, "  Hello   there. ") == "Hello there."
    assert window_prompt(None, "") is None
