"""faster-whisper segments → Transcript; transcript words → caption words."""

from __future__ import annotations

from talkavocado_common.captions import CueWord
from talkavocado_common.models import Transcript
from talkavocado_transcribe.core import to_transcript, transcript_cue_words
from tests.unit.transcribe.fakes import FakeSegment, FakeWord


def convert(segments: list[FakeSegment], duration: float = 10.0, **kw: object) -> Transcript:
    return to_transcript(segments, language="en", duration=duration, model="tiny.en", **kw)  # type: ignore[arg-type]


def test_basic_conversion() -> None:
    transcript = convert(
        [
            FakeSegment(
                0.0,
                2.0,
                " Hello world.",
                [FakeWord(0.1, 0.5, " Hello"), FakeWord(0.5, 1.0, " world.", 0.5)],
                id=1,
            ),
            FakeSegment(2.0, 3.0, " Bye.", [FakeWord(2.1, 2.6, " Bye.")], id=2),
        ]
    )
    assert transcript.language == "en"
    assert transcript.model == "tiny.en"
    assert transcript.duration_sec == 10.0
    assert [s.id for s in transcript.segments] == [0, 1]
    first = transcript.segments[0]
    assert first.text == "Hello world."
    assert (first.start, first.end) == (0.1, 1.0)  # spans its words
    assert [(w.word, w.start, w.end, w.probability) for w in first.words] == [
        (" Hello", 0.1, 0.5, 0.9),
        (" world.", 0.5, 1.0, 0.5),
    ]
    Transcript.from_json_bytes(transcript.to_json_bytes())  # valid against the contract


def test_times_are_clamped_ordered_and_rounded() -> None:
    transcript = convert(
        [
            FakeSegment(
                -0.5,
                12.0,
                " a b c d",
                [
                    FakeWord(-0.2, 0.30000001, " a", 1.0000001),
                    FakeWord(0.2, 0.9, " b", -0.01),  # overlaps " a"
                    FakeWord(0.95, 0.9, " c"),  # ends before it starts
                    FakeWord(9.5, 11.0, " d"),  # runs past the end of the audio
                ],
            )
        ],
        duration=10.0,
    )
    words = transcript.words()
    assert [(w.start, w.end) for w in words] == [(0.0, 0.3), (0.3, 0.9), (0.95, 0.95), (9.5, 10.0)]
    assert words[0].probability == 1.0
    assert words[1].probability == 0.0


def test_empty_segments_are_dropped_and_wordless_text_is_kept() -> None:
    transcript = convert(
        [
            FakeSegment(0.0, 1.0, "   ", []),
            FakeSegment(1.0, 2.0, " [music]", None),
            FakeSegment(2.0, 3.0, " Hi.", [FakeWord(2.0, 2.4, " Hi.")]),
        ]
    )
    assert [(s.id, s.text, s.start, s.end) for s in transcript.segments] == [
        (0, "[music]", 1.0, 2.0),
        (1, "Hi.", 2.0, 2.4),
    ]


def test_no_segments() -> None:
    transcript = convert([], duration=3.0)
    assert transcript.segments == []
    assert transcript.words() == []


def test_word_edges_are_pulled_out_of_pauses() -> None:
    transcript = convert(
        [
            FakeSegment(
                0.0,
                6.0,
                " Welcome. Again.",
                [FakeWord(0.0, 0.8, " Welcome."), FakeWord(3.0, 4.5, " Again.")],
            )
        ],
        silences=[(0.0, 0.4), (1.0, 3.2), (4.0, 6.0)],
    )
    assert [(w.start, w.end) for w in transcript.words()] == [(0.35, 0.8), (3.15, 4.05)]


def test_cue_words_keep_text_and_times() -> None:
    transcript = convert([FakeSegment(0.0, 1.0, " Hi.", [FakeWord(0.2, 0.6, " Hi.")])])
    assert transcript_cue_words(transcript) == [CueWord(" Hi.", 0.2, 0.6)]
