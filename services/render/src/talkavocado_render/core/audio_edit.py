"""The edited sound of the main part: the timeline's clips cut from the source's audio, sample
exact, with a short fade at every hard cut and an equal-power crossfade where the timeline has
one — computed as a stream of blocks, so memory does not depend on the recording's length or on
the number of cuts.

Pure: pieces are derived from the clip spans, and `edit_audio` turns a forward reader of the
source's decoded samples into the edited samples. Decoding and piping are the shell's
(audio_feed.py).

Why not in ffmpeg's filtergraph: there each clip costs a branch of filters (split, trim,
setpts, fades, a concat input), about 40 KB of ffmpeg memory and a share of every scheduling
step; 1,500 cuts in two hours held 100 MB more than 60 cuts, and 600 cuts on five minutes spent
36 s of CPU on 12 s of work.

Positions are exact: piece k covers output samples round(t_k · r) .. round(t_k' · r) where
t_k, t_k' are its first and end frame on the timeline and r = 48000 / fps, so the audio is in
step with the video at every join however many there are (per-piece rounding would drift).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import numpy as np
import numpy.typing as npt

AUDIO_RATE = 48_000
CHANNELS = 2  # stereo: the edit's sound unless the recording is mono (sound_channels)
LAYOUTS = {1: "mono", 2: "stereo"}
# Fade on both sides of every hard cut: long enough to turn the step between two waveforms into
# a ramp below audibility as a click, short enough not to soften a kept syllable.
HARD_CUT_FADE_SEC = Fraction(5, 1000)
# Samples per block handed on: a tenth of a second, bounded memory at any length.
BLOCK = AUDIO_RATE // 10

Samples = npt.NDArray[np.float32]  # shape (n, channels)


class AudioSpan(Protocol):
    """What the audio needs of one timeline clip, in frames of the source's grid
    (filtergraph.ClipSpan)."""

    @property
    def start_frame(self) -> int: ...
    @property
    def end_frame(self) -> int: ...
    @property
    def transition_frames(self) -> int: ...
    @property
    def timeline_start_frame(self) -> int: ...


@dataclass(frozen=True)
class AudioPiece:
    """One clip's sound: source samples [source_start, source_start + length) placed at output
    sample `output_start`; its first `crossfade_in` samples mix with the end of the piece
    before; `fade_in`/`fade_out` samples of fade where it meets a hard cut (or an edge)."""

    source_start: int
    output_start: int
    length: int
    crossfade_in: int
    fade_in: int
    fade_out: int

    @property
    def source_end(self) -> int:
        return self.source_start + self.length

    @property
    def output_end(self) -> int:
        return self.output_start + self.length


def audio_pieces(spans: Sequence[AudioSpan], fps: Fraction) -> list[AudioPiece]:
    """The pieces of the edited sound; the edges of the timeline count as hard cuts (the first
    clip rarely starts where the recording does, and an intro or outro joins there)."""
    per_frame = Fraction(AUDIO_RATE) / fps
    fade_max = round(HARD_CUT_FADE_SEC * AUDIO_RATE)
    pieces: list[AudioPiece] = []
    for k, span in enumerate(spans):
        output_start = round(span.timeline_start_frame * per_frame)
        timeline_end = span.timeline_start_frame + (span.end_frame - span.start_frame)
        length = round(timeline_end * per_frame) - output_start
        crossfade = pieces[-1].output_end - output_start if pieces and span.transition_frames else 0
        hard_out = k + 1 == len(spans) or spans[k + 1].transition_frames == 0
        fade = min(fade_max, length // 2)
        pieces.append(
            AudioPiece(
                source_start=round(span.start_frame * per_frame),
                output_start=output_start,
                length=length,
                crossfade_in=crossfade,
                fade_in=0 if crossfade else fade,
                fade_out=fade if hard_out else 0,
            )
        )
    return pieces


def total_samples(pieces: Sequence[AudioPiece]) -> int:
    return pieces[-1].output_end if pieces else 0


class SourceReader(Protocol):
    """The source's decoded samples from its first one on, forwards only."""

    @property
    def position(self) -> int:
        """The source sample the next read starts at."""
        ...

    def read(self, count: int) -> Samples:
        """The next `count` samples; silence past the end of the source (like apad)."""
        ...

    def skip(self, count: int) -> None: ...

    def close(self) -> None: ...


def fade_in_gain(count: int) -> npt.NDArray[np.float32]:
    """Raised cosine from silence (ffmpeg's hsin): starts and ends with zero slope, the least
    spectral splatter for its length. Sampled mid-sample, so no sample is exactly muted."""
    x = (np.arange(count, dtype=np.float64) + 0.5) / count
    return ((1.0 - np.cos(np.pi * x)) / 2.0).astype(np.float32)


def crossfade_gains(count: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(outgoing, incoming) equal-power gains (ffmpeg's qsin): the joined moments are
    uncorrelated speech, and a linear crossfade would dip in loudness halfway."""
    x = (np.arange(count, dtype=np.float64) + 0.5) / count
    incoming = np.sin(np.pi / 2 * x)
    outgoing = np.cos(np.pi / 2 * x)
    return outgoing.astype(np.float32), incoming.astype(np.float32)


def _apply_fades(chunk: Samples, offset: int, piece: AudioPiece) -> Samples:
    """`chunk` holds the piece's samples [offset, offset + len(chunk)): its hard-cut fades."""
    end = offset + len(chunk)
    if piece.fade_in and offset < piece.fade_in:
        gain = fade_in_gain(piece.fade_in)[offset : min(end, piece.fade_in)]
        chunk[: len(gain)] *= gain[:, None]
    fade_start = piece.length - piece.fade_out
    if piece.fade_out and end > fade_start:
        gain = fade_in_gain(piece.fade_out)[::-1]
        lo = max(offset, fade_start)
        chunk[lo - offset :] *= gain[lo - fade_start : end - fade_start][:, None]
    return chunk


def edit_audio(
    pieces: Sequence[AudioPiece],
    open_reader: Callable[[], SourceReader],
    *,
    block: int = BLOCK,
) -> Iterator[Samples]:
    """The edited sound, block by block (each at most `block` samples, float32 stereo).

    The source is read forwards once; a piece that starts before where the reader is (a
    hand-made timeline reusing earlier sound) opens a new reader. Memory: one block, plus the
    tail of a piece held back for the crossfade into the next one."""
    reader: SourceReader | None = None
    held: Samples | None = None  # the previous piece's tail, still to be crossfaded
    try:
        for k, piece in enumerate(pieces):
            if reader is None or piece.source_start < reader.position:
                if reader is not None:
                    reader.close()
                reader = open_reader()
            reader.skip(piece.source_start - reader.position)
            offset = 0
            if piece.crossfade_in:
                assert held is not None, "a crossfade follows a piece that held its tail"
                outgoing, incoming = crossfade_gains(piece.crossfade_in)
                # No fade-in here (the crossfade is it), but a short piece's fade-out can start
                # inside its crossfade.
                head = _apply_fades(reader.read(piece.crossfade_in), 0, piece)
                for lo in range(0, piece.crossfade_in, block):
                    hi = min(lo + block, piece.crossfade_in)
                    yield (
                        held[lo:hi] * outgoing[lo:hi, None] + head[lo:hi] * incoming[lo:hi, None]
                    ).astype(np.float32, copy=False)
                offset = piece.crossfade_in
                held = None
            following = pieces[k + 1].crossfade_in if k + 1 < len(pieces) else 0
            body_end = piece.length - following
            while offset < body_end:
                count = min(block, body_end - offset)
                yield _apply_fades(reader.read(count), offset, piece)
                offset += count
            if following:
                held = _apply_fades(reader.read(following), offset, piece)
    finally:
        if reader is not None:
            reader.close()


def sound_channels(source_channels: int | None, *, bumpers: bool = False) -> int:
    """How many channels the edit's sound has: a mono recording stays mono (no second copy of
    the same signal: half the sound's work, from the limiter to the AAC encoder, and a smaller
    file); anything else is made stereo, and so is an edit with an intro or outro, whose own
    sound is mixed in stereo."""
    return 1 if source_channels == 1 and not bumpers else CHANNELS
