"""The edited sound of the main part, computed as a stream of blocks (core/audio_edit.py).

The source is an in-memory array behind a fake SourceReader; `expected_edit` is the naive
definition the streaming code must match: every piece sliced from the source, its hard-cut
fades applied, and crossfaded pieces mixed with equal-power gains where they overlap.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest

from talkavocado_render.core.audio_edit import (
    AUDIO_RATE,
    BLOCK,
    CHANNELS,
    AudioPiece,
    Samples,
    audio_pieces,
    crossfade_gains,
    edit_audio,
    fade_in_gain,
    total_samples,
)

FADE = 240  # 5 ms at 48 kHz
NTSC = Fraction(30000, 1001)


@dataclass(frozen=True)
class Span:
    """A timeline clip in frames (what audio_pieces reads of filtergraph.ClipSpan)."""

    start_frame: int
    end_frame: int
    transition_frames: int
    timeline_start_frame: int


def spans_of(ranges: Sequence[tuple[int, int]], transitions: Sequence[int] = ()) -> list[Span]:
    """Clips placed one after another, each overlapping the previous by its transition."""
    fades = list(transitions) or [0] * len(ranges)
    spans, cursor = [], 0
    for (start, end), fade in zip(ranges, fades, strict=True):
        placed = cursor - fade
        spans.append(Span(start, end, fade, placed))
        cursor = placed + end - start
    return spans


def timeline_frames(spans: Sequence[Span]) -> int:
    return spans[-1].timeline_start_frame + spans[-1].end_frame - spans[-1].start_frame


class ArrayReader:
    """SourceReader over an array: forwards only, silence past its end; read returns a copy
    (as the ffmpeg reader does: edit_audio fades the blocks in place)."""

    def __init__(self, source: Samples, log: ReaderLog) -> None:
        self._source = source
        self._position = 0
        self._log = log
        self.closed = False

    @property
    def position(self) -> int:
        return self._position

    def read(self, count: int) -> Samples:
        assert count >= 0
        assert not self.closed
        out = np.zeros((count, CHANNELS), np.float32)
        available = self._source[self._position : self._position + count]
        out[: len(available)] = available
        self._position += count
        self._log.samples_read += count
        return out

    def skip(self, count: int) -> None:
        assert count >= 0, "a forward reader cannot skip backwards"
        self._position += count

    def close(self) -> None:
        self.closed = True


@dataclass
class ReaderLog:
    readers: list[ArrayReader] = dataclasses.field(default_factory=list)
    samples_read: int = 0

    @property
    def opens(self) -> int:
        return len(self.readers)

    @property
    def all_closed(self) -> bool:
        return all(reader.closed for reader in self.readers)


def opener(source: Samples, log: ReaderLog) -> ArrayReader:
    reader = ArrayReader(source, log)
    log.readers.append(reader)
    return reader


def edit(
    pieces: Sequence[AudioPiece], source: Samples, block: int = BLOCK
) -> tuple[Samples, ReaderLog]:
    log = ReaderLog()
    blocks = list(edit_audio(pieces, lambda: opener(source, log), block=block))
    for chunk in blocks:
        assert chunk.dtype == np.float32
        assert chunk.ndim == 2
        assert chunk.shape[1] == CHANNELS
        assert 0 < len(chunk) <= block
    out = np.concatenate(blocks) if blocks else np.zeros((0, CHANNELS), np.float32)
    return out, log


def expected_edit(pieces: Sequence[AudioPiece], source: Samples) -> Samples:
    """The edit by its definition, all at once."""
    out = np.zeros((total_samples(pieces), CHANNELS), np.float32)
    padded = np.concatenate(
        (source, np.zeros((max(p.source_end for p in pieces), CHANNELS), np.float32))
    )
    for k, piece in enumerate(pieces):
        sound = padded[piece.source_start : piece.source_end].copy()
        if piece.fade_in:
            sound[: piece.fade_in] *= fade_in_gain(piece.fade_in)[:, None]
        if piece.fade_out:
            sound[piece.length - piece.fade_out :] *= fade_in_gain(piece.fade_out)[::-1, None]
        if piece.crossfade_in:
            outgoing, incoming = crossfade_gains(piece.crossfade_in)
            start = piece.output_start
            assert pieces[k - 1].output_end == start + piece.crossfade_in
            out[start : start + piece.crossfade_in] *= outgoing[:, None]
            sound[: piece.crossfade_in] *= incoming[:, None]
        out[piece.output_start : piece.output_end] += sound
    return out


def noise(samples: int, seed: int = 7) -> Samples:
    """Distinct values everywhere: a misplaced sample cannot go unnoticed."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.9, 0.9, (samples, CHANNELS)).astype(np.float32)


# --- layout of the pieces -------------------------------------------------------------------


@pytest.mark.parametrize("fps", [Fraction(25), NTSC, Fraction(24000, 1001), Fraction(50)])
def test_pieces_are_placed_at_the_frames_of_their_clips_without_drift(fps: Fraction) -> None:
    rng = np.random.default_rng(3)
    ranges, cursor = [], 0
    for _ in range(500):
        start = cursor + int(rng.integers(0, 40))
        end = start + int(rng.integers(1, 90))
        ranges.append((start, end))
        cursor = end
    spans = spans_of(ranges)
    per_frame = Fraction(AUDIO_RATE) / fps

    pieces = audio_pieces(spans, fps)

    assert len(pieces) == len(spans)
    total = round(timeline_frames(spans) * per_frame)
    assert pieces[-1].output_end == total_samples(pieces) == total
    assert sum(p.length for p in pieces) == total  # hard cuts only: no overlap, no gap
    for span, piece, before in zip(spans, pieces, [None, *pieces], strict=False):
        frames = span.end_frame - span.start_frame
        assert abs(piece.length - frames * per_frame) <= 1
        assert piece.output_start == round(span.timeline_start_frame * per_frame)
        assert piece.source_start == round(span.start_frame * per_frame)
        assert piece.output_start == (before.output_end if before else 0)
        assert piece.crossfade_in == 0


def test_ntsc_pieces_follow_the_exact_sample_grid_not_rounded_frame_lengths() -> None:
    # 1601.6 samples a frame: 1000 one-frame clips rounded each on their own would drift by
    # 400 samples (8 ms); the positions come from the timeline instead.
    spans = spans_of([(2 * k, 2 * k + 1) for k in range(1000)])

    pieces = audio_pieces(spans, NTSC)

    assert {p.length for p in pieces} == {1601, 1602}
    assert pieces[-1].output_end == 1_601_600
    assert pieces[500].output_start == 800_800


def test_crossfaded_clips_overlap_the_previous_piece_and_fade_only_at_hard_cuts() -> None:
    # Joins: crossfade of 5 frames, hard cut, crossfade of 3 frames; edges are hard cuts.
    spans = spans_of([(0, 30), (50, 100), (110, 150), (160, 200)], [0, 5, 0, 3])

    pieces = audio_pieces(spans, Fraction(25))

    assert [p.crossfade_in for p in pieces] == [0, 5 * 1920, 0, 3 * 1920]
    for previous, piece in itertools.pairwise(pieces):
        assert previous.output_end - piece.output_start == piece.crossfade_in
    assert [p.output_start for p in pieces] == [0, 25 * 1920, 75 * 1920, 112 * 1920]
    assert [p.length for p in pieces] == [30 * 1920, 50 * 1920, 40 * 1920, 40 * 1920]
    assert [p.fade_in for p in pieces] == [FADE, 0, FADE, 0]
    assert [p.fade_out for p in pieces] == [0, FADE, 0, FADE]
    assert pieces[-1].output_end == timeline_frames(spans) * 1920


def test_ntsc_crossfades_cover_the_transitions_samples() -> None:
    spans = spans_of([(0, 300), (600, 900)], [0, 6])

    first, second = audio_pieces(spans, NTSC)

    assert second.crossfade_in == first.output_end - second.output_start
    assert abs(second.crossfade_in - 6 * 1601.6) <= 1
    assert second.output_end == round(594 * Fraction(48000 * 1001, 30000))


@pytest.mark.parametrize(("fps", "frame_samples"), [(120, 400), (240, 200), (128, 375)])
def test_a_one_frame_clip_fades_over_half_its_length_each_way(fps: int, frame_samples: int) -> None:
    spans = spans_of([(0, 25), (30, 31), (40, 60)])

    short = audio_pieces(spans, Fraction(fps))[1]

    assert short.length == frame_samples
    assert short.fade_in == short.fade_out == frame_samples // 2
    assert short.fade_in + short.fade_out <= short.length


def test_long_clips_fade_five_milliseconds_at_hard_cuts() -> None:
    pieces = audio_pieces(spans_of([(0, 25), (30, 31), (40, 60)]), Fraction(25))
    assert [(p.fade_in, p.fade_out) for p in pieces] == [(FADE, FADE)] * 3


def test_clips_reusing_source_sound_are_placed_from_where_they_start() -> None:
    pieces = audio_pieces(spans_of([(0, 50), (40, 80), (100, 120)]), Fraction(25))

    assert [p.source_start for p in pieces] == [0, 40 * 1920, 100 * 1920]
    assert [p.output_start for p in pieces] == [0, 50 * 1920, 90 * 1920]


def test_no_clips_no_sound() -> None:
    assert audio_pieces([], Fraction(25)) == []
    assert total_samples([]) == 0
    assert list(edit_audio([], lambda: pytest.fail("nothing to read"))) == []


# --- gains ----------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 240, 9600])
def test_crossfade_gains_keep_the_power(count: int) -> None:
    outgoing, incoming = crossfade_gains(count)

    assert outgoing.dtype == incoming.dtype == np.float32
    assert len(outgoing) == len(incoming) == count
    np.testing.assert_allclose(outgoing**2 + incoming**2, 1.0, atol=1e-6)
    np.testing.assert_allclose(outgoing, incoming[::-1], atol=1e-6)
    if count > 1:
        # Monotonic (flat only where float32 cannot tell the values from 1 apart).
        assert np.all(np.diff(incoming) >= 0)
        assert np.all(np.diff(outgoing) <= 0)
        assert incoming[0] < incoming[-1]
    assert incoming[0] > 0
    assert outgoing[-1] > 0


@pytest.mark.parametrize("count", [1, 2, 200, 240])
def test_fade_gain_rises_from_above_silence_to_below_full(count: int) -> None:
    gain = fade_in_gain(count)

    assert gain.dtype == np.float32
    assert len(gain) == count
    assert 0 < gain[0] <= gain[-1] < 1
    assert np.all(np.diff(gain) > 0)
    # Raised cosine: symmetric about its middle, half way at the middle.
    np.testing.assert_allclose(gain + gain[::-1], 1.0, atol=1e-6)


def test_fades_are_raised_cosines_with_a_gentle_start() -> None:
    gain = fade_in_gain(240).astype(np.float64)
    steps = np.diff(gain)
    # Zero slope at both ends, steepest in the middle.
    assert steps[0] < steps[len(steps) // 2] / 50
    assert steps[-1] < steps[len(steps) // 2] / 50
    assert gain[0] < 1e-4


# --- streaming edit -------------------------------------------------------------------------


# Joins: crossfade, hard, hard (into a one-frame clip), crossfade out of that one frame, hard,
# crossfade out of a one-frame clip; source gaps between most clips.
MIXED = spans_of(
    [(0, 6), (10, 20), (22, 30), (30, 31), (32, 40), (41, 42), (43, 50)],
    [0, 2, 0, 0, 1, 0, 1],
)


@pytest.mark.parametrize("block", [1, 7, 4800, 10_000_000])
@pytest.mark.parametrize("fps", [Fraction(25), NTSC, Fraction(240)])
def test_streamed_edit_equals_the_naive_edit_for_any_block_size(fps: Fraction, block: int) -> None:
    source = noise(round(60 * AUDIO_RATE / fps))
    pieces = audio_pieces(MIXED, fps)
    assert any(p.crossfade_in for p in pieces)
    assert any(p.fade_in and p.fade_in < FADE for p in pieces) == (fps == 240)

    out, log = edit(pieces, source, block)

    np.testing.assert_allclose(out, expected_edit(pieces, source), rtol=1e-6, atol=1e-7)
    assert log.opens == 1
    assert log.all_closed
    # Read once, forwards: each kept source sample read once, the rest skipped.
    assert log.samples_read == sum(p.length for p in pieces)


@pytest.mark.parametrize("fps", [Fraction(25), NTSC])
def test_block_size_changes_nothing_in_the_output(fps: Fraction) -> None:
    source = noise(round(60 * AUDIO_RATE / fps), seed=11)
    pieces = audio_pieces(MIXED, fps)

    outputs = [edit(pieces, source, block)[0] for block in (1, 7, 4800, 10_000_000)]

    for other in outputs[1:]:
        assert np.array_equal(outputs[0], other)


def test_every_output_sample_comes_from_the_clip_placed_there() -> None:
    # A ramp as the source: each value names its sample; away from fades and crossfades the
    # edit is an exact copy of the clip's samples.
    source = np.repeat(np.arange(200 * 1920, dtype=np.float32)[:, None], CHANNELS, axis=1)
    pieces = audio_pieces(spans_of([(0, 30), (50, 100), (110, 150)]), Fraction(25))

    out, _ = edit(pieces, source / len(source))

    for piece in pieces:
        inner = slice(piece.output_start + FADE, piece.output_end - FADE)
        expected = np.arange(piece.source_start + FADE, piece.source_end - FADE) / len(source)
        np.testing.assert_array_equal(out[inner, 0], expected.astype(np.float32))


def test_hard_cut_fades_shape_both_sides_of_the_join() -> None:
    source = np.ones((100 * 1920, CHANNELS), np.float32)
    first, second = audio_pieces(spans_of([(0, 10), (20, 30)]), Fraction(25))

    out, _ = edit([first, second], source)

    gain = fade_in_gain(FADE)
    join = second.output_start
    np.testing.assert_array_equal(out[:FADE, 0], gain)
    np.testing.assert_array_equal(out[join - FADE : join, 1], gain[::-1])
    np.testing.assert_array_equal(out[join : join + FADE, 0], gain)
    np.testing.assert_array_equal(out[-FADE:, 1], gain[::-1])
    assert np.all(out[FADE : join - FADE] == 1.0)
    assert np.all(out[join + FADE : -FADE] == 1.0)


def test_a_crossfade_keeps_constant_power_between_equal_sounds() -> None:
    # Uncorrelated sources of equal level: the mix keeps the level (what equal power means).
    source = noise(200 * 1920, seed=5)
    pieces = audio_pieces(spans_of([(0, 60), (100, 160)], [0, 20]), Fraction(25))
    window = slice(pieces[1].output_start, pieces[0].output_end)

    out, _ = edit(pieces, source)

    level = float(np.sqrt(np.mean(source[: 60 * 1920] ** 2)))
    mixed = out[window]
    assert len(mixed) == 20 * 1920
    assert float(np.sqrt(np.mean(mixed**2))) == pytest.approx(level, rel=0.03)
    middle = mixed[len(mixed) // 2 - 4800 : len(mixed) // 2 + 4800]
    assert float(np.sqrt(np.mean(middle**2))) == pytest.approx(level, rel=0.05)


def test_samples_past_the_source_end_are_silence() -> None:
    source = noise(5 * 1920)
    pieces = audio_pieces(spans_of([(2, 10)]), Fraction(25))

    out, _ = edit(pieces, source, block=1000)

    assert len(out) == 8 * 1920
    kept = 3 * 1920
    np.testing.assert_array_equal(out[FADE:kept], source[2 * 1920 + FADE :])
    assert not np.any(out[kept:])


def test_a_piece_starting_before_the_reader_opens_a_new_reader() -> None:
    source = noise(200 * 1920, seed=2)
    pieces = audio_pieces(spans_of([(0, 50), (40, 80), (100, 120), (10, 20)]), Fraction(25))

    out, log = edit(pieces, source, block=999)

    # Clip 1 starts inside clip 0 and clip 3 before clip 2: one reader each time.
    assert log.opens == 3
    assert log.all_closed
    np.testing.assert_allclose(out, expected_edit(pieces, source), rtol=1e-6, atol=1e-7)


def test_forward_clips_share_one_reader() -> None:
    pieces = audio_pieces(spans_of([(0, 50), (50, 80), (80, 81), (200, 220)]), Fraction(25))

    _, log = edit(pieces, noise(300 * 1920))

    assert log.opens == 1


def test_stopping_early_closes_the_reader() -> None:
    log = ReaderLog()
    pieces = audio_pieces(spans_of([(0, 50), (60, 80)]), Fraction(25))
    blocks = edit_audio(pieces, lambda: opener(noise(100 * 1920), log), block=100)

    next(blocks)
    blocks.close()

    assert log.opens == 1
    assert log.all_closed


def sine(frequency: float, seconds: float, phase: float = 0.0) -> npt.NDArray[np.float32]:
    t = np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE
    wave = 0.5 * np.cos(2 * np.pi * frequency * t + phase)
    return np.repeat(wave[:, None], CHANNELS, axis=1).astype(np.float32)


def join_step(out: Samples, join: int) -> tuple[float, float]:
    """The largest sample-to-sample jump within 0.5 ms of `join`, and the 99th percentile of
    the jumps in the 200 ms around it (leaving out the 10 ms next to the join)."""
    steps = np.abs(np.diff(out[:, 0]))
    at_join = float(steps[join - 24 : join + 24].max())
    near, far = 480, 4800
    around = np.concatenate((steps[join - far : join - near], steps[join + near : join + far]))
    return at_join, float(np.percentile(around, 99))


def test_a_hard_cut_between_two_waves_ramps_instead_of_stepping() -> None:
    # Second 0: 220 Hz, second 1: 330 Hz in opposite phase. Clip 0 ends on a crest of the
    # first (+0.5), clip 1 starts on a trough of the second (-0.5): a bare cut steps by 1.0.
    source = np.concatenate((sine(220, 1.0), sine(330, 1.0, phase=np.pi)))
    pieces = audio_pieces(spans_of([(0, 10), (30, 40)]), Fraction(25))
    join = pieces[1].output_start
    assert source[10 * 1920 - 1, 0] == pytest.approx(0.5, abs=0.01)
    assert source[30 * 1920, 0] == pytest.approx(-0.5, abs=0.01)

    faded, _ = edit(pieces, source)
    bare, _ = edit([dataclasses.replace(p, fade_in=0, fade_out=0) for p in pieces], source)

    at_join, usual = join_step(faded, join)
    assert at_join <= usual
    # The measure tells a click when there is one.
    bare_join, bare_usual = join_step(bare, join)
    assert bare_join > 10 * bare_usual


@pytest.mark.parametrize(
    ("fps", "short_clip", "transition"),
    [
        # Clip 1 is nothing but its crossfade: no fade at all before the hard cut after it.
        (25, (50, 55), 5),
        # 200 samples a frame: one frame after the crossfade is shorter than the 240-sample
        # fade, whose first 40 samples are skipped (the gain steps from 1 to 0.93).
        (240, (50, 53), 2),
    ],
)
def test_a_clip_barely_longer_than_its_crossfade_still_fades_out_at_the_next_hard_cut(
    fps: int, short_clip: tuple[int, int], transition: int
) -> None:
    # filtergraph.clip_spans accepts both timelines (a transition as long as its clip).
    spans = spans_of([(0, 30), short_clip, (60, 90)], [0, transition, 0])
    pieces = audio_pieces(spans, Fraction(fps))
    short = pieces[1]
    assert short.length - short.crossfade_in < short.fade_out
    source = noise(100 * 1920, seed=13)

    out, _ = edit(pieces, source)

    np.testing.assert_allclose(out, expected_edit(pieces, source), rtol=1e-6, atol=1e-7)
