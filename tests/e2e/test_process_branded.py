"""The full option set end to end, in a noisy room: crossfades, burned-in subtitles, an intro
and outro of another shape, a logo — and still every sentence whole."""

from __future__ import annotations

import json
import subprocess
from itertools import pairwise
from pathlib import Path

import pytest

from talkavocado_common.captions import parse_srt
from talkavocado_common.models import CutPlan, Timeline, TimelineClip
from tests.e2e.audiocheck import decode, sentence_matches
from tests.e2e.conftest import Run, avocado, media_info
from tests.mediagen import DEMO_SCRIPT, Recording, make_recording

pytestmark = pytest.mark.slow

INTRO_SEC = 1.2
OUTRO_SEC = 0.8


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def noisy_recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return make_recording(
        DEMO_SCRIPT, tmp_path_factory.mktemp("noisy") / "noisy-talk.mp4", noise_amplitude=0.03
    )


@pytest.fixture(scope="module")
def branded_run(noisy_recording: Recording, tmp_path_factory: pytest.TempPathFactory) -> Run:
    assets = tmp_path_factory.mktemp("assets")
    # A 16:9 intro with sound at 30 fps and a square silent outro, into a 4:3 25 fps talk.
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"color=c=red:s=320x180:r=30:d={INTRO_SEC}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:duration={INTRO_SEC}",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(assets / "intro.mp4"),
    )
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"color=c=blue:s=200x200:r=25:d={OUTRO_SEC}",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        str(assets / "outro.mp4"),
    )
    ffmpeg("-f", "lavfi", "-i", "color=c=white:s=64x64", "-frames:v", "1", str(assets / "logo.png"))
    options = assets / "options.json"
    options.write_text(
        json.dumps(
            {
                "transitions": {"enabled": True, "durationMs": 200},
                "subtitles": {"burnIn": True},
                "branding": {
                    "intro": "intro.mp4",
                    "outro": "outro.mp4",
                    "logo": {
                        "asset": "logo.png",
                        "position": "top-left",
                        "opacity": 1.0,
                        "scale": 0.1,
                    },
                },
            }
        )
    )
    run = avocado(
        noisy_recording.path,
        "--options",
        options,
        "--asset",
        assets / "intro.mp4",
        "--asset",
        assets / "outro.mp4",
        "--asset",
        assets / "logo.png",
        storage=tmp_path_factory.mktemp("storage"),
    )
    assert run.returncode == 0, run.stderr
    return run


def timeline_of(run: Run) -> Timeline:
    return Timeline.model_validate_json(run.path(run.manifest["plan"]["timeline"]).read_bytes())


def test_noisy_room_pauses_and_fillers_are_still_cut(
    branded_run: Run, noisy_recording: Recording
) -> None:
    plan = CutPlan.model_validate_json(
        branded_run.path(branded_run.manifest["plan"]["cutPlan"]).read_bytes()
    )
    cuts = [r for r in plan.regions if r.action == "cut"]
    for piece in noisy_recording.of_kind("speech"):
        for cut in cuts:
            assert min(cut.end, piece.end) - max(cut.start, piece.start) <= 0.03, (
                f"cut enters {piece.text!r}"
            )
    for filler in noisy_recording.of_kind("filler"):
        assert any(c.start <= filler.start + 0.03 and c.end >= filler.end - 0.03 for c in cuts), (
            filler
        )
    long_pauses = [p for p in noisy_recording.of_kind("pause") if p.duration > 1.0]
    assert len([c for c in cuts if c.reason == "pause"]) >= len(long_pauses)


def test_crossfades_are_in_the_timeline(branded_run: Run) -> None:
    timeline = timeline_of(branded_run)
    assert len(timeline.clips) >= 3
    assert all(c.transition_in_sec == pytest.approx(0.2) for c in timeline.clips[1:])
    assert "video-transitions" in branded_run.manifest["steps"]


def test_output_is_intro_edit_outro_in_the_main_shape(
    branded_run: Run, noisy_recording: Recording
) -> None:
    final = branded_run.path(branded_run.manifest["renders"][0]["key"])
    info = media_info(final)
    assert info.video is not None
    assert info.audio is not None
    frame = 1 / noisy_recording.fps
    expected = INTRO_SEC + timeline_of(branded_run).duration_sec + OUTRO_SEC
    assert info.video.duration == pytest.approx(expected, abs=2 * frame)
    assert info.audio.duration == pytest.approx(expected, abs=2 * frame)
    assert (info.video.width, info.video.height) == (noisy_recording.width, noisy_recording.height)
    assert info.video.frame_rate == noisy_recording.fps


def test_sentences_are_whole_after_the_intro_and_crossfades(
    branded_run: Run, noisy_recording: Recording
) -> None:
    timeline = timeline_of(branded_run)
    source = decode(noisy_recording.path)
    output = decode(branded_run.path(branded_run.manifest["renders"][0]["key"]))
    for piece in noisy_recording.of_kind("speech"):
        clip = next(c for c in timeline.clips if c.source_start <= piece.start < c.source_end)
        assert piece.end <= clip.source_end, f"{piece.text!r} spans a cut"
        out_start = INTRO_SEC + clip.timeline_start + piece.start - clip.source_start
        ok, detail = sentence_matches(source, output, piece.start, piece.end, out_start)
        assert ok, f"{piece.text!r}: {detail}"


def gray_band(video: Path, at: float, out: Path, *, top: bool = False) -> bytes:
    """One frame's bottom (or top) fifth as 8-bit gray pixels."""
    crop = "crop=iw:ih/5:0:0" if top else "crop=iw:ih/5:0:ih*4/5"
    ffmpeg(
        "-ss",
        f"{at:.3f}",
        "-i",
        str(video),
        "-frames:v",
        "1",
        "-vf",
        f"{crop},format=gray",
        "-f",
        "rawvideo",
        str(out),
    )
    return out.read_bytes()


def solo_clip(timeline: Timeline, t: float) -> TimelineClip | None:
    """The clip showing at timeline time t, if no crossfade blends it with another."""
    showing = [
        c
        for c in timeline.clips
        if c.timeline_start <= t < c.timeline_start + c.source_end - c.source_start
    ]
    return showing[0] if len(showing) == 1 else None


def changed_pixels(a: bytes, b: bytes) -> int:
    assert len(a) == len(b)
    return sum(1 for x, y in zip(a, b, strict=True) if abs(x - y) > 60)


def test_subtitles_and_logo_are_drawn_on_the_edit(
    branded_run: Run, noisy_recording: Recording, tmp_path: Path
) -> None:
    manifest = branded_run.manifest
    final = branded_run.path(manifest["renders"][0]["key"])
    srt = next(
        s["key"] for s in manifest["subtitles"] if s["kind"] == "final" and s["format"] == "srt"
    )
    cues = parse_srt(branded_run.path(srt).read_text())
    assert cues
    for a, b in pairwise(cues):
        assert a.end <= b.start
    # The same picture in the source and in the edit differs only where text and logo were drawn.
    timeline = timeline_of(branded_run)
    cue = max(cues, key=lambda c: c.end - c.start)
    middle = (cue.start + cue.end) / 2
    clip = next(
        c
        for c in timeline.clips
        if c.timeline_start + c.transition_in_sec
        <= middle
        < c.timeline_start + c.source_end - c.source_start
    )
    source_at = clip.source_start + middle - clip.timeline_start
    edited = gray_band(final, INTRO_SEC + middle, tmp_path / "edited.gray")
    original = gray_band(noisy_recording.path, source_at, tmp_path / "original.gray")
    assert changed_pixels(edited, original) > 100, "no subtitle text drawn during the cue"
    logo_edited = gray_band(final, INTRO_SEC + middle, tmp_path / "edited-top.gray", top=True)
    logo_original = gray_band(
        noisy_recording.path, source_at, tmp_path / "original-top.gray", top=True
    )
    assert changed_pixels(logo_edited, logo_original) > 100, "no logo drawn"
    # Control: between cues the bottom band matches the source (the frames are aligned).
    candidates = [
        a.end + k * 0.04 for a, b in pairwise(cues) for k in range(1, int((b.start - a.end) / 0.04))
    ]
    quiet = next(t for t in candidates if solo_clip(timeline, t) is not None)
    clip = solo_clip(timeline, quiet)
    assert clip is not None
    plain_edited = gray_band(final, INTRO_SEC + quiet, tmp_path / "quiet-edited.gray")
    plain_original = gray_band(
        noisy_recording.path,
        clip.source_start + quiet - clip.timeline_start,
        tmp_path / "quiet.gray",
    )
    assert changed_pixels(plain_edited, plain_original) < 50
