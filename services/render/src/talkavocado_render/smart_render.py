"""The smart render's imperative shell (core/smart.py holds the decisions).

    ffprobe   the source's video stream and every packet's pts/dts/key flag and place -> the
              plan; the first bytes of the packets the edges decode read for nal_ref_idc
    ffmpeg    the source's video stream-copied and split at the copied GOPs' keyframes
              (segment muxer: one pass, MP4 pieces)
    ffmpeg    meanwhile, a copy for each read of the edges of only the packets it decodes: from
              its keyframe, less the pictures nothing predicts from that it does not pick
              (noise bsf, -copyts; several copies a pass)
    ffmpeg    every partial GOP at a cut: only the GOPs holding edge frames decoded (one input
              per stretch of adjacent ones, seeked to its keyframe), the edge frames picked as
              the full render picks frames, one x264 stream with the source's parameters (its
              SPS/PPS under an id the source does not use), an IDR at each piece's first frame,
              split there into one MP4 per piece (several such runs when there are many inputs)
    ffmpeg    meanwhile, the edit's sound exactly as the full render makes it (audio_feed.py:
              audio_edit pieces on stdin, loudness, AAC) into an MP4 of its own
    ffmpeg    the pieces joined by the concat demuxer (our own list of our own files) into one
              MP4 track, decode timestamps set to one rhythm, with the sound: the final MP4,
              +faststart (the first piece's avcC rewritten before to hold every piece's
              parameter sets: the joined track takes it)
    ffprobe   the joined track checked: every frame on the grid, one DTS rhythm, all frames

Every run on the user's media (the probe, the split, the edge encode, the sound) is confined by
the allowlist (talkavocado_common.media); the concat demuxer is allowed only for the list
written here, and the files it names are only our pieces. Each process has a time limit and
dies with the awaiting task.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from talkavocado_common.media import (
    RECORDING_DEMUXERS,
    format_allowed,
    input_args,
    restrict,
    run_ffmpeg,
)
from talkavocado_common.media.probe import FFPROBE, probe_failure
from talkavocado_common.media.process import stop_process
from talkavocado_common.models import RenderOptions, Timeline

from .audio_feed import run_piped
from .core import mp4, nal
from .core.filtergraph import fps_of
from .core.loudness import Normalisation
from .core.segments import MP4_DEMUXERS
from .core.smart import (
    EDGE_DECODER_THREADS,
    EdgeRead,
    EdgeRun,
    Ineligible,
    Packet,
    Piece,
    ReadCopy,
    SmartPlan,
    VideoFacts,
    build_sound,
    concat_list,
    edge_encode_args,
    edge_runs,
    edge_runs_at_once,
    edge_source_commands,
    encoder_args,
    gop_structure,
    join_args,
    plan_smart,
    read_drops,
    read_span,
)

_STREAM_ENTRIES = (
    "codec_name,profile,level,pix_fmt,width,height,time_base,field_order,is_avc,"
    "nal_length_size,color_range,color_space,color_transfer,color_primaries"
)
_PROBE_LIMIT_FLOOR, _PROBE_LIMIT_PER_SEC = 60.0, 0.5


class SmartRenderError(RuntimeError):
    """A step of the smart render failed; the full encode is the way out."""


async def _ffprobe(args: Sequence[str], time_limit: float) -> dict[str, Any]:
    """ffprobe's JSON for `args` (which end with the allowlisted input)."""
    if shutil.which(FFPROBE) is None:
        raise SmartRenderError(f"{FFPROBE} is not installed or not on PATH")
    proc = await asyncio.create_subprocess_exec(
        FFPROBE, "-v", "error", "-of", "json", *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(time_limit):
            out, err = await proc.communicate()
    except TimeoutError:
        raise SmartRenderError(f"ffprobe took longer than {time_limit:g} s") from None
    finally:
        await stop_process(proc)
    if proc.returncode != 0:
        raise SmartRenderError(str(probe_failure(err.decode(errors="replace"), proc.returncode)))
    try:
        document = json.loads(out or b"{}")
    except json.JSONDecodeError as exc:
        raise SmartRenderError(f"unreadable ffprobe output: {exc}") from None
    if not isinstance(document, dict):
        raise SmartRenderError("unreadable ffprobe output")
    return document


def _text(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return None if value is None else str(value)


def parse_facts(stream: dict[str, Any]) -> VideoFacts:
    """ffprobe's description of a video stream as VideoFacts."""
    rotation = next(
        (float(s.get("rotation", 0)) for s in stream.get("side_data_list", []) if "rotation" in s),
        0.0,
    )
    nal_length = _text(stream, "nal_length_size")
    return VideoFacts(
        codec=str(stream.get("codec_name", "")),
        profile=str(stream.get("profile", "")),
        level=int(stream.get("level", 0) or 0),
        pix_fmt=str(stream.get("pix_fmt", "")),
        width=int(stream.get("width", 0) or 0),
        height=int(stream.get("height", 0) or 0),
        time_base=Fraction(str(stream.get("time_base", "0/1"))),
        field_order=_text(stream, "field_order"),
        rotation=rotation,
        is_avc=_text(stream, "is_avc") == "true",
        nal_length_size=int(nal_length) if nal_length and nal_length.isdigit() else None,
        color_range=_text(stream, "color_range"),
        color_space=_text(stream, "color_space"),
        color_transfer=_text(stream, "color_transfer"),
        color_primaries=_text(stream, "color_primaries"),
    )


def parse_packets(document: dict[str, Any]) -> list[Packet]:
    packets: list[Packet] = []
    for raw in document.get("packets", []):
        if "pts" not in raw or "dts" not in raw:
            raise Ineligible("a video packet has no timestamp")
        packets.append(
            Packet(
                int(raw["pts"]),
                int(raw["dts"]),
                "K" in str(raw.get("flags", "")),
                int(raw.get("pos", -1)),
                int(raw.get("size", 0)),
            )
        )
    return packets


async def probe_video(
    path: Path, demuxers: Sequence[str], time_limit: float
) -> tuple[VideoFacts, list[Packet]]:
    """The first video stream's facts and its packets in decode order."""
    document = await _ffprobe(
        [
            *restrict(demuxers),
            "-select_streams", "v:0",
            "-show_entries", f"stream={_STREAM_ENTRIES}:stream_side_data=rotation"
            ":packet=pts,dts,flags,pos,size:format=format_name",
            str(path),
        ],
        time_limit,
    )  # fmt: skip
    streams = document.get("streams") or []
    if not streams:
        raise Ineligible("the source has no video stream")
    container = str((document.get("format") or {}).get("format_name", ""))
    try:
        return replace(parse_facts(streams[0]), container=container), parse_packets(document)
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise Ineligible(f"ffprobe's description of the video is unusable: {exc}") from None


async def plan_for(
    timeline: Timeline, source: Path, effects: str | None, duration: float | None
) -> SmartPlan:
    """The smart plan for this edit; Ineligible (with the reason) when the full encode runs."""
    if effects is not None:
        raise Ineligible(effects)
    limit = max(_PROBE_LIMIT_FLOOR, _PROBE_LIMIT_PER_SEC * (duration or 0.0))
    try:
        facts, packets = await probe_video(source, RECORDING_DEMUXERS, limit)
    except SmartRenderError as exc:
        raise Ineligible(f"the source's packets could not be read: {exc}") from None
    return plan_smart(timeline, facts, packets, None)


def _segment_name(index: int) -> str:
    return f"seg{index:05d}.mp4"


async def _split(source: Path, plan: SmartPlan, work: Path, limit: float) -> None:
    """The source's video stream-copied into segments starting at the plan's boundaries. Each
    keeps the source's decode delay: its first frame at 0, decode times `delay` frames earlier
    (the join's outpoints count on it). Left to avoid negative timestamps, the muxer shifted the
    first segment's by the delay, and a copy cut short in it lost its last frames."""
    common = [
        *input_args(source),
        "-map", "0:v:0",
        "-c", "copy",
        "-an", "-sn", "-dn",
        "-avoid_negative_ts", "disabled",
    ]  # fmt: skip
    if not plan.boundaries:
        await run_ffmpeg([*common, "-f", "mp4", str(work / _segment_name(0))], time_limit=limit)
        return
    await run_ffmpeg(
        [
            *common,
            "-f", "segment",
            "-segment_format", "mp4",
            # Counted in decode order; each boundary is a keyframe at its own decode position.
            "-segment_frames", ",".join(str(b) for b in plan.boundaries),
            "-reset_timestamps", "1",
            str(work / "seg%05d.mp4"),
        ],
        time_limit=limit,
    )  # fmt: skip


def _edge_name(index: int) -> str:
    return f"edge{index:05d}.mp4"


def _references(source: Path, plan: SmartPlan, runs: Sequence[EdgeRun], fps: Fraction) -> SmartPlan:
    """The plan with each packet the edge runs decode marked a reference picture or not, from
    its first bytes in the source. MP4 only: there ffprobe's pos is where a sample's data
    starts (in Matroska, where its block does). Packets not read stay references."""
    if not format_allowed(plan.facts.container, MP4_DEMUXERS):
        return plan
    packets = list(plan.packets)
    with source.open("rb") as handle:
        for read in (read for run in runs for read in run.reads):
            first, last = read_span(plan, read, fps)
            for index in range(first, last + 1):
                packet = packets[index]
                if packet.pos < 0 or packet.size <= 0:
                    continue
                handle.seek(packet.pos)
                head = handle.read(min(packet.size, nal.HEAD_BYTES))
                # Unknown (None) is kept as a reference.
                reference = nal.is_reference(head, packet.size) is not False
                packets[index] = replace(packet, reference=reference)
    return replace(plan, packets=tuple(packets))


async def _edge_sources(
    source: Path,
    plan: SmartPlan,
    runs: Sequence[EdgeRun],
    fps: Fraction,
    work: Path,
    limit: float,
) -> dict[EdgeRead, Path]:
    """A copy of the source's video for each read some of whose pictures need not be decoded
    (MP4, ours): only the packets it decodes, so its decoder also stops at its last one. The
    other reads read the source."""
    plan = await asyncio.to_thread(_references, source, plan, runs, fps)
    copies: list[ReadCopy] = []
    for read in (read for run in runs for read in run.reads):
        drops = read_drops(plan, read, fps)
        if drops:
            copies.append(ReadCopy(read, work / f"read{read.keyframe:07d}.mp4", tuple(drops)))
    for command in edge_source_commands(source, plan, fps, copies):
        await run_ffmpeg(command, time_limit=limit)
    return {copy.read: copy.path for copy in copies}


async def _encode_edges(
    copies: Mapping[EdgeRead, Path],
    source: Path,
    plan: SmartPlan,
    runs: Sequence[EdgeRun],
    fps: Fraction,
    work: Path,
    source_config: mp4.AvcConfig,
    options: RenderOptions,
    threads: int | None,
    limit: float,
    progress: Callable[[float], None],
) -> list[Path]:
    """Every partial GOP re-encoded, one MP4 per piece; their paths. Only the GOPs holding
    edge frames are read (one input per stretch of adjacent ones; from its copy of the source
    in `copies`, or the source), in ffmpeg runs of a bounded number of inputs, a run a
    core at once: one x264 stream per run, with the same parameters (the same SPS/PPS)."""
    if not runs:
        return []  # every cut on a keyframe or a clean end
    at_once = min(edge_runs_at_once(threads), len(runs))
    encoder = encoder_args(
        plan.facts, plan.structure.delay, options, mp4.free_parameter_set_id(source_config)
    )
    run_threads = max(1, (threads or 1) // at_once)
    decoder_threads = EDGE_DECODER_THREADS if at_once == 1 else 1
    done = [0.0] * len(runs)
    total = plan.encoded_frames
    turns = asyncio.Semaphore(at_once)

    async def encode(index: int, run: EdgeRun) -> None:
        def report(fraction: float) -> None:
            done[index] = run.frames * fraction
            progress(sum(done) / total)

        async with turns:
            await run_ffmpeg(
                edge_encode_args(
                    run,
                    source,
                    fps,
                    encoder,
                    work / "edge%05d.mp4",
                    run_threads,
                    decoder_threads,
                    copies,
                ),
                expected_duration=float(run.frames / fps),
                on_progress=report,
                time_limit=limit,
            )
        report(1.0)

    async with asyncio.TaskGroup() as group:
        for index, run in enumerate(runs):
            group.create_task(encode(index, run))
    files = runs[-1].first + len(runs[-1].file_frames)
    edges = [work / _edge_name(i) for i in range(files)]
    # x264 placed an IDR at each file's first frame, so the split made the files planned.
    if not all(edge.is_file() for edge in edges) or (work / _edge_name(len(edges))).exists():
        raise SmartRenderError("the re-encoded edges were not split into the files planned")
    return edges


def _first_copy(plan: SmartPlan) -> Piece:
    return next(p for p in plan.pieces if p.kind == "copy")


def _files(plan: SmartPlan, runs: Sequence[EdgeRun]) -> list[tuple[str, int, bool]]:
    """The pieces' files in timeline order, with their frame counts: the copied segments, and
    the edges' files (each holding one or more pieces that follow each other)."""
    edge_files = enumerate(frames for run in runs for frames in run.file_frames)
    files: list[tuple[str, int, bool]] = []
    left = 0  # frames of the current edge file not yet placed
    for piece in plan.pieces:
        if piece.kind == "encode":
            if not left:
                index, left = next(edge_files)
                files.append((_edge_name(index), left, False))
            left -= piece.frames
        else:
            if left:
                raise SmartRenderError("an edge file runs on past its pieces")
            files += [(_segment_name(i), used, cut) for i, used, cut in plan.segments(piece)]
    return files


async def _join(
    plan: SmartPlan,
    runs: Sequence[EdgeRun],
    fps: Fraction,
    work: Path,
    edges: Sequence[Path],
    source_config: mp4.AvcConfig,
    sound: Path,
    output: Path,
    limit: float,
) -> None:
    """The pieces and the sound into the final MP4, one pass. The concat demuxer takes the
    track's decoder configuration from the first piece it opens: given every piece's parameter
    sets there (a file of ours, its moov last), the joined track has them all."""
    files = _files(plan, runs)
    listing = work / "pieces.ffconcat"
    listing.write_text(concat_list(files, fps, plan.structure.delay), encoding="utf-8")
    _set_avcc(work / files[0][0], mp4.merged(source_config, [_config(e) for e in edges]))
    await run_ffmpeg(join_args(plan, fps, listing, sound, output), time_limit=limit)


def _moov(path: Path) -> tuple[int, bytes]:
    """Where the file's last top-level box starts, and that box (moov, for ffmpeg's MP4 muxer
    without +faststart)."""
    size_of = path.stat().st_size
    with path.open("rb") as handle:
        position, last = 0, 0
        while position + 8 <= size_of:
            handle.seek(position)
            header = handle.read(16)
            size = int.from_bytes(header[:4], "big")
            if size == 1:
                size = int.from_bytes(header[8:16], "big")
            elif size == 0:
                size = size_of - position
            if size < 8:
                raise mp4.Mp4Error(f"{path.name}: malformed box")
            last, position = position, position + size
        handle.seek(last)
        return last, handle.read()


def _set_avcc(path: Path, config: mp4.AvcConfig) -> None:
    start, moov = _moov(path)
    rewritten = mp4.with_avcc(moov, config)
    with path.open("r+b") as handle:
        handle.truncate(start)
        handle.seek(start)
        handle.write(rewritten)


def _config(path: Path) -> mp4.AvcConfig:
    return mp4.read_avcc(_moov(path)[1])


async def _check_joined(joined: Path, plan: SmartPlan, fps: Fraction, limit: float) -> None:
    """The joined track is what the plan promised: every frame on the grid, one DTS rhythm."""
    facts, packets = await probe_video(joined, MP4_DEMUXERS, limit)
    try:
        structure = gop_structure(packets, facts.time_base, fps)
    except Ineligible as exc:
        raise SmartRenderError(f"the joined video is not regular: {exc.reason}") from None
    if structure.frames != plan.total_frames or structure.delay != plan.structure.delay:
        raise SmartRenderError(
            f"the joined video has {structure.frames} frames (delay {structure.delay}), "
            f"the plan {plan.total_frames} (delay {plan.structure.delay})"
        )


async def _video(
    plan: SmartPlan,
    runs: Sequence[EdgeRun],
    source: Path,
    work: Path,
    fps: Fraction,
    options: RenderOptions,
    threads: int | None,
    limit: float,
    progress: Callable[[float], None],
) -> tuple[list[Path], mp4.AvcConfig]:
    """The edit's video in pieces: the source's GOPs copied (split), the edges re-encoded;
    the edges' paths and the source's decoder configuration."""
    first_segment = work / _segment_name(plan.segments(_first_copy(plan))[0][0])
    async with asyncio.TaskGroup() as group:
        # The edges start once their copies are made, while the split goes on.
        split = group.create_task(_split(source, plan, work, limit))
        copies = await _edge_sources(source, plan, runs, fps, work, limit)
        if not copies:
            await split
        # Any stream copy of the source holds its decoder configuration.
        source_config = _config(next(iter(copies.values()), first_segment))
        progress(0.05)
        edges = await _encode_edges(
            copies,
            source,
            plan,
            runs,
            fps,
            work,
            source_config,
            options,
            threads,
            limit,
            lambda f: progress(0.05 + 0.85 * f),
        )
    progress(1.0)
    return edges, source_config


def slower_of(
    branches: Sequence[str], report: Callable[[float], None]
) -> Callable[[str], Callable[[float], None]]:
    """Progress of branches run at once, reported as the one furthest behind (so it never
    runs ahead of the work left): `slower(name)` is the reporter to hand branch `name`."""
    done = dict.fromkeys(branches, 0.0)

    def slower(name: str) -> Callable[[float], None]:
        def update(fraction: float) -> None:
            done[name] = max(done[name], fraction)
            report(min(done.values()))

        return update

    return slower


def first_error(group: BaseExceptionGroup[Exception]) -> Exception:
    """The first error of a task group's, however deeply nested."""
    first = group.exceptions[0]
    return first_error(first) if isinstance(first, BaseExceptionGroup) else first


async def smart_render(
    plan: SmartPlan,
    timeline: Timeline,
    source: Path,
    output: Path,
    work: Path,
    options: RenderOptions,
    *,
    source_has_audio: bool,
    loudness: Normalisation | None,
    threads: int | None,
    on_progress: Callable[[float], None] | None = None,
    time_limit: float | None = None,
    source_channels: int | None = None,
) -> str:
    """Render `plan` to `output`; the sound's ffmpeg log.
    Raises SmartRenderError, mp4.Mp4Error or FfmpegError (the caller falls back to the full
    encode) and AudioFeedError. The sound is made while the video is cut and joined."""
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    fps = fps_of(timeline)
    limit = time_limit or 3600.0
    report = on_progress or (lambda _: None)
    sound = build_sound(
        timeline,
        source,
        work / "sound.m4a",
        options,
        source_has_audio=source_has_audio,
        loudness=loudness,
        threads=threads,
        source_channels=source_channels,
    )
    runs = edge_runs(plan, at_once=edge_runs_at_once(threads))
    slower = slower_of(("video", "sound"), lambda f: report(0.95 * f))
    try:
        async with asyncio.TaskGroup() as group:
            video = group.create_task(
                _video(plan, runs, source, work, fps, options, threads, limit, slower("video"))
            )
            sound_log = group.create_task(
                run_piped(
                    sound.make, sound.encode_args, time_limit=limit, on_progress=slower("sound")
                )
            )
    except* Exception as failed:
        # The caller tells a smart render that failed (falling back) from others by type.
        raise first_error(failed) from None
    edges, source_config = video.result()
    await _join(plan, runs, fps, work, edges, source_config, work / "sound.m4a", output, limit)
    await _check_joined(output, plan, fps, limit)
    report(1.0)
    return sound_log.result()
