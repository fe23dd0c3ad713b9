"""Smart render planning (core/smart.py) and the avcC rewriting it relies on (core/mp4.py)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, get_args

import pytest

from talkavocado_common.media.allowlist import RECORDING_DEMUXERS, restrict
from talkavocado_common.models import FrameRate, RenderOptions, Timeline, TimelineClip
from talkavocado_render.core import mp4
from talkavocado_render.core.loudness import Normalisation
from talkavocado_render.core.segments import CONCAT_DEMUXERS
from talkavocado_render.core.smart import (
    X264_PRESETS,
    EdgeRead,
    EdgeRun,
    GopStructure,
    Ineligible,
    Packet,
    Piece,
    SmartPlan,
    SoundPlan,
    VideoFacts,
    build_sound,
    check_source,
    concat_list,
    edge_crf,
    edge_encode_args,
    edge_frames,
    edge_inputs_per_run,
    edge_preset,
    edge_reads,
    edge_runs,
    edge_runs_at_once,
    edge_starts,
    encoder_args,
    gop_structure,
    join_args,
    picture_changes,
    plan_pieces,
    plan_smart,
)

FPS = Fraction(25)
TB = Fraction(1, 12800)
TICKS = 512  # one frame at 25 fps in 1/12800


def timeline(ranges: Sequence[tuple[int, int]], *, fade: int = 0, fps: int = 25) -> Timeline:
    clips, cursor = [], 0
    for index, (start, end) in enumerate(ranges):
        transition = fade if index else 0
        placed = cursor - transition
        clips.append(
            TimelineClip(
                source_start_frame=start,
                source_end_frame=end,
                source_start=start / fps,
                source_end=end / fps,
                timeline_start=placed / fps,
                transition_in_sec=transition / fps,
            )
        )
        cursor = placed + end - start
    return Timeline(
        source_key="k",
        frame_rate=FrameRate(num=fps, den=1),
        width=1280,
        height=720,
        has_audio=True,
        source_duration_sec=60,
        clips=clips,
        duration_sec=cursor / fps,
    )


def facts(**changes: object) -> VideoFacts:
    base: dict[str, object] = {
        "codec": "h264",
        "profile": "High",
        "level": 31,
        "pix_fmt": "yuv420p",
        "width": 1280,
        "height": 720,
        "time_base": TB,
        "field_order": "progressive",
    }
    base.update(changes)
    return VideoFacts(**base)  # type: ignore[arg-type]


# B-frames between anchors giving each reorder delay, as x264 (b-pyramid for 2).
B_FRAMES = {0: 0, 1: 1, 2: 3}


def packets(frames: int, gop: int, *, delay: int = 2, ticks: int = TICKS) -> list[Packet]:
    """x264-like decode order: each GOP's I, then per group of B-frames the P then the Bs
    (closed GOPs), dts `delay` frames behind."""
    order: list[int] = []
    for start in range(0, frames, gop):
        end = min(frames, start + gop)
        order.append(start)
        cursor = start + 1
        while cursor < end:
            anchor = min(cursor + B_FRAMES[delay], end - 1)
            order.append(anchor)
            order += list(range(cursor, anchor))
            cursor = anchor + 1
    return [
        Packet(pts=f * ticks, dts=(i - delay) * ticks, key=f % gop == 0)
        for i, f in enumerate(order)
    ]


# --- picture effects --------------------------------------------------------------------------


def test_default_edit_changes_no_pixel() -> None:
    assert picture_changes(timeline([(0, 50), (75, 150)])) is None


def test_each_effect_is_named() -> None:
    reason = picture_changes(timeline([(0, 50), (75, 150)], fade=5), logo=True, preview=True)
    assert reason is not None
    assert "crossfades" in reason
    assert "a logo" in reason
    assert "preview" in reason
    for flag in ("subtitles", "intro", "outro"):
        found = picture_changes(timeline([(0, 50)]), **{flag: True})
        assert found is not None
        assert flag.rstrip("s") in found


# --- the source -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"codec": "hevc"}, "hevc, not H.264"),
        ({"codec": "vp9"}, "vp9, not H.264"),
        ({"profile": "High 10"}, "profile High 10"),
        ({"pix_fmt": "yuv422p"}, "4:2:0"),
        ({"level": -99}, "level -99 is unknown"),
        ({"field_order": "tt"}, "interlaced"),
        ({"rotation": -90.0}, "rotated"),
        ({"is_avc": False}, "avcC"),
        ({"nal_length_size": 2}, "avcC"),
        ({"width": 640}, "frame size"),
        ({"time_base": Fraction(2, 25)}, "1/N"),
    ],
)
def test_sources_x264_cannot_continue(change: dict[str, object], words: str) -> None:
    with pytest.raises(Ineligible, match=words):
        check_source(facts(**change), timeline([(0, 50)]))


def test_supported_sources_pass() -> None:
    for profile in ("Constrained Baseline", "Baseline", "Main", "High"):
        check_source(facts(profile=profile, pix_fmt="yuvj420p"), timeline([(0, 50)]))


# --- packets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("delay", [0, 1, 2])
def test_structure_of_closed_gops(delay: int) -> None:
    found = gop_structure(packets(130, 50, delay=delay), TB, FPS)
    assert (found.frames, found.keyframes, found.delay) == (130, (0, 50, 100), delay)
    assert {50, 100, 130} <= set(found.clean_ends)


def test_frame_rate_must_be_whole_ticks() -> None:
    with pytest.raises(Ineligible, match="whole number of ticks"):
        gop_structure(packets(10, 5), Fraction(1, 1000), Fraction(30000, 1001))


def test_ntsc_rate_on_its_own_time_base() -> None:
    found = gop_structure(packets(60, 30, ticks=1001), Fraction(1, 30000), Fraction(30000, 1001))
    assert found.keyframes == (0, 30)


def test_variable_frame_rate_is_refused() -> None:
    stream = packets(20, 10, delay=0)
    stream[5] = Packet(stream[5].pts + 100, stream[5].dts, False)
    with pytest.raises(Ineligible, match="frame grid"):
        gop_structure(stream, TB, FPS)


def test_late_start_is_refused() -> None:
    stream = [Packet(p.pts + TICKS, p.dts + TICKS, p.key) for p in packets(20, 10)]
    with pytest.raises(Ineligible, match="frame grid"):
        gop_structure(stream, TB, FPS)


def test_open_gop_is_refused() -> None:
    # Keyframe 10, then B-frames 8 and 9 that belong before it (decoded after it).
    order = [0, 3, 1, 2, 7, 4, 5, 6, 10, 8, 9, 13, 11, 12]
    stream = [Packet(f * TICKS, (i - 2) * TICKS, f in (0, 10)) for i, f in enumerate(order)]
    with pytest.raises(Ineligible, match="open GOP"):  # keyframe 10 is decoded 8th
        gop_structure(stream, TB, FPS)


def test_first_packet_must_be_a_keyframe() -> None:
    stream = [Packet(p.pts, p.dts, False) for p in packets(10, 10, delay=0)]
    with pytest.raises(Ineligible, match="start with a keyframe"):
        gop_structure(stream, TB, FPS)


def test_irregular_decode_times_are_refused() -> None:
    stream = packets(20, 10)
    stream[4] = Packet(stream[4].pts, stream[4].dts + 1, False)
    with pytest.raises(Ineligible, match="irregular"):
        gop_structure(stream, TB, FPS)


def test_deep_reorder_delay_is_refused() -> None:
    stream = [Packet(p.pts, p.dts - TICKS, p.key) for p in packets(20, 10)]
    with pytest.raises(Ineligible, match="0, 1 or 2"):
        gop_structure(stream, TB, FPS)


def test_no_packets() -> None:
    with pytest.raises(Ineligible, match="no video packets"):
        gop_structure([], TB, FPS)


# --- pieces ---------------------------------------------------------------------------------

KEYS = (0, 50, 100, 150)


def copy(a: int, b: int) -> Piece:
    return Piece("copy", a, b)


def enc(a: int, b: int) -> Piece:
    return Piece("encode", a, b)


def whole_gops(frames: int = 200) -> GopStructure:
    """Copies may stop only at the end of a GOP (as if every GOP were one reordered block)."""
    return GopStructure(frames, KEYS, 2, (*KEYS[1:], frames))


@pytest.mark.parametrize(
    ("ranges", "pieces"),
    [
        # cuts exactly on keyframes: nothing re-encoded
        ([(50, 100)], [copy(50, 100)]),
        ([(0, 200)], [copy(0, 200)]),
        # partial GOPs at both edges
        ([(37, 120)], [enc(37, 50), copy(50, 100), enc(100, 120)]),
        # a range shorter than a GOP, spanning no keyframe
        ([(60, 90)], [enc(60, 90)]),
        # spanning one keyframe but no whole GOP
        ([(40, 70)], [enc(40, 70)]),
        # the first frame, and the last frames of the source (the end counts as a boundary)
        ([(0, 1)], [enc(0, 1)]),
        ([(160, 200)], [enc(160, 200)]),
        ([(150, 200)], [copy(150, 200)]),
        ([(199, 200)], [enc(199, 200)]),
        # two ranges meeting in the source join up; a cut between them does not
        ([(37, 60), (60, 120)], [enc(37, 50), copy(50, 100), enc(100, 120)]),
        ([(0, 40), (60, 160)], [enc(0, 40), enc(60, 100), copy(100, 150), enc(150, 160)]),
        # ranges out of source order are fine for the pieces
        ([(100, 150), (0, 50)], [copy(100, 150), copy(0, 50)]),
    ],
)
def test_plan_pieces(ranges: list[tuple[int, int]], pieces: list[Piece]) -> None:
    planned = plan_pieces(ranges, whole_gops())
    assert list(planned) == pieces
    assert sum(p.frames for p in planned) == sum(b - a for a, b in ranges)


@pytest.mark.parametrize(
    ("delay", "ranges", "pieces"),
    [
        # no reordering: a copy stops at any frame, only the heads are re-encoded
        (0, [(37, 120)], [enc(37, 50), copy(50, 120)]),
        (0, [(40, 70)], [enc(40, 50), copy(50, 70)]),
        (0, [(50, 51)], [copy(50, 51)]),
        # one B-frame per P: clean ends every other frame, at least 2 frames into the GOP
        (1, [(37, 122)], [enc(37, 50), copy(50, 121), enc(121, 122)]),
        (1, [(50, 51)], [enc(50, 51)]),
        (1, [(50, 54)], [copy(50, 53), enc(53, 54)]),
        # B-pyramid (3 B-frames per P): clean ends every 4th frame
        (2, [(37, 120)], [enc(37, 50), copy(50, 117), enc(117, 120)]),
        (2, [(100, 103)], [enc(100, 103)]),
        (2, [(100, 104)], [enc(100, 104)]),
        (2, [(100, 105)], [copy(100, 105)]),
    ],
)
def test_copies_stop_at_clean_ends_inside_a_gop(
    delay: int, ranges: list[tuple[int, int]], pieces: list[Piece]
) -> None:
    structure = gop_structure(packets(200, 50, delay=delay), TB, FPS)
    assert list(plan_pieces(ranges, structure)) == pieces


def test_clean_ends() -> None:
    assert gop_structure(packets(12, 6, delay=0), TB, FPS).clean_ends == tuple(range(1, 13))
    # I0 P4 B1 B2 B3 P5 | I6 P10 B7 B8 B9 P11: [0,1) [0,5) [0,6) ...
    assert gop_structure(packets(12, 6, delay=2), TB, FPS).clean_ends == (1, 5, 6, 7, 11, 12)


def test_pieces_refuse_ranges_past_the_source() -> None:
    with pytest.raises(Ineligible, match="past the source"):
        plan_pieces([(150, 201)], whole_gops())


def test_plan_smart_splits_at_copied_keyframes() -> None:
    plan = plan_smart(timeline([(37, 120), (150, 200)]), facts(), packets(200, 50), None)
    # B-pyramid: the copy of 50.. stops at 117, the last clean end before 120
    assert plan.pieces == (enc(37, 50), copy(50, 117), enc(117, 120), copy(150, 200))
    assert plan.boundaries == (50, 150)
    assert (plan.copied_frames, plan.encoded_frames, plan.total_frames) == (117, 16, 133)
    # 50..150 is one segment file, cut short after 67 frames
    assert plan.segments(copy(50, 117)) == [(1, 67, True)]
    assert plan.segments(copy(150, 200)) == [(2, 50, False)]


def test_ranges_meeting_in_the_source_are_one() -> None:
    plan = plan_smart(timeline([(0, 60), (60, 100), (120, 160)]), facts(), packets(200, 50), None)
    assert plan.pieces == (copy(0, 100), enc(120, 150), copy(150, 159), enc(159, 160))
    assert plan.boundaries == (100, 150)
    assert plan.segments(copy(0, 100)) == [(0, 100, False)]


def test_a_copy_can_span_several_segments() -> None:
    plan = SmartPlan((copy(0, 100), copy(50, 130)), whole_gops(), (50, 100, 150), facts())
    assert plan.segments(copy(0, 100)) == [(0, 50, False), (1, 50, False)]
    assert plan.segments(copy(50, 130)) == [(1, 50, False), (2, 30, True)]


def test_plan_smart_reasons() -> None:
    with pytest.raises(Ineligible, match="changes the picture"):
        plan_smart(timeline([(0, 50)]), facts(), packets(200, 50), "the edit changes the picture")
    with pytest.raises(Ineligible, match="no kept range holds a whole GOP"):
        plan_smart(timeline([(10, 40), (60, 90)]), facts(), packets(200, 50), None)
    # only a copy of the first 2 frames of GOP 50 would be possible: within the decode delay
    with pytest.raises(Ineligible, match="no kept range holds a whole GOP"):
        plan_smart(timeline([(10, 40), (45, 52)]), facts(), packets(200, 50), None)
    with pytest.raises(Ineligible, match="Baseline"):
        plan_smart(timeline([(0, 50)]), facts(profile="Baseline"), packets(200, 50), None)


# --- commands ---------------------------------------------------------------------------------


def test_encoder_matches_the_source() -> None:
    args = encoder_args(
        facts(color_range="tv", color_space="bt709", color_transfer="unknown"),
        2,
        RenderOptions(),
        1,
    )
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert pairs["-c:v"] == "libx264"
    assert pairs["-profile:v"] == "high"
    assert pairs["-level:v"] == "3.1"
    assert pairs["-pix_fmt"] == "yuv420p"
    assert pairs["-color_range"] == "tv"
    assert pairs["-colorspace"] == "bt709"
    assert "-color_trc" not in pairs
    # High: no B-frames whatever the source's delay (the join sets the decode times)
    assert pairs["-x264-params"] == "sps-id=1:bframes=0:8x8dct=1"
    assert pairs["-video_track_timescale"] == "12800"
    assert pairs["-crf"] == str(edge_crf(RenderOptions())) == "18"
    assert pairs["-preset"] == "ultrafast"  # two presets faster than the default veryfast
    assert "bframes=0" in encoder_args(facts(), 0, RenderOptions(), 1)[-3]
    # The tools that keep x264's SPS at the source's profile, and no more: Main without
    # B-frames needs CABAC, with them not.
    main = encoder_args(facts(profile="Main"), 0, RenderOptions(), 1)
    assert dict(zip(main[::2], main[1::2], strict=True))["-x264-params"] == (
        "sps-id=1:bframes=0:cabac=1"
    )
    main_b = encoder_args(facts(profile="Main"), 1, RenderOptions(), 1)
    assert dict(zip(main_b[::2], main_b[1::2], strict=True))["-x264-params"] == (
        "sps-id=1:bframes=1:b-pyramid=none"
    )
    main_pyramid = encoder_args(facts(profile="Main"), 2, RenderOptions(), 1)
    assert dict(zip(main_pyramid[::2], main_pyramid[1::2], strict=True))["-x264-params"] == (
        "sps-id=1:bframes=3:b-pyramid=normal"
    )
    base = encoder_args(facts(profile="Constrained Baseline"), 0, RenderOptions(), 1)
    assert dict(zip(base[::2], base[1::2], strict=True))["-x264-params"] == "sps-id=1:bframes=0"
    with pytest.raises(Ineligible):
        encoder_args(facts(), 3, RenderOptions(), 1)


def test_edges_are_encoded_faster_and_finer_than_the_render() -> None:
    # The ladder is the options' own list of presets, slowest last.
    assert get_args(RenderOptions.model_fields["preset"].annotation) == X264_PRESETS
    assert [edge_preset(RenderOptions(preset=p)) for p in ("ultrafast", "veryfast", "slower")] == [
        "ultrafast",
        "ultrafast",
        "medium",
    ]
    assert edge_crf(RenderOptions(crf=20)) == 18
    assert edge_crf(RenderOptions(crf=11)) == 10  # the floor
    assert edge_crf(RenderOptions(crf=4)) == 4  # under the floor: the render's own


def test_edges_are_read_from_their_keyframes() -> None:
    plan = plan_smart(
        timeline([(37, 120), (130, 140), (150, 200)]), facts(), packets(200, 50), None
    )
    assert edge_frames(plan) == [(37, 50), (117, 120), (130, 140)]
    assert edge_starts([end - start for start, end in edge_frames(plan)]) == [0, 13, 16]
    # 117..120 and 130..140 share GOP 100: one read decodes it once
    assert edge_reads(plan) == [EdgeRead(0, ((37, 50),)), EdgeRead(100, ((117, 120), (130, 140)))]


def test_a_read_takes_the_next_piece_only_when_its_gop_is_not_past_the_reads_end() -> None:
    # the tail 117..120 and the head 140..150: GOP 100 holds both
    plan = plan_smart(timeline([(50, 120), (140, 200)]), facts(), packets(250, 50), None)
    assert edge_reads(plan) == [EdgeRead(100, ((117, 120), (140, 150)))]
    # the head 190..200 is in GOP 150, after the tail's read ends at 120: its own read
    plan = plan_smart(timeline([(50, 120), (190, 250)]), facts(), packets(250, 50), None)
    assert edge_reads(plan) == [EdgeRead(100, ((117, 120),)), EdgeRead(150, ((190, 200),))]
    # pieces running on to (or across) the next keyframe: the next GOP's piece continues
    plan = plan_smart(timeline([(40, 53), (58, 100), (110, 250)]), facts(), packets(250, 50), None)
    assert edge_frames(plan) == [(40, 53), (58, 100), (110, 150)]
    assert edge_reads(plan) == [EdgeRead(0, ((40, 53), (58, 100), (110, 150)))]


def test_reads_are_shared_out_in_even_runs() -> None:
    ranges = [(10 + 50 * n, 40 + 50 * n) for n in range(7)] + [(350, 400)]
    plan = plan_smart(timeline(ranges), facts(), packets(400, 50), None)
    assert len(edge_reads(plan)) == 7
    runs = edge_runs(plan, max_inputs=3)
    assert [len(r.reads) for r in runs] == [2, 2, 3]
    # Each range is re-encoded whole, one after the other in the edit: one file a run.
    assert [r.files for r in runs] == [(2,), (2,), (3,)]
    assert [r.first for r in runs] == [0, 1, 2]
    assert [r.reads for r in runs] == [
        tuple(edge_reads(plan)[0:2]),
        tuple(edge_reads(plan)[2:4]),
        tuple(edge_reads(plan)[4:7]),
    ]
    assert sum(r.frames for r in runs) == plan.encoded_frames
    assert edge_runs(plan) == [EdgeRun(0, tuple(edge_reads(plan)), (7,))]
    only_copies = plan_smart(timeline([(50, 100)]), facts(), packets(200, 50), None)
    assert edge_runs(only_copies) == []


def test_fewer_inputs_a_run_on_larger_frames() -> None:
    assert edge_inputs_per_run(facts()) == 16  # 1280x720
    assert edge_inputs_per_run(facts(width=1920, height=1080)) == 13
    assert edge_inputs_per_run(facts(width=3840, height=2160)) == 3
    assert edge_inputs_per_run(facts(width=16384, height=16384)) == 1
    ranges = [(10 + 50 * n, 40 + 50 * n) for n in range(7)] + [(350, 400)]
    plan = plan_smart(timeline(ranges), facts(), packets(400, 50), None)
    uhd = SmartPlan(plan.pieces, plan.structure, plan.boundaries, facts(width=3840, height=2160))
    assert [len(r.reads) for r in edge_runs(uhd)] == [2, 2, 3]


def test_runs_at_once_share_the_decoders_budget_and_the_reads() -> None:
    assert [edge_runs_at_once(cpus) for cpus in (None, 1, 2, 3, 4, 16)] == [1, 1, 2, 3, 4, 4]
    # Two runs at once: each gets half the decoders' memory.
    assert edge_inputs_per_run(facts(), at_once=2) == 14  # 720p: 16 alone
    assert edge_inputs_per_run(facts(width=1920, height=1080), at_once=2) == 6
    assert edge_inputs_per_run(facts(width=3840, height=2160), at_once=2) == 1
    ranges = [(10 + 50 * n, 40 + 50 * n) for n in range(7)] + [(350, 400)]
    plan = plan_smart(timeline(ranges), facts(), packets(400, 50), None)
    # 7 reads fit one run, but each core gets a run of its own.
    assert [len(r.reads) for r in edge_runs(plan, at_once=2)] == [3, 4]
    assert [len(r.reads) for r in edge_runs(plan, at_once=4)] == [1, 2, 2, 2]
    assert [r.first for r in edge_runs(plan, at_once=4)] == [0, 1, 2, 3]
    # Three runs of at most 3 inputs would leave a core idle for the third: four, as even.
    assert [len(r.reads) for r in edge_runs(plan, max_inputs=3, at_once=2)] == [1, 2, 2, 2]
    assert [len(r.reads) for r in edge_runs(plan, max_inputs=3)] == [2, 2, 3]
    # Never more runs than reads.
    one = plan_smart(timeline([(37, 100)]), facts(), packets(200, 50), None)
    assert len(edge_runs(one, at_once=4)) == 1


def test_each_input_decodes_on_the_threads_it_is_given(tmp_path: Path) -> None:
    plan = plan_smart(timeline([(37, 120)]), facts(), packets(200, 50), None)
    encoder = encoder_args(plan.facts, plan.structure.delay, RenderOptions(), 1)
    (run,) = edge_runs(plan)
    args = edge_encode_args(run, tmp_path / "s.mp4", FPS, encoder, tmp_path / "e.mp4", 1, 1)
    at = args.index("-noaccurate_seek")
    assert args[at - 2 : at] == ["-threads", "1"]
    encoder_at = args.index("libx264") - 1
    assert args[encoder_at - 2 : encoder_at] == ["-threads", "1"]


def test_edges_are_one_x264_stream_split_at_each_file(tmp_path: Path) -> None:
    plan = plan_smart(
        timeline([(37, 120), (130, 140), (150, 200)]), facts(), packets(200, 50), None
    )
    encoder = encoder_args(plan.facts, plan.structure.delay, RenderOptions(), 1)
    (run,) = edge_runs(plan)
    source = tmp_path / "s.mp4"
    args = edge_encode_args(run, source, FPS, encoder, tmp_path / "e%05d.mp4", 2)
    # the source's own timestamps; each input confined by the allowlist, decoded on 2 threads,
    # seeked half a frame past its keyframe (the demuxer lands on it) by the frame's own time,
    # no accurate-seek trim
    assert args[0] == "-copyts"
    inputs = [i for i, arg in enumerate(args) if arg == "-i"]
    assert len(inputs) == 2
    for i, seek in zip(inputs, ("0.020000", "4.020000"), strict=True):
        assert args[i - 11 : i + 2] == [
            *restrict(RECORDING_DEMUXERS),
            "-threads", "2", "-noaccurate_seek", "-seek_timestamp", "1", "-ss", seek,
            "-i", str(source),
        ]  # fmt: skip
    # each read's frames picked as the full render picks them, on the source's frame index
    graph = args[args.index("-filter_complex") + 1].split(";")
    assert graph[0] == "[0:v:0]fps=fps=25/1,trim=start_pts=37:end_pts=50,setpts=N[r0]"
    assert graph[1].startswith("[1:v:0]fps=fps=25/1,trim=start_pts=117:end_pts=140,select=")
    assert "between(pts,117,119)" in graph[1]
    assert "between(pts,130,139)" in graph[1]
    assert graph[1].endswith(",setpts=N[r1]")
    assert graph[2] == "[r0][r1]concat=n=2:v=1:a=0,settb=expr=1/25,setpts=N[edges]"
    assert args[args.index("-map") + 1] == "[edges]"
    # The tail 117..120 and the head 130..140 follow each other in the edit: one file (no IDR
    # between them); an IDR and a new file where the head 37..50 ends.
    assert run.file_frames == [13, 3 + 10]
    assert args[args.index("-force_key_frames") + 1] == "0.510000"
    assert args[args.index("-forced-idr") + 1] == "1"
    assert args[args.index("-segment_frames") + 1] == "13"
    assert args[args.index("-segment_start_number") + 1] == "0"
    assert "-segment_time" not in args
    # the encoder's threads: after the map, before the encoder's options
    encoder_at = args.index("libx264") - 1
    assert args[encoder_at - 2 : encoder_at] == ["-threads", "2"]
    assert args[-1] == str(tmp_path / "e%05d.mp4")


def test_pieces_share_a_file_only_when_they_follow_each_other_in_one_run() -> None:
    # 37..50 | copy 50..117 | 117..120, 130..140 | copy 150..209 | 209..210, 260..300
    ranges = [(37, 120), (130, 140), (150, 210), (260, 300)]
    plan = plan_smart(timeline(ranges), facts(), packets(300, 50), None)
    assert edge_frames(plan) == [(37, 50), (117, 120), (130, 140), (209, 210), (260, 300)]
    (whole,) = edge_runs(plan)
    assert whole.files == (1, 2, 2)
    assert whole.file_frames == [13, 13, 41]
    # One read a run: 209..210 (GOP 200) and 260..300 (GOP 250) follow each other in the edit
    # but go to runs of their own, each with its own file.
    runs = edge_runs(plan, max_inputs=1)
    assert [r.pieces for r in runs] == [
        [(37, 50)], [(117, 120), (130, 140)], [(209, 210)], [(260, 300)],
    ]  # fmt: skip
    assert [r.files for r in runs] == [(1,), (2,), (1,), (1,)]
    assert [r.first for r in runs] == [0, 1, 2, 3]


def test_later_runs_number_their_pieces_on(tmp_path: Path) -> None:
    ranges = [(10 + 50 * n, 40 + 50 * n) for n in range(3)] + [(150, 200)]
    plan = plan_smart(timeline(ranges), facts(), packets(200, 50), None)
    encoder = encoder_args(plan.facts, plan.structure.delay, RenderOptions(), 1)
    runs = edge_runs(plan, max_inputs=2)
    args = edge_encode_args(runs[1], tmp_path / "s.mp4", FPS, encoder, tmp_path / "e%05d.mp4")
    assert runs[1].first == 1
    assert args[args.index("-segment_start_number") + 1] == "1"
    assert args.count("-i") == 2
    assert [args[i + 1] for i, a in enumerate(args) if a == "-ss"] == ["2.020000", "4.020000"]


def test_one_edge_is_never_split(tmp_path: Path) -> None:
    plan = plan_smart(timeline([(37, 100)]), facts(), packets(200, 50), None)
    encoder = encoder_args(plan.facts, plan.structure.delay, RenderOptions(), 1)
    (run,) = edge_runs(plan)
    args = edge_encode_args(run, tmp_path / "s.mp4", FPS, encoder, tmp_path / "e%05d.mp4")
    assert args[args.index("-filter_complex") + 1] == (
        "[0:v:0]fps=fps=25/1,trim=start_pts=37:end_pts=50,setpts=N[edges]"
    )
    assert "-force_key_frames" not in args
    assert "-segment_frames" not in args
    assert "-segment_time" in args


def test_ntsc_edges_are_seeked_and_numbered_on_their_own_grid(tmp_path: Path) -> None:
    ntsc = Fraction(30000, 1001)
    reads = (EdgeRead(0, ((10, 20),)), EdgeRead(60, ((70, 80),)))
    args = edge_encode_args(EdgeRun(0, reads), tmp_path / "s.mp4", ntsc, [], tmp_path / "e.mp4")
    # 60.5 frames of 1001/30000 s: 2.0186833 s
    assert [args[i + 1] for i, a in enumerate(args) if a == "-ss"] == ["0.016683", "2.018683"]
    graph = args[args.index("-filter_complex") + 1]
    assert "fps=fps=30000/1001" in graph
    assert graph.endswith("settb=expr=1001/30000,setpts=N[edges]")


def test_clips_going_back_in_the_source_are_refused() -> None:
    with pytest.raises(Ineligible, match="again"):
        plan_smart(timeline([(0, 100), (80, 150)]), facts(), packets(200, 50), None)


def test_pieces_and_sound_are_joined_in_one_pass(tmp_path: Path) -> None:
    plan = plan_smart(timeline([(37, 120)]), facts(), packets(200, 50), None)
    listing, sound, out = tmp_path / "p.ffconcat", tmp_path / "a.m4a", tmp_path / "o.mp4"
    args = join_args(plan, FPS, listing, sound, out)
    # our list, read by the concat demuxer opening only MP4 and local files; our sound
    assert args[args.index("-i") + 1] == str(listing)
    assert args[args.index("-f") + 1] == "concat"
    assert args[args.index("-safe") + 1] == "1"
    assert args[args.index("-format_whitelist") + 1] == "concat,mov,mp4,m4a,3gp,3g2,mj2"
    second = args.index("-i", args.index("-i") + 1)
    assert args[second + 1] == str(sound)
    assert args[second - 4 : second] == [
        "-protocol_whitelist", "file", "-format_whitelist", "mov,mp4,m4a,3gp,3g2,mj2",
    ]  # fmt: skip
    # the video copied with its decode times in one rhythm on the source's time base
    assert args[args.index("-c") + 1] == "copy"
    assert args[args.index("-bsf:v") + 1] == "setts=pts=PTS:dts=(N-2)*512"
    assert args[args.index("-video_track_timescale") + 1] == "12800"
    assert args[second + 2 : second + 6] == ["-map", "0:v:0", "-map", "1:a:0"]
    assert "+faststart" in args
    assert args[-3:] == ["-f", "mp4", str(out)]


def test_concat_list_durations_do_not_drift() -> None:
    fps = Fraction(30000, 1001)
    files = [(f"p{i}.mp4", 7, False) for i in range(300)]
    text = concat_list(files, fps)
    durations = [int(line.split()[1][:-2]) for line in text.splitlines() if line.startswith("dur")]
    assert text.startswith("ffconcat version 1.0\nfile 'p0.mp4'\n")
    exact = Fraction(7 * 300) / fps * 1_000_000
    assert abs(sum(durations) - exact) <= Fraction(1, 2)
    with pytest.raises(ValueError, match="unexpected piece name"):
        concat_list([("../x.mp4", 1, False)], fps)


def test_concat_list_cuts_a_file_short_by_decode_time() -> None:
    text = concat_list([("a.mp4", 10, True), ("b.mp4", 5, False)], FPS, delay=2)
    # 10 frames used; decode times start 2 frames early: stop before dts of packet 10 = 8 frames
    assert text.splitlines()[1:] == [
        "file 'a.mp4'", "duration 400000us", "outpoint 300000us",
        "file 'b.mp4'", "duration 200000us",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="decode delay"):
        concat_list([("a.mp4", 2, True)], FPS, delay=2)


def sound_plan(tmp_path: Path, **options: Any) -> SoundPlan:
    """The sound of a two-clip edit of tmp_path/source.mp4, as the smart render makes it."""
    return build_sound(
        timeline([(37, 120), (150, 200)]),
        tmp_path / "source.mp4",
        tmp_path / "sound.m4a",
        RenderOptions(),
        source_has_audio=True,
        **options,
    )


def test_a_mono_recordings_sound_is_made_and_encoded_mono(tmp_path: Path) -> None:
    plan = sound_plan(tmp_path, source_channels=1)
    assert plan.make.audio is not None
    assert plan.make.audio.channels == 1
    assert plan.make.args[-7:] == ["-f", "f32le", "-ar", "48000", "-ac", "1", "pipe:1"]
    assert "channel_layouts=mono" in plan.make.filtergraph
    encode = plan.encode_args
    at = encode.index("pipe:0")
    assert encode[at - 7 : at - 1] == ["-f", "f32le", "-ar", "48000", "-ac", "1"]
    assert encode[encode.index("-ac", at) + 1] == "1"


def test_sound_is_made_like_the_full_renders(tmp_path: Path) -> None:
    plan = sound_plan(tmp_path, loudness=Normalisation(-16.0, -1.5, -25.0, -6.0), threads=2)
    # Made in one process: raw PCM on stdin (nothing else read), filtered, raw PCM on stdout.
    make = plan.make.args
    assert make[:2] == ["-filter_complex_threads", "2"]
    assert make[make.index("-i") + 1] == "pipe:0"
    assert make.count("-i") == 1
    assert make[-7:] == ["-f", "f32le", "-ar", "48000", "-ac", "2", "pipe:1"]
    assert "-c:a" not in make
    assert "-c:v" not in make
    assert "volume=9.00dB:precision=float,aresample=192000,alimiter" in plan.make.filtergraph
    assert plan.make.audio is not None
    assert plan.make.audio.source == tmp_path / "source.mp4"
    assert plan.make.expected_duration == pytest.approx(133 / 25)
    # Encoded in another: that PCM from stdin (confined to it), AAC as the full render's.
    encode = plan.encode_args
    assert encode[encode.index("-i") + 1] == "pipe:0"
    assert encode.count("-i") == 1
    assert encode[encode.index("-format_whitelist") + 1] == "f32le"
    assert encode[encode.index("-protocol_whitelist") + 1] == "pipe"
    assert encode[encode.index("-c:a") + 1] == "aac"
    assert encode[encode.index("-b:a") + 1] == "160k"
    assert encode[-3:] == ["-f", "mp4", str(tmp_path / "sound.m4a")]
    assert not set(CONCAT_DEMUXERS) & set(RECORDING_DEMUXERS)


def test_sound_without_source_audio_is_silence(tmp_path: Path) -> None:
    plan = build_sound(
        timeline([(0, 50)]),
        tmp_path / "s.mp4",
        tmp_path / "o.m4a",
        RenderOptions(),
        source_has_audio=False,
    )
    assert plan.make.audio is None
    assert "anullsrc" in plan.make.filtergraph
    assert "atrim=end=2.000000" in plan.make.filtergraph
    assert "-i" not in plan.make.args


# --- avcC -------------------------------------------------------------------------------------

# SPS id 0 (High, level 3.1) and PPS id 0, as x264 writes them; then the same under id 1.
SPS0 = bytes.fromhex("6764001facd94050045b0110000003001000000303c0f18319")
PPS0 = bytes.fromhex("68ebe3cb22c0")


def config(sps: Sequence[bytes], pps: Sequence[bytes]) -> mp4.AvcConfig:
    return mp4.AvcConfig(100, 0, 31, 4, tuple(sps), tuple(pps), b"\xfd\xf8\xf8\x00")


def test_avcc_round_trip() -> None:
    original = config([SPS0], [PPS0])
    assert mp4.parse_avcc(original.to_bytes()) == original


def test_parameter_set_ids() -> None:
    assert mp4.sps_id(SPS0) == 0
    assert mp4.pps_id(PPS0) == 0
    # ue(v) of 1 is '010': after the 24 bits of profile, flags and level.
    sps1 = SPS0[:4] + bytes([0b01000000 | (SPS0[4] >> 3)]) + SPS0[5:]
    assert mp4.sps_id(sps1) == 1
    assert mp4.pps_id(b"\x68\x40") == 1
    assert mp4.free_parameter_set_id(config([SPS0], [PPS0])) == 1
    assert mp4.free_parameter_set_id(config([sps1], [b"\x68\x40"])) == 2


def test_merge_adds_each_set_once_and_refuses_id_clashes() -> None:
    pps1 = b"\x68\x40\x10"
    merged = mp4.merged(config([SPS0], [PPS0]), [config([SPS0], [pps1]), config([], [pps1])])
    assert merged.sps == (SPS0,)
    assert merged.pps == (PPS0, pps1)
    with pytest.raises(mp4.Mp4Error, match="share an id"):
        mp4.merged(config([SPS0], [PPS0]), [config([], [PPS0 + b"\x01"])])
    other = mp4.AvcConfig(100, 0, 31, 2, (), ())
    with pytest.raises(mp4.Mp4Error, match="length"):
        mp4.merged(config([SPS0], [PPS0]), [other])


def _box(kind: bytes, payload: bytes) -> bytes:
    return (len(payload) + 8).to_bytes(4, "big") + kind + payload


def _file(avcc: bytes, *, moov_last: bool = True) -> bytes:
    entry = bytes(78) + _box(b"avcC", avcc) + _box(b"pasp", bytes(8))
    stsd = _box(b"stsd", bytes(4) + (1).to_bytes(4, "big") + _box(b"avc1", entry))
    stbl = _box(b"stbl", stsd + _box(b"stco", bytes(8)))
    trak = _box(b"trak", _box(b"tkhd", bytes(4)) + _box(b"mdia", _box(b"minf", stbl)))
    moov = _box(b"moov", _box(b"mvhd", bytes(4)) + trak)
    mdat = _box(b"mdat", b"samples")
    head = _box(b"ftyp", b"isom")
    return head + mdat + moov if moov_last else head + moov + mdat


def test_avcc_is_replaced_and_every_box_resized() -> None:
    first = config([SPS0], [PPS0])
    data = _file(first.to_bytes())
    assert mp4.read_avcc(data) == first
    bigger = mp4.merged(first, [config([], [b"\x68\x40\x10"])])
    out = mp4.with_avcc(data, bigger)
    assert mp4.read_avcc(out) == bigger
    assert len(out) == len(data) + 5
    assert out[: data.index(b"moov") - 4] == data[: data.index(b"moov") - 4]  # samples untouched
    # only the moov alone, as the shell hands it over
    moov_at = data.index(b"moov") - 4
    assert mp4.read_avcc(mp4.with_avcc(data[moov_at:], bigger)) == bigger


def test_avcc_rewrite_needs_moov_last_and_an_avcc() -> None:
    with pytest.raises(mp4.Mp4Error, match="last box"):
        mp4.with_avcc(_file(config([SPS0], [PPS0]).to_bytes(), moov_last=False), config([], []))
    with pytest.raises(mp4.Mp4Error, match="no avc1"):
        mp4.read_avcc(_box(b"moov", _box(b"mvhd", bytes(4))))
    with pytest.raises(mp4.Mp4Error):
        mp4.parse_avcc(b"\x00\x01")
    with pytest.raises(mp4.Mp4Error, match="overruns"):
        mp4.read_avcc(b"\x00\x00\x00\x40moov")
