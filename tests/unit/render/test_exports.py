"""Timeline exports (talkavocado_render.core.exports): the OTIO timeline built from the edit, and
the four files its adapters write, read back to the frame and checked as written."""

from __future__ import annotations

import json
import re
from fractions import Fraction

import opentimelineio as otio
import pytest

from talkavocado_common.captions import Cue
from talkavocado_common.models import FrameRate, Timeline
from talkavocado_render.core.exports import (
    EXPORT_FORMATS,
    build_otio,
    edl_reel,
    fcpx_time,
    media_url,
    otio_rate,
    visible_frames,
    write_exports,
)
from tests.support.timeline_exports import (
    check_ranges,
    edit_timeline,
    fcpx_seconds,
    fcpxml_frames,
    kept_frames,
    transitions,
    used_frames,
)

NTSC = FrameRate(num=30000, den=1001)
RATES = [FrameRate(num=25, den=1), NTSC, FrameRate(num=24, den=1)]
# Kept ranges (frames) and the crossfade (frames) into each: odd, even and one-frame fades.
RANGES = [(10, 200, 0), (261, 500, 6), (600, 903, 5), (950, 1000, 1), (1012, 1200, 0)]
CUES = [
    Cue(start=0.5, end=2.0, lines=("So, on", "your phone.")),
    Cue(start=9.0, end=11.5, lines=("Thanks,",)),
    Cue(start=30.0, end=31.0, lines=("bye.",)),
]


def timeline_at(
    rate: FrameRate, ranges: list[tuple[int, int, int]] = RANGES, *, has_audio: bool = True
) -> Timeline:
    return edit_timeline(
        rate,
        ranges,
        source_key="test/acme/job-1/input/My_Talk.mp4",
        size=(1920, 1080),
        source_duration_sec=float(Fraction(1300) / Fraction(rate.num, rate.den)),
        has_audio=has_audio,
    )


def frames_of(timeline: Timeline) -> int:
    return round(
        Fraction(timeline.duration_sec) * Fraction(timeline.frame_rate.num, timeline.frame_rate.den)
    )


@pytest.mark.parametrize("rate", RATES, ids=lambda r: f"{r.num}/{r.den}")
def test_the_clips_are_the_kept_ranges_on_the_sources_own_rate(rate: FrameRate) -> None:
    timeline = timeline_at(rate)
    built = build_otio(timeline, CUES, media_name="My Talk.mp4", name="job-1")
    assert [t.kind for t in built.tracks] == ["Video", "Audio"]
    exact = otio_rate(rate)
    for track in built.tracks:
        assert used_frames(track, exact) == kept_frames(timeline)
        clips = list(track.find_clips())
        assert len(clips) == len(timeline.clips)
        assert {c.source_range.start_time.rate for c in clips} == {exact}
        assert round(track.duration().value) == frames_of(timeline)
        (url,) = {c.media_reference.target_url for c in clips}
        assert url == "My%20Talk.mp4"  # relative: the recording's own name
    if rate == NTSC:
        assert exact == 30000 / 1001 != 29.97


def test_crossfades_are_transitions_centred_on_the_cut() -> None:
    timeline = timeline_at(FrameRate(num=25, den=1))
    video = build_otio(timeline, [], media_name="a.mp4", name="j").tracks[0]
    fades = [t for t in video if isinstance(t, otio.schema.Transition)]
    assert [(t.in_offset.value, t.out_offset.value) for t in fades] == [(3, 3), (2, 3), (0, 1)]
    assert {t.transition_type for t in fades} == {otio.schema.TransitionTypes.SMPTE_Dissolve}
    assert transitions(video, 25) == [6, 5, 1]
    # The visible ranges are the kept ranges less the halves of the fades.
    assert visible_frames(timeline)[:4] == [(10, 197), (264, 497), (602, 902), (950, 1000)]
    # A hard cut stays one: no transition between the last two clips.
    assert isinstance(video[-1], otio.schema.Clip)
    assert isinstance(video[-2], otio.schema.Clip)


def test_cues_are_markers_on_the_clip_where_they_start() -> None:
    rate = FrameRate(num=25, den=1)
    timeline = timeline_at(rate)
    built = build_otio(timeline, CUES, media_name="a.mp4", name="j")
    video, audio = built.tracks
    marked = [
        (index, m.name, m.marked_range.start_time.value, m.marked_range.duration.value, m.color)
        for index, clip in enumerate(video.find_clips())
        for m in clip.markers
    ]
    # 0.5 s: frame 12 of the edit, clip 1 (source 10 on) -> source frame 22, 1.5 s long.
    # 9.0 s: frame 225; clip 1 shows 187 frames -> clip 2, 38 frames in, source 264 + 38.
    # 30.0 s: frame 750; clips show 187 + 233 + 300 = 720 -> clip 4, 30 frames in, source 980,
    # its 25 frames clipped to the 20 the clip has left.
    assert marked == [
        (0, "So, on your phone.", 22, 38, "CYAN"),
        (1, "Thanks,", 302, 63, "CYAN"),
        (3, "bye.", 980, 20, "CYAN"),
    ]
    assert not any(clip.markers for clip in audio.find_clips())


def test_a_recording_without_sound_has_no_audio_track() -> None:
    timeline = timeline_at(FrameRate(num=25, den=1), has_audio=False)
    built = build_otio(timeline, [], media_name="a.mp4", name="j")
    assert [t.kind for t in built.tracks] == ["Video"]
    files = write_exports(timeline, [], media_name="a.mp4", name="j")
    assert re.search(r"^001  A\s+V\s+C ", files["edl"], re.MULTILINE)
    root, _ = fcpxml_frames(files["fcpxml"])
    asset = root.find("resources/asset")
    assert asset is not None
    assert (asset.get("hasVideo"), asset.get("hasAudio")) == ("1", "0")
    assert "<audio>" not in files["xml"].replace("<audio />", "")


@pytest.mark.parametrize("rate", RATES, ids=lambda r: f"{r.num}/{r.den}")
@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_each_file_reads_back_to_the_frame(rate: FrameRate, fmt: str) -> None:
    timeline = timeline_at(rate)
    files = write_exports(timeline, CUES, media_name="My Talk.mp4", name="job-1")
    read = check_ranges(fmt, files[fmt], timeline)  # type: ignore[index]
    if fmt in ("otio", "xml", "edl"):
        (audio,) = [t for t in read.tracks if t.kind == otio.schema.TrackKind.Audio]
        assert used_frames(audio, otio_rate(rate)) == kept_frames(timeline)
    if fmt in ("otio", "xml", "fcpxml"):
        names = [m.name for clip in read.find_clips() for m in clip.markers]
        assert [n for n in names if n][:3] == [" ".join(c.lines) for c in CUES]


@pytest.mark.parametrize("rate", RATES, ids=lambda r: f"{r.num}/{r.den}")
def test_the_fcpxml_is_a_library_with_exact_times(rate: FrameRate) -> None:
    timeline = timeline_at(rate)
    text = write_exports(timeline, CUES, media_name="My Talk.mp4", name="job-1")["fcpxml"]
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>')
    root, frame = fcpxml_frames(text)
    assert frame == Fraction(rate.den, rate.num)  # 1001/30000s, never ""
    fmt = root.find("resources/format")
    assert fmt is not None
    assert (fmt.get("width"), fmt.get("height")) == ("1920", "1080")
    assert [child.tag for child in root] == ["resources", "library"]  # no stray asset-clips
    spine = root.find("library/event/project/sequence/spine")
    assert spine is not None
    asset = root.find("resources/asset")
    assert asset is not None
    assert (asset.get("src"), asset.get("hasVideo"), asset.get("hasAudio")) == (
        "My%20Talk.mp4",
        "1",
        "1",
    )
    assert [e.tag for e in spine] == [
        "asset-clip", "transition", "asset-clip", "transition", "asset-clip", "transition",
        "asset-clip", "asset-clip",
    ]  # fmt: skip
    for element in root.iter():
        for attribute in ("offset", "start", "duration"):
            if attribute in element.attrib:
                value = fcpx_seconds(element.get(attribute, ""))
                assert (value / frame).denominator == 1, f"{element.tag} {attribute} off the grid"
    # Clips one after another; each transition over its cut (3 frames before it, the rest after).
    cursor = Fraction(0)
    clips = [e for e in spine if e.tag == "asset-clip"]
    for clip, (start, end) in zip(clips, visible_frames(timeline), strict=True):
        assert fcpx_seconds(clip.get("offset", "")) == cursor
        assert fcpx_seconds(clip.get("start", "")) == start * frame
        assert fcpx_seconds(clip.get("duration", "")) == (end - start) * frame
        assert clip.get("ref") == asset.get("id")
        cursor += (end - start) * frame
    sequence = root.find("library/event/project/sequence")
    assert sequence is not None
    assert fcpx_seconds(sequence.get("duration", "")) == cursor == frames_of(timeline) * frame
    fades = [e for e in spine if e.tag == "transition"]
    cuts = [fcpx_seconds(c.get("offset", "")) for c in clips[1:4]]
    assert [
        (fcpx_seconds(f.get("offset", "")), fcpx_seconds(f.get("duration", ""))) for f in fades
    ] == [(cuts[0] - 3 * frame, 6 * frame), (cuts[1] - 2 * frame, 5 * frame), (cuts[2], frame)]
    for fade in fades:
        assert [f.tag for f in fade] == ["filter-video", "filter-audio"]


def test_fcpx_times_are_exact_rationals() -> None:
    assert fcpx_time(0, NTSC) == "0s"
    assert fcpx_time(1, NTSC) == "1001/30000s"
    assert fcpx_time(30000, NTSC) == "1001s"
    assert fcpx_time(230, FrameRate(num=25, den=1)) == "46/5s"


def test_the_fcp7_xml_has_its_format_and_separate_audio_items() -> None:
    timeline = timeline_at(NTSC)
    text = write_exports(timeline, CUES, media_name="My Talk.mp4", name="job-1")["xml"]
    assert "<!DOCTYPE xmeml>" in text
    assert re.search(r"<width>1920</width>\s*<height>1080</height>", text)
    assert re.search(r"<timebase>30</timebase>\s*<ntsc>TRUE</ntsc>", text)
    # Every clip item is whole (the writer used to fold audio items into references to video
    # ones), and plays the stream it names.
    assert "<clipitem id=" not in text.replace('frameBlend="FALSE" id=', "")
    assert text.count("<mediatype>audio</mediatype>") == len(timeline.clips) + 3 + 0
    assert text.count("<effectid>KGAudioTransCrossFade3dB</effectid>") == 3
    assert text.count("<alignment>start</alignment>") == 2  # the one-frame fade, on V and A


@pytest.mark.parametrize(
    ("rate", "fcm"), [(NTSC, "FCM: DROP FRAME"), (FrameRate(num=25, den=1), "FCM: NON-DROP FRAME")]
)
def test_the_edl_says_its_timecode_and_carries_the_sound(rate: FrameRate, fcm: str) -> None:
    text = write_exports(timeline_at(rate), [], media_name="My Talk.mp4", name="job-1")["edl"]
    lines = text.splitlines()
    assert lines[:2] == ["TITLE: job-1", fcm]
    events = [line for line in lines if re.match(r"^\d{3}  ", line)]
    assert events
    assert all(line.split()[1:3] == ["MYTALK", "B"] for line in events)


def test_names_and_the_otio_json() -> None:
    assert media_url("C:\\clips\\take 1#.mov") == "take%201%23.mov"
    assert edl_reel("my talk (final).mp4") == "MYTALKFI"
    assert edl_reel("...") == "AX"
    timeline = timeline_at(FrameRate(num=25, den=1))
    document = json.loads(write_exports(timeline, [], media_name="a.mp4", name="j")["otio"])
    assert document["OTIO_SCHEMA"].startswith("Timeline.")
    assert document["metadata"]["talkavocado"]["frame_rate"] == {"num": 25, "den": 1}
