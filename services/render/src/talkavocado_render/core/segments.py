"""A long render spread over pieces: where to split the edit, each piece's own timeline, the
sound made once, the join, and the claims workers take pieces with (docs/architecture.md §5).

Pure: no file is touched and no process started here.

The edited main part (the timeline, frames 0..N) is cut at whole frames into segments of about
`segment_frames` of *output* (the intro counts in the first, the outro in the last). A cut
never falls inside a crossfade: the frames [s, s + t) where clip i fades in over the tail of
clip i-1 stay in one segment with both clips' frames they blend. Each segment is a timeline of
its own (whole clips, or a clip split at a frame; the crossfades inside it kept), rendered
video-only with the full render's filtergraph and encoder settings, so the H.264 pieces join by
stream copy. Its source is opened a little before its first frame (input seek) and the
subtitles are drawn at each frame's time on the whole edit's main timeline.

The sound is not split: audio_edit's pieces for the whole timeline, normalised once, with the
intro's and outro's sound, encoded once (`build_audio`) and muxed with the joined video
(`build_join`).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from talkavocado_common.media.allowlist import input_args
from talkavocado_common.models import RenderOptions, Timeline

from .audio_edit import AUDIO_RATE, CHANNELS, audio_pieces, sound_channels
from .filtergraph import (
    AUDIO_FORMAT,
    PCM_DEMUXERS,
    PCM_PROTOCOLS,
    ClipSpan,
    EditedAudio,
    FiltergraphError,
    MediaFacts,
    RenderPlan,
    aac_args,
    audio_format,
    clip_frames,
    clip_spans,
    fps_of,
    pcm_args,
    silence,
    timeline_frames,
)
from .loudness import Normalisation
from .timeline import layout

# Our own files only: the list names our pieces, next to it.
CONCAT_DEMUXERS = ("concat",)
MP4_DEMUXERS = ("mov,mp4,m4a,3gp,3g2,mj2",)
# Each segment's source is opened this long before its first frame: the frames at the seek
# point itself are never the ones kept.
SEEK_MARGIN_SEC = 1
PLAN_VERSION = 1


class SegmentError(ValueError):
    """The timeline cannot be split as asked."""


@dataclass(frozen=True)
class Segment:
    """Frames [start, end) of the main part, with the intro before (first) / outro after
    (last)."""

    index: int
    start: int
    end: int
    intro: bool
    outro: bool

    @property
    def main_frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class SegmentPlan:
    segments: tuple[Segment, ...]
    main_frames: int
    intro_frames: int
    outro_frames: int

    @property
    def bounds(self) -> list[list[int]]:
        return [[s.start, s.end] for s in self.segments]

    def output_frames(self, segment: Segment) -> int:
        extra = (self.intro_frames if segment.intro else 0) + (
            self.outro_frames if segment.outro else 0
        )
        return segment.main_frames + extra

    @property
    def total_frames(self) -> int:
        return self.intro_frames + self.main_frames + self.outro_frames


def fade_windows(spans: Sequence[ClipSpan]) -> list[tuple[int, int]]:
    """The crossfades on the main timeline: [s, s + t) frames, ascending and disjoint."""
    return [
        (s.timeline_start_frame, s.timeline_start_frame + s.transition_frames)
        for s in spans
        if s.transition_frames
    ]


def cut_allowed(frame: int, windows: Sequence[tuple[int, int]], total: int) -> bool:
    """May the main part be cut before `frame`? Inside (0, total) and in no crossfade."""
    if frame <= 0 or frame >= total:
        return False
    at = bisect.bisect_right(windows, (frame, math.inf)) - 1
    return at < 0 or not (windows[at][0] <= frame < windows[at][1])


def snap_cut(frame: int, windows: Sequence[tuple[int, int]], total: int) -> int | None:
    """The allowed cut nearest `frame` (the earlier one on a tie); None when there is none."""
    frame = min(max(frame, 1), total - 1)
    for distance in range(total):
        for candidate in (frame - distance, frame + distance):
            if cut_allowed(candidate, windows, total):
                return candidate
    return None


def plan_segments(
    timeline: Timeline,
    *,
    segment_frames: int,
    intro_frames: int = 0,
    outro_frames: int = 0,
) -> SegmentPlan:
    """Split the render into about (intro + main + outro) / segment_frames segments."""
    if segment_frames <= 0:
        raise SegmentError("segments must be at least one frame long")
    spans = clip_spans(timeline)
    main = timeline_frames(spans)
    total = intro_frames + main + outro_frames
    count = max(1, min(main, round(total / segment_frames)))
    windows = fade_windows(spans)
    cuts: list[int] = []
    for j in range(1, count):
        ideal = round(Fraction(j * total, count)) - intro_frames
        cut = snap_cut(ideal, windows, main)
        if cut is not None and (not cuts or cut > cuts[-1]):
            cuts.append(cut)
    edges = [0, *cuts, main]
    last = len(edges) - 2
    segments = tuple(
        Segment(i, edges[i], edges[i + 1], intro=i == 0, outro=i == last) for i in range(last + 1)
    )
    return SegmentPlan(segments, main, intro_frames, outro_frames)


def bumper_frames(facts: MediaFacts | None, timeline: Timeline) -> int:
    return 0 if facts is None else clip_frames(facts, fps_of(timeline))


def sub_timeline(timeline: Timeline, start: int, end: int) -> Timeline:
    """Frames [start, end) of the main part as a timeline of its own: the clips (or parts of
    clips) on them, their crossfades kept. `start` and `end` must be allowed cuts (or the
    ends)."""
    spans = clip_spans(timeline)
    total = timeline_frames(spans)
    windows = fade_windows(spans)
    for cut in (start, end):
        if cut not in (0, total) and not cut_allowed(cut, windows, total):
            raise SegmentError(f"frame {cut} is inside a crossfade or outside the timeline")
    if not 0 <= start < end <= total:
        raise SegmentError(f"no frames in [{start}, {end})")
    fps = fps_of(timeline)
    clips = []
    for span, clip in zip(spans, timeline.clips, strict=True):
        first = max(start, span.timeline_start_frame)
        stop = min(end, span.timeline_start_frame + span.frames)
        if stop <= first:
            continue
        head = first - span.timeline_start_frame
        # A clip starting inside the segment keeps its crossfade (the cut is never inside it).
        transition = span.transition_frames if span.timeline_start_frame >= start else 0
        clips.append(
            clip.model_copy(
                update={
                    "source_start_frame": span.start_frame + head,
                    "source_end_frame": span.start_frame + (stop - span.timeline_start_frame),
                    "transition_in_sec": float(Fraction(transition) / fps),
                }
            )
        )
    clips[0] = clips[0].model_copy(update={"transition_in_sec": 0.0})
    placed, duration = layout(clips, timeline.frame_rate)
    return timeline.model_copy(update={"clips": placed, "duration_sec": duration})


def seek_shifted(timeline: Timeline, margin_frames: int) -> tuple[int, Timeline]:
    """(the source frame to open the source at, the timeline with source frames counted from
    there): `margin_frames` before the first frame the timeline reads."""
    first = min(clip.source_start_frame for clip in timeline.clips)
    seek = max(0, first - margin_frames)
    if seek == 0:
        return 0, timeline
    clips = [
        clip.model_copy(
            update={
                "source_start_frame": clip.source_start_frame - seek,
                "source_end_frame": clip.source_end_frame - seek,
            }
        )
        for clip in timeline.clips
    ]
    placed, duration = layout(clips, timeline.frame_rate)
    fps = fps_of(timeline)
    source_duration = max(0.0, timeline.source_duration_sec - float(seek / fps))
    return seek, timeline.model_copy(
        update={"clips": placed, "duration_sec": duration, "source_duration_sec": source_duration}
    )


@dataclass(frozen=True)
class SegmentJob:
    """What renders one segment: the piece's timeline, where to open the source, which
    bumpers, and where its subtitles' clock starts."""

    segment: Segment
    timeline: Timeline
    seek_frame: int
    seek_sec: float
    subtitles_offset_frames: int


def segment_job(timeline: Timeline, plan: SegmentPlan, index: int) -> SegmentJob:
    if not 0 <= index < len(plan.segments):
        raise SegmentError(f"no segment {index} (of {len(plan.segments)})")
    segment = plan.segments[index]
    fps = fps_of(timeline)
    piece = sub_timeline(timeline, segment.start, segment.end)
    seek, shifted = seek_shifted(piece, math.ceil(fps * SEEK_MARGIN_SEC))
    return SegmentJob(segment, shifted, seek, float(Fraction(seek) / fps), segment.start)


# -- the plan document shared by the workers -------------------------------------------------


def plan_document(
    timeline: Timeline, plan: SegmentPlan, render: RenderOptions, inputs: Mapping[str, Any]
) -> dict[str, Any]:
    """plan.json: everything a worker needs to render any segment the same way."""
    return {
        "version": PLAN_VERSION,
        "timeline": timeline.model_dump(mode="json", by_alias=True),
        "bounds": plan.bounds,
        "introFrames": plan.intro_frames,
        "outroFrames": plan.outro_frames,
        "render": render.model_dump(mode="json", by_alias=True),
        "inputs": dict(inputs),
    }


def plan_id(document: Mapping[str, Any]) -> str:
    """The plan's name: a digest of its document (same edit and settings, same name)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def plan_from_document(document: Mapping[str, Any]) -> tuple[Timeline, SegmentPlan]:
    """The timeline and segments of plan.json (written by plan_document)."""
    if document.get("version") != PLAN_VERSION:
        raise SegmentError(f"unknown segment plan version {document.get('version')!r}")
    timeline = Timeline.model_validate(document["timeline"])
    bounds = [(int(a), int(b)) for a, b in document["bounds"]]
    last = len(bounds) - 1
    segments = tuple(
        Segment(i, a, b, intro=i == 0, outro=i == last) for i, (a, b) in enumerate(bounds)
    )
    main = timeline_frames(clip_spans(timeline))
    if not bounds or bounds[0][0] != 0 or bounds[-1][1] != main:
        raise SegmentError("the segments do not cover the timeline")
    if any(a >= b for a, b in bounds) or any(bounds[i][1] != bounds[i + 1][0] for i in range(last)):
        raise SegmentError("the segments are not consecutive")
    return timeline, SegmentPlan(
        segments, main, int(document["introFrames"]), int(document["outroFrames"])
    )


# -- claims ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """Who encodes a segment, until when (seconds since the epoch) unless renewed."""

    owner: str
    expires_at: float

    def to_bytes(self) -> bytes:
        return json.dumps({"owner": self.owner, "expiresAt": self.expires_at}).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Claim | None:
        """None for a claim that does not parse (a torn or foreign object: takeable)."""
        try:
            raw = json.loads(data)
            return cls(str(raw["owner"]), float(raw["expiresAt"]))
        except (ValueError, KeyError, TypeError):
            return None


def claim_expired(claim: Claim | None, now: float) -> bool:
    return claim is None or claim.expires_at <= now


def renew_interval(lease_seconds: float) -> float:
    """Renew at a third of the lease: two renewals may be late before it runs out."""
    return max(0.05, lease_seconds / 3)


# -- the sound, and the join -------------------------------------------------------------------


def concat_list(files: Sequence[tuple[str, int]], fps: Fraction) -> str:
    """An ffconcat list of our pieces (file name, frames): each entry's duration in whole
    microseconds such that every piece starts at its exact frame time, rounded (no drift)."""
    lines = ["ffconcat version 1.0"]
    before = 0
    for name, frames in files:
        if not name or any(c in name for c in "'/\\\n") or name.startswith("."):
            raise SegmentError(f"unexpected piece name {name!r}")
        start = round(Fraction(before) / fps * 1_000_000)
        before += frames
        end = round(Fraction(before) / fps * 1_000_000)
        lines += [f"file '{name}'", f"duration {end - start}us"]
    return "\n".join(lines) + "\n"


def _bumper_audio(
    chains: list[str], inputs: list[str], facts: MediaFacts, frames: int, fps: Fraction, name: str
) -> str:
    """The intro's/outro's sound exactly as the full render makes it (filtergraph._bumper)."""
    end = f"{float(Fraction(frames) / fps):.6f}"
    if not facts.has_audio:
        chains.append(f"{','.join(silence(end))}[{name}]")
        return name
    index = inputs.count("-i")
    inputs += input_args(str(facts.path))
    chains.append(
        f"[{index}:a:0]aresample={AUDIO_RATE}:async=1:first_pts=0,{AUDIO_FORMAT},apad,"
        f"atrim=end={end},asetpts=PTS-STARTPTS[{name}]"
    )
    return name


def build_audio(
    timeline: Timeline,
    source: Path,
    output: Path,
    options: RenderOptions,
    *,
    source_has_audio: bool,
    intro: MediaFacts | None = None,
    outro: MediaFacts | None = None,
    loudness: Normalisation | None = None,
    threads: int | None = None,
    source_channels: int | None = None,
) -> RenderPlan:
    """The whole render's sound, made as the full render makes it (the edited source sound on
    stdin, its loudness normalised, the bumpers' own sound around it; mono or stereo by
    sound_channels), AAC in MP4."""
    fps = fps_of(timeline)
    spans = clip_spans(timeline)
    total = f"{float(Fraction(timeline_frames(spans)) / fps):.6f}"
    inputs: list[str] = []
    chains: list[str] = []
    edited: EditedAudio | None = None
    bumpers = intro is not None or outro is not None
    channels = sound_channels(source_channels, bumpers=bumpers) if source_has_audio else CHANNELS
    if source_has_audio:
        edited = EditedAudio(source, tuple(audio_pieces(spans, fps)), channels)
        inputs += input_args(
            "pipe:0", *pcm_args(channels), demuxers=PCM_DEMUXERS, protocols=PCM_PROTOCOLS
        )
        main = f"[0:a:0]asetpts=N/SR/TB,{audio_format(channels)}"
        if loudness is not None:
            main += f",{','.join(loudness.filters(channels))},{audio_format(channels)}"
        chains.append(f"{main}[amain]")
    else:
        chains.append(f"{','.join(silence(total))}[amain]")
    parts = ["amain"]
    if intro is not None:
        parts.insert(
            0, _bumper_audio(chains, inputs, intro, clip_frames(intro, fps), fps, "aintro")
        )
    if outro is not None:
        parts.append(_bumper_audio(chains, inputs, outro, clip_frames(outro, fps), fps, "aoutro"))
    joined = "".join(f"[{p}]" for p in parts)
    chains.append(
        f"{joined}concat=n={len(parts)}:v=0:a=1[aout]" if len(parts) > 1 else "[amain]anull[aout]"
    )
    graph = ";\n".join(chains)
    frames = timeline_frames(spans) + sum(
        clip_frames(f, fps) for f in (intro, outro) if f is not None
    )
    args = [
        *(["-filter_complex_threads", str(threads)] if threads else []),
        *inputs,
        "-filter_complex", graph,
        "-map", "[aout]",
        *aac_args(options.audio_bitrate_kbps, channels),
        "-map_chapters", "-1",
        "-f", "mp4",
        str(output),
    ]  # fmt: skip
    return RenderPlan(
        args=args,
        filtergraph=graph,
        expected_duration=float(Fraction(frames) / fps),
        outputs=(output,),
        audio=edited,
    )


def build_join(
    listing: Path, audio: Path, output: Path, video_options: Sequence[str] = ()
) -> list[str]:
    """ffmpeg arguments joining the pieces our `listing` names (stream copy: one H.264 track,
    with `video_options`) and muxing `audio` (copied): MP4, +faststart. The concat demuxer only
    ever reads this list of ours (safe names, next to it), and what it opens only as MP4."""
    return [
        *input_args(
            listing,
            "-f", "concat", "-safe", "1", "-auto_convert", "0",
            demuxers=(*CONCAT_DEMUXERS, *MP4_DEMUXERS),
            protocols=("file",),
        ),
        *input_args(audio, demuxers=MP4_DEMUXERS, protocols=("file",)),
        "-map", "0:v:0",
        "-map", "1:a:0",
        "-c", "copy",
        *video_options,
        "-map_chapters", "-1",
        "-movflags", "+faststart",
        "-f", "mp4",
        str(output),
    ]  # fmt: skip


def check_eligible(
    timeline: Timeline, *, min_timeline_sec: float, preview: bool, logo_still: bool
) -> str | None:
    """Why the render must stay in one piece (None: it may be segmented)."""
    if timeline.duration_sec < min_timeline_sec:
        return f"the edit is shorter than {min_timeline_sec:g} s"
    if preview:
        return "a preview is asked for (made from the same frames in the one-piece render)"
    if not logo_still:
        return "the logo is a moving image (each piece would restart it)"
    try:
        clip_spans(timeline)
    except FiltergraphError as exc:
        return f"the timeline needs the one-piece render's checks: {exc}"
    return None
