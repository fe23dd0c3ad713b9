"""Smart render with real ffmpeg: copied GOPs and re-encoded edges joined into one H.264 track.

The source is testsrc2 (every frame different, a moving clock) with a sine, H.264 with a GOP of
2 s. Each rendered frame is compared with the source frame the edit keeps there: copied frames
are the source's own bits, re-encoded ones at least 45 dB PSNR; and the full render, on the same
timeline, shows the same source frame at every position. The sound is the full render's.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from talkavocado_common.models import BrandingOptions, JobOptions, LogoOptions, Timeline
from talkavocado_render import smart_render
from talkavocado_render.core import mp4

from .conftest import (
    Job,
    audio_samples,
    ffmpeg,
    make_timeline,
    probe_streams,
    top_level_atoms,
)
from .test_branding import RANGES as SYNC_RANGES
from .test_branding import assert_av_layout, assert_sync

pytestmark = pytest.mark.slow

FPS = 25
GOP = 50
WIDTH, HEIGHT = 320, 240
SECONDS = 10
FRAMES = FPS * SECONDS
# Keyframes at 0, 50, 100, 150, 200. Cuts off keyframes (37, 210) and on them (100, 150), ranges
# shorter than a GOP spanning no keyframe (110..145), the first frame and the last frames.
RANGES = [(0, 1), (37, 100), (110, 145), (150, 210), (215, FRAMES)]
# Whole GOPs 50..100 and 150..200 at least (a copy may go on into a GOP up to a clean end).
MIN_COPIED = (100 - 50) + (200 - 150)
# x264 settings of the source: reorder delay 0, 1 and 2 (x264's defaults).
ENCODERS = {
    "no-b-frames": ["-preset", "ultrafast"],
    "b-frames": ["-preset", "veryfast", "-x264-params", "bframes=1:b-pyramid=none"],
    "b-pyramid": ["-preset", "veryfast"],
    # Main profile: its B-frames keep the edges at Main without CABAC (ultrafast's CAVLC).
    "main": ["-preset", "veryfast", "-profile:v", "main"],
}
MIN_PSNR = 45.0


def make_source(out: Path, encoder: list[str]) -> None:
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s={WIDTH}x{HEIGHT}:r={FPS}:d={SECONDS}",
        "-f", "lavfi", "-i", f"sine=f=440:r=44100:d={SECONDS}",
        "-c:v", "libx264", *encoder, "-g", str(GOP), "-pix_fmt", "yuv420p",
        "-c:a", "aac",
        str(out),
    )  # fmt: skip


def yuv_frames(path: Path) -> npt.NDArray[np.uint8]:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "rawvideo",
         "-pix_fmt", "yuv420p", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(-1, WIDTH * HEIGHT * 3 // 2)


def psnr(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def kept(ranges: list[tuple[int, int]]) -> list[int]:
    return [frame for start, end in ranges for frame in range(start, end)]


def render(root: Path, source: Path, timeline: Timeline, options: JobOptions) -> tuple[Job, dict]:
    job = Job(root)
    asyncio.run(job.prepare(source, timeline))
    result = asyncio.run(job.run(options))
    return job, dict(result)


def full_options() -> JobOptions:
    """The same edit forced through the full encode: a preview is asked (it changes nothing in
    the final render's frames or sound)."""
    return JobOptions.model_validate({"render": {"preview": True}})


def copied_frames(edited: dict) -> int:
    found = re.search(r"copied (\d+) frames", edited["smart_result"]["renderReason"])
    assert found is not None, edited["smart_result"]["renderReason"]
    return int(found[1])


def decode_errors(path: Path) -> str:
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stderr  # fmt: skip


def frame_configs(path: Path) -> set[tuple[str, ...]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "frame=width,height,pix_fmt,sample_aspect_ratio,color_range", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    keys = ("width", "height", "pix_fmt", "sample_aspect_ratio", "color_range")
    return {tuple(str(f.get(k)) for k in keys) for f in json.loads(out)["frames"]}


@pytest.fixture(scope="module", params=sorted(ENCODERS))
def edited(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The edit rendered both ways from one source."""
    root = tmp_path_factory.mktemp(f"smart-{request.param}")
    source = root / "source.mp4"
    make_source(source, ENCODERS[request.param])
    timeline = make_timeline(RANGES, width=WIDTH, height=HEIGHT, source_duration=SECONDS)
    smart_job, smart = render(root / "smart", source, timeline, JobOptions())
    full_job, full = render(root / "full", source, timeline, full_options())
    return {
        "source": source,
        "timeline": timeline,
        "smart": smart_job.path_of(smart_job.keys.final_render),
        "full": full_job.path_of(full_job.keys.final_render),
        "smart_result": smart,
        "full_result": full,
        "manifest": asyncio.run(smart_job.manifests.get(smart_job.keys)),
        "smart_progress": smart_job.progress,
    }


def test_the_smart_path_ran_and_is_recorded(edited: dict) -> None:
    assert edited["smart_result"]["renderPath"] == "smart"
    assert copied_frames(edited) >= MIN_COPIED
    assert edited["full_result"]["renderPath"] == "full"
    assert "preview" in edited["full_result"]["renderReason"]
    final = edited["manifest"].renders[0]
    assert final.render_path == "smart"
    assert final.render_reason == edited["smart_result"]["renderReason"]
    # Progress from both branches (video and sound) never went back, and reached the end.
    progress = edited["smart_progress"]
    assert len(progress) > 2, progress
    assert progress == sorted(progress), progress
    assert progress[-1] == pytest.approx(1.0), progress


def test_frames_are_the_source_frames_at_every_join(edited: dict) -> None:
    source = yuv_frames(edited["source"])
    smart, full = yuv_frames(edited["smart"]), yuv_frames(edited["full"])
    wanted = kept(RANGES)
    assert len(smart) == len(full) == len(wanted)
    identical = 0
    for index, frame in enumerate(wanted):
        quality = psnr(smart[index], source[frame])
        assert quality >= MIN_PSNR, (index, frame, quality)
        identical += quality == float("inf")
        # Frame-exact: of the source's neighbours, both renders show the same one.
        around = [f for f in (frame - 1, frame, frame + 1) if 0 <= f < FRAMES]
        for rendered in (smart[index], full[index]):
            assert max(around, key=lambda f: psnr(rendered, source[f])) == frame, (index, frame)
    assert identical >= copied_frames(edited)


def test_one_h264_stream_with_one_decoder_configuration(edited: dict) -> None:
    out = edited["smart"]
    assert decode_errors(out) == ""
    streams = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(out)],
            check=True, capture_output=True, text=True,
        ).stdout
    )["streams"]  # fmt: skip
    assert [s["codec_type"] for s in streams] == ["video", "audio"]
    source = probe_streams(edited["source"])["video"]
    video = streams[0]
    for key in ("codec_name", "profile", "level", "pix_fmt", "width", "height", "has_b_frames"):
        assert video[key] == source[key], key
    assert len(frame_configs(out)) == 1
    # One avcC holds the source's parameter sets and x264's, under different ids.
    config = mp4.read_avcc(out.read_bytes())
    assert len(config.sps) == 2
    assert len({mp4.sps_id(s) for s in config.sps}) == 2
    atoms = top_level_atoms(out)
    assert atoms.index("moov") < atoms.index("mdat"), atoms  # +faststart


def test_duration_and_sound_are_the_full_renders(edited: dict) -> None:
    timeline = edited["timeline"]
    smart, full = probe_streams(edited["smart"]), probe_streams(edited["full"])
    frames = len(kept(RANGES))
    assert int(smart["video"]["nb_read_packets"]) == frames
    assert float(smart["format"]["duration"]) == pytest.approx(timeline.duration_sec, abs=1 / FPS)
    assert Fraction(smart["video"]["avg_frame_rate"]) == FPS
    assert float(smart["audio"]["duration"]) == pytest.approx(
        float(full["audio"]["duration"]), abs=1e-3
    )
    ours, theirs = audio_samples(edited["smart"]), audio_samples(edited["full"])
    assert len(ours) == len(theirs)
    assert np.max(np.abs(ours - theirs)) < 1e-4


def test_edges_encoded_in_several_runs(
    edited: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One input per run: each GOP with edge frames read and encoded by an ffmpeg of its own.
    The same frames; every run's x264 writes the same parameter sets, so the joined track
    still holds one configuration besides the source's."""
    runs = functools.partial(smart_render.edge_runs, max_inputs=1)
    monkeypatch.setattr(smart_render, "edge_runs", runs)
    job, result = render(tmp_path, edited["source"], edited["timeline"], JobOptions())
    assert result["renderPath"] == "smart"
    out = job.path_of(job.keys.final_render)
    ours, full = yuv_frames(out), yuv_frames(edited["full"])
    source = yuv_frames(edited["source"])
    assert len(ours) == len(full) == len(kept(RANGES))
    for index, frame in enumerate(kept(RANGES)):
        assert psnr(ours[index], source[frame]) >= MIN_PSNR, (index, frame)
        around = [f for f in (frame - 1, frame, frame + 1) if 0 <= f < FRAMES]
        assert max(around, key=lambda f: psnr(ours[index], source[f])) == frame, (index, frame)
    assert decode_errors(out) == ""
    assert len(mp4.read_avcc(out.read_bytes()).sps) == 2
    assert len(frame_configs(out)) == 1


def test_sync_through_the_smart_path(tmp_path: Path, sync_source: Path) -> None:
    """The flash-and-beep source (GOP 1 s, no B-frames): each flash on its frame, each beep
    with it, as the full render does."""
    timeline = make_timeline(SYNC_RANGES)
    job, result = render(tmp_path, sync_source, timeline, JobOptions())
    assert result["renderPath"] == "smart"
    out = job.path_of(job.keys.final_render)
    assert_av_layout(out, timeline.duration_sec, channels=1)  # a mono source
    assert_sync(out, timeline)
    assert decode_errors(out) == ""


def test_a_copy_cut_short_in_the_first_gop(tmp_path: Path) -> None:
    """The first range starts at frame 0 and ends inside the first GOP of a B-pyramid source:
    its copy stops at a clean end inside the first segment (cut short by decode time), and
    every frame up to it is there."""
    source = tmp_path / "source.mp4"
    make_source(source, ENCODERS["b-pyramid"])
    ranges = [(0, 37), (60, 140), (150, FRAMES)]
    timeline = make_timeline(ranges, width=WIDTH, height=HEIGHT, source_duration=SECONDS)
    job, result = render(tmp_path / "job", source, timeline, JobOptions())
    assert result["renderPath"] == "smart", result["renderReason"]
    out = job.path_of(job.keys.final_render)
    rendered, original = yuv_frames(out), yuv_frames(source)
    wanted = kept(ranges)
    assert len(rendered) == len(wanted)
    for index, frame in enumerate(wanted[:37]):
        assert psnr(rendered[index], original[frame]) >= MIN_PSNR, (index, frame)
    assert decode_errors(out) == ""


def test_cuts_on_keyframes_copy_everything(tmp_path: Path, sync_source: Path) -> None:
    """Every range starts on a keyframe (GOP 1 s) of a source without B-frames, where a copy
    can stop at any frame: nothing is re-encoded."""
    timeline = make_timeline([(25, 60), (100, 130), (150, 200)])
    job, result = render(tmp_path, sync_source, timeline, JobOptions())
    assert result["renderPath"] == "smart"
    assert "re-encoded 0 frames" in result["renderReason"]
    out = job.path_of(job.keys.final_render)
    assert_av_layout(out, timeline.duration_sec, channels=1)  # a mono source
    assert_sync(out, timeline)
    assert decode_errors(out) == ""


def test_picture_effects_take_the_full_encode(
    tmp_path: Path, sync_source: Path, logo_png: Path
) -> None:
    timeline = make_timeline(SYNC_RANGES)
    job = Job(tmp_path)
    asyncio.run(job.prepare(sync_source, timeline))
    asyncio.run(job.put_asset("logo.png", logo_png))
    options = JobOptions(branding=BrandingOptions(logo=LogoOptions(asset="logo.png")))
    result = asyncio.run(job.run(options))
    assert result["renderPath"] == "full"
    assert "a logo" in result["renderReason"]
    manifest = asyncio.run(job.manifests.get(job.keys))
    assert manifest.renders[0].render_path == "full"
    assert "a logo" in (manifest.renders[0].render_reason or "")


@pytest.mark.parametrize(
    ("codec", "reason"),
    [
        (["-c:v", "mpeg4", "-q:v", "3", "-g", "25"], "mpeg4, not H.264"),
        # Variable frame rate: every 3rd frame dropped, timestamps kept.
        (
            ["-vf", "select='not(eq(mod(n,3),2))'", "-fps_mode", "vfr", "-c:v", "libx264",
             "-preset", "ultrafast", "-g", "25"],
            "frame grid",
        ),
    ],
)  # fmt: skip
def test_sources_that_cannot_be_copied_take_the_full_encode(
    tmp_path: Path, codec: list[str], reason: str
) -> None:
    source = tmp_path / "source.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s={WIDTH}x{HEIGHT}:r={FPS}:d=4",
        "-f", "lavfi", "-i", "sine=f=440:r=44100:d=4",
        *codec, "-pix_fmt", "yuv420p", "-c:a", "aac",
        str(source),
    )  # fmt: skip
    timeline = make_timeline([(0, 30), (50, 90)], width=WIDTH, height=HEIGHT, source_duration=4)
    job, result = render(tmp_path / "job", source, timeline, JobOptions())
    assert result["renderPath"] == "full"
    assert reason in result["renderReason"]
    out = job.path_of(job.keys.final_render)
    assert int(probe_streams(out)["video"]["nb_read_packets"]) == 70
    assert decode_errors(out) == ""


def test_a_smart_render_that_fails_falls_back_to_the_full_encode(
    tmp_path: Path, sync_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sound's encoder fails inside the smart render's task group (really: an option ffmpeg
    does not know); the step still renders, by the full encode, and says why."""
    real = smart_render.run_piped

    async def failing_encoder(plan: Any, encode_args: list[str], **kwargs: Any) -> str:
        return await real(plan, ["-no-such-option", *encode_args], **kwargs)

    monkeypatch.setattr(smart_render, "run_piped", failing_encoder)
    timeline = make_timeline(SYNC_RANGES)
    job, result = render(tmp_path, sync_source, timeline, JobOptions())
    assert result["renderPath"] == "full"
    assert result["renderReason"].startswith("the smart render failed: ffmpeg exited")
    out = job.path_of(job.keys.final_render)
    assert_av_layout(out, timeline.duration_sec, channels=1)  # a mono source
    assert decode_errors(out) == ""
