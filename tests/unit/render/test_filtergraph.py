"""The render's ffmpeg invocation, built without running ffmpeg."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pytest

from talkavocado_common.models import (
    FrameRate,
    LogoOptions,
    RenderOptions,
    Timeline,
    TimelineClip,
)
from talkavocado_render.core.filtergraph import (
    FiltergraphError,
    LogoInput,
    MediaFacts,
    RenderPlan,
    build_render,
    clip_spans,
    escape_filter_value,
    logo_geometry,
    preview_size,
)

SOURCE, OUT = Path("/work/in.mp4"), Path("/work/final.mp4")


def timeline(
    ranges: list[tuple[int, int]],
    transitions: list[int] | None = None,
    *,
    rate: tuple[int, int] = (25, 1),
    size: tuple[int, int] = (1280, 720),
    has_audio: bool = True,
) -> Timeline:
    fps = Fraction(*rate)
    fades = transitions or [0] * len(ranges)
    clips, cursor = [], 0
    for (start, end), fade in zip(ranges, fades, strict=True):
        placed = cursor - fade
        clips.append(
            TimelineClip(
                source_start_frame=start,
                source_end_frame=end,
                source_start=float(start / fps),
                source_end=float(end / fps),
                timeline_start=float(placed / fps),
                transition_in_sec=float(fade / fps),
            )
        )
        cursor = placed + end - start
    return Timeline(
        source_key="e/t/j/input/in.mp4",
        frame_rate=FrameRate(num=rate[0], den=rate[1]),
        width=size[0],
        height=size[1],
        has_audio=has_audio,
        source_duration_sec=600,
        clips=clips,
        duration_sec=float(cursor / fps),
    )


def chains(plan: RenderPlan) -> list[str]:
    return plan.filtergraph.split(";\n")


def filters_named(plan: RenderPlan, name: str) -> list[str]:
    """Every filter called `name`, with its arguments (commas inside quotes kept)."""
    found = []
    for chain in chains(plan):
        body = re.sub(r"^(\[[^\]]+\])*|(\[[^\]]+\])*$", "", chain)
        for item in re.findall(r"(?:[^,']|'[^']*')+", body):
            if item.split("=", 1)[0] == name:
                found.append(item)
    return found


def assert_well_formed(plan: RenderPlan) -> None:
    """Every pad label is produced once and consumed once, except the mapped outputs."""
    produced: list[str] = []
    consumed: list[str] = []
    for chain in chains(plan):
        head = re.match(r"^((?:\[[^\]]+\])*)", chain)
        tail = re.search(r"((?:\[[^\]]+\])*)$", chain)
        assert head is not None
        assert tail is not None
        consumed += re.findall(r"\[([^\]]+)\]", head.group(1))
        produced += re.findall(r"\[([^\]]+)\]", tail.group(1))
    stream_inputs = [c for c in consumed if re.fullmatch(r"\d+:[va]:0", c)]
    internal = [c for c in consumed if c not in stream_inputs]
    mapped = [plan.args[i + 1].strip("[]") for i, a in enumerate(plan.args) if a == "-map"]
    assert len(produced) == len(set(produced))
    assert sorted(internal + mapped) == sorted(produced)
    inputs = plan.args.count("-i")
    assert {int(c.split(":")[0]) for c in stream_inputs} == set(range(inputs))


def test_hard_cuts_are_one_decode_branch_selecting_frames() -> None:
    tl = timeline([(0, 30), (50, 100), (110, 150)])

    plan = build_render(tl, SOURCE, OUT, RenderOptions())

    assert_well_formed(plan)
    first = chains(plan)[0]
    assert first.startswith("[0:v:0]fps=fps=25/1:start_time=0,tpad=stop=-1:stop_mode=clone")
    assert "split" not in first
    assert (
        "trim=start_pts=0:end_pts=150,"
        "select='between(pts,0,29)+between(pts,50,99)+between(pts,110,149)',setpts=N"
    ) in plan.filtergraph
    assert "xfade" not in plan.filtergraph
    assert "concat=n=3:v=0:a=1" in plan.filtergraph
    atrims = filters_named(plan, "atrim")
    assert atrims == [
        "atrim=start=0.000000:end=1.200000",
        "atrim=start=2.000000:end=4.000000",
        "atrim=start=4.400000:end=6.000000",
    ]
    assert "asplit=3" in plan.filtergraph
    assert plan.expected_duration == pytest.approx(120 / 25)
    assert plan.outputs == (OUT,)


def test_single_clip_needs_no_split_select_or_concat() -> None:
    plan = build_render(timeline([(10, 60)]), SOURCE, OUT, RenderOptions())

    assert_well_formed(plan)
    for absent in ("split", "select", "concat", "xfade", "acrossfade"):
        assert absent not in plan.filtergraph
    assert "trim=start_pts=10:end_pts=60,setpts=N" in plan.filtergraph
    assert plan.expected_duration == pytest.approx(2.0)


def test_crossfades_blend_two_lockstep_selects_at_each_clips_timeline_start() -> None:
    tl = timeline([(0, 30), (50, 100), (110, 150)], [0, 5, 5])

    plan = build_render(tl, SOURCE, OUT, RenderOptions())

    assert_well_formed(plan)
    graph = plan.filtergraph
    # Two decode branches whatever the number of clips: A without faded-in heads, B without
    # faded-out tails; both as long as the timeline.
    assert "split=2[" in graph
    assert "select='between(pts,0,29)+between(pts,55,99)+between(pts,115,149)'" in graph
    assert "select='between(pts,0,24)+between(pts,50,94)+between(pts,110,149)'" in graph
    starts = [clip.timeline_start for clip in tl.clips[1:]]
    assert starts == pytest.approx([1.0, 2.8])
    windows = ["between(t,0.980000,1.180000)", "between(t,2.780000,2.980000)"]
    assert filters_named(plan, "fade") == [
        f"fade=t=in:st={start:.6f}:d=0.200000:alpha=1:enable='{window}'"
        for start, window in zip(starts, windows, strict=True)
    ]
    assert re.search(
        rf"\[va\d+\]\[vb\d+\]overlay=x=0:y=0:eof_action=pass:enable='{re.escape('+'.join(windows))}'",
        graph,
    )
    assert "format=yuva420p,fade" in graph
    assert "xfade" not in graph
    assert filters_named(plan, "acrossfade") == ["acrossfade=d=0.200000:c1=qsin:c2=qsin"] * 2
    assert "concat" not in graph
    assert plan.expected_duration == pytest.approx(tl.duration_sec) == pytest.approx(4.4)


def test_mixed_joins_fade_only_where_asked() -> None:
    tl = timeline([(0, 30), (50, 100), (110, 150), (160, 200)], [0, 0, 5, 0])

    plan = build_render(tl, SOURCE, OUT, RenderOptions())

    assert_well_formed(plan)
    graph = plan.filtergraph
    assert "between(pts,0,29)+between(pts,50,99)+between(pts,115,149)+between(pts,160,199)" in graph
    assert "between(pts,0,29)+between(pts,50,94)+between(pts,110,149)+between(pts,160,199)" in graph
    assert tl.clips[2].timeline_start == pytest.approx(3.0)
    assert filters_named(plan, "fade") == [
        "fade=t=in:st=3.000000:d=0.200000:alpha=1:enable='between(t,2.980000,3.180000)'"
    ]
    # Audio: clips 0,1 concatenated, crossfade into 2, then concatenated with 3.
    assert re.search(r"\[ac\d+\]\[ac\d+\]concat=n=2:v=0:a=1", graph)
    assert re.search(r"\[aj\d+\]\[ac\d+\]acrossfade", graph)
    assert re.search(r"\[ax\d+\]\[ac\d+\]concat=n=2:v=0:a=1", graph)
    assert plan.expected_duration == pytest.approx(tl.duration_sec)


def test_overlapping_source_ranges_get_their_own_branch() -> None:
    tl = timeline([(0, 50), (40, 80)])

    plan = build_render(tl, SOURCE, OUT, RenderOptions())

    assert_well_formed(plan)
    assert "split=2" in plan.filtergraph
    assert "concat=n=2:v=1:a=0" in plan.filtergraph
    assert plan.expected_duration == pytest.approx(90 / 25)
    with pytest.raises(FiltergraphError, match="cannot cross-fade"):
        build_render(timeline([(0, 50), (40, 80)], [0, 5]), SOURCE, OUT, RenderOptions())


def test_ntsc_rates_stay_exact() -> None:
    tl = timeline([(0, 300), (600, 900)], [0, 6], rate=(30000, 1001))

    plan = build_render(tl, SOURCE, OUT, RenderOptions())

    assert "fps=fps=30000/1001:start_time=0" in plan.filtergraph
    assert plan.args[plan.args.index("-r") + 1] == "30000/1001"
    start = float(Fraction(294 * 1001, 30000))
    assert f"fade=t=in:st={start:.6f}:d={float(Fraction(6 * 1001, 30000)):.6f}" in plan.filtergraph
    assert plan.expected_duration == pytest.approx(float(Fraction(594 * 1001, 30000)))


def test_source_without_audio_gets_silence_of_the_timeline_length() -> None:
    tl = timeline([(0, 30), (50, 100)], has_audio=False)

    plan = build_render(tl, SOURCE, OUT, RenderOptions())

    assert_well_formed(plan)
    assert "0:a" not in plan.filtergraph
    assert "anullsrc=r=48000:cl=stereo,atrim=end=3.200000" in plan.filtergraph
    # The probe may know better than the timeline.
    plan = build_render(timeline([(0, 30)]), SOURCE, OUT, RenderOptions(), source_has_audio=False)
    assert "0:a" not in plan.filtergraph


def test_encoder_settings() -> None:
    options = RenderOptions(crf=23, preset="fast", audio_bitrate_kbps=128)

    plan = build_render(timeline([(0, 30)]), SOURCE, OUT, options)

    args = " ".join(plan.args[plan.args.index("-filter_complex") + 2 :])
    for expected in (
        "-c:v libx264",
        "-preset fast",
        "-crf 23",
        "-pix_fmt yuv420p",
        "-r 25/1",
        "-fps_mode cfr",
        "-c:a aac",
        "-b:a 128k",
        "-ar 48000",
        "-ac 2",
        "-movflags +faststart",
    ):
        assert expected in args
    assert args.endswith(f"-f mp4 {OUT}")
    assert plan.args[:2] == ["-i", str(SOURCE)]


def test_threads_size_the_filter_graph_and_every_encoder() -> None:
    options = RenderOptions(preview=True)

    plan = build_render(timeline([(0, 30)]), SOURCE, OUT, options, threads=2)

    assert plan.args[:4] == ["-filter_complex_threads", "2", "-i", str(SOURCE)]
    outputs = " ".join(plan.args).split(str(OUT))
    assert "-threads 2 -c:v libx264" in outputs[0]
    assert "-threads 2 -c:v libx264" in outputs[1]  # the preview's encoder too
    default = build_render(timeline([(0, 30)]), SOURCE, OUT, options)
    assert "-threads" not in default.args
    assert "-filter_complex_threads" not in default.args


def test_intro_and_outro_are_fitted_padded_retimed_and_joined() -> None:
    intro = MediaFacts(Path("/a/intro.mov"), 1920, 1080, Fraction(30), True, 2.5)
    outro = MediaFacts(Path("/a/outro.mp4"), 1080, 1920, Fraction(24000, 1001), False, 1.02)
    tl = timeline([(0, 100)], size=(640, 480))

    plan = build_render(tl, SOURCE, OUT, RenderOptions(), intro=intro, outro=outro)

    assert_well_formed(plan)
    assert plan.args[:6] == ["-i", str(SOURCE), "-i", str(intro.path), "-i", str(outro.path)]
    fit = (
        "fps=fps=25/1:start_time=0,"
        "scale=w=640:h=480:force_original_aspect_ratio=decrease:force_divisible_by=2,"
        "pad=w=640:h=480:x=(ow-iw)/2:y=(oh-ih)/2:color=black,setsar=1,format=yuv420p,"
        "tpad=stop=-1:stop_mode=clone,trim=end_pts={frames},setpts=N"
    )
    assert f"[1:v:0]setpts=PTS-STARTPTS,{fit.format(frames=62)}" in plan.filtergraph
    assert f"[2:v:0]setpts=PTS-STARTPTS,{fit.format(frames=26)}" in plan.filtergraph
    assert "[1:a:0]aresample=48000:async=1:first_pts=0" in plan.filtergraph
    assert "apad,atrim=end=2.480000" in plan.filtergraph
    # The outro has no audio: silence of its length instead.
    assert "anullsrc=r=48000:cl=stereo,atrim=end=1.040000" in plan.filtergraph
    joined = re.search(
        r"\[vintro\d+\]\[aintro\d+\]\[vsq\d+\]\[a\w+\d+\]\[voutro\d+\]\[aoutro\d+\]"
        r"concat=n=3:v=1:a=1",
        plan.filtergraph,
    )
    assert joined
    assert plan.expected_duration == pytest.approx(2.48 + 4.0 + 1.04)


def test_logo_is_scaled_placed_and_faded_over_the_main_part() -> None:
    logo = LogoInput(
        Path("/a/logo.png"),
        LogoOptions(asset="logo.png", position="bottom-left", opacity=0.5, scale=0.1, margin=0.02),
    )
    intro = MediaFacts(Path("/a/intro.mp4"), 640, 360, Fraction(25), True, 1.0)

    plan = build_render(timeline([(0, 100)]), SOURCE, OUT, RenderOptions(), logo=logo, intro=intro)

    assert_well_formed(plan)
    assert "[1:v:0]format=rgba,scale=w=128:h=-1,colorchannelmixer=aa=0.500" in plan.filtergraph
    overlay = re.search(
        r"\[(v\w+)\]\[logo\d+\]overlay=x=26:y=main_h-overlay_h-26:eof_action=repeat\[(\w+)\]",
        plan.filtergraph,
    )
    assert overlay
    # Over the main part only: the overlaid stream is what joins the intro.
    assert f"[{overlay.group(2)}]setsar=1" in plan.filtergraph


@pytest.mark.parametrize(
    ("position", "x", "y"),
    [
        ("top-left", "19", "19"),
        ("top-right", "main_w-overlay_w-19", "19"),
        ("bottom-left", "19", "main_h-overlay_h-19"),
        ("bottom-right", "main_w-overlay_w-19", "main_h-overlay_h-19"),
    ],
)
def test_logo_corners(position: str, x: str, y: str) -> None:
    options = LogoOptions.model_validate({"asset": "l.png", "position": position})
    assert logo_geometry(options, 640, 360) == (96, x, y)


def test_subtitles_burn_into_the_main_part_after_the_logo() -> None:
    logo = LogoInput(Path("/a/logo.png"), LogoOptions(asset="logo.png"))
    outro = MediaFacts(Path("/a/outro.mp4"), 640, 360, Fraction(25), True, 1.0)
    srt = Path("/work/job/final.srt")

    plan = build_render(
        timeline([(0, 50), (60, 100)]), SOURCE, OUT, RenderOptions(),
        logo=logo, outro=outro, subtitles=srt,
    )  # fmt: skip

    assert_well_formed(plan)
    graph = plan.filtergraph
    subs = re.search(r"\[(vlogo\d+)\]subtitles=filename=/work/job/final\.srt\[(vsub\d+)\]", graph)
    assert subs
    assert f"[{subs.group(2)}]setsar=1" in graph
    assert graph.index("overlay=") < graph.index("subtitles=") < graph.index("concat=n=2:v=1:a=1")


def test_filter_values_are_escaped_at_both_levels() -> None:
    # The example of ffmpeg-filters "Notes on filtergraph escaping".
    text = "this is a 'string': may contain one, or more, special characters"
    assert escape_filter_value(text) == (
        r"this is a \\\'string\\\'\\: may contain one\, or more\, special characters"
    )
    assert escape_filter_value(r"C:\subs [1];x.srt") == r"C\\:\\\\subs \[1\]\;x.srt"
    plan = build_render(
        timeline([(0, 50)]), SOURCE, OUT, RenderOptions(), subtitles=Path("/w/a'b:c,d.srt")
    )
    assert r"subtitles=filename=/w/a\\\'b\\:c\,d.srt" in plan.filtergraph


def test_preview_is_a_second_output_of_the_same_graph() -> None:
    tl = timeline([(0, 50), (60, 100)], size=(1920, 1080))
    options = RenderOptions(preview=True, crf=20, audio_bitrate_kbps=160)

    plan = build_render(tl, SOURCE, OUT, options)

    assert_well_formed(plan)
    assert plan.args.count("-i") == 1
    preview = OUT.with_name("preview.mp4")
    assert plan.outputs == (OUT, preview)
    assert re.search(r"format=yuv420p,split=2\[vout\d+\]\[vp2s\d+\]", plan.filtergraph)
    assert re.search(r"\[vp2s\d+\]scale=w=640:h=360\[vprev\d+\]", plan.filtergraph)
    assert re.search(r"asplit=2\[aout\d+\]\[aprev\d+\]", plan.filtergraph)
    preview_args = plan.args[plan.args.index(str(OUT)) + 1 :]
    assert preview_args[-1] == str(preview)
    assert " ".join(preview_args).count("-movflags +faststart") == 1
    assert preview_args[preview_args.index("-crf") + 1] == "26"
    assert preview_args[preview_args.index("-b:a") + 1] == "96k"
    explicit = build_render(tl, SOURCE, OUT, options, preview_output=Path("/x/p.mp4"))
    assert explicit.outputs == (OUT, Path("/x/p.mp4"))
    assert ",split" not in build_render(tl, SOURCE, OUT, RenderOptions()).filtergraph


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1920, 1080), (640, 360)), ((320, 240), (320, 240)), ((720, 1280), (202, 360)),
     ((1440, 1080), (480, 360)), ((853, 480), (640, 360))],
)  # fmt: skip
def test_preview_size(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert preview_size(*size) == expected


def test_filtergraph_script_replaces_the_inline_graph() -> None:
    script = Path("/work/render.filtergraph")
    plan = build_render(
        timeline([(0, 50)]), SOURCE, OUT, RenderOptions(), filtergraph_script=script
    )
    assert plan.args[plan.args.index("-filter_complex_script") + 1] == str(script)
    assert "-filter_complex" not in plan.args
    assert plan.filtergraph not in plan.args


def test_clip_spans_are_whole_frames_on_the_timeline() -> None:
    spans = clip_spans(timeline([(0, 30), (50, 100), (110, 150)], [0, 5, 4]))
    assert [(s.timeline_start_frame, s.frames, s.transition_frames) for s in spans] == [
        (0, 30, 0),
        (25, 50, 5),
        (71, 40, 4),
    ]


def _broken(**changes: object) -> Timeline:
    tl = timeline([(0, 30), (50, 100)], [0, 5])
    clips = [tl.clips[0], tl.clips[1].model_copy(update=changes)]
    return tl.model_copy(update={"clips": clips})


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (_broken(source_start_frame=100), "is empty"),
        (_broken(transition_in_sec=0.21), "not whole frames"),
        (_broken(transition_in_sec=2.0, timeline_start=-0.8), "longer than its neighbours"),
        (_broken(timeline_start=1.5), "timeline_start"),
        (
            timeline([(50, 100), (0, 30)]),
            "starts before clip 0",
        ),
        (timeline([(0, 30)]).model_copy(update={"duration_sec": 2.0}), "timeline duration"),
        (
            timeline([(0, 30)]).model_copy(
                update={
                    "clips": [
                        timeline([(0, 30)]).clips[0].model_copy(update={"transition_in_sec": 0.2})
                    ]
                }
            ),
            "first clip",
        ),
    ],
)
def test_timelines_the_render_cannot_honour_are_refused(bad: Timeline, message: str) -> None:
    with pytest.raises(FiltergraphError, match=message):
        build_render(bad, SOURCE, OUT, RenderOptions())


def test_bumper_without_duration_is_refused() -> None:
    intro = MediaFacts(Path("/a/intro.mp4"), 640, 360, None, True, 0.0)
    with pytest.raises(FiltergraphError, match="no duration"):
        build_render(timeline([(0, 30)]), SOURCE, OUT, RenderOptions(), intro=intro)
