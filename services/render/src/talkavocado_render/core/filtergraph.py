"""The one full encode of the edit, described as a single ffmpeg invocation (docs/architecture.md §5).

Pure: from the timeline, the inputs' paths and facts and the options, the argument list of one
ffmpeg run and the duration it will produce. No file is touched and no process started here.

Shape of the graph (the source is decoded once; no filter waits on more than one crossfade's
worth of frames, so memory does not grow with the length of the edit):

    source video -> fps (CFR on the timeline's grid, pts = frame index) -> tpad
        A: select each clip minus the head that fades in        -> setpts=N
        B: select each clip minus the tail that fades out       -> setpts=N (only with fades)
           -> yuva420p -> one alpha fade-in per crossfade window
        overlay B on A, enabled only inside crossfade windows        (the cut, cross-faded edit)
        -> logo overlay -> burned-in subtitles                 (the edited main part)
    edited audio (raw PCM on stdin, cut and faded by audio_edit.py)     -> gain, true-peak limiter
    intro, main, outro -> concat -> yuv420p -> (split -> 360p preview) -> libx264 / AAC

Outside the crossfade windows A and B hold the same source frame; inside window i, A holds the
tail of clip i-1 and B the head of clip i, the same pair xfade would blend. A chain of xfade
filters is not used: in ffmpeg 5.1 each one holds back the frames of the clip after it until the
encoder asks, and the backlog grows with every join (measured: 21 clips, 60 s at 640x360,
615 MB against 64 MB for the same cuts without fades).

The sound is not cut in the graph: every clip there costs a branch of filters (memory and
scheduling time grow with the cuts). audio_edit.py cuts it as a stream, each clip exactly its
video's length in samples, so joins never drift; RenderPlan.audio says what to feed on stdin.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from talkavocado_common.media.allowlist import (
    LOGO_DEMUXERS,
    PROTOCOLS,
    RECORDING_DEMUXERS,
    input_args,
)
from talkavocado_common.models import LogoOptions, RenderOptions, Timeline

from .audio_edit import AUDIO_RATE, CHANNELS, LAYOUTS, AudioPiece, audio_pieces, sound_channels
from .loudness import Normalisation


def audio_format(channels: int = CHANNELS) -> str:
    """The edit's sound inside a filtergraph: planar float at AUDIO_RATE, mono or stereo."""
    return f"aformat=sample_fmts=fltp:sample_rates={AUDIO_RATE}:channel_layouts={LAYOUTS[channels]}"


def silence(end: str, channels: int = CHANNELS) -> list[str]:
    """Filters making `end` seconds of silence in the edit's format."""
    return [
        f"anullsrc=r={AUDIO_RATE}:cl={LAYOUTS[channels]}",
        f"atrim=end={end}",
        audio_format(channels),
    ]


AUDIO_FORMAT = audio_format()
PREVIEW_MAX_HEIGHT = 360
PREVIEW_CRF_OFFSET = 6
PREVIEW_AUDIO_KBPS = 96
# From this bitrate up, ffmpeg's AAC encoder runs its "fast" coder: about 40 % less CPU than the
# default two-loop search (a 57 s stereo edit: 2.7 vs 4.7 CPU-s), and at such rates its authors
# found it sounds better too ("aacenc: use the fast coder as the default", 2018); two-loop is
# the better one at low rates. In the smart render the sound is the longest branch. The preview
# (96 kbps) keeps two-loop.
FAST_AAC_CODER_MIN_KBPS = 128
# The timeline stores float seconds; within half a frame they name the same frame.
_TIMING_TOLERANCE_FRAMES = Fraction(1, 2)


class FiltergraphError(ValueError):
    """The timeline or the media facts cannot be rendered as described."""


@dataclass(frozen=True)
class MediaFacts:
    """What the render needs to know about an intro or outro clip (from a probe)."""

    path: Path
    width: int
    height: int
    fps: Fraction | None
    has_audio: bool
    duration: float


@dataclass(frozen=True)
class LogoInput:
    path: Path
    options: LogoOptions


@dataclass(frozen=True)
class ClipSpan:
    """One timeline clip in whole frames of the source's grid."""

    index: int
    start_frame: int
    end_frame: int
    transition_frames: int
    timeline_start_frame: int

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame


@dataclass(frozen=True)
class EditedAudio:
    """The main part's sound, to be written to ffmpeg's stdin as raw float32 PCM at AUDIO_RATE
    with `channels` channels: `pieces` of `source`'s audio (audio_edit.edit_audio)."""

    source: Path
    pieces: tuple[AudioPiece, ...]
    channels: int = CHANNELS


@dataclass(frozen=True)
class RenderPlan:
    args: list[str]
    filtergraph: str
    expected_duration: float
    outputs: tuple[Path, ...]
    audio: EditedAudio | None = None


def fps_of(timeline: Timeline) -> Fraction:
    return Fraction(timeline.frame_rate.num, timeline.frame_rate.den)


def clip_spans(timeline: Timeline) -> list[ClipSpan]:
    """The clips in frames, checked against the timeline semantics the render relies on."""
    fps = fps_of(timeline)
    spans: list[ClipSpan] = []
    cursor = 0
    for index, clip in enumerate(timeline.clips):
        frames = clip.source_end_frame - clip.source_start_frame
        if frames <= 0:
            raise FiltergraphError(f"clip {index} is empty")
        exact = Fraction(clip.transition_in_sec) * fps
        transition = round(exact)
        if abs(exact - transition) > Fraction(1, 1000):
            raise FiltergraphError(
                f"clip {index}: transition of {clip.transition_in_sec}s is not whole frames"
            )
        if index == 0 and transition:
            raise FiltergraphError("the first clip cannot cross-fade with a previous one")
        if spans:
            previous = spans[-1]
            if clip.source_start_frame < previous.start_frame:
                # Decoding once means walking the source forwards; going back would buffer
                # everything in between.
                raise FiltergraphError(f"clip {index} starts before clip {index - 1} in the source")
            if transition > previous.frames - previous.transition_frames or transition > frames:
                raise FiltergraphError(f"clip {index}: transition longer than its neighbours")
        start = cursor - transition
        if abs(Fraction(clip.timeline_start) * fps - start) > _TIMING_TOLERANCE_FRAMES:
            raise FiltergraphError(
                f"clip {index}: timeline_start {clip.timeline_start} should be "
                f"{float(start / fps):.6f}"
            )
        spans.append(
            ClipSpan(index, clip.source_start_frame, clip.source_end_frame, transition, start)
        )
        cursor = start + frames
    if abs(Fraction(timeline.duration_sec) * fps - cursor) > _TIMING_TOLERANCE_FRAMES:
        raise FiltergraphError(
            f"timeline duration {timeline.duration_sec} should be {float(cursor / fps):.6f}"
        )
    return spans


def timeline_frames(spans: Sequence[ClipSpan]) -> int:
    last = spans[-1]
    return last.timeline_start_frame + last.frames


def clip_frames(facts: MediaFacts, fps: Fraction) -> int:
    """An intro/outro lasts its media's duration, on the main video's frame grid."""
    if not math.isfinite(facts.duration) or facts.duration <= 0:
        raise FiltergraphError(f"{facts.path.name} has no duration")
    return max(1, round(Fraction(facts.duration) * fps))


def escape_filter_value(value: str) -> str:
    """A literal option value inside a filtergraph description.

    Two levels (ffmpeg-filters "Notes on filtergraph escaping"): the option parser treats
    ``\\ ' :`` specially, then the graph parser ``\\ ' [ ] , ;``.
    """
    option_level = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option_level)


def _seconds(frames: int | Fraction, fps: Fraction) -> str:
    # ffmpeg parses durations to whole microseconds and rounds back to the stream time base.
    return f"{float(Fraction(frames) / fps):.6f}"


def _rate(fps: Fraction) -> str:
    return f"{fps.numerator}/{fps.denominator}"


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def preview_size(width: int, height: int) -> tuple[int, int]:
    """At most 360 lines, aspect kept, even sizes for yuv420p."""
    out_h = _even(min(height, PREVIEW_MAX_HEIGHT))
    out_w = _even(round(width * out_h / height / 2) * 2)
    return out_w, out_h


def logo_geometry(options: LogoOptions, width: int, height: int) -> tuple[int, str, str]:
    """Logo width in pixels and the overlay's x/y expressions for the chosen corner."""
    logo_w = max(2, round(options.scale * width))
    margin = round(options.margin * width)
    left, top = str(margin), str(margin)
    right, bottom = f"main_w-overlay_w-{margin}", f"main_h-overlay_h-{margin}"
    x, y = {
        "top-left": (left, top),
        "top-right": (right, top),
        "bottom-left": (left, bottom),
        "bottom-right": (right, bottom),
    }[options.position]
    return logo_w, x, y


class _Graph:
    """Filter chains joined with ';' and fresh pad labels."""

    def __init__(self) -> None:
        self.chains: list[str] = []
        self._count = 0

    def label(self, stem: str) -> str:
        self._count += 1
        return f"{stem}{self._count}"

    def chain(self, inputs: Sequence[str], filters: Sequence[str], outputs: Sequence[str]) -> None:
        pads_in = "".join(f"[{p}]" for p in inputs)
        pads_out = "".join(f"[{p}]" for p in outputs)
        self.chains.append(f"{pads_in}{','.join(filters)}{pads_out}")

    def fan_out(self, source: str, filters: Sequence[str], count: int, kind: str) -> list[str]:
        """`source` through `filters`, then split `count` ways (no split for one)."""
        if count == 1 and not filters:
            return [source]
        outs = [self.label(kind) for _ in range(count)]
        splitter = "split" if kind.startswith("v") else "asplit"
        tail = [f"{splitter}={count}"] if count > 1 else []
        self.chain([source], [*filters, *tail], outs)
        return outs

    def text(self) -> str:
        return ";\n".join(self.chains)


def _runs(spans: Sequence[ClipSpan]) -> list[list[ClipSpan]]:
    """Clips one pair of selects can serve: each forwards in the source from the previous.
    A clip reusing source frames of the one before starts a new run, joined by a hard cut."""
    runs: list[list[ClipSpan]] = [[spans[0]]]
    for span in spans[1:]:
        previous = runs[-1][-1]
        if span.start_frame >= previous.end_frame:
            runs[-1].append(span)
            continue
        if span.transition_frames:
            raise FiltergraphError(
                f"clip {span.index} overlaps clip {previous.index} in the source and cannot "
                "cross-fade with it"
            )
        runs.append([span])
    return runs


def _select(ranges: Sequence[tuple[int, int]]) -> list[str]:
    """Frames [start, end) of each range, renumbered 0, 1, 2, ... (pts = frame index)."""
    kept = [(a, b) for a, b in ranges if b > a]
    merged: list[tuple[int, int]] = []
    for a, b in kept:
        if merged and a == merged[-1][1]:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    # After fps the time base is 1/fps, so pts is the frame index: exact integer bounds; trim
    # also ends the branch (EOF) at its last frame instead of at the end of the source.
    filters = [f"trim=start_pts={merged[0][0]}:end_pts={merged[-1][1]}"]
    if len(merged) > 1:
        tests = [(str(a), f"between(pts,{a},{b - 1})") for a, b in merged]
        filters.append(f"select='{any_of('pts', tests)}'")
    # setpts=N rather than N/FRAME_RATE/TB: the float division truncates to the frame before.
    filters.append("setpts=N")
    return filters


def any_of(variable: str, tests: Sequence[tuple[str, str]]) -> str:
    """True when one of `tests` holds; each is (its lower bound, its test), in ascending order
    of disjoint intervals. A balanced tree of if(lt(...)): evaluated in log2(n) steps per frame,
    and nested only that deep: ffmpeg's expression parser refuses a flat sum of more than 100
    terms (measured on 5.1: 101 between() terms fail to parse), and a sum costs n per frame."""
    if len(tests) == 1:
        return tests[0][1]
    middle = len(tests) // 2
    low, high = any_of(variable, tests[:middle]), any_of(variable, tests[middle:])
    return f"if(lt({variable},{tests[middle][0]}),{low},{high})"


def _window(start: int, frames: int, fps: Fraction) -> tuple[str, str]:
    # Half-frame margins: `t` is the frame's pts in seconds, compared as a float.
    low = (Fraction(start) - Fraction(1, 2)) / fps
    high = (Fraction(start + frames) - Fraction(1, 2)) / fps
    return f"{float(low):.6f}", f"between(t,{float(low):.6f},{float(high):.6f})"


def _run_video(
    graph: _Graph, run: Sequence[ClipSpan], sources: Sequence[str], fps: Fraction
) -> str:
    origin = run[0].timeline_start_frame
    following = [s.transition_frames for s in run[1:]] + [0]
    # A: every clip without its faded-in head; B: every clip without its faded-out tail.
    a_ranges = [
        (s.start_frame + (s.transition_frames if k else 0), s.end_frame) for k, s in enumerate(run)
    ]
    a = graph.label("va")
    graph.chain([sources[0]], _select(a_ranges), [a])
    fades = [s for s in run[1:] if s.transition_frames]
    if not fades:
        return a
    b_ranges = [
        (s.start_frame, s.end_frame - after) for s, after in zip(run, following, strict=True)
    ]
    b = graph.label("vb")
    windows: list[tuple[str, str]] = []
    alpha = []
    for span in fades:
        start = span.timeline_start_frame - origin
        low, window = _window(start, span.transition_frames, fps)
        windows.append((low, window))
        # Alpha k/n on the k-th of n frames: the first shows only the outgoing clip, like xfade.
        alpha.append(
            f"fade=t=in:st={_seconds(start, fps)}:d={_seconds(span.transition_frames, fps)}"
            f":alpha=1:enable='{window}'"
        )
    graph.chain([sources[1]], [*_select(b_ranges), "format=yuva420p", *alpha], [b])
    out = graph.label("vx")
    graph.chain([a, b], [f"overlay=x=0:y=0:eof_action=pass:enable='{any_of('t', windows)}'"], [out])
    return out


def _main_part(
    graph: _Graph,
    timeline: Timeline,
    spans: Sequence[ClipSpan],
    audio_input: str | None,
    channels: int = CHANNELS,
) -> tuple[str, str]:
    fps = fps_of(timeline)
    runs = _runs(spans)
    branches = [2 if any(s.transition_frames for s in run[1:]) else 1 for run in runs]
    # tpad: should the video end a little before the timeline's last frame, repeat it
    # instead of letting the video run shorter than its audio.
    video_in = graph.fan_out(
        "0:v:0",
        [f"fps=fps={_rate(fps)}:start_time=0", "tpad=stop=-1:stop_mode=clone"],
        sum(branches),
        "vsrc",
    )
    runs_out: list[str] = []
    for run, count in zip(runs, branches, strict=True):
        sources, video_in = video_in[:count], video_in[count:]
        runs_out.append(_run_video(graph, run, sources, fps))
    video = runs_out[0]
    if len(runs_out) > 1:
        video = graph.label("vj")
        graph.chain(runs_out, [f"concat=n={len(runs_out)}:v=1:a=0"], [video])

    total = _seconds(timeline_frames(spans), fps)
    if audio_input is None:
        audio = graph.label("asil")
        graph.chain([], silence(total), [audio])
        return video, audio
    audio = graph.label("amain")
    # Raw PCM carries no timestamps: number the samples from zero.
    graph.chain([audio_input], ["asetpts=N/SR/TB", audio_format(channels)], [audio])
    return video, audio


def _bumper(
    graph: _Graph, input_index: int, facts: MediaFacts, timeline: Timeline, name: str
) -> tuple[str, str, int]:
    """An intro/outro fitted into the main frame: scaled inside it keeping its aspect, padded
    with black (never stretched), at the main frame rate, with audio or silence of its length."""
    fps = fps_of(timeline)
    width, height = timeline.width, timeline.height
    frames = clip_frames(facts, fps)
    video, audio = graph.label(f"v{name}"), graph.label(f"a{name}")
    graph.chain(
        [f"{input_index}:v:0"],
        [
            "setpts=PTS-STARTPTS",
            f"fps=fps={_rate(fps)}:start_time=0",
            f"scale=w={width}:h={height}:force_original_aspect_ratio=decrease:force_divisible_by=2",
            f"pad=w={width}:h={height}:x=(ow-iw)/2:y=(oh-ih)/2:color=black",
            "setsar=1",
            "format=yuv420p",
            "tpad=stop=-1:stop_mode=clone",
            f"trim=end_pts={frames}",
            "setpts=N",
        ],
        [video],
    )
    end = _seconds(frames, fps)
    if facts.has_audio:
        graph.chain(
            [f"{input_index}:a:0"],
            [
                f"aresample={AUDIO_RATE}:async=1:first_pts=0",
                AUDIO_FORMAT,
                "apad",
                f"atrim=end={end}",
                "asetpts=PTS-STARTPTS",
            ],
            [audio],
        )
    else:
        graph.chain([], silence(end), [audio])
    return video, audio, frames


def aac_args(kbps: int, channels: int = CHANNELS) -> list[str]:
    """The edit's sound as AAC at `kbps`, 48 kHz, mono or stereo (every render's, and the smart
    render's sound on its own)."""
    coder = ["-aac_coder", "fast"] if kbps >= FAST_AAC_CODER_MIN_KBPS else []
    rate = ["-ar", str(AUDIO_RATE), "-ac", str(channels)]
    return ["-c:a", "aac", *coder, "-b:a", f"{kbps}k", *rate]


def _encode_args(
    video: str,
    audio: str | None,
    fps: Fraction,
    crf: int,
    preset: str,
    audio_kbps: int,
    out: Path,
    threads: int | None = None,
    channels: int = CHANNELS,
) -> list[str]:
    sound = ["-map", f"[{audio}]"] if audio is not None else []
    sound_codec = aac_args(audio_kbps, channels) if audio is not None else ["-an"]  # -an: a piece
    return [
        "-map", f"[{video}]",
        *sound,
        *(["-threads", str(threads)] if threads else []),
        "-c:v", "libx264",
        "-preset", preset,
        "-crf", str(crf),
        "-pix_fmt", "yuv420p",
        "-r", _rate(fps),
        "-fps_mode", "cfr",
        *sound_codec,
        # Source chapters point at times the cuts moved.
        "-map_chapters", "-1",
        "-movflags", "+faststart",
        "-f", "mp4",
        str(out),
    ]  # fmt: skip


# The edited sound on stdin: our own raw PCM, so only the pipe and the f32le demuxer.
PCM_DEMUXERS = ("f32le",)
PCM_PROTOCOLS = ("pipe",)


def pcm_args(channels: int = CHANNELS) -> tuple[str, ...]:
    """Raw sound between our processes: 48 kHz float32, interleaved."""
    return ("-f", "f32le", "-ar", str(AUDIO_RATE), "-ac", str(channels))


PCM_ARGS = pcm_args()


class _Inputs:
    """ffmpeg's input arguments; each `-i` gets the next input index. Every input is confined
    to its allowlist (media/allowlist.py): user files to real containers and local files."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self.count = 0

    def add(
        self,
        url: str,
        *options: str,
        demuxers: Sequence[str] = RECORDING_DEMUXERS,
        protocols: Sequence[str] = PROTOCOLS,
    ) -> int:
        """`-i url` with the allowlist and its input `options` before it; its index."""
        self.args += input_args(url, *options, demuxers=demuxers, protocols=protocols)
        self.count += 1
        return self.count - 1


def _edited_audio_input(
    inputs: _Inputs,
    source: Path,
    spans: Sequence[ClipSpan],
    fps: Fraction,
    channels: int = CHANNELS,
) -> tuple[EditedAudio, str]:
    """The main part's sound, cut outside ffmpeg and fed as raw PCM on stdin, and its pad."""
    edited_audio = EditedAudio(source, tuple(audio_pieces(spans, fps)), channels)
    index = inputs.add(
        "pipe:0", *pcm_args(channels), demuxers=PCM_DEMUXERS, protocols=PCM_PROTOCOLS
    )
    return edited_audio, f"{index}:a:0"


def _normalise_loudness(
    graph: _Graph, audio: str, loudness: Normalisation, channels: int = CHANNELS
) -> str:
    normalised = graph.label("anorm")
    graph.chain([audio], [*loudness.filters(channels), audio_format(channels)], [normalised])
    return normalised


def _overlay_logo(
    graph: _Graph, inputs: _Inputs, video: str, logo: LogoInput, timeline: Timeline
) -> str:
    index = inputs.add(str(logo.path), demuxers=LOGO_DEMUXERS)  # a still image or a video
    logo_w, x, y = logo_geometry(logo.options, timeline.width, timeline.height)
    scaled, out = graph.label("logo"), graph.label("vlogo")
    graph.chain(
        [f"{index}:v:0"],
        [
            "format=rgba",
            f"scale=w={logo_w}:h=-1",
            f"colorchannelmixer=aa={logo.options.opacity:.3f}",
        ],
        [scaled],
    )
    # eof_action=repeat: a still image is one frame; keep it over the whole main part.
    graph.chain([video, scaled], [f"overlay=x={x}:y={y}:eof_action=repeat"], [out])
    return out


def _burn_subtitles(
    graph: _Graph, video: str, subtitles: Path, offset_frames: int = 0, fps: Fraction = Fraction(1)
) -> str:
    """The subtitles drawn at each frame's time on the main timeline: a piece of a segmented
    render starting `offset_frames` in shows them at its frames' times shifted by that much
    (exact: whole frames), then back."""
    out = graph.label("vsub")
    burn = f"subtitles=filename={escape_filter_value(str(subtitles))}"
    if not offset_frames:
        graph.chain([video], [burn], [out])
        return out
    shift = f"{offset_frames * fps.denominator}/({fps.numerator}*TB)"
    graph.chain([video], [f"setpts=PTS+{shift}", burn, f"setpts=PTS-{shift}"], [out])
    return out


def _join_bumpers(
    graph: _Graph,
    inputs: _Inputs,
    main: tuple[str, str],
    timeline: Timeline,
    intro: MediaFacts | None,
    outro: MediaFacts | None,
) -> tuple[str, str, int]:
    """Intro, main part and outro concatenated: the joined video and audio pads and the frames
    the bumpers add."""
    video, audio = main
    # concat needs equal sample aspect ratios; the bumpers are square-pixel.
    squared = graph.label("vsq")
    graph.chain([video], ["setsar=1"], [squared])
    segments = [(squared, audio)]
    added_frames = 0
    if intro is not None:
        v, a, frames = _bumper(graph, inputs.add(str(intro.path)), intro, timeline, "intro")
        segments.insert(0, (v, a))
        added_frames += frames
    if outro is not None:
        v, a, frames = _bumper(graph, inputs.add(str(outro.path)), outro, timeline, "outro")
        segments.append((v, a))
        added_frames += frames
    joined_v, joined_a = graph.label("vcat"), graph.label("acat")
    graph.chain(
        [pad for segment in segments for pad in segment],
        [f"concat=n={len(segments)}:v=1:a=1"],
        [joined_v, joined_a],
    )
    return joined_v, joined_a, added_frames


def _encode_outputs(
    graph: _Graph,
    main: tuple[str, str],
    timeline: Timeline,
    options: RenderOptions,
    output: Path,
    preview_output: Path | None,
    threads: int | None,
    video_only: bool = False,
    channels: int = CHANNELS,
) -> tuple[list[str], list[Path]]:
    """The encoders' arguments and the files they write: `output`, and the preview when asked
    (scaled from the same frames, not decoded again). `video_only`: the sound is consumed by a
    sink and `output` has no audio stream (a piece of a segmented render)."""
    video, audio = main
    fps = fps_of(timeline)
    final_v, final_a = graph.label("vout"), graph.label("aout")
    if video_only:
        if options.preview:
            raise FiltergraphError("a video-only render has no preview")
        graph.chain([video], ["format=yuv420p"], [final_v])
        graph.chain([audio], ["anullsink"], [])
        encode = _encode_args(final_v, None, fps, options.crf, options.preset, 0, output, threads)
        return encode, [output]
    encode = _encode_args(
        final_v,
        final_a,
        fps,
        options.crf,
        options.preset,
        options.audio_bitrate_kbps,
        output,
        threads,
        channels,
    )
    if not options.preview:
        graph.chain([video], ["format=yuv420p"], [final_v])
        graph.chain([audio], ["anull"], [final_a])
        return encode, [output]
    preview_path = preview_output or output.with_name("preview.mp4")
    to_scale, prev_v, prev_a = graph.label("vp2s"), graph.label("vprev"), graph.label("aprev")
    graph.chain([video], ["format=yuv420p", "split=2"], [final_v, to_scale])
    pw, ph = preview_size(timeline.width, timeline.height)
    graph.chain([to_scale], [f"scale=w={pw}:h={ph}"], [prev_v])
    graph.chain([audio], ["asplit=2"], [final_a, prev_a])
    encode += _encode_args(
        prev_v,
        prev_a,
        fps,
        min(51, options.crf + PREVIEW_CRF_OFFSET),
        options.preset,
        min(options.audio_bitrate_kbps, PREVIEW_AUDIO_KBPS),
        preview_path,
        threads,
        channels,
    )
    return encode, [output, preview_path]


def _graph_source(text: str, filtergraph_script: Path | None) -> list[str]:
    """The graph inline, or the script file the caller writes it to (long edits outgrow the
    kernel's limit on one argument)."""
    if filtergraph_script is not None:
        return ["-filter_complex_script", str(filtergraph_script)]
    return ["-filter_complex", text]


def build_render(
    timeline: Timeline,
    source: Path,
    output: Path,
    options: RenderOptions,
    *,
    source_has_audio: bool | None = None,
    intro: MediaFacts | None = None,
    outro: MediaFacts | None = None,
    logo: LogoInput | None = None,
    subtitles: Path | None = None,
    preview_output: Path | None = None,
    filtergraph_script: Path | None = None,
    threads: int | None = None,
    loudness: Normalisation | None = None,
    video_only: bool = False,
    source_seek_sec: float = 0.0,
    subtitles_offset_frames: int = 0,
    source_channels: int | None = None,
) -> RenderPlan:
    """The ffmpeg arguments (without the binary) rendering `timeline` of `source` to `output`.

    `subtitles` (SRT on the edited main timeline) is burned into the main part before the intro
    is prepended. With `options.preview`, a second output (default: preview.mp4 next to
    `output`) comes from the same decoded frames. With `filtergraph_script`, the graph is read
    from that file (the caller writes `plan.filtergraph` there): long edits outgrow the
    kernel's limit on one argument. `threads` sizes the encoders' and the filter graph's thread
    pools (ffmpeg's own default follows the machine's cores, not a container's CPU quota).
    `loudness` normalises the main part's sound after its joins, before intro and outro (which
    keep their own level) are joined to it. `source_channels`: the recording's audio channels;
    a mono one keeps a mono sound unless an intro or outro joins it (sound_channels).

    `video_only` (a piece of a segmented render, core/segments.py): no sound is read or
    encoded, `output` holds one video stream. `source_seek_sec`: the source is opened that far
    in (input -ss, frame-accurate); the timeline's source frames count from there.
    `subtitles_offset_frames`: where the timeline starts on the edit's main timeline (the
    subtitles' clock).
    """
    fps = fps_of(timeline)
    spans = clip_spans(timeline)
    has_audio = timeline.has_audio if source_has_audio is None else source_has_audio
    has_audio = has_audio and not video_only
    graph, inputs = _Graph(), _Inputs()
    inputs.add(str(source), *(["-ss", f"{source_seek_sec:.6f}"] if source_seek_sec > 0 else []))
    bumpers = intro is not None or outro is not None
    channels = sound_channels(source_channels, bumpers=bumpers) if has_audio else CHANNELS
    edited_audio: EditedAudio | None = None
    audio_input: str | None = None
    if has_audio:
        edited_audio, audio_input = _edited_audio_input(inputs, source, spans, fps, channels)
    video, audio = _main_part(graph, timeline, spans, audio_input, channels)
    total_frames = timeline_frames(spans)
    if loudness is not None and has_audio:
        audio = _normalise_loudness(graph, audio, loudness, channels)
    if logo is not None:
        video = _overlay_logo(graph, inputs, video, logo, timeline)
    if subtitles is not None:
        video = _burn_subtitles(graph, video, subtitles, subtitles_offset_frames, fps)
    if intro is not None or outro is not None:
        video, audio, bumper_frames = _join_bumpers(
            graph, inputs, (video, audio), timeline, intro, outro
        )
        total_frames += bumper_frames
    encode, outputs = _encode_outputs(
        graph,
        (video, audio),
        timeline,
        options,
        output,
        preview_output,
        threads,
        video_only,
        channels,
    )

    text = graph.text()
    graph_threads = ["-filter_complex_threads", str(threads)] if threads else []
    return RenderPlan(
        args=[*graph_threads, *inputs.args, *_graph_source(text, filtergraph_script), *encode],
        filtergraph=text,
        expected_duration=float(Fraction(total_frames) / fps),
        outputs=tuple(outputs),
        audio=edited_audio,
    )
