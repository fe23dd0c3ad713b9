"""The segmented render's pure core: where the edit is cut, each piece's timeline, the sound
made once, the join, the plan document and the claims."""

from __future__ import annotations

import itertools
import json
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from talkavocado_common.models import JobOptions, LogoOptions, RenderOptions, Timeline
from talkavocado_render.core.filtergraph import (
    LogoInput,
    MediaFacts,
    RenderPlan,
    build_render,
    clip_spans,
    timeline_frames,
)
from talkavocado_render.core.loudness import Normalisation
from talkavocado_render.core.segments import (
    Claim,
    SegmentError,
    build_audio,
    build_join,
    check_eligible,
    claim_expired,
    concat_list,
    cut_allowed,
    fade_windows,
    plan_document,
    plan_from_document,
    plan_id,
    plan_segments,
    renew_interval,
    seek_shifted,
    segment_job,
    snap_cut,
    sub_timeline,
)

from .test_filtergraph import timeline

SOURCE = Path("/work/in.mp4")
OUT = Path("/work/out.mp4")
Frame = tuple[tuple[int, tuple[int, int] | None], ...]


def frame_map(tl: Timeline, seek: int = 0) -> list[Frame]:
    """What each frame of the main part shows: per clip on it, its source frame (counted from
    the file's start) and, inside a crossfade, how far the fade-in is (k of t)."""
    spans = clip_spans(tl)
    frames: list[Frame] = []
    for f in range(timeline_frames(spans)):
        cover = []
        for s in spans:
            k = f - s.timeline_start_frame
            if 0 <= k < s.frames:
                fade = (k, s.transition_frames) if k < s.transition_frames else None
                cover.append((seek + s.start_frame + k, fade))
        frames.append(tuple(cover))
    return frames


def random_timeline(rng: random.Random, clips: int) -> Timeline:
    ranges, transitions, cursor = [], [], 0
    for _ in range(clips):
        start = cursor + rng.randint(0, 40)
        length = rng.randint(4, 300)
        ranges.append((start, start + length))
        cursor = start + length
        transitions.append(0)
    for index in range(1, clips):
        if rng.random() < 0.5:
            a = ranges[index - 1][1] - ranges[index - 1][0]
            b = ranges[index][1] - ranges[index][0]
            transitions[index] = rng.randint(1, max(1, min(a, b) // 2))
    # Transitions may not eat more than a clip has left after its own fade-in.
    for index in range(1, clips):
        prev_len = ranges[index - 1][1] - ranges[index - 1][0]
        transitions[index] = min(transitions[index], prev_len - transitions[index - 1])
    return timeline(ranges, transitions)


def facts(seconds: float, *, audio: bool = True, name: str = "intro.mp4") -> MediaFacts:
    return MediaFacts(Path(f"/work/{name}"), 640, 360, Fraction(30), audio, seconds)


# -- where to cut ---------------------------------------------------------------------------


def test_cuts_are_never_inside_a_crossfade() -> None:
    tl = timeline([(0, 100), (100, 200), (300, 400)], [0, 10, 20])
    spans = clip_spans(tl)
    windows = fade_windows(spans)
    assert windows == [(90, 100), (170, 190)]
    total = timeline_frames(spans)
    assert [f for f in range(total + 1) if not cut_allowed(f, windows, total)] == [
        0, *range(90, 100), *range(170, 190), total,
    ]  # fmt: skip
    assert snap_cut(95, windows, total) == 100  # nearer the end of the fade
    assert snap_cut(93, windows, total) == 89  # nearer its start
    assert snap_cut(-5, windows, total) == 1
    assert snap_cut(10_000, windows, total) == total - 1


def test_segments_cover_the_edit_in_order_with_the_bumpers_at_the_ends() -> None:
    tl = timeline([(0, 1000), (1200, 3000)], [0, 12])  # 2788 frames at 25 fps
    plan = plan_segments(tl, segment_frames=750, intro_frames=50, outro_frames=40)
    segments = plan.segments
    assert len(segments) == round((50 + 2788 + 40) / 750) == 4
    assert segments[0].start == 0
    assert segments[-1].end == plan.main_frames == 2788
    assert all(a.end == b.start for a, b in itertools.pairwise(segments))
    assert [s.intro for s in segments] == [True, False, False, False]
    assert [s.outro for s in segments] == [False, False, False, True]
    # About equal pieces of output, the intro counted in the first and the outro in the last.
    sizes = [plan.output_frames(s) for s in segments]
    assert sum(sizes) == plan.total_frames == 2878
    assert max(sizes) - min(sizes) <= 2


def test_a_short_edit_is_one_segment() -> None:
    tl = timeline([(0, 100)])
    plan = plan_segments(tl, segment_frames=1000)
    assert [(s.start, s.end, s.intro, s.outro) for s in plan.segments] == [(0, 100, True, True)]
    with pytest.raises(SegmentError):
        plan_segments(tl, segment_frames=0)


def test_a_clip_of_one_frame_per_segment_at_most() -> None:
    tl = timeline([(0, 3)])
    plan = plan_segments(tl, segment_frames=1)
    assert [(s.start, s.end) for s in plan.segments] == [(0, 1), (1, 2), (2, 3)]


@pytest.mark.parametrize("seed", range(40))
def test_the_pieces_show_exactly_the_frames_of_the_whole_edit(seed: int) -> None:
    rng = random.Random(seed)
    tl = random_timeline(rng, rng.randint(1, 12))
    total = timeline_frames(clip_spans(tl))
    plan = plan_segments(
        tl,
        segment_frames=rng.randint(20, 400),
        intro_frames=rng.choice([0, 25]),
        outro_frames=rng.choice([0, 30]),
    )
    windows = fade_windows(clip_spans(tl))
    joined: list[Frame] = []
    for segment in plan.segments:
        assert segment.start == 0 or cut_allowed(segment.start, windows, total)
        job = segment_job(tl, plan, segment.index)
        assert job.subtitles_offset_frames == segment.start
        assert job.seek_sec == pytest.approx(job.seek_frame / 25)
        # The piece's timeline, read from where the source is opened, shows the same frames.
        assert frame_map(job.timeline, job.seek_frame) == frame_map(
            sub_timeline(tl, segment.start, segment.end)
        )
        joined += frame_map(job.timeline, job.seek_frame)
    assert joined == frame_map(tl)


def test_a_piece_opens_the_source_a_second_before_its_first_frame() -> None:
    tl = timeline([(0, 100), (2000, 2600), (2700, 3000)], [0, 0, 25])
    piece = sub_timeline(tl, 200, 975)  # to the end
    assert [(c.source_start_frame, c.source_end_frame) for c in piece.clips] == [
        (2100, 2600),
        (2700, 3000),
    ]
    assert [c.transition_in_sec for c in piece.clips] == [0.0, 1.0]
    seek, shifted = seek_shifted(piece, 25)
    assert seek == 2075
    assert [(c.source_start_frame, c.source_end_frame) for c in shifted.clips] == [
        (25, 525),
        (625, 925),
    ]
    assert shifted.duration_sec == piece.duration_sec == 775 / 25
    assert seek_shifted(timeline([(10, 20)]), 25) == (0, timeline([(10, 20)]))


def test_a_piece_cannot_start_inside_a_crossfade() -> None:
    tl = timeline([(0, 100), (100, 200)], [0, 10])
    with pytest.raises(SegmentError, match="inside a crossfade"):
        sub_timeline(tl, 95, 190)
    with pytest.raises(SegmentError):
        sub_timeline(tl, 50, 50)


def test_a_piece_renders_video_only_from_its_seek_point_with_the_subtitles_clock() -> None:
    tl = timeline([(0, 2000), (2100, 4000)], [0, 10])
    plan = plan_segments(tl, segment_frames=1000)
    job = segment_job(tl, plan, 2)
    options = RenderOptions()
    render = build_render(
        job.timeline,
        SOURCE,
        OUT,
        options,
        source_has_audio=True,
        logo=LogoInput(Path("/work/logo.png"), LogoOptions(asset="logo.png")),
        subtitles=Path("/work/final.srt"),
        video_only=True,
        source_seek_sec=job.seek_sec,
        subtitles_offset_frames=job.subtitles_offset_frames,
    )
    args = render.args
    assert render.audio is None
    assert args[args.index("-i") - 2 : args.index("-i")] == ["-ss", f"{job.seek_sec:.6f}"]
    assert args.count("-map") == 1
    assert "-an" in args
    assert "-c:a" not in args
    assert "anullsink" in render.filtergraph
    assert "volume" not in render.filtergraph
    start = plan.segments[2].start
    assert f"setpts=PTS+{start}/(25*TB),subtitles=" in render.filtergraph
    assert f"setpts=PTS-{start}/(25*TB)" in render.filtergraph
    # The encoder settings are the one-piece render's.
    whole = build_render(tl, SOURCE, OUT, options, source_has_audio=True)

    def video_encoder(a: list[str]) -> list[str]:
        at = a.index("-c:v")
        return a[at : a.index("-fps_mode") + 2]

    assert video_encoder(args) == video_encoder(whole.args)
    with pytest.raises(ValueError, match="no preview"):
        build_render(tl, SOURCE, OUT, RenderOptions(preview=True), video_only=True)


# -- the sound and the join ------------------------------------------------------------------


def sound_plan(tl: Timeline, loud: Normalisation, **options: Any) -> RenderPlan:
    """The segmented render's sound of `tl` of SOURCE, normalised by `loud`."""
    return build_audio(
        tl,
        SOURCE,
        Path("/work/sound.m4a"),
        RenderOptions(),
        source_has_audio=True,
        loudness=loud,
        **options,
    )


def test_a_mono_recordings_sound_stays_mono_as_in_the_one_piece_render() -> None:
    tl = timeline([(0, 1000), (1100, 2000)], [0, 10])
    loud = Normalisation(-16.0, -1.5, -23.0, -4.0)
    plan = sound_plan(tl, loud, source_channels=1)
    whole = build_render(tl, SOURCE, OUT, RenderOptions(), loudness=loud, source_channels=1)
    assert plan.audio == whole.audio
    assert plan.audio is not None
    assert plan.audio.channels == 1
    assert ",".join(loud.filters(1)) in plan.filtergraph
    assert "channel_layouts=stereo" not in plan.filtergraph
    assert plan.args[plan.args.index("-ac", plan.args.index("-c:a")) + 1] == "1"


def test_the_sound_is_made_once_as_the_one_piece_render_makes_it() -> None:
    tl = timeline([(0, 1000), (1100, 2000)], [0, 10])
    loud = Normalisation(-16.0, -1.5, -23.0, -4.0)
    intro, outro = facts(2.0), facts(1.0, audio=False, name="outro.mp4")
    plan = sound_plan(tl, loud, intro=intro, outro=outro)
    whole = build_render(tl, SOURCE, OUT, RenderOptions(), intro=intro, outro=outro, loudness=loud)
    assert plan.audio == whole.audio  # the same edited PCM on stdin
    assert plan.expected_duration == whole.expected_duration == (1890 + 50 + 25) / 25
    assert ",".join(loud.filters()) in plan.filtergraph
    assert "concat=n=3:v=0:a=1[aout]" in plan.filtergraph
    assert "[1:a:0]aresample=48000:async=1:first_pts=0" in plan.filtergraph  # the intro's
    assert "anullsrc=r=48000:cl=stereo,atrim=end=1.000000" in plan.filtergraph  # silent outro
    args = plan.args
    assert "-vn" not in args
    assert args.count("-map") == 1
    assert args[args.index("-b:a") + 1] == "160k"
    # Without sound in the source: silence of the main part's length.
    silent = build_audio(tl, SOURCE, Path("/work/s.m4a"), RenderOptions(), source_has_audio=False)
    assert silent.audio is None
    assert "anullsrc=r=48000:cl=stereo,atrim=end=75.600000" in silent.filtergraph
    assert "[amain]anull[aout]" in silent.filtergraph


def test_the_join_reads_only_our_list_and_our_pieces() -> None:
    args = build_join(Path("/w/pieces.ffconcat"), Path("/w/sound.m4a"), OUT)
    first = args.index("-i")
    assert args[:first] == [
        "-protocol_whitelist", "file",
        "-format_whitelist", "concat,mov,mp4,m4a,3gp,3g2,mj2",
        "-f", "concat", "-safe", "1", "-auto_convert", "0",
    ]  # fmt: skip
    assert args[first + 1] == "/w/pieces.ffconcat"
    assert args[args.index("-c") : args.index("-c") + 2] == ["-c", "copy"]
    assert "+faststart" in args
    assert args[-1] == str(OUT)
    assert args.count("-map") == 2


def test_the_list_places_every_piece_on_its_exact_frame() -> None:
    fps = Fraction(30000, 1001)
    text = concat_list([("seg-0000.mp4", 1349), ("seg-0001.mp4", 1350)], fps)
    lines = text.splitlines()
    assert lines[0] == "ffconcat version 1.0"
    assert lines[1] == "file 'seg-0000.mp4'"
    durations = [int(line.split()[1][:-2]) for line in lines if line.startswith("duration")]
    assert sum(durations) == round(Fraction(2699) / fps * 1_000_000)
    assert durations[0] == round(Fraction(1349) / fps * 1_000_000)
    for bad in ("../x.mp4", "a'b.mp4", ".hidden", "a/b.mp4", ""):
        with pytest.raises(SegmentError):
            concat_list([(bad, 1)], fps)


# -- when, and the plan the workers share ----------------------------------------------------


def test_only_a_long_render_without_a_preview_or_moving_logo_is_split() -> None:
    long = timeline([(0, 25 * 200)])
    assert check_eligible(long, min_timeline_sec=120, preview=False, logo_still=True) is None
    short = timeline([(0, 25 * 100)])
    assert "shorter than 120 s" in (
        check_eligible(short, min_timeline_sec=120, preview=False, logo_still=True) or ""
    )
    assert "preview" in (
        check_eligible(long, min_timeline_sec=120, preview=True, logo_still=True) or ""
    )
    assert "moving image" in (
        check_eligible(long, min_timeline_sec=120, preview=False, logo_still=False) or ""
    )
    broken = long.model_copy(update={"duration_sec": 1.0})
    assert "one-piece render's checks" in (
        check_eligible(broken, min_timeline_sec=0.5, preview=False, logo_still=True) or ""
    )


def test_the_plan_document_round_trips_and_names_itself_by_its_content() -> None:
    tl = timeline([(0, 1000), (1100, 2000)], [0, 10])
    plan = plan_segments(tl, segment_frames=500, intro_frames=25)
    options = JobOptions()
    document = plan_document(tl, plan, options.render, {"source": "k", "subtitlesSha256": None})
    document = json.loads(json.dumps(document))  # what storage gives back
    again_tl, again = plan_from_document(document)
    assert again_tl == tl
    assert again == plan
    name = plan_id(document)
    assert len(name) == 16
    assert name == plan_id(json.loads(json.dumps(document)))
    other = plan_document(tl, plan, RenderOptions(crf=30), {"source": "k", "subtitlesSha256": None})
    assert plan_id(other) != name
    for broken in (
        {**document, "version": 99},
        {**document, "bounds": [[0, 10], [11, 1890]]},
        {**document, "bounds": [[0, 1000]]},
        {**document, "bounds": []},
    ):
        with pytest.raises(SegmentError):
            plan_from_document(broken)


def test_claims_expire_and_garbage_is_takeable() -> None:
    claim = Claim("worker-a", 100.0)
    assert Claim.from_bytes(claim.to_bytes()) == claim
    assert not claim_expired(claim, 99.9)
    assert claim_expired(claim, 100.0)
    assert Claim.from_bytes(b"{not json") is None
    assert Claim.from_bytes(b'{"owner": "x"}') is None
    assert claim_expired(None, 0.0)
    assert renew_interval(30) == 10
    assert renew_interval(0.01) == 0.05
