"""Timeline exports: the edit as an OpenTimelineIO timeline, written by OTIO's adapter plugins as
OTIO JSON, FCPXML (Final Cut Pro X, DaVinci Resolve), FCP7 XML (Premiere, Resolve, Kdenlive) and
a CMX 3600 EDL. Pure functions: a Timeline and its cues in, the files' text out.

How the edit maps onto OTIO:
- One video track ("V1") and, when the recording has sound, one audio track ("A1") with the
  same clips: each clip a kept range of the recording, on the recording's own frame rate
  (30000/1001 stays 30000/1001), referenced by a relative file name (`media_name`, the
  recording's original file name) so an editor relinks it by putting the file next to the
  export.
- A crossfade of T frames (plan/timeline.json: the next clip overlaps the previous one's end by
  T frames) is an OTIO Transition centred on the cut: `in_offset` = T // 2 frames before the
  cut, `out_offset` = the rest after it. The outgoing clip shows its kept range less its last
  `out_offset` frames, the incoming one less its first `in_offset` frames: those are the
  handles the transition plays, so a clip's visible range widened by the offsets of the
  transitions at its two ends is exactly its kept range (`visible_frames` gives the former).
- Each subtitle cue is a marker on the video clip where it starts (in that clip's media time,
  its duration clipped to the clip), named with the cue's text. The SRT/VTT files remain the
  caption track to import beside the timeline.

The adapters have quirks, worked around here (docs in `_fcpxml`, `_fcp7_xml`, `_edl`).
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final, Literal
from urllib.parse import quote

import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange
from otio_fcpx_xml_adapter import fcpx_xml as fcpx_adapter

from talkavocado_common.captions import Cue
from talkavocado_common.models import FrameRate, Timeline

ExportFormat = Literal["otio", "fcpxml", "xml", "edl"]
# The file extension of each format, in the order they are written and listed.
EXPORT_FORMATS: Final[tuple[ExportFormat, ...]] = ("otio", "fcpxml", "xml", "edl")
NAMESPACE: Final = "talkavocado"
MARKER_COLOR: Final = "CYAN"  # not RED or GREEN: the FCPXML writer turns those into to-do items

# Final Cut Pro's built-in transitions, by the uid its own exports use.
_FCPX_CROSS_DISSOLVE = "FxPlug:4731E73A-8DAC-4113-9A30-AE85B1761265"
_FCPX_AUDIO_CROSSFADE = "FFAudioTransition"


class ExportError(ValueError):
    """The timeline cannot be exported (e.g. a format's writer refused it)."""


def exact_rate(rate: FrameRate) -> Fraction:
    return Fraction(rate.num, rate.den)


def otio_rate(rate: FrameRate) -> float:
    """The rate OTIO keeps (a double); 30000/1001 as 29.97002997…, never rounded to 29.97."""
    return float(exact_rate(rate))


def _basename(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1] or "recording.mp4"


def media_url(name: str) -> str:
    """A relative URL for a file name (its last path segment, percent-encoded)."""
    return quote(_basename(name))


@dataclass(frozen=True)
class _Join:
    """A crossfade of `before + after` frames centred on a cut."""

    before: int  # the transition's in_offset: frames before the cut (the outgoing clip's end)
    after: int  # out_offset: frames after it (the incoming clip's start)


def _joins(timeline: Timeline) -> list[_Join]:
    """The crossfade at the start of each clip (the first clip's is always empty)."""
    fps = exact_rate(timeline.frame_rate)
    joins: list[_Join] = []
    for index, clip in enumerate(timeline.clips):
        frames = 0 if index == 0 else round(Fraction(clip.transition_in_sec) * fps)
        joins.append(_Join(frames // 2, frames - frames // 2))
    return joins


def visible_frames(timeline: Timeline) -> list[tuple[int, int]]:
    """Each clip's visible source range [start, end) on the OTIO track: its kept range less the
    halves of the crossfades at its two ends."""
    joins = [*_joins(timeline), _Join(0, 0)]
    return [
        (clip.source_start_frame + joins[i].before, clip.source_end_frame - joins[i + 1].after)
        for i, clip in enumerate(timeline.clips)
    ]


def _rt(frames: int, rate: float) -> Any:
    return RationalTime(frames, rate)


def _range(start: int, duration: int, rate: float) -> Any:
    return TimeRange(_rt(start, rate), _rt(duration, rate))


def _source_frames(timeline: Timeline) -> int:
    fps = exact_rate(timeline.frame_rate)
    last = max(clip.source_end_frame for clip in timeline.clips)
    return max(last, int(Fraction(timeline.source_duration_sec) * fps))


@dataclass(frozen=True)
class _Marker:
    clip: int
    start: int  # source frame
    duration: int
    text: str


def _markers(timeline: Timeline, cues: Sequence[Cue]) -> list[_Marker]:
    """Each cue as a marker on the clip visible where it starts (source frames)."""
    fps = exact_rate(timeline.frame_rate)
    visible = visible_frames(timeline)
    markers: list[_Marker] = []
    for cue in cues:
        at = round(Fraction(cue.start) * fps)
        end = max(at + 1, round(Fraction(cue.end) * fps))
        cursor = 0
        for index, (start, stop) in enumerate(visible):
            length = stop - start
            if at < cursor + length or index == len(visible) - 1:
                offset = min(max(0, at - cursor), length - 1)
                duration = max(1, min(end - at, length - offset))
                text = " ".join(line.strip() for line in cue.lines if line.strip())
                markers.append(_Marker(index, start + offset, duration, text))
                break
            cursor += length
    return markers


def _track(timeline: Timeline, kind: str, media: Any, markers: Sequence[_Marker]) -> Any:
    rate = otio_rate(timeline.frame_rate)
    audio = kind == otio.schema.TrackKind.Audio
    name = "A1" if audio else "V1"
    track = otio.schema.Track(name=name, kind=kind)
    joins = _joins(timeline)
    for index, (start, stop) in enumerate(visible_frames(timeline)):
        join = joins[index]
        if index > 0 and join.before + join.after > 0:
            track.append(
                otio.schema.Transition(
                    name="Cross Fade (+3dB)" if audio else "Cross Dissolve",
                    transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                    in_offset=_rt(join.before, rate),
                    out_offset=_rt(join.after, rate),
                    metadata=_fcp7_transition_metadata(join, audio),
                )
            )
        clip = otio.schema.Clip(
            name=f"{name} clip {index + 1}",
            media_reference=copy.deepcopy(media),
            source_range=_range(start, stop - start, rate),
            metadata={
                NAMESPACE: {"track": name, "clip": index},
                # FCP7 XML: which of the file's streams the clip item plays.
                "fcp_xml": {
                    "sourcetrack": {"mediatype": "audio" if audio else "video", "trackindex": "1"}
                },
            },
        )
        for marker in markers if not audio else ():
            if marker.clip == index:
                clip.markers.append(
                    otio.schema.Marker(
                        name=marker.text,
                        marked_range=_range(marker.start, marker.duration, rate),
                        color=MARKER_COLOR,
                        metadata={NAMESPACE: {"kind": "subtitle"}},
                    )
                )
        track.append(clip)
    return track


def _fcp7_transition_metadata(join: _Join, audio: bool) -> dict[str, Any]:
    """FCP7 XML: the effect of the transition item (the writer labels every one a video Cross
    Dissolve, audio tracks included) and, for a one-sided (one-frame) fade, its alignment (the
    writer would say start-black/end-black: a fade from or to black)."""
    effect = (
        {
            "name": "Cross Fade (+3dB)",
            "effectid": "KGAudioTransCrossFade3dB",
            "effecttype": "transition",
            "mediatype": "audio",
        }
        if audio
        else {
            "name": "Cross Dissolve",
            "effectid": "Cross Dissolve",
            "effecttype": "transition",
            "mediatype": "video",
        }
    )
    fcp7: dict[str, Any] = {"effect": effect}
    if join.before == 0 or join.after == 0:
        fcp7["alignment"] = "start" if join.before == 0 else "end"
    return {"fcp_xml": fcp7}


def build_otio(timeline: Timeline, cues: Sequence[Cue], *, media_name: str, name: str) -> Any:
    """The edit as an OTIO Timeline (see the module's docstring for the mapping)."""
    rate = otio_rate(timeline.frame_rate)
    media = otio.schema.ExternalReference(
        target_url=media_url(media_name),
        available_range=_range(0, _source_frames(timeline), rate),
    )
    media.name = _basename(media_name)
    result = otio.schema.Timeline(name=name, global_start_time=_rt(0, rate))
    result.metadata[NAMESPACE] = {
        "frame_rate": {"num": timeline.frame_rate.num, "den": timeline.frame_rate.den},
        "width": timeline.width,
        "height": timeline.height,
        "has_audio": timeline.has_audio,
    }
    markers = _markers(timeline, cues)
    result.tracks.append(_track(timeline, otio.schema.TrackKind.Video, media, markers))
    if timeline.has_audio:
        result.tracks.append(_track(timeline, otio.schema.TrackKind.Audio, media, ()))
    return result


def write_exports(
    timeline: Timeline, cues: Sequence[Cue], *, media_name: str, name: str
) -> dict[ExportFormat, str]:
    """All four files' text, by format (each writer gets its own copy: some mutate theirs)."""
    built = build_otio(timeline, cues, media_name=media_name, name=name)
    writers: dict[ExportFormat, Callable[[Any, Timeline], str]] = {
        "otio": _otio_json,
        "fcpxml": _fcpxml,
        "xml": _fcp7_xml,
        "edl": _edl,
    }
    out: dict[ExportFormat, str] = {}
    for fmt in EXPORT_FORMATS:
        try:
            out[fmt] = writers[fmt](copy.deepcopy(built), timeline)
        except (otio.exceptions.OTIOError, ValueError, KeyError, AttributeError) as exc:
            raise ExportError(f"the {fmt} writer refused the timeline: {exc}") from exc
    return out


def _otio_json(built: Any, timeline: Timeline) -> str:
    text: str = otio.adapters.write_to_string(built, "otio_json")
    return text


# ---------------------------------------------------------------------------------------------
# CMX 3600 EDL


def edl_reel(file_name: str) -> str:
    """A CMX 3600 reel name: up to 8 capitals and digits of the file's stem ("AX" if none)."""
    stem = _basename(file_name).rsplit(".", 1)[0]
    return re.sub(r"[^A-Za-z0-9]+", "", stem).upper()[:8] or "AX"


def _edl(built: Any, timeline: Timeline) -> str:
    """The EDL writer (cmx_3600), with `rate` given (it would take the track's), then:
    - it writes only the video track's events with channel `V`: with sound, each event is `B`
      (video and audio 1), which its reader maps back to a V and an A1 track;
    - it writes no FCM line (the adapter leaves it out) though 29.97/59.94 timecodes come out
      drop-frame (`;`): the header says which it is.
    - the reel name it derives from the file name keeps spaces (which split an event line) and
      the extension when it has a digit (`.mp4`): each clip gets a reel of up to 8 letters and
      digits of the file's stem.
    Readers must be given the rate too (the reader assumes 24 fps)."""
    reel = edl_reel(built.tracks[0][0].media_reference.name or "")
    for track in built.tracks:
        for clip in track.find_clips():
            clip.metadata["cmx_3600"] = {"reel": reel}
    text: str = otio.adapters.write_to_string(
        built, "cmx_3600", rate=otio_rate(timeline.frame_rate)
    )
    lines = text.splitlines()
    event = re.compile(r"^(\d{3}\s+\S+\s+)V(\s+[CD]\b)")
    drop = any(event.match(line) and ";" in line for line in lines)
    fixed: list[str] = []
    for line in lines:
        if timeline.has_audio:
            line = event.sub(r"\1B\2", line)
        fixed.append(line)
        if line.startswith("TITLE:"):
            fixed.append("FCM: DROP FRAME" if drop else "FCM: NON-DROP FRAME")
    return "\n".join(fixed) + "\n"


# ---------------------------------------------------------------------------------------------
# FCP7 XML (xmeml)


def _fcp7_xml(built: Any, timeline: Timeline) -> str:
    """The FCP7 XML writer (fcp_xml), then:
    - the sequence's `<format/>` is empty: it gets the frame size (samplecharacteristics);
    - there is no DOCTYPE: `<!DOCTYPE xmeml>` as Premiere and FCP 7 write it.
    Through the clips' metadata (the adapter writes `fcp_xml` metadata as elements): each clip
    item names its `sourcetrack`, audio transitions are audio cross fades, and the audio
    clips carry their own metadata so the writer does not fold them into references to the
    video track's clip items (it shares an id between items whose JSON is equal)."""
    text: str = otio.adapters.write_to_string(built, "fcp_xml")
    root = ET.fromstring(text)
    fps = exact_rate(timeline.frame_rate)
    for fmt in root.iter("format"):
        if len(fmt) == 0:
            chars = ET.SubElement(fmt, "samplecharacteristics")
            rate = ET.SubElement(chars, "rate")
            ET.SubElement(rate, "timebase").text = str(round(fps))
            ET.SubElement(rate, "ntsc").text = "TRUE" if fps.denominator == 1001 else "FALSE"
            ET.SubElement(chars, "width").text = str(timeline.width)
            ET.SubElement(chars, "height").text = str(timeline.height)
            ET.SubElement(chars, "pixelaspectratio").text = "square"
    ET.indent(root, space="    ")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n{body}\n'


# ---------------------------------------------------------------------------------------------
# FCPXML (Final Cut Pro X 1.8)


def fcpx_time(frames: int, rate: FrameRate) -> str:
    """An FCPXML time: a rational number of seconds, exact on the frame grid."""
    if frames == 0:
        return "0s"
    value = Fraction(frames) / exact_rate(rate)
    if value.denominator == 1:
        return f"{value.numerator}s"
    return f"{value.numerator}/{value.denominator}s"


def _fcpx_writer(built: Any, timeline: Timeline) -> str:
    """The FCPXML writer (fcpx_xml) on the video track alone, with two of its lookups replaced
    on this one writer object: the frame duration (a table keyed by int/float rates, which gives
    frameDuration="" at 30000/1001 — and then the writer crashes placing audio lanes) becomes
    exact, and the format name (ffprobe on the media path, relative here) is left empty."""
    video_only = otio.schema.Timeline(name=built.name, global_start_time=built.global_start_time)
    video = copy.deepcopy(built.tracks[0])
    for index in reversed(range(len(video))):
        if isinstance(video[index], otio.schema.Transition):
            del video[index]  # the writer ignores them; added back below
    video_only.tracks.append(video)
    writer = fcpx_adapter.FcpxOtio(video_only)
    duration = f"{timeline.frame_rate.den}/{timeline.frame_rate.num}s"
    writer._framerate_to_frame_duration = lambda _rate: duration
    writer._clip_format_name = lambda _clip: ""
    text: str = writer.to_xml()
    return text


def _fcpxml(built: Any, timeline: Timeline) -> str:
    """The FCPXML writer's output (see `_fcpx_writer`), fixed where it is wrong:
    - it puts a top-level `<asset-clip>` per clip beside the project, with no `<library>` or
      `<event>`: those clips are dropped and the project goes in library/event;
    - its `<format>` has no width or height: they are set;
    - the asset says hasAudio="0" for a video track: it says what the recording has;
    - each spine `<clip>` holds a `<video>` of the asset (picture only, and its times come from
      floats): it becomes an `<asset-clip>` (picture and sound) with exact times;
    - transitions are dropped: each crossfade is a `<transition>` over the cut (Cross Dissolve,
      and Audio Crossfade with sound), as Final Cut writes it;
    - the sequence gets its timecode format and start."""
    root = ET.fromstring(_fcpx_writer(built, timeline))
    resources = _require(root.find("resources"), "resources")
    project = _require(root.find("project"), "project")
    for stray in root.findall("asset-clip"):
        root.remove(stray)
    root.remove(project)
    library = ET.SubElement(root, "library")
    event = ET.SubElement(library, "event", {"name": built.name or "TalkAvocado"})
    event.append(project)
    project.attrib.pop("uid", None)

    fmt = _require(resources.find("format"), "format")
    if not fmt.get("name"):
        fmt.attrib.pop("name", None)
    fmt.set("width", str(timeline.width))
    fmt.set("height", str(timeline.height))
    asset = _require(resources.find("asset"), "asset")
    asset.set("name", built.tracks[0][0].media_reference.name or asset.get("name", ""))
    asset.set("hasVideo", "1")
    asset.set("hasAudio", "1" if timeline.has_audio else "0")
    if timeline.has_audio:
        asset.set("audioSources", "1")
    asset.set("duration", fcpx_time(_source_frames(timeline), timeline.frame_rate))
    asset.set("start", "0s")

    sequence = _require(project.find("sequence"), "sequence")
    sequence.set("tcStart", "0s")
    sequence.set("tcFormat", "DF" if timeline.frame_rate.den == 1001 else "NDF")
    spine = _require(sequence.find("spine"), "spine")
    _fcpx_spine(spine, resources, asset, timeline)
    ET.indent(root, space="    ")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n{body}\n'


def _require(element: ET.Element | None, what: str) -> ET.Element:
    if element is None:
        raise ExportError(f"the FCPXML writer wrote no <{what}>")
    return element


def _fcpx_spine(
    spine: ET.Element, resources: ET.Element, asset: ET.Element, timeline: Timeline
) -> None:
    rate = timeline.frame_rate
    clips = [e for e in spine if e.tag == "clip"]
    visible = visible_frames(timeline)
    if len(clips) != len(visible):
        raise ExportError(f"the FCPXML writer wrote {len(clips)} clips for {len(visible)}")
    effects = _fcpx_effects(resources, timeline.has_audio)
    joins = _joins(timeline)
    for child in list(spine):
        spine.remove(child)
    cursor = 0
    for index, (old, (start, stop)) in enumerate(zip(clips, visible, strict=True)):
        join = joins[index]
        if join.before + join.after > 0:
            spine.append(_fcpx_transition(cursor - join.before, join, effects, rate))
        clip = ET.SubElement(
            spine,
            "asset-clip",
            {
                "name": old.get("name", f"clip {index + 1}"),
                "ref": asset.get("id", ""),
                "offset": fcpx_time(cursor, rate),
                "start": fcpx_time(start, rate),
                "duration": fcpx_time(stop - start, rate),
                "tcFormat": "DF" if rate.den == 1001 else "NDF",
            },
        )
        if timeline.has_audio:
            clip.set("audioRole", "dialogue")
        for marker in old.iter("marker"):
            clip.append(marker)
        cursor += stop - start
    _fcpx_fix_markers(spine, rate)


def _fcpx_fix_markers(spine: ET.Element, rate: FrameRate) -> None:
    """Marker times in exact rationals (the writer computed them from floats)."""
    fps = exact_rate(rate)
    for marker in spine.iter("marker"):
        for attribute in ("start", "duration"):
            value = _parse_fcpx_time(marker.get(attribute, "0s"))
            marker.set(attribute, fcpx_time(round(value * fps), rate))


def _parse_fcpx_time(text: str) -> Fraction:
    number = text.removesuffix("s")
    return Fraction(number) if number else Fraction(0)


def _fcpx_effects(resources: ET.Element, has_audio: bool) -> list[str]:
    """The transition effects' resource ids (added to the resources)."""
    taken = {e.get("id") for e in resources}
    ids: list[str] = []
    wanted = [("Cross Dissolve", _FCPX_CROSS_DISSOLVE)]
    if has_audio:
        wanted.append(("Audio Crossfade", _FCPX_AUDIO_CROSSFADE))
    number = len(taken) + 1
    for name, uid in wanted:
        while f"r{number}" in taken:
            number += 1
        ident = f"r{number}"
        taken.add(ident)
        ET.SubElement(resources, "effect", {"id": ident, "name": name, "uid": uid})
        ids.append(ident)
    return ids


def _fcpx_transition(
    offset: int, join: _Join, effects: Sequence[str], rate: FrameRate
) -> ET.Element:
    element = ET.Element(
        "transition",
        {
            "name": "Cross Dissolve",
            "offset": fcpx_time(offset, rate),
            "duration": fcpx_time(join.before + join.after, rate),
        },
    )
    ET.SubElement(element, "filter-video", {"ref": effects[0], "name": "Cross Dissolve"})
    if len(effects) > 1:
        ET.SubElement(element, "filter-audio", {"ref": effects[1], "name": "Audio Crossfade"})
    return element
