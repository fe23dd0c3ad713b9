"""Reading timeline exports back (talkavocado_render.core.exports) and comparing them with the
timeline they came from, to the frame.

`read_back` reads each format with its OTIO adapter: the EDL with the rate given (its reader
assumes 24 fps otherwise), the FCPXML with `exact_fcpx_reader` in force — the adapter's FCPXML
reader truncates times to whole frames through floats (230 frames at 25 fps come back as 229)
and takes a format's rate as a whole number (29.97 as 29), so without the fix it cannot tell a
right file from a wrong one."""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import opentimelineio as otio
import pytest

from talkavocado_common.models import FrameRate, Timeline, TimelineClip
from talkavocado_render.core.exports import exact_rate, otio_rate
from talkavocado_render.core.timeline import layout


def kept_frames(timeline: Timeline) -> list[tuple[int, int]]:
    return [(c.source_start_frame, c.source_end_frame) for c in timeline.clips]


def _frames(time: Any, rate: float) -> int:
    value = time.rescaled_to(rate).value
    assert abs(value - round(value)) < 1e-6, f"{time} is not on the {rate} fps grid"
    return round(value)


def used_frames(track: Any, rate: float) -> list[tuple[int, int]]:
    """Each clip's source range widened by the transitions at its two ends: the media the clip
    plays, its part of the crossfades included (what plan/timeline.json calls its range)."""
    items = [item for item in track if not isinstance(item, otio.schema.Gap)]
    used: list[tuple[int, int]] = []
    for index, item in enumerate(items):
        if not isinstance(item, otio.schema.Clip):
            continue
        start = _frames(item.source_range.start_time, rate)
        end = start + _frames(item.source_range.duration, rate)
        before = items[index - 1] if index > 0 else None
        after = items[index + 1] if index + 1 < len(items) else None
        if isinstance(before, otio.schema.Transition):
            start -= _frames(before.in_offset, rate)
        if isinstance(after, otio.schema.Transition):
            end += _frames(after.out_offset, rate)
        used.append((start, end))
    return used


def transitions(track: Any, rate: float) -> list[int]:
    return [
        _frames(t.in_offset, rate) + _frames(t.out_offset, rate)
        for t in track
        if isinstance(t, otio.schema.Transition)
    ]


def _exact_rational_time(rational_number: str | None, fps: float) -> Any:
    rate = Fraction(fps).limit_denominator(1001)
    seconds = Fraction((rational_number or "0s").removesuffix("s") or "0")
    return otio.opentime.RationalTime(round(seconds * rate), float(rate))


@contextlib.contextmanager
def exact_fcpx_reader() -> Iterator[None]:
    """The adapter's FCPXML reader with exact time arithmetic (see the module docstring); in
    the module OTIO loads for `read_from_string` (its own copy, not `otio_fcpx_xml_adapter`)."""
    fcpx_xml = otio.adapters.from_name("fcpx_xml").module()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fcpx_xml, "to_rational_time", _exact_rational_time)

        def frame_rate(self: Any, format_id: str) -> float:
            total, rate = self._format_frame_duration(format_id)
            return float(Fraction(rate) / Fraction(total))

        def number_of_frames(self: Any, time_value: str | None, format_id: str) -> int:
            if not time_value:
                return 0
            return int(_exact_rational_time(time_value, frame_rate(self, format_id)).value)

        patch.setattr(fcpx_xml.FcpxXml, "_format_frame_rate", frame_rate)
        patch.setattr(fcpx_xml.FcpxXml, "_number_of_frames", number_of_frames)
        yield


def read_back(fmt: str, text: str, timeline: Timeline) -> Any:
    """The export read with its OTIO adapter: an otio Timeline."""
    if fmt == "otio":
        return otio.adapters.read_from_string(text, "otio_json")
    if fmt == "edl":
        return otio.adapters.read_from_string(text, "cmx_3600", rate=otio_rate(timeline.frame_rate))
    if fmt == "xml":
        return otio.adapters.read_from_string(text, "fcp_xml")
    with exact_fcpx_reader():
        read = otio.adapters.read_from_string(text, "fcpx_xml")
    timelines = list(read.find_children(descended_from_type=otio.schema.Timeline))
    assert len(timelines) == 1, "one project in the library's event"
    return timelines[0]


def video_track(read: Any) -> Any:
    (track,) = [t for t in read.tracks if t.kind == otio.schema.TrackKind.Video]
    return track


def check_ranges(fmt: str, text: str, timeline: Timeline) -> Any:
    """Clip count and every clip's source range, to the frame; the transitions' lengths."""
    rate = otio_rate(timeline.frame_rate)
    read = read_back(fmt, text, timeline)
    track = video_track(read)
    used = used_frames(track, rate)
    fades = [
        round(Fraction(c.transition_in_sec) * exact_rate(timeline.frame_rate))
        for c in timeline.clips[1:]
    ]
    if fmt == "fcpxml":  # its reader drops transitions: they are read from the XML
        joins = fcpxml_joins(text)
        assert [before + after for before, after in joins] == fades, fmt
        used = [
            (start - (joins[i - 1][0] if i else 0), end + (joins[i][1] if i < len(joins) else 0))
            for i, (start, end) in enumerate(used)
        ]
    else:
        assert transitions(track, rate) == [f for f in fades if f], fmt
    assert used == kept_frames(timeline), fmt
    return read


def fcpxml_joins(text: str) -> list[tuple[int, int]]:
    """(frames before the cut, frames after it) of the transition at each cut of the spine,
    (0, 0) for a hard cut."""
    root, frame = fcpxml_frames(text)
    spine = root.find("library/event/project/sequence/spine")
    assert spine is not None
    joins: list[tuple[int, int]] = []
    pending: ET.Element | None = None
    for index, element in enumerate(spine):
        if element.tag == "transition":
            pending = element
            continue
        if index == 0:
            continue
        if pending is None:
            joins.append((0, 0))
            continue
        cut = fcpx_seconds(element.get("offset", ""))
        start = fcpx_seconds(pending.get("offset", ""))
        length = fcpx_seconds(pending.get("duration", ""))
        joins.append((int((cut - start) / frame), int((start + length - cut) / frame)))
        pending = None
    return joins


def fcpx_seconds(value: str) -> Fraction:
    return Fraction(value.removesuffix("s") or "0")


def fcpxml_frames(text: str) -> tuple[ET.Element, Fraction]:
    """The parsed FCPXML and its frame duration (seconds)."""
    root = ET.fromstring(text)
    fmt = root.find("resources/format")
    assert fmt is not None
    return root, fcpx_seconds(fmt.get("frameDuration", ""))


def edit_timeline(
    rate: FrameRate,
    ranges: list[tuple[int, int, int]],
    *,
    source_key: str,
    size: tuple[int, int],
    source_duration_sec: float,
    has_audio: bool = True,
) -> Timeline:
    """A timeline keeping `ranges` (start frame, end frame, crossfade frames in), placed by the
    render's own layout."""
    fps = Fraction(rate.num, rate.den)
    clips = [
        TimelineClip(
            source_start_frame=start,
            source_end_frame=end,
            source_start=0,
            source_end=0,
            timeline_start=0,
            transition_in_sec=float(fade / fps),
        )
        for start, end, fade in ranges
    ]
    placed, duration = layout(clips, rate)
    return Timeline(
        source_key=source_key,
        frame_rate=rate,
        width=size[0],
        height=size[1],
        has_audio=has_audio,
        source_duration_sec=source_duration_sec,
        clips=placed,
        duration_sec=duration,
    )
