"""`avocado process` end to end on a generated talk whose pauses and fillers are known exactly."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from talkavocado_common.captions import parse_srt, parse_vtt
from talkavocado_common.models import CutPlan, Timeline
from tests.e2e.audiocheck import RATE, decode, sentence_matches
from tests.e2e.conftest import Run, avocado, media_info, normalise, to_timeline
from tests.mediagen import Recording

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plain_run(demo_recording: Recording, tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = avocado(
        demo_recording.path,
        "--tenant",
        "acme",
        "--export",
        "fcpxml,edl",
        storage=tmp_path_factory.mktemp("storage"),
    )
    assert run.returncode == 0, run.stderr
    return run


def load_model(run: Run, key: str, model: type[Any]) -> Any:
    return model.model_validate_json(run.path(key).read_bytes())


def test_manifest_says_completed_with_the_artifacts(
    plain_run: Run, demo_recording: Recording
) -> None:
    manifest = plain_run.manifest
    assert manifest["status"] == "completed"
    assert manifest["error"] is None
    prefix = f"local/acme/{manifest['jobId']}/"
    final = [r for r in manifest["renders"] if r["kind"] == "final"]
    assert [r["key"] for r in final] == [prefix + "renders/final.mp4"]
    assert plain_run.path(prefix + "renders/final.mp4").stat().st_size > 10_000
    subtitle_keys = {s["key"] for s in manifest["subtitles"]}
    assert prefix + "subtitles/final.srt" in subtitle_keys
    assert plain_run.path(prefix + "subtitles/final.srt").is_file()
    assert set(manifest["steps"]) == {
        "audio-extraction",
        "transcription",
        "smart-cut-planner",
        "video-cuts",
        "subtitles-post-edit",
        "timeline-export",
        "branding-layer",
    }
    assert all(s["status"] == "succeeded" for s in manifest["steps"].values())
    assert "edited video" in plain_run.stderr
    # The timeline exports: in the manifest, and with --export beside the recording.
    assert [(e["format"], e["key"]) for e in manifest["exports"]] == [
        (fmt, f"{prefix}exports/timeline.{fmt}") for fmt in ("otio", "fcpxml", "xml", "edl")
    ]
    beside = demo_recording.path.parent / "talk-edit.fcpxml"
    assert 'src="talk.mp4"' in beside.read_text()
    assert (demo_recording.path.parent / "talk-edit.edl").read_text().startswith("TITLE:")
    assert not (demo_recording.path.parent / "talk-edit.xml").exists()
    # Nothing is written outside the job's prefix (and the tenant's assets).
    written = [
        p.relative_to(plain_run.storage).as_posix()
        for p in plain_run.storage.rglob("*")
        if p.is_file()
    ]
    assert written
    assert all(k.startswith(prefix) for k in written), written


def test_plan_cuts_the_long_pauses_and_fillers_and_nothing_else(
    plain_run: Run, demo_recording: Recording
) -> None:
    plan: CutPlan = load_model(plain_run, plain_run.manifest["plan"]["cutPlan"], CutPlan)
    cuts = [r for r in plan.regions if r.action == "cut"]
    tolerance = 0.03
    # Nothing else: every cut lies inside pauses and fillers.
    removable = [(p.start, p.end) for p in demo_recording.pieces if p.kind != "speech"]
    for cut in cuts:
        for piece in demo_recording.of_kind("speech"):
            overlap = min(cut.end, piece.end) - max(cut.start, piece.start)
            assert overlap <= tolerance, (
                f"cut {cut.start:.3f}-{cut.end:.3f} ({cut.reason}) enters speech {piece.text!r}"
            )
    assert removable
    # Every long pause is shortened to a natural gap.
    for pause in demo_recording.of_kind("pause"):
        if pause.duration > 1.0 and pause.start > 0 and pause.end < demo_recording.duration:
            removed = sum(max(0.0, min(c.end, pause.end) - max(c.start, pause.start)) for c in cuts)
            assert pause.duration - removed <= 0.5, (
                f"pause at {pause.start:.2f} kept {pause.duration - removed:.2f} s"
            )
            assert any(
                c.reason == "pause" and c.start < pause.end and c.end > pause.start for c in cuts
            )
    # Every filler is removed whole, whether or not Whisper wrote it down.
    for filler in demo_recording.of_kind("filler"):
        covering = [
            c
            for c in cuts
            if c.start <= filler.start + tolerance and c.end >= filler.end - tolerance
        ]
        assert covering, f"filler {filler.text!r} at {filler.start:.2f} not cut"
        assert covering[0].reason in ("filler", "unworded-sound")


def test_every_sentence_is_whole_in_the_output(plain_run: Run, demo_recording: Recording) -> None:
    manifest = plain_run.manifest
    timeline: Timeline = load_model(plain_run, manifest["plan"]["timeline"], Timeline)
    source = decode(demo_recording.path)
    output = decode(plain_run.path(manifest["renders"][0]["key"]))
    for piece in demo_recording.of_kind("speech"):
        first, out_start = to_timeline(timeline, piece.start)
        last, _ = to_timeline(timeline, piece.end - 1e-3)
        assert first == last, f"{piece.text!r} spans a cut"
        ok, detail = sentence_matches(source, output, piece.start, piece.end, out_start)
        assert ok, f"{piece.text!r}: {detail}"


def test_the_sentence_check_catches_a_clipped_word(
    plain_run: Run, demo_recording: Recording
) -> None:
    """The check above must be able to fail: 20 ms missing from a sentence's start shows."""
    manifest = plain_run.manifest
    timeline: Timeline = load_model(plain_run, manifest["plan"]["timeline"], Timeline)
    source = decode(demo_recording.path)
    output = decode(plain_run.path(manifest["renders"][0]["key"]))
    piece = demo_recording.of_kind("speech")[1]
    _, out_start = to_timeline(timeline, piece.start)
    clipped = output.copy()
    first = int(out_start * RATE)
    clipped[first : first + int(0.02 * RATE)] = 0
    ok, detail = sentence_matches(source, clipped, piece.start, piece.end, out_start)
    assert not ok, detail


def test_final_duration_matches_the_timeline_within_a_frame(
    plain_run: Run, demo_recording: Recording
) -> None:
    manifest = plain_run.manifest
    timeline: Timeline = load_model(plain_run, manifest["plan"]["timeline"], Timeline)
    info = media_info(plain_run.path(manifest["renders"][0]["key"]))
    frame = 1 / demo_recording.fps
    assert info.video is not None
    assert info.audio is not None
    assert info.video.duration == pytest.approx(timeline.duration_sec, abs=frame)
    assert info.audio.duration == pytest.approx(timeline.duration_sec, abs=frame)
    assert (info.video.width, info.video.height) == (demo_recording.width, demo_recording.height)
    assert info.video.frame_rate == demo_recording.fps
    assert (info.video.codec_name, info.audio.codec_name) == ("h264", "aac")
    assert timeline.duration_sec < demo_recording.duration - 2.5  # the pauses and fillers are gone


def test_subtitles_cover_the_spoken_words_and_never_overlap(
    plain_run: Run, demo_recording: Recording
) -> None:
    manifest = plain_run.manifest
    prefix = f"local/acme/{manifest['jobId']}/"
    timeline: Timeline = load_model(plain_run, manifest["plan"]["timeline"], Timeline)
    cues = parse_srt(plain_run.path(prefix + "subtitles/final.srt").read_text())
    assert parse_vtt(plain_run.path(prefix + "subtitles/final.vtt").read_text()) == cues
    for a, b in pairwise(cues):
        assert a.end <= b.start, "cues overlap"
    for cue in cues:
        assert cue.start < cue.end
        assert len(cue.lines) <= 2
        assert all(len(line) <= 42 for line in cue.lines)
    spoken = [w for p in demo_recording.of_kind("speech") for w in normalise(p.text)]
    shown = normalise(" ".join(" ".join(c.lines) for c in cues))
    recognised = sum(1 for w in set(spoken) if w in shown) / len(set(spoken))
    assert recognised >= 0.8, f"only {recognised:.0%} of the spoken words are in the subtitles"
    assert not {"um", "uh", "umm"} & set(shown), "cut fillers must not be subtitled"
    for piece in demo_recording.of_kind("speech"):
        _, start = to_timeline(timeline, piece.start)
        end = start + piece.duration
        covered = sum(max(0.0, min(c.end, end) - max(c.start, start)) for c in cues)
        assert covered >= 0.8 * piece.duration, (
            f"{piece.text!r} is {covered / piece.duration:.0%} covered"
        )
