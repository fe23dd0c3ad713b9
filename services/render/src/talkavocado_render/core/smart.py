"""Smart render: copy the source's H.264 GOP by GOP, re-encode only the partial GOPs at each cut.

Pure. From what ffprobe says of the source's video (its stream and every packet's timestamps and
key flag) and the timeline's kept frame ranges, either the plan of pieces:

    copy   [k, e)   the source's packets stream-copied from keyframe k, through whole GOPs,
                    up to a clean end e: a keyframe, the end, or a frame inside the last GOP
                    where its packets so far (decode order) show exactly the frames before e
                    (any frame without B-frames; the frame after each P-frame with them)
    encode [a, b)   frames decoded and re-encoded by x264 with the source's parameters

or the reason the edit takes the full encode instead (core/filtergraph.py). The pieces, joined in
order, are exactly the frames the full render selects: the same frame grid (frame n is the one
shown at n / fps), so each copied frame is the source's own and each re-encoded one its
high-quality copy; the sound is the full render's (audio_edit.py, loudness.py) either way.

When the edit is eligible (each rule is a reason in `Ineligible` otherwise):
- the picture is untouched: no crossfade, logo, burned-in subtitles, intro/outro or preview;
- H.264 (Baseline, Main or High), 8-bit 4:2:0, progressive, not rotated by metadata, stored with
  4-byte NAL lengths (avcC), the timeline's size and frame rate;
- constant frame rate on the grid from time 0: the n-th frame shown has pts exactly n frame
  durations (whole ticks of the time base). A VFR stream or one starting late would need the
  full render's fps filter to pick, duplicate or drop frames: the cut points could not be exact;
- closed GOPs: no frame decoded after a keyframe is shown before it, and each keyframe sits at
  its own position in decode order, so a copy from a keyframe needs nothing before it;
- decode timestamps a constant number (0, 1 or 2) of frames behind: the join sets every piece's
  to that rhythm (an edge without B-frames is decoded in the order it is shown, and its decode
  times may lag as well), so the joined track keeps one DTS rhythm;
- something to copy (otherwise every frame is re-encoded: the full encode is as good and
  simpler).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

from talkavocado_common.media.allowlist import RECORDING_DEMUXERS, input_args
from talkavocado_common.models import RenderOptions, Timeline

from .audio_edit import CHANNELS, sound_channels
from .filtergraph import (
    PCM_DEMUXERS,
    PCM_PROTOCOLS,
    EditedAudio,
    RenderPlan,
    _edited_audio_input,
    _Graph,
    _Inputs,
    _normalise_loudness,
    aac_args,
    any_of,
    audio_format,
    clip_spans,
    fps_of,
    pcm_args,
    silence,
    timeline_frames,
)
from .filtergraph import _select as select_frames
from .loudness import Normalisation
from .segments import MP4_DEMUXERS, build_join

# The re-encoded edges: x264 two presets faster than the render's (ultrafast for the default
# veryfast), at a CRF this much under the render's (never below EDGE_CRF_MIN) so they stay at
# least as faithful to the source frames they replace. The edges are the smart render's video
# work, decoded from their GOP's keyframe: on a 5-minute 720p talk (bench/render.py, 1,366 edge
# frames) veryfast at CRF 12 took 22.3 CPU-s (worst frame 51.5 dB PSNR against the source, 34 MB),
# ultrafast at CRF 18 with CABAC and the 8x8 transform 15.4 CPU-s (52.8 dB, 44 MB): edges a
# third larger.
EDGE_PRESET_STEPS_FASTER = 2
EDGE_CRF_OFFSET, EDGE_CRF_MIN = 2, 10
X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
)  # fmt: skip
# The edge encode's inputs: every one is the source opened again, with a decoder of its own
# whose frames stay allocated until its ffmpeg run ends (measured on 720p with 2 decoder
# threads: ~18 MB, some 13 frames, an input; one thread saves a third of that but decodes on
# ffmpeg's main thread, and the run took 1.5x as long alone; with a run on each core, one
# thread each is the cheaper). Runs of at most 16 inputs, fewer on large frames and with runs
# going at once: all their decoders together hold at most about 512 MiB.
EDGE_INPUTS_PER_RUN = 16
EDGE_DECODER_THREADS = 2  # when one run goes at a time; one each when several do
EDGE_RUNS_AT_ONCE = 4
EDGE_FRAMES_PER_INPUT = 13
EDGE_DECODER_BUDGET = 512 * 2**20
# The copies of the source the edge reads read (edge_source_commands): one drop expression is one
# program argument (Linux takes at most 128 KiB each), and one pass's command stays well under
# the 2 MiB of all arguments and the environment.
EDGE_SOURCE_EXPRESSION_MAX = 100_000
EDGE_SOURCE_COMMAND_MAX = 1_000_000
EDGE_SOURCE_COPIES_PER_PASS = 64  # open files
_PROFILES = {
    "Constrained Baseline": "baseline",
    "Baseline": "baseline",
    "Main": "main",
    "High": "high",
}
_PIX_FMTS = ("yuv420p", "yuvj420p")
_PROGRESSIVE = (None, "", "progressive", "unknown")
# x264's B-frame settings giving each reorder delay (ffmpeg: has_b_frames), for the edges of a
# Main source (see _frame_types).
_BFRAMES = {0: "bframes=0", 1: "bframes=1:b-pyramid=none", 2: "bframes=3:b-pyramid=normal"}


# The edges need no B-frames: the join gives every piece the source's decode-time rhythm
# (joined_dts), and a picture shown as soon as it is decoded may be decoded any number of frames
# ahead of its time. Without them ultrafast's x264 encoded the 5-minute talk's edges with about
# 20 % less CPU, at P-frame quality throughout. Only a Main source's edges keep B-frames: with
# neither B-frames nor CABAC x264 writes Constrained Baseline (see _profile_tools).
def _frame_types(profile: str, delay: int) -> str:
    return _BFRAMES[delay] if profile == "main" else _BFRAMES[0]


# x264 writes the lowest profile its tools need (-profile only caps it), and a fast preset's
# tools need less than the source's: _profile_tools keeps the edges' SPS at the source's profile,
# so the joined track reads as one profile. High needs the 8x8 transform; Main needs B-frames or
# CABAC, so CABAC is asked only for a Main source without B-frames. Otherwise the preset's own
# entropy coder stays: ultrafast's CAVLC (in the edges' own PPS; entropy coding is a PPS setting
# and each slice names its PPS) encoded the 5-minute talk's edge frames with 38 % less x264 CPU
# than CABAC, 12 % larger, at the same quantisers.
def _profile_tools(profile: str, delay: int) -> str:
    if profile == "high":
        return ":8x8dct=1"
    return ":cabac=1" if profile == "main" and delay == 0 else ""


RenderPath = Literal["smart", "full", "segmented"]


class Ineligible(Exception):
    """The edit cannot be smart-rendered; the message says why (recorded in the manifest)."""

    @property
    def reason(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Packet:
    """One video packet as ffprobe lists it (decode order), timestamps in the stream's ticks;
    where its data lies in the file, and whether its picture is a reference (not known: True)."""

    pts: int
    dts: int
    key: bool
    pos: int = -1
    size: int = 0
    reference: bool = True


@dataclass(frozen=True)
class VideoFacts:
    """The source's first video stream, from ffprobe -show_streams."""

    codec: str
    profile: str
    level: int
    pix_fmt: str
    width: int
    height: int
    time_base: Fraction
    field_order: str | None = None
    rotation: float = 0.0
    is_avc: bool = True
    nal_length_size: int | None = 4
    color_range: str | None = None
    color_space: str | None = None
    color_transfer: str | None = None
    color_primaries: str | None = None
    container: str = ""  # ffprobe's format_name


@dataclass(frozen=True)
class GopStructure:
    """The source's frames on its grid: how many, where the keyframes are, the reorder delay,
    and the clean ends: each frame e where the packets of e's GOP decoded so far show exactly
    the frames [its keyframe, e) (every frame without B-frames; the frame after each P-frame
    with them). A copy may stop there in the middle of a GOP; the end of every GOP is one."""

    frames: int
    keyframes: tuple[int, ...]
    delay: int
    clean_ends: tuple[int, ...] = ()


@dataclass(frozen=True)
class Piece:
    kind: Literal["copy", "encode"]
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class SmartPlan:
    pieces: tuple[Piece, ...]
    structure: GopStructure
    # Keyframes where the copied source is split (segment muxer's -segment_frames).
    boundaries: tuple[int, ...]
    facts: VideoFacts
    packets: tuple[Packet, ...] = ()  # the source's video, decode order

    @property
    def copied_frames(self) -> int:
        return sum(p.frames for p in self.pieces if p.kind == "copy")

    @property
    def encoded_frames(self) -> int:
        return sum(p.frames for p in self.pieces if p.kind == "encode")

    @property
    def total_frames(self) -> int:
        return self.copied_frames + self.encoded_frames

    def segments(self, piece: Piece) -> list[tuple[int, int, bool]]:
        """The segment files (index in split order) holding a copied piece: (index, frames
        used, whether the piece stops inside it). A piece starts where a segment does."""
        edges = (0, *self.boundaries, self.structure.frames)
        index = edges.index(piece.start)
        used: list[tuple[int, int, bool]] = []
        while edges[index] < piece.end:
            stop = min(edges[index + 1], piece.end)
            used.append((index, stop - edges[index], stop < edges[index + 1]))
            index += 1
        return used


@dataclass(frozen=True)
class RenderRoute:
    """Which render ran and why: recorded with the final render in the manifest."""

    path: RenderPath
    reason: str
    copied_frames: int = 0
    encoded_frames: int = 0


# --- is the picture untouched? ----------------------------------------------------------------


def picture_changes(
    timeline: Timeline,
    *,
    logo: bool = False,
    subtitles: bool = False,
    intro: bool = False,
    outro: bool = False,
    preview: bool = False,
) -> str | None:
    """Why the edit needs every frame decoded and encoded, or None when it changes no pixel."""
    effects = [
        (any(c.transition_in_sec > 0 for c in timeline.clips), "crossfades"),
        (logo, "a logo"),
        (subtitles, "burned-in subtitles"),
        (intro, "an intro"),
        (outro, "an outro"),
        (preview, "a preview (scaled from the encoded frames)"),
    ]
    found = [name for present, name in effects if present]
    if not found:
        return None
    return "the edit changes the picture: " + ", ".join(found)


# --- the source -------------------------------------------------------------------------------


def check_source(facts: VideoFacts, timeline: Timeline) -> None:
    """Raises Ineligible when x264 cannot continue this stream (codec, format, layout)."""
    if facts.codec != "h264":
        raise Ineligible(f"the source's video is {facts.codec or 'unknown'}, not H.264")
    if facts.profile not in _PROFILES:
        raise Ineligible(f"H.264 profile {facts.profile or 'unknown'} is not smart-rendered")
    if not 9 <= facts.level <= 62:
        raise Ineligible(f"H.264 level {facts.level} is unknown")
    if facts.pix_fmt not in _PIX_FMTS:
        raise Ineligible(f"pixel format {facts.pix_fmt} is not 8-bit 4:2:0")
    if facts.field_order not in _PROGRESSIVE:
        raise Ineligible(f"the source is interlaced ({facts.field_order})")
    if facts.rotation % 360:
        raise Ineligible("the source is rotated by metadata")
    if not facts.is_avc or facts.nal_length_size != 4:
        raise Ineligible("the source's H.264 is not stored as avcC with 4-byte NAL lengths")
    if (facts.width, facts.height) != (timeline.width, timeline.height):
        raise Ineligible("the timeline's frame size differs from the source's")
    if facts.time_base.numerator != 1 or facts.time_base <= 0:
        raise Ineligible(f"time base {facts.time_base} is not 1/N")


def frame_ticks(time_base: Fraction, fps: Fraction) -> int:
    """One frame's duration in ticks of `time_base`; Ineligible unless whole."""
    ticks = 1 / (fps * time_base)
    if ticks.denominator != 1 or ticks <= 0:
        raise Ineligible(f"a frame at {fps} fps is not a whole number of ticks of {time_base}")
    return ticks.numerator


def _delay(packets: Sequence[Packet], ticks: int) -> int:
    """The constant number of frames the decode timestamps run behind their order."""
    first = -packets[0].dts
    if first % ticks or not 0 <= first // ticks <= 2:
        raise Ineligible("the decode timestamps are not 0, 1 or 2 frames behind")
    delay = first // ticks
    for index, packet in enumerate(packets):
        if packet.dts != (index - delay) * ticks:
            raise Ineligible(f"decode timestamps are irregular at packet {index}")
    return delay


def _on_grid(packets: Sequence[Packet], ticks: int) -> None:
    """Shown in order, frame n has pts n * ticks: constant frame rate from time 0."""
    for frame, pts in enumerate(sorted(p.pts for p in packets)):
        if pts != frame * ticks:
            raise Ineligible(
                f"frame {frame} is not on the frame grid (variable frame rate or a late start)"
            )


def _keyframes(packets: Sequence[Packet], ticks: int) -> tuple[int, ...]:
    """Keyframes as frame numbers; Ineligible on open GOPs."""
    if not packets[0].key:
        raise Ineligible("the video does not start with a keyframe")
    keyframes: list[int] = []
    for index, packet in enumerate(packets):
        frame = packet.pts // ticks
        if packet.key:
            if frame != index:
                raise Ineligible(
                    f"open GOP: keyframe {frame} is not at its own place in decode order"
                )
            keyframes.append(frame)
        elif frame < keyframes[-1]:
            raise Ineligible(f"open GOP: frame {frame} is decoded after keyframe {keyframes[-1]}")
    return tuple(keyframes)


def gop_structure(packets: Sequence[Packet], time_base: Fraction, fps: Fraction) -> GopStructure:
    """Frames, keyframes and reorder delay of a packet list (decode order); Ineligible when the
    stream is not constant frame rate on its grid with closed GOPs and regular decode times."""
    if not packets:
        raise Ineligible("the source has no video packets")
    ticks = frame_ticks(time_base, fps)
    _on_grid(packets, ticks)
    keyframes = _keyframes(packets, ticks)
    delay = _delay(packets, ticks)
    return GopStructure(len(packets), keyframes, delay, _clean_ends(packets, ticks))


def _clean_ends(packets: Sequence[Packet], ticks: int) -> tuple[int, ...]:
    """Frames e where the GOP's packets so far (decode order) show exactly [keyframe, e)."""
    ends: list[int] = []
    start = highest = count = 0
    for packet in packets:
        frame = packet.pts // ticks
        if packet.key:
            start, highest, count = frame, frame, 0
        count += 1
        highest = max(highest, frame)
        if highest == start + count - 1:
            ends.append(start + count)
    return tuple(ends)


# --- the pieces -------------------------------------------------------------------------------


def _copy_end(end: int, structure: GopStructure) -> int:
    """The furthest frame <= `end` a copy can stop at: a clean end, at least delay + 1 frames
    into its GOP (the join cuts the GOP's file after that many packets, by decode time)."""
    ends = structure.clean_ends
    found = bisect.bisect_right(ends, end) - 1
    if found < 0:
        return 0
    stop = ends[found]
    keyframe = structure.keyframes[bisect.bisect_right(structure.keyframes, stop) - 1]
    if stop != keyframe and stop - keyframe <= structure.delay:
        return keyframe
    return stop


def _range_pieces(start: int, end: int, structure: GopStructure) -> list[Piece]:
    """[start, end) as a re-encoded head (up to a keyframe), copied GOPs (up to a clean end)
    and a re-encoded tail."""
    keyframes = structure.keyframes
    first = bisect.bisect_left(keyframes, start)
    copy_start = keyframes[first] if first < len(keyframes) else None
    copy_end = _copy_end(end, structure)
    if copy_start is None or copy_start >= copy_end:
        return [Piece("encode", start, end)]
    pieces = [Piece("copy", copy_start, copy_end)]
    if start < copy_start:
        pieces.insert(0, Piece("encode", start, copy_start))
    if copy_end < end:
        pieces.append(Piece("encode", copy_end, end))
    return pieces


def _coalesced(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Ranges that continue each other in the source become one (its GOPs can be copied)."""
    out: list[tuple[int, int]] = []
    for start, end in ranges:
        if not 0 <= start < end:
            raise Ineligible(f"kept range [{start}, {end}) is empty")
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def plan_pieces(ranges: Sequence[tuple[int, int]], structure: GopStructure) -> tuple[Piece, ...]:
    """The pieces rendering the kept frame `ranges` [start, end), in timeline order."""
    pieces: list[Piece] = []
    for start, end in _coalesced(ranges):
        if end > structure.frames:
            raise Ineligible("the timeline runs past the source's last frame")
        pieces += _range_pieces(start, end, structure)
    return tuple(pieces)


def plan_smart(
    timeline: Timeline, facts: VideoFacts, packets: Sequence[Packet], effects: str | None
) -> SmartPlan:
    """The smart render's plan for this edit of this source; Ineligible with the reason when it
    takes the full encode."""
    if effects is not None:
        raise Ineligible(effects)
    check_source(facts, timeline)
    fps = fps_of(timeline)
    structure = gop_structure(packets, facts.time_base, fps)
    if structure.delay and facts.profile in ("Baseline", "Constrained Baseline"):
        raise Ineligible("a Baseline stream with reordered frames")
    spans = clip_spans(timeline)  # FiltergraphError: not renderable at all
    for before, after in itertools.pairwise(spans):
        if after.start_frame < before.end_frame:
            raise Ineligible("a clip shows source frames again (the edges must go forwards)")
    pieces = plan_pieces([(s.start_frame, s.end_frame) for s in spans], structure)
    copies = [p for p in pieces if p.kind == "copy"]
    if not copies:
        raise Ineligible("no kept range holds a whole GOP to copy")
    # Split where copies start, and where they stop on a keyframe (else inside a GOP: the join
    # cuts that segment short).
    stops = {p.end for p in copies} & set(structure.keyframes)
    cuts = ({p.start for p in copies} | stops) - {0, structure.frames}
    return SmartPlan(pieces, structure, tuple(sorted(cuts)), facts, tuple(packets))


# --- commands' arguments ------------------------------------------------------------------------


def edge_crf(options: RenderOptions) -> int:
    # Never coarser than the render's own encode, even under the floor.
    return max(min(EDGE_CRF_MIN, options.crf), options.crf - EDGE_CRF_OFFSET)


def edge_preset(options: RenderOptions) -> str:
    return X264_PRESETS[max(0, X264_PRESETS.index(options.preset) - EDGE_PRESET_STEPS_FASTER)]


def _level(level: int) -> str:
    return f"{level // 10}.{level % 10}"


def _colour_args(facts: VideoFacts) -> list[str]:
    args: list[str] = []
    for option, value in (
        ("-color_range", facts.color_range),
        ("-colorspace", facts.color_space),
        ("-color_trc", facts.color_transfer),
        ("-color_primaries", facts.color_primaries),
    ):
        if value and value != "unknown":
            args += [option, value]
    return args


def encoder_args(
    facts: VideoFacts, delay: int, options: RenderOptions, parameter_set_id: int
) -> list[str]:
    """x264 continuing the source's stream: its profile, level, pixel format, colour signalling
    and time base, with SPS/PPS under an id the source does not use."""
    if delay not in _BFRAMES:
        raise Ineligible(f"a reorder delay of {delay} frames")
    profile = _PROFILES[facts.profile]
    x264 = f"sps-id={parameter_set_id}:{_frame_types(profile, delay)}"
    return [
        "-c:v", "libx264",
        "-preset", edge_preset(options),
        "-crf", str(edge_crf(options)),
        "-profile:v", profile,
        "-level:v", _level(facts.level),
        "-pix_fmt", facts.pix_fmt,
        *_colour_args(facts),
        "-x264-params", f"{x264}{_profile_tools(profile, delay)}",
        "-video_track_timescale", str(facts.time_base.denominator),
    ]  # fmt: skip


def joined_dts(plan: SmartPlan, fps: Fraction) -> str:
    """The join's bitstream filter: decode timestamps in one rhythm, the n-th packet `delay`
    frames before frame n. Each piece already has it but the shortest: x264 starts a piece too
    short for its B-frames without the delay."""
    ticks = frame_ticks(plan.facts.time_base, fps)
    return f"setts=pts=PTS:dts=(N-{plan.structure.delay})*{ticks}"


def _microseconds(frames: Fraction | int, fps: Fraction) -> int:
    return round(Fraction(frames) / fps * 1_000_000)


def concat_list(files: Sequence[tuple[str, int, bool]], fps: Fraction, delay: int = 0) -> str:
    """An ffconcat list of (file name, frames used, cut short). Durations in whole microseconds
    (what the demuxer parses) that add up to each file's exact start, rounded: no drift over
    many files. A file cut short ends before the decode time of its first unused packet (its
    timestamps start at 0 with decode times `delay` frames earlier); half a frame of margin."""
    lines = ["ffconcat version 1.0"]
    frames_before = 0
    for name, frames, cut in files:
        if "'" in name or "/" in name or "\\" in name:
            raise ValueError(f"unexpected piece name {name!r}")
        start = _microseconds(frames_before, fps)
        frames_before += frames
        lines += [f"file '{name}'", f"duration {_microseconds(frames_before, fps) - start}us"]
        if cut:
            if frames <= delay:
                raise ValueError(f"{name}: cut after {frames} frames, within the decode delay")
            stop = _microseconds(Fraction(2 * (frames - delay) - 1, 2), fps)
            lines.append(f"outpoint {stop}us")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SoundPlan:
    """The edit's sound in two ffmpeg runs joined by a pipe, so they run on two cores: `make`
    (the audio_edit pieces on stdin, the loudness filters) writes raw PCM to stdout,
    `encode_args` read it from stdin into AAC in an MP4 of its own."""

    make: RenderPlan
    encode_args: list[str]


def build_sound(
    timeline: Timeline,
    source: Path,
    output: Path,
    options: RenderOptions,
    *,
    source_has_audio: bool,
    loudness: Normalisation | None = None,
    threads: int | None = None,
    source_channels: int | None = None,
) -> SoundPlan:
    """ffmpeg arguments making the edit's sound exactly as the full render makes it (the
    audio_edit pieces on stdin, the loudness filters, the same AAC settings, the same channels),
    alone in an MP4 `output`."""
    fps = fps_of(timeline)
    spans = clip_spans(timeline)
    frames = timeline_frames(spans)
    total = f"{float(Fraction(frames) / fps):.6f}"
    graph, inputs = _Graph(), _Inputs()
    channels = sound_channels(source_channels) if source_has_audio else CHANNELS
    edited: EditedAudio | None = None
    audio = graph.label("amain")
    if source_has_audio:
        edited, pcm = _edited_audio_input(inputs, source, spans, fps, channels)
        graph.chain([pcm], ["asetpts=N/SR/TB", audio_format(channels)], [audio])
        if loudness is not None:
            audio = _normalise_loudness(graph, audio, loudness, channels)
    else:
        graph.chain([], silence(total), [audio])
    final = graph.label("aout")
    graph.chain([audio], ["anull"], [final])
    text = graph.text()
    make = [
        *(["-filter_complex_threads", str(threads)] if threads else []),
        *inputs.args,
        "-filter_complex", text,
        "-map", f"[{final}]",
        *pcm_args(channels),
        "pipe:1",
    ]  # fmt: skip
    encoded = _Inputs()
    encoded.add("pipe:0", *pcm_args(channels), demuxers=PCM_DEMUXERS, protocols=PCM_PROTOCOLS)
    encode = [
        *encoded.args,
        *aac_args(options.audio_bitrate_kbps, channels),
        "-f",
        "mp4",
        str(output),
    ]
    duration = float(Fraction(frames) / fps)
    return SoundPlan(RenderPlan(make, text, duration, (), edited), encode)


def edge_frames(plan: SmartPlan) -> list[tuple[int, int]]:
    """The re-encoded pieces' frame ranges, in timeline order."""
    return [(p.start, p.end) for p in plan.pieces if p.kind == "encode"]


def edge_starts(lengths: Sequence[int]) -> list[int]:
    """Where each of these lengths of re-encoded frames starts among them (the first at 0)."""
    starts, cursor = [], 0
    for length in lengths:
        starts.append(cursor)
        cursor += length
    return starts


@dataclass(frozen=True)
class EdgeRead:
    """One input of the edge encode: the source read from `keyframe` (input seeking: nothing
    before it is demuxed or decoded) up to the end of the last of its re-encoded `pieces`."""

    keyframe: int
    pieces: tuple[tuple[int, int], ...]

    @property
    def end(self) -> int:
        return self.pieces[-1][1]


@dataclass(frozen=True)
class EdgeRun:
    """One ffmpeg run of the edge encode: its reads, one x264 stream, one MP4 per file
    numbered from `first` (the index of its first file among all the edges' files). A file
    holds pieces that follow each other in the edit (`files`: how many pieces each holds; by
    default one each), such as the tail of one range and the head of the next: each file
    starts with an IDR and is one more file for the join to open."""

    first: int
    reads: tuple[EdgeRead, ...]
    files: tuple[int, ...] = ()

    @property
    def pieces(self) -> list[tuple[int, int]]:
        return [piece for read in self.reads for piece in read.pieces]

    @property
    def frames(self) -> int:
        return sum(end - start for start, end in self.pieces)

    @property
    def file_frames(self) -> list[int]:
        """Frames in each of the run's files, in order."""
        sizes = iter(self.files or [1] * len(self.pieces))
        frames: list[int] = []
        left = 0
        for start, end in self.pieces:
            if not left:
                left = next(sizes)
                frames.append(0)
            frames[-1] += end - start
            left -= 1
        return frames


def edge_reads(plan: SmartPlan) -> list[EdgeRead]:
    """The reads of the source the re-encoded pieces need: each from the keyframe at or before
    its first frame (closed GOPs: nothing earlier is needed). A piece whose keyframe is not past
    the previous read's end (the tail of one range and the head of the next in one GOP, or in
    adjacent ones) joins that read: those frames are decoded once."""
    keyframes = plan.structure.keyframes
    reads: list[EdgeRead] = []
    for start, end in edge_frames(plan):
        keyframe = keyframes[bisect.bisect_right(keyframes, start) - 1]
        if reads and keyframe <= reads[-1].end:
            reads[-1] = EdgeRead(reads[-1].keyframe, (*reads[-1].pieces, (start, end)))
        else:
            reads.append(EdgeRead(keyframe, ((start, end),)))
    return reads


def edge_runs_at_once(cpus: int | None) -> int:
    """How many edge-encode runs go at once: one a core (up to EDGE_RUNS_AT_ONCE), each
    decoding and encoding on one thread. Measured on a 5-minute 720p talk's edges on two cores:
    two runs at once took 7.5 s and 14.7 CPU-s, one run on both cores 10.5 s and 16.5 CPU-s
    (ffmpeg 5.1 decodes its inputs one after another, so one run leaves a core idle)."""
    return max(1, min(EDGE_RUNS_AT_ONCE, cpus or 1))


def edge_inputs_per_run(facts: VideoFacts, at_once: int = 1) -> int:
    """How many inputs one edge-encode run may have for frames of this size, with `at_once`
    runs sharing the decoders' memory budget."""
    frame = facts.width * facts.height * 3 // 2  # 8-bit 4:2:0
    fits = EDGE_DECODER_BUDGET // (at_once * EDGE_FRAMES_PER_INPUT * max(frame, 1))
    return max(1, min(EDGE_INPUTS_PER_RUN, fits))


def edge_runs(plan: SmartPlan, max_inputs: int | None = None, at_once: int = 1) -> list[EdgeRun]:
    """The reads in runs of at most `max_inputs` inputs (default: what fits the frame size with
    `at_once` runs going at once), as even as can be, in timeline order; a multiple of `at_once`
    runs when there are as many reads, so the runs going at once end together (5 runs two at a
    time left a core idle for the last one's 1.8 s on a 5-minute talk)."""
    max_inputs = max_inputs or edge_inputs_per_run(plan.facts, at_once)
    reads = edge_reads(plan)
    needed = -(-len(reads) // max_inputs)
    count = min(len(reads), -(-needed // at_once) * at_once)
    placed = {(p.start, p.end): i for i, p in enumerate(plan.pieces) if p.kind == "encode"}
    runs: list[EdgeRun] = []
    first = 0
    for index in range(count):
        batch = tuple(reads[len(reads) * index // count : len(reads) * (index + 1) // count])
        files = _files_of(placed, [piece for read in batch for piece in read.pieces])
        runs.append(EdgeRun(first, batch, files))
        first += len(files)
    return runs


def _files_of(
    placed: Mapping[tuple[int, int], int], pieces: Sequence[tuple[int, int]]
) -> tuple[int, ...]:
    """How many of `pieces` (one run's, in timeline order) each file holds: a piece goes on in
    the file before it when nothing comes between them in the edit (`placed`: each re-encoded
    piece's place among the plan's pieces; on the 5-minute talk of bench/render.py, 29 of 82
    pieces: as many IDRs and files fewer)."""
    files: list[int] = []
    for index, piece in enumerate(pieces):
        if index and placed[piece] == placed[pieces[index - 1]] + 1:
            files[-1] += 1
        else:
            files.append(1)
    return tuple(files)


def read_span(plan: SmartPlan, read: EdgeRead, fps: Fraction) -> tuple[int, int]:
    """The packets (decode order) a read decodes, [first, last]: from its keyframe (closed GOPs:
    at its own place in decode order) to the last packet of a frame it picks. Every picture a
    picked frame predicts from is decoded before it, inside its GOP."""
    ticks = frame_ticks(plan.facts.time_base, fps)
    wanted = {frame for start, end in read.pieces for frame in range(start, end)}
    index = last = read.keyframe
    while wanted and index < len(plan.packets):
        frame = plan.packets[index].pts // ticks
        if frame in wanted:
            wanted.discard(frame)
            last = index
        index += 1
    return read.keyframe, last


def read_drops(plan: SmartPlan, read: EdgeRead, fps: Fraction) -> list[tuple[int, int]]:
    """The packet ranges [a, b) (decode order) a copy of the source made for `read` leaves out:
    every packet outside its span and, inside it, the pictures no other picture predicts from
    (Packet.reference) that it does not pick. Empty when nothing inside the span can go: the
    copy would save no decoding."""
    if not plan.packets:
        return []
    ticks = frame_ticks(plan.facts.time_base, fps)
    picked = {frame for start, end in read.pieces for frame in range(start, end)}
    first, last = read_span(plan, read, fps)
    span = plan.packets[first : last + 1]
    needed = [p.reference or p.key or p.pts // ticks in picked for p in span]
    if all(needed):
        return []
    drops = [(0, first)] if first else []
    for index, keep in enumerate(needed, start=first):
        if keep:
            continue
        if drops and drops[-1][1] == index:
            drops[-1] = (drops[-1][0], index + 1)
        else:
            drops.append((index, index + 1))
    return [*drops, (last + 1, len(plan.packets))] if last + 1 < len(plan.packets) else drops


def _drop_expression(plan: SmartPlan, drops: Sequence[tuple[int, int]], ticks: int) -> str:
    """The noise bitstream filter's drop expression for packet ranges, by decode timestamp:
    the n-th packet's is (n - delay) frames (regular decode times are a condition of the plan),
    whatever the packet counter of a pass that does not start at the first packet."""
    delay = plan.structure.delay
    tests = [
        (f"{(a - delay) * ticks}", f"between(dts,{(a - delay) * ticks},{(b - 1 - delay) * ticks})")
        for a, b in drops
    ]
    return any_of("dts", tests)


def _fitting(plan: SmartPlan, drops: Sequence[tuple[int, int]], ticks: int) -> str:
    """The drop expression of `drops`, or of their longest ones when it would run past
    EDGE_SOURCE_EXPRESSION_MAX characters (one program argument may have 128 KiB): any ranges
    left out are only decoded for nothing."""
    kept = list(drops)
    while True:
        expression = _drop_expression(plan, kept, ticks)
        if len(expression) <= EDGE_SOURCE_EXPRESSION_MAX:
            return expression
        longest = sorted(kept, key=lambda r: r[1] - r[0], reverse=True)[: len(kept) // 2]
        kept = sorted(longest)


@dataclass(frozen=True)
class ReadCopy:
    """A copy of the source's video for one read of the edge encode: `path`, leaving out the
    packet ranges `drops` (read_drops)."""

    read: EdgeRead
    path: Path
    drops: tuple[tuple[int, int], ...]


def _copy_output(plan: SmartPlan, copy: ReadCopy, fps: Fraction) -> list[str]:
    ticks = frame_ticks(plan.facts.time_base, fps)
    _, last = read_span(plan, copy.read, fps)
    shown = max(p.pts // ticks for p in plan.packets[copy.read.keyframe : last + 1])
    return [
        "-map", "0:v:0",
        "-c", "copy",
        "-bsf:v", f"noise=drop='{_fitting(plan, copy.drops, ticks)}'",
        # Closed at the first packet decoded at or after the frame after the last one shown in
        # the span: every packet the read needs is decoded before it is shown. With every copy
        # of a pass closed, the pass stops reading.
        "-to", _seconds(Fraction(shown + 1), fps),
        "-f", "mp4",
        str(copy.path),
    ]  # fmt: skip


def edge_source_commands(
    source: Path, plan: SmartPlan, fps: Fraction, copies: Sequence[ReadCopy]
) -> list[list[str]]:
    """ffmpeg runs stream-copying the source's video into `copies` (in timeline order), several
    a pass: each pass seeks to its first read's keyframe and reads on until its copies are
    closed, with at most EDGE_SOURCE_COPIES_PER_PASS open files and a command under
    EDGE_SOURCE_COMMAND_MAX characters. Timestamps stay the source's (-copyts), so the edge
    encode seeks and picks frames in a copy as it would in the source. ffmpeg 5.1 applies
    bitstream filters to outputs only: hence the copies."""
    commands: list[list[str]] = []
    size = count = 0
    for copy in copies:
        output = _copy_output(plan, copy, fps)
        length = sum(map(len, output))
        if (
            not commands
            or count == EDGE_SOURCE_COPIES_PER_PASS
            or size + length > EDGE_SOURCE_COMMAND_MAX
        ):
            seek = _keyframe_seek(copy.read, fps)
            commands.append(["-copyts", *input_args(source, "-seek_timestamp", "1", "-ss", seek)])
            size = count = 0
        commands[-1] += output
        size += length
        count += 1
    return commands


def _seconds(frames: Fraction, fps: Fraction) -> str:
    microseconds = _microseconds(frames, fps)
    return f"{microseconds // 1_000_000}.{microseconds % 1_000_000:06d}"


def _edge_graph(reads: Sequence[EdgeRead], fps: Fraction) -> str:
    """Each read's frames picked as the full render picks frames (fps grid on the source's own
    timestamps, trim/select on the frame index), the reads concatenated and numbered 0, 1, 2, ...
    on the 1/fps time base (the concat filter's own timestamps are microseconds, and a one-frame
    read has no duration to it)."""
    rate = f"{fps.numerator}/{fps.denominator}"
    branches = [
        f"[{index}:v:0]" + ",".join([f"fps=fps={rate}", *select_frames(read.pieces)])
        for index, read in enumerate(reads)
    ]
    if len(branches) == 1:
        return f"{branches[0]}[edges]"
    labels = "".join(f"[r{index}]" for index in range(len(branches)))
    joined = (
        f"{labels}concat=n={len(branches)}:v=1:a=0,"
        f"settb=expr={fps.denominator}/{fps.numerator},setpts=N[edges]"
    )
    return ";".join([*(f"{b}[r{i}]" for i, b in enumerate(branches)), joined])


def _keyframe_seek(read: EdgeRead, fps: Fraction) -> str:
    """Half a frame past the read's keyframe: the demuxer lands on the keyframe at or before."""
    return _seconds(Fraction(2 * read.keyframe + 1, 2), fps)


def _edge_input(
    read: EdgeRead, path: Path, copy: bool, fps: Fraction, decoder_threads: int
) -> list[str]:
    """The source (or the read's copy of it) as one read's input: allowlisted, seeked half a
    frame past its keyframe. The time is the frame's own timestamp (-seek_timestamp), not one
    after the file's start: a copy starts at the read's keyframe, and a source whose sound
    starts before its picture starts before 0. A copy of ours is not probed: its MP4 header
    says all the decoder needs, and probing decodes its first frame once more (measured on
    the 5-minute talk: about 0.2 CPU-s over its 60 copies, and the same edges)."""
    seek = _keyframe_seek(read, fps)
    options = [
        "-threads", str(decoder_threads),
        "-noaccurate_seek",
        "-seek_timestamp", "1",
        "-ss", seek,
        *(["-nofind_stream_info"] if copy else []),
    ]  # fmt: skip
    return input_args(path, *options, demuxers=MP4_DEMUXERS if copy else RECORDING_DEMUXERS)


def edge_encode_args(
    run: EdgeRun,
    source: Path,
    fps: Fraction,
    encoder: Sequence[str],
    pattern: Path,
    threads: int | None = None,
    decoder_threads: int = EDGE_DECODER_THREADS,
    copies: Mapping[EdgeRead, Path] | None = None,
) -> list[str]:
    """One ffmpeg run re-encoding the pieces of `run`: one input per read, the source (or the
    read's copy of it, `copies`: MP4 of ours) seeked to
    half a frame past its keyframe (the demuxer lands on the keyframe at or before that time;
    no accurate-seek trim: the source's own timestamps are kept, -copyts, and the fps filter
    places each frame on its grid by them), the edge frames picked as the full render picks
    frames, one x264 stream with an IDR at each file's first frame, split there into one MP4
    per file (`pattern`, e.g. edge%05d.mp4, numbered in timeline order from `run.first`)."""
    starts = edge_starts(run.file_frames)
    # A quarter frame early: the frame at the start is the first at or after the time.
    forced = ",".join(f"{float((Fraction(n) - Fraction(1, 4)) / fps):.6f}" for n in starts[1:])
    copies = copies or {}
    inputs = [
        arg
        for read in run.reads
        for arg in (
            _edge_input(read, copies[read], True, fps, decoder_threads)
            if read in copies
            else _edge_input(read, source, False, fps, decoder_threads)
        )
    ]
    return [
        "-copyts",
        *inputs,
        "-filter_complex", _edge_graph(run.reads, fps),
        "-map", "[edges]",
        *(["-threads", str(threads)] if threads else []),
        *encoder,
        *(["-force_key_frames", forced, "-forced-idr", "1"] if forced else []),
        "-f", "segment",
        "-segment_format", "mp4",
        "-segment_start_number", str(run.first),
        # Split at each file's first frame; one file: never (a segment time past its end).
        *(
            ["-segment_frames", ",".join(str(n) for n in starts[1:])]
            if forced
            else ["-segment_time", "1000000000"]
        ),
        "-reset_timestamps", "1",
        str(pattern),
    ]  # fmt: skip


def join_args(
    plan: SmartPlan, fps: Fraction, listing: Path, sound: Path, output: Path
) -> list[str]:
    """The pieces our `listing` names joined into one H.264 track (decode times in one rhythm,
    the source's time base) and the sound, copied into the final MP4 (+faststart): one pass."""
    video = [
        "-bsf:v", joined_dts(plan, fps),
        "-video_track_timescale", str(plan.facts.time_base.denominator),
    ]  # fmt: skip
    return build_join(listing, sound, output, video)
