"""The render's ffmpeg invocation, built without running ffmpeg."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import pytest

from talkavocado_common.media.allowlist import LOGO_DEMUXERS, RECORDING_DEMUXERS, restrict
from talkavocado_common.models import (
    FrameRate,
    LogoOptions,
    RenderOptions,
    Timeline,
    TimelineClip,
)
from talkavocado_render.core.audio_edit import AudioPiece, sound_channels
from talkavocado_render.core.filtergraph import (
    AUDIO_FORMAT,
    FiltergraphError,
    LogoInput,
    MediaFacts,
    RenderPlan,
    aac_args,
    build_render,
    clip_spans,
    escape_filter_value,
    logo_geometry,
    preview_size,
)
from talkavocado_render.core.loudness import Normalisation

SOURCE, OUT = Path("/work/in.mp4"), Path("/work/final.mp4")
# The edited main-part sound, raw on ffmpeg's stdin: input 1 whenever the source has sound.
# Our own PCM: only the pipe and the f32le demuxer are allowed on it.
PCM_INPUT = [
    "-protocol_whitelist", "pipe", "-format_whitelist", "f32le",
    "-f", "f32le", "-ar", "48000", "-ac", "2", "-i", "pipe:0",
]  # fmt: skip


def file_input(path: Path, demuxers: Sequence[str] = RECORDING_DEMUXERS) -> list[str]:
    """A user file as an ffmpeg input, confined by the allowlist (its own unit tests pin it)."""
    return [*restrict(demuxers), "-i", str(path)]


SRC = file_input(SOURCE)
MAIN_AUDIO = f"[1:a:0]asetpts=N/SR/TB,{AUDIO_FORMAT}"
SAMPLES_PER_FRAME = 1920  # 48 kHz at 25 fps
FADE = 240  # 5 ms hard-cut fade


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


def chain_filters(chain: str) -> list[str]:
    """The filters of one chain, with their arguments (commas inside quotes kept)."""
    body = re.sub(r"^(\[[^\]]+\])*|(\[[^\]]+\])*$", "", chain)
    return list(re.findall(r"(?:[^,']|'[^']*')+", body))


def filter_names(chain: str) -> list[str]:
    return [item.split("=", 1)[0] for item in chain_filters(chain)]


def filters_named(plan: RenderPlan, name: str) -> list[str]:
    """Every filter called `name`, with its arguments."""
    return [f for chain in chains(plan) for f in chain_filters(chain) if f.split("=", 1)[0] == name]


def pieces_of(plan: RenderPlan) -> tuple[AudioPiece, ...]:
    assert plan.audio is not None
    assert plan.audio.source == SOURCE
    return plan.audio.pieces


def frames(*counts: int) -> list[int]:
    return [count * SAMPLES_PER_FRAME for count in counts]


def assert_main_audio_is_fed_not_cut(plan: RenderPlan) -> None:
    """The main part's sound comes in cut and faded on input 1; the graph only retimes it."""
    assert plan.args[len(SRC) : len(SRC) + len(PCM_INPUT)] == PCM_INPUT
    main = [c for c in chains(plan) if "1:a:0" in c]
    assert len(main) == 1
    assert re.fullmatch(rf"{re.escape(MAIN_AUDIO)}\[amain\d+\]", main[0]), main[0]
    assert "[0:a" not in plan.filtergraph
    for chain in chains(plan):
        names = filter_names(chain)
        assert "afade" not in names
        assert "acrossfade" not in names
        if "atrim" in names or "apad" in names:
            # Only the bumpers' own sound, or silence, is trimmed or padded in the graph.
            assert re.match(r"^\[[2-9]:a:0\]|^anullsrc", chain), chain
        if "asplit" in names:
            assert re.search(r"asplit=2\[aout\d+\]\[aprev\d+\]$", chain), chain


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
        "trim=start_pts=0:end_pts=150,select='if(lt(pts,50),between(pts,0,29),"
        "if(lt(pts,110),between(pts,50,99),between(pts,110,149)))',setpts=N"
    ) in plan.filtergraph
    assert "xfade" not in plan.filtergraph
    assert "concat" not in plan.filtergraph
    assert_main_audio_is_fed_not_cut(plan)
    pieces = pieces_of(plan)
    assert [p.source_start for p in pieces] == frames(0, 50, 110)
    assert [p.output_start for p in pieces] == frames(0, 30, 80)
    assert [p.length for p in pieces] == frames(30, 50, 40)
    assert [p.crossfade_in for p in pieces] == [0, 0, 0]
    assert pieces[-1].output_end == round(plan.expected_duration * 48_000)
    assert plan.expected_duration == pytest.approx(120 / 25)
    assert plan.outputs == (OUT,)


def test_single_clip_needs_no_split_select_or_concat() -> None:
    plan = build_render(timeline([(10, 60)]), SOURCE, OUT, RenderOptions())

    assert_well_formed(plan)
    for absent in ("split", "select", "concat", "xfade", "acrossfade"):
        assert absent not in plan.filtergraph
    assert "trim=start_pts=10:end_pts=60,setpts=N" in plan.filtergraph
    assert_main_audio_is_fed_not_cut(plan)
    assert pieces_of(plan) == (AudioPiece(10 * 1920, 0, 50 * 1920, 0, FADE, FADE),)
    assert plan.expected_duration == pytest.approx(2.0)


def test_crossfades_blend_two_lockstep_selects_at_each_clips_timeline_start() -> None:
    tl = timeline([(0, 30), (50, 100), (110, 150)], [0, 5, 5])

    plan = build_render(tl, SOURCE, OUT, RenderOptions())

    assert_well_formed(plan)
    graph = plan.filtergraph
    # Two decode branches whatever the number of clips: A without faded-in heads, B without
    # faded-out tails; both as long as the timeline.
    assert "split=2[" in graph
    assert (
        "select='if(lt(pts,55),between(pts,0,29),"
        "if(lt(pts,115),between(pts,55,99),between(pts,115,149)))'"
    ) in graph
    assert (
        "select='if(lt(pts,50),between(pts,0,24),"
        "if(lt(pts,110),between(pts,50,94),between(pts,110,149)))'"
    ) in graph
    starts = [clip.timeline_start for clip in tl.clips[1:]]
    assert starts == pytest.approx([1.0, 2.8])
    windows = ["between(t,0.980000,1.180000)", "between(t,2.780000,2.980000)"]
    assert filters_named(plan, "fade") == [
        f"fade=t=in:st={start:.6f}:d=0.200000:alpha=1:enable='{window}'"
        for start, window in zip(starts, windows, strict=True)
    ]
    either = f"if(lt(t,2.780000),{windows[0]},{windows[1]})"
    assert re.search(
        rf"\[va\d+\]\[vb\d+\]overlay=x=0:y=0:eof_action=pass:enable='{re.escape(either)}'",
        graph,
    )
    assert "format=yuva420p,fade" in graph
    assert "xfade" not in graph
    assert "concat" not in graph
    # The sound crossfades over the same windows, outside the graph.
    assert_main_audio_is_fed_not_cut(plan)
    pieces = pieces_of(plan)
    assert [p.output_start for p in pieces] == frames(0, 25, 70)
    assert [p.output_start / 48_000 for p in pieces[1:]] == pytest.approx(starts)
    assert [p.crossfade_in for p in pieces] == frames(0, 5, 5)
    assert [p.fade_in for p in pieces] == [FADE, 0, 0]
    assert [p.fade_out for p in pieces] == [0, 0, FADE]
    assert pieces[-1].output_end == frames(110)[0]
    assert plan.expected_duration == pytest.approx(tl.duration_sec) == pytest.approx(4.4)


def test_mixed_joins_fade_only_where_asked() -> None:
    tl = timeline([(0, 30), (50, 100), (110, 150), (160, 200)], [0, 0, 5, 0])

    plan = build_render(tl, SOURCE, OUT, RenderOptions())

    assert_well_formed(plan)
    graph = plan.filtergraph
    assert (
        "if(lt(pts,115),if(lt(pts,50),between(pts,0,29),between(pts,50,99)),"
        "if(lt(pts,160),between(pts,115,149),between(pts,160,199)))"
    ) in graph
    assert (
        "if(lt(pts,110),if(lt(pts,50),between(pts,0,29),between(pts,50,94)),"
        "if(lt(pts,160),between(pts,110,149),between(pts,160,199)))"
    ) in graph
    assert tl.clips[2].timeline_start == pytest.approx(3.0)
    assert filters_named(plan, "fade") == [
        "fade=t=in:st=3.000000:d=0.200000:alpha=1:enable='between(t,2.980000,3.180000)'"
    ]
    # Audio: clips 0 and 1 joined by a cut, crossfade into 2, then a cut to 3.
    assert_main_audio_is_fed_not_cut(plan)
    pieces = pieces_of(plan)
    assert [p.output_start for p in pieces] == frames(0, 30, 75, 115)
    assert [p.crossfade_in for p in pieces] == frames(0, 0, 5, 0)
    assert plan.expected_duration == pytest.approx(tl.duration_sec)


def test_overlapping_source_ranges_get_their_own_branch() -> None:
    tl = timeline([(0, 50), (40, 80)])

    plan = build_render(tl, SOURCE, OUT, RenderOptions())

    assert_well_formed(plan)
    assert "split=2" in plan.filtergraph
    assert "concat=n=2:v=1:a=0" in plan.filtergraph
    assert_main_audio_is_fed_not_cut(plan)
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
    first, second = pieces_of(plan)
    # 1601.6 samples a frame: positions from the timeline's frames, rounded once each.
    per_frame = Fraction(48_000 * 1001, 30_000)
    assert second.output_start == round(294 * per_frame)
    assert second.crossfade_in == first.output_end - second.output_start
    assert second.output_end == round(594 * per_frame)


def test_source_without_audio_gets_silence_of_the_timeline_length() -> None:
    tl = timeline([(0, 30), (50, 100)], has_audio=False)

    plan = build_render(tl, SOURCE, OUT, RenderOptions())

    assert_well_formed(plan)
    assert "0:a" not in plan.filtergraph
    assert "anullsrc=r=48000:cl=stereo,atrim=end=3.200000" in plan.filtergraph
    # Nothing to feed: no raw input on stdin.
    assert plan.audio is None
    assert "pipe:0" not in plan.args
    assert "1:a" not in plan.filtergraph
    # The probe may know better than the timeline.
    plan = build_render(timeline([(0, 30)]), SOURCE, OUT, RenderOptions(), source_has_audio=False)
    assert "0:a" not in plan.filtergraph
    assert plan.audio is None
    assert plan.args.count("-i") == 1


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
    assert plan.args[: len(SRC) + len(PCM_INPUT)] == [*SRC, *PCM_INPUT]


def test_threads_size_the_filter_graph_and_every_encoder() -> None:
    options = RenderOptions(preview=True)

    plan = build_render(timeline([(0, 30)]), SOURCE, OUT, options, threads=2)

    expected = ["-filter_complex_threads", "2", *SRC, *PCM_INPUT]
    assert plan.args[: len(expected)] == expected
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
    # Input 1 is the main part's sound; the bumpers come after it.
    expected = [*SRC, *PCM_INPUT, *file_input(intro.path), *file_input(outro.path)]
    assert plan.args[: len(expected)] == expected
    fit = (
        "fps=fps=25/1:start_time=0,"
        "scale=w=640:h=480:force_original_aspect_ratio=decrease:force_divisible_by=2,"
        "pad=w=640:h=480:x=(ow-iw)/2:y=(oh-ih)/2:color=black,setsar=1,format=yuv420p,"
        "tpad=stop=-1:stop_mode=clone,trim=end_pts={frames},setpts=N"
    )
    assert f"[2:v:0]setpts=PTS-STARTPTS,{fit.format(frames=62)}" in plan.filtergraph
    assert f"[3:v:0]setpts=PTS-STARTPTS,{fit.format(frames=26)}" in plan.filtergraph
    assert "[2:a:0]aresample=48000:async=1:first_pts=0" in plan.filtergraph
    assert "3:a" not in plan.filtergraph
    assert "apad,atrim=end=2.480000" in plan.filtergraph
    # The outro has no audio: silence of its length instead.
    assert "anullsrc=r=48000:cl=stereo,atrim=end=1.040000" in plan.filtergraph
    joined = re.search(
        r"\[vintro\d+\]\[aintro\d+\]\[vsq\d+\]\[amain\d+\]\[voutro\d+\]\[aoutro\d+\]"
        r"concat=n=3:v=1:a=1",
        plan.filtergraph,
    )
    assert joined
    assert_main_audio_is_fed_not_cut(plan)
    # The fed sound is the main part's only: the bumpers bring their own.
    assert pieces_of(plan)[-1].output_end == 4 * 48_000
    assert plan.expected_duration == pytest.approx(2.48 + 4.0 + 1.04)


def test_without_sound_the_inputs_after_the_source_keep_their_old_indices() -> None:
    intro = MediaFacts(Path("/a/intro.mov"), 1920, 1080, Fraction(30), True, 2.5)
    logo = LogoInput(Path("/a/logo.png"), LogoOptions(asset="logo.png"))
    tl = timeline([(0, 100)], has_audio=False)

    plan = build_render(tl, SOURCE, OUT, RenderOptions(), intro=intro, logo=logo)

    assert_well_formed(plan)
    expected = [*SRC, *file_input(logo.path, LOGO_DEMUXERS), *file_input(intro.path)]
    assert plan.args[: len(expected)] == expected
    assert "[1:v:0]format=rgba" in plan.filtergraph
    assert "[2:v:0]setpts=PTS-STARTPTS" in plan.filtergraph
    assert "[2:a:0]aresample=48000" in plan.filtergraph


def test_logo_is_scaled_placed_and_faded_over_the_main_part() -> None:
    logo = LogoInput(
        Path("/a/logo.png"),
        LogoOptions(asset="logo.png", position="bottom-left", opacity=0.5, scale=0.1, margin=0.02),
    )
    intro = MediaFacts(Path("/a/intro.mp4"), 640, 360, Fraction(25), True, 1.0)

    plan = build_render(timeline([(0, 100)]), SOURCE, OUT, RenderOptions(), logo=logo, intro=intro)

    assert_well_formed(plan)
    expected = [*SRC, *PCM_INPUT, *file_input(logo.path, LOGO_DEMUXERS), *file_input(intro.path)]
    assert plan.args[: len(expected)] == expected
    assert "[2:v:0]format=rgba,scale=w=128:h=-1,colorchannelmixer=aa=0.500" in plan.filtergraph
    assert "[3:v:0]setpts=PTS-STARTPTS" in plan.filtergraph
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
    # The source and the fed sound; the preview takes its frames and sound from the graph.
    assert plan.args[: plan.args.index("-filter_complex")] == [*SRC, *PCM_INPUT]
    preview = OUT.with_name("preview.mp4")
    assert plan.outputs == (OUT, preview)
    assert re.search(r"format=yuv420p,split=2\[vout\d+\]\[vp2s\d+\]", plan.filtergraph)
    assert re.search(r"\[vp2s\d+\]scale=w=640:h=360\[vprev\d+\]", plan.filtergraph)
    assert re.search(r"\[amain\d+\]asplit=2\[aout\d+\]\[aprev\d+\]", plan.filtergraph)
    assert filters_named(plan, "asplit") == ["asplit=2"]
    preview_args = plan.args[plan.args.index(str(OUT)) + 1 :]
    assert preview_args[-1] == str(preview)
    assert " ".join(preview_args).count("-movflags +faststart") == 1
    assert preview_args[preview_args.index("-crf") + 1] == "26"
    assert preview_args[preview_args.index("-b:a") + 1] == "96k"
    # The main output at 160 kbps runs the fast AAC coder, the 96 kbps preview two-loop.
    main_args = plan.args[: plan.args.index(str(OUT))]
    assert main_args[main_args.index("-aac_coder") + 1] == "fast"
    assert "-aac_coder" not in preview_args
    explicit = build_render(tl, SOURCE, OUT, options, preview_output=Path("/x/p.mp4"))
    assert explicit.outputs == (OUT, Path("/x/p.mp4"))
    assert ",split" not in build_render(tl, SOURCE, OUT, RenderOptions()).filtergraph


@pytest.mark.parametrize(
    ("kbps", "coder"), [(32, None), (127, None), (128, "fast"), (160, "fast"), (512, "fast")]
)
def test_aac_coder_by_bitrate(kbps: int, coder: str | None) -> None:
    args = aac_args(kbps)
    assert args[:2] == ["-c:a", "aac"]
    assert args[args.index("-b:a") + 1] == f"{kbps}k"
    assert args[-4:] == ["-ar", "48000", "-ac", "2"]
    assert aac_args(kbps, 1)[-4:] == ["-ar", "48000", "-ac", "1"]
    assert (args[args.index("-aac_coder") + 1] if "-aac_coder" in args else None) == coder


@pytest.mark.parametrize(
    ("source_channels", "bumpers", "channels"),
    [(1, False, 1), (1, True, 2), (2, False, 2), (6, False, 2), (None, False, 2)],
)
def test_a_mono_recording_stays_mono_unless_a_bumper_joins_it(
    source_channels: int | None, bumpers: bool, channels: int
) -> None:
    assert sound_channels(source_channels, bumpers=bumpers) == channels


def pcm_input(args: list[str]) -> list[str]:
    at = args.index("pipe:0")
    return args[at - 7 : at - 1]


def test_mono_sound_is_mono_from_the_pipe_to_the_encoder() -> None:
    tl = timeline([(0, 30), (50, 100)])
    plan = build_render(
        tl, SOURCE, OUT, RenderOptions(), loudness=normalisation(), source_channels=1
    )
    assert plan.audio is not None
    assert plan.audio.channels == 1
    assert pcm_input(plan.args) == ["-f", "f32le", "-ar", "48000", "-ac", "1"]
    assert "channel_layouts=mono" in plan.filtergraph
    assert "channel_layouts=stereo" not in plan.filtergraph
    assert plan.args[plan.args.index("-ac", plan.args.index("-c:a")) + 1] == "1"
    # With an intro, the main part's sound is stereo like the intro's.
    intro = MediaFacts(Path("/a/intro.mp4"), 640, 360, Fraction(25), True, 1.0)
    mixed = build_render(tl, SOURCE, OUT, RenderOptions(), intro=intro, source_channels=1)
    assert mixed.audio is not None
    assert mixed.audio.channels == 2
    assert pcm_input(mixed.args) == ["-f", "f32le", "-ar", "48000", "-ac", "2"]
    assert "channel_layouts=mono" not in mixed.filtergraph
    assert mixed.args[mixed.args.index("-ac", mixed.args.index("-c:a")) + 1] == "2"


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


# --- sound: cut outside the graph, fades at hard cuts, loudness --------------------------------


def test_every_hard_cut_gets_a_short_fade_on_both_sides_and_crossfades_none() -> None:
    # Joins: hard, crossfade, hard.
    tl = timeline([(0, 30), (50, 100), (110, 150), (160, 200)], [0, 0, 5, 0])

    plan = build_render(tl, SOURCE, OUT, RenderOptions())

    assert_well_formed(plan)
    assert_main_audio_is_fed_not_cut(plan)
    pieces = pieces_of(plan)
    assert len(pieces) == 4
    # The timeline's own edges count as hard cuts (an intro/outro joins there unfaded).
    assert [(p.fade_in, p.fade_out) for p in pieces] == [
        (FADE, FADE),
        (FADE, 0),  # crossfades into clip 2
        (0, FADE),
        (FADE, FADE),
    ]
    assert [p.crossfade_in for p in pieces] == frames(0, 0, 5, 0)
    assert [p.length for p in pieces] == frames(30, 50, 40, 40)


def test_a_one_frame_clip_fades_over_half_its_length_each_way() -> None:
    plan = build_render(timeline([(0, 25), (30, 31), (40, 60)], rate=(120, 1)), SOURCE, OUT,
                        RenderOptions())  # fmt: skip

    middle = pieces_of(plan)[1]
    assert middle.length == 400  # one frame at 120 fps
    assert middle.fade_in == middle.fade_out == 200


def audio_chains(plan: RenderPlan) -> list[str]:
    """The chains carrying only sound, pad numbers left out."""
    found = []
    for chain in chains(plan):
        pads = re.findall(r"\[([^\]]+)\]", chain)
        if pads and all(re.fullmatch(r"a[a-z]+\d+|\d+:a:0", pad) for pad in pads):
            found.append(re.sub(r"\[(a[a-z]+)\d+\]", r"[\1]", chain))
    return found


@pytest.mark.parametrize("clips", [2, 7, 64, 300])
def test_the_sound_in_the_graph_does_not_grow_with_the_cuts(clips: int) -> None:
    tl = timeline([(k * 20, k * 20 + 15) for k in range(clips)], [0] + [3] * (clips - 1))
    one_clip = build_render(timeline([(0, 15)]), SOURCE, OUT, RenderOptions())

    plan = build_render(tl, SOURCE, OUT, RenderOptions())

    assert_well_formed(plan)
    assert_main_audio_is_fed_not_cut(plan)
    assert (
        audio_chains(plan)
        == audio_chains(one_clip)
        == [f"{MAIN_AUDIO}[amain]", "[amain]anull[aout]"]
    )
    # The cuts are in the pieces instead: one a clip, each overlapping the one before by its
    # crossfade, ending with the timeline.
    pieces = pieces_of(plan)
    assert len(pieces) == clips
    assert all(p.crossfade_in == 3 * SAMPLES_PER_FRAME for p in pieces[1:])
    for before, piece in itertools.pairwise(pieces):
        assert before.output_end - piece.output_start == piece.crossfade_in
    assert pieces[-1].output_end == round(plan.expected_duration * 48_000)


def test_clips_reusing_source_audio_each_get_their_own_piece() -> None:
    tl = timeline([(0, 50), (40, 80), (100, 120)])

    plan = build_render(tl, SOURCE, OUT, RenderOptions())

    assert_well_formed(plan)
    assert_main_audio_is_fed_not_cut(plan)
    pieces = pieces_of(plan)
    # Source [40, 50) is heard twice: clip 1 starts before clip 0 ends in the source (the
    # editor opens a second reader there, see test_audio_edit).
    assert [(p.source_start, p.source_end) for p in pieces] == [
        (0, 50 * 1920),
        (40 * 1920, 80 * 1920),
        (100 * 1920, 120 * 1920),
    ]
    assert [p.output_start for p in pieces] == frames(0, 50, 90)


def test_many_ranges_select_through_a_shallow_expression_tree() -> None:
    # ffmpeg's expression parser refuses more than 100 summed between() terms.
    tl = timeline([(k * 20, k * 20 + 15) for k in range(1000)], [0] + [3] * 999)

    plan = build_render(tl, SOURCE, OUT, RenderOptions())

    for expression in re.findall(r"(?:select|enable)='([^']*)'", plan.filtergraph):
        depth = deepest = 0
        for char in expression:
            depth += {"(": 1, ")": -1}.get(char, 0)
            deepest = max(deepest, depth)
        assert deepest <= 2 * math.ceil(math.log2(1000)) + 2, expression[:80]
        assert "+" not in expression


def cut_every(clips: int, source_seconds: int) -> Timeline:
    """`clips` clips of 1 s spread evenly over a source of `source_seconds`."""
    step = source_seconds * 25 // clips
    return timeline([(k * step, k * step + 25) for k in range(clips)])


def test_the_graph_grows_with_the_cuts_not_with_the_recording() -> None:
    def size(clips: int, source_seconds: int) -> int:
        return len(build_render(cut_every(clips, source_seconds), SOURCE, OUT,
                                RenderOptions()).filtergraph)  # fmt: skip

    def shape(clips: int, source_seconds: int) -> str:
        """The graph with every number made 0: what is left when the positions are left out."""
        graph = build_render(cut_every(clips, source_seconds), SOURCE, OUT,
                             RenderOptions()).filtergraph  # fmt: skip
        return re.sub(r"\d+(\.\d+)?", "0", graph)

    per_clip = (size(400, 3600) - size(200, 3600)) / 200
    # Linear: the same cost per clip from 100 to 400 clips (the if-tree adds a few characters
    # per doubling), and a 100 h recording costs what a 1 h one does (longer numbers only).
    assert (size(200, 3600) - size(100, 3600)) / 100 == pytest.approx(per_clip, rel=0.05)
    assert size(400, 3600) == pytest.approx(size(100, 3600) + 300 * per_clip, rel=0.02)
    assert shape(200, 360_000) == shape(200, 3600) == shape(200, 600)
    # Positions of 9,000,000 frames instead of 90,000: at most two more digits a number.
    numbers = len(re.findall(r"\d+", shape(200, 3600)))
    assert 0 < size(200, 360_000) - size(200, 3600) <= 2 * numbers


def normalisation(measured_lufs: float = -30.0, true_peak: float = -12.0) -> Normalisation:
    return Normalisation(
        target_lufs=-16.0,
        true_peak_db=-1.5,
        measured_lufs=measured_lufs,
        measured_true_peak_db=true_peak,
    )


def test_loudness_is_normalised_after_the_joins_and_before_intro_and_outro() -> None:
    intro = MediaFacts(Path("/a/intro.mp4"), 1920, 1080, Fraction(30), True, 2.0)
    tl = timeline([(0, 30), (50, 100)])

    plan = build_render(tl, SOURCE, OUT, RenderOptions(), intro=intro, loudness=normalisation())

    assert_well_formed(plan)
    graph = plan.filtergraph
    (chain,) = [c for c in chains(plan) if "alimiter" in c]
    # +14 dB would put the -12 dBTP peaks at +2: the gain, then the limiter at 4x the rate.
    assert re.fullmatch(
        r"\[amain\d+\]volume=14\.00dB:precision=float,aresample=192000,"
        r"alimiter=limit=0\.841395:attack=5:release=50:level=disabled:latency=true,"
        r"aresample=48000,"
        r"aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo\[anorm\d+\]",
        chain,
    )
    normalised = re.search(r"\[(anorm\d+)\]$", chain)
    assert normalised
    assert re.search(
        rf"\[aintro\d+\]\[vsq\d+\]\[{normalised.group(1)}\].*concat=n=2:v=1:a=1", graph
    )
    # The main part's sound, fed raw, is what is normalised; the intro keeps its level.
    assert_main_audio_is_fed_not_cut(plan)
    (intro_sound,) = [c for c in chains(plan) if c.startswith("[2:a:0]")]
    assert "volume" not in intro_sound


def test_no_loudness_no_gain_and_silence_is_not_normalised() -> None:
    assert "volume" not in build_render(timeline([(0, 30)]), SOURCE, OUT,
                                        RenderOptions()).filtergraph  # fmt: skip
    silent = timeline([(0, 30)], has_audio=False)
    plan = build_render(silent, SOURCE, OUT, RenderOptions(), loudness=normalisation())
    assert "volume" not in plan.filtergraph
    assert "alimiter" not in plan.filtergraph
