"""A/V sync measured on the rendered edit, for constant and variable frame rate sources.

The source has a kept section every 2 s, each with a white flash (3 frames) and a 1 kHz beep
starting at the same instant, and a pause the cut plan removes between sections. After the
render every flash onset (frame luma) and beep onset (audio envelope) must coincide.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from talkavocado_common.models import CutPlan, FrameRate, PlanRegion, PlanStats, RenderOptions
from talkavocado_render.audio_feed import run_render
from talkavocado_render.core.filtergraph import build_render
from talkavocado_render.core.timeline import build_timeline

from .conftest import audio_samples, ffmpeg, gray_frames

pytestmark = pytest.mark.slow

FPS = 30
WIDTH, HEIGHT = 160, 120
SECTIONS = 4
PERIOD = 2.0  # one kept section and one cut pause per period
KEEP = (0.1, 1.1)  # kept part of each period
FLASH_AT = 0.5  # flash and beep, seconds into each period: frame 15 of 60
FLASH_FRAMES = 3
BEEP_SEC = 0.06
SYNC_TOLERANCE = 0.020
DURATION = SECTIONS * PERIOD


def make_source(out: Path) -> None:
    flash_first = round(FLASH_AT * FPS)
    flash = f"between(mod(n,{round(PERIOD * FPS)}),{flash_first},{flash_first + FLASH_FRAMES - 1})"
    beep = f"if(between(mod(t,{PERIOD}),{FLASH_AT},{FLASH_AT + BEEP_SEC}),0.5*sin(2*PI*1000*t),0)"
    ffmpeg(
        "-f", "lavfi",
        "-i", f"color=c=black:s={WIDTH}x{HEIGHT}:r={FPS}:d={DURATION},"
        f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{flash}'",
        "-f", "lavfi", "-i", f"aevalsrc='{beep}':s=44100:d={DURATION}",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k",
        str(out),
    )  # fmt: skip


def make_vfr(cfr: Path, out: Path) -> None:
    """Drop frames irregularly (every 7th and every 11th, never a flash frame), keeping each
    frame's own timestamp: frame durations of 1/30 and 2/30 s, as a phone's VFR stream."""
    period = round(PERIOD * FPS)
    first = round(FLASH_AT * FPS)
    keep = (
        f"not(eq(mod(n,7),3)+eq(mod(n,11),5))"
        f"+between(mod(n,{period}),{first - 1},{first + FLASH_FRAMES})"
    )
    ffmpeg(
        "-i", str(cfr),
        "-vf", f"select='{keep}'", "-fps_mode", "vfr",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "copy",
        str(out),
    )  # fmt: skip


def frame_durations(path: Path) -> set[float]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "packet=pts_time", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    times = sorted(float(p["pts_time"]) for p in json.loads(out)["packets"])
    return {round(b - a, 3) for a, b in itertools.pairwise(times)}


def cut_plan() -> CutPlan:
    regions: list[PlanRegion] = []
    for k in range(SECTIONS):
        base = k * PERIOD
        keep_start, keep_end = base + KEEP[0], base + KEEP[1]
        regions += [
            PlanRegion(start=base, end=keep_start, action="cut", reason="pause"),
            PlanRegion(start=keep_start, end=keep_end, action="keep", reason="speech"),
            PlanRegion(start=keep_end, end=base + PERIOD, action="cut", reason="pause"),
        ]
    kept = SECTIONS * (KEEP[1] - KEEP[0])
    return CutPlan(
        duration_sec=DURATION,
        regions=regions,
        stats=PlanStats(
            source_duration_sec=DURATION,
            kept_duration_sec=kept,
            removed_duration_sec=DURATION - kept,
            cuts_by_reason={"pause": 2 * SECTIONS},
        ),
    )


def flash_onsets(path: Path) -> list[float]:
    bright = gray_frames(path, WIDTH, HEIGHT).reshape(-1, WIDTH * HEIGHT).mean(axis=1) > 128
    starts = np.flatnonzero(bright & ~np.concatenate(([False], bright[:-1])))
    return [float(i) / FPS for i in starts]


def beep_onsets(path: Path, rate: int = 48_000) -> list[float]:
    loud = np.flatnonzero(np.abs(audio_samples(path, rate)) > 0.05)
    starts = [int(i) for k, i in enumerate(loud) if k == 0 or i - loud[k - 1] > rate // 10]
    return [i / rate for i in starts]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    workdir = tmp_path_factory.mktemp("sync")
    cfr, vfr = workdir / "cfr.mp4", workdir / "vfr.mp4"
    make_source(cfr)
    make_vfr(cfr, vfr)
    return {"cfr": cfr, "vfr": vfr}


@pytest.mark.parametrize("kind", ["cfr", "vfr"])
async def test_every_flash_and_its_beep_line_up_after_the_edit(
    sources: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    source = sources[kind]
    durations = frame_durations(source)
    if kind == "vfr":
        assert {0.033, 0.067} <= durations, durations
    else:
        assert durations == {0.033}, durations
    timeline = build_timeline(
        cut_plan(),
        source_key="e/t/j/input/source.mp4",
        rate=FrameRate(num=FPS, den=1),
        width=WIDTH,
        height=HEIGHT,
        has_audio=True,
        source_duration=DURATION,
    )
    assert len(timeline.clips) == SECTIONS
    out = tmp_path / "edit.mp4"

    plan = build_render(timeline, source, out, RenderOptions(preset="ultrafast"))
    await run_render(plan)

    flashes, beeps = flash_onsets(out), beep_onsets(out)
    # Each flash where the edit put its section: 0.4 s into each kept second.
    expected = [clip.timeline_start + FLASH_AT - KEEP[0] for clip in timeline.clips]
    assert flashes == pytest.approx(expected, abs=0.5 / FPS)
    assert len(beeps) == len(flashes) == SECTIONS, (flashes, beeps)
    offsets = [beep - flash for beep, flash in zip(beeps, flashes, strict=True)]
    assert max(abs(o) for o in offsets) <= SYNC_TOLERANCE, offsets
