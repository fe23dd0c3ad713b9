"""The edge reads' copies of the source with real ffmpeg: only the packets a read decodes, on
the source's own timestamps, and edges encoded from the copies the same as from the source."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from talkavocado_common.models import RenderOptions
from talkavocado_render import smart_render
from talkavocado_render.core.smart import (
    EdgeRun,
    SmartPlan,
    edge_encode_args,
    edge_runs,
    encoder_args,
    read_drops,
)

from .conftest import ffmpeg, make_timeline
from .test_smart_render import ENCODERS, FPS, HEIGHT, RANGES, SECONDS, WIDTH, make_source

pytestmark = pytest.mark.slow

RATE = Fraction(FPS)


def packets(path: Path) -> list[tuple[int, int, str]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "packet=pts,dts,flags", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return [(int(p["pts"]), int(p["dts"]), p["flags"]) for p in json.loads(out)["packets"]]


def frame_hashes(path: Path) -> list[str]:
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "framemd5", "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [
        line.rsplit(",", 1)[-1].strip() for line in out.splitlines() if not line.startswith("#")
    ]


def planned(source: Path) -> tuple[SmartPlan, list[EdgeRun]]:
    timeline = make_timeline(RANGES, width=WIDTH, height=HEIGHT, source_duration=SECONDS)
    plan = asyncio.run(smart_render.plan_for(timeline, source, None, SECONDS))
    return plan, edge_runs(plan, max_inputs=2)


@pytest.fixture(scope="module")
def pyramid_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("edge-sources") / "source.mp4"
    make_source(source, ENCODERS["b-pyramid"])
    return source


def test_a_copy_holds_only_what_its_read_decodes_on_the_sources_timestamps(
    tmp_path: Path, pyramid_source: Path
) -> None:
    plan, runs = planned(pyramid_source)
    copies = asyncio.run(smart_render._edge_sources(pyramid_source, plan, runs, RATE, tmp_path, 60))
    marked = smart_render._references(pyramid_source, plan, runs, RATE)
    # x264's b-pyramid: the B-frames beside each reference B-frame are found to be none.
    assert sum(not p.reference for p in marked.packets) > 0
    assert all(p.reference for p in marked.packets if p.key)
    whole = packets(pyramid_source)
    reads = [read for run in runs for read in run.reads]
    assert copies
    for read in reads:
        drops = read_drops(marked, read, RATE)
        if read not in copies:
            assert drops == []
            continue
        left_out = {i for a, b in drops for i in range(a, b)}
        assert packets(copies[read]) == [p for i, p in enumerate(whole) if i not in left_out]


def test_edges_from_copies_are_the_edges_from_the_source(
    tmp_path: Path, pyramid_source: Path
) -> None:
    plan, runs = planned(pyramid_source)
    copies = asyncio.run(smart_render._edge_sources(pyramid_source, plan, runs, RATE, tmp_path, 60))
    encoder = encoder_args(plan.facts, plan.structure.delay, RenderOptions(), 1)
    for label, read_from in (("copy", copies), ("source", {})):
        (tmp_path / label).mkdir()
        pattern = tmp_path / label / "edge%05d.mp4"
        for run in runs:
            args = edge_encode_args(run, pyramid_source, RATE, encoder, pattern, 1, 1, read_from)
            ffmpeg(*args)
    pieces = sorted(p.name for p in (tmp_path / "source").iterdir())
    assert pieces == sorted(p.name for p in (tmp_path / "copy").iterdir())
    assert len(pieces) == sum(len(run.file_frames) for run in runs)
    for name in pieces:
        expected = frame_hashes(tmp_path / "source" / name)
        assert expected
        assert frame_hashes(tmp_path / "copy" / name) == expected


def test_outside_mp4_every_read_reads_the_source(tmp_path: Path, pyramid_source: Path) -> None:
    # Elsewhere ffprobe's pos need not be where a frame's data starts (in Matroska it is where
    # its block does): nothing is read there, every picture counts as a reference, and the
    # reads read the source.
    plan, runs = planned(pyramid_source)
    assert plan.facts.container == "mov,mp4,m4a,3gp,3g2,mj2"
    elsewhere = dataclasses.replace(plan, facts=dataclasses.replace(plan.facts, container="mpegts"))
    assert smart_render._references(pyramid_source, elsewhere, runs, RATE) == elsewhere
    copies = asyncio.run(
        smart_render._edge_sources(pyramid_source, elsewhere, runs, RATE, tmp_path, 60)
    )
    assert copies == {}
