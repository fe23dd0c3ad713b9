"""What each read of the edge encode decodes: a copy of the source without the packets it need
not decode (core/smart.py: read_span, read_drops, edge_source_commands)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from talkavocado_common.media.allowlist import RECORDING_DEMUXERS, restrict
from talkavocado_render.core import smart
from talkavocado_render.core.smart import (
    EdgeRead,
    Packet,
    ReadCopy,
    SmartPlan,
    edge_reads,
    edge_source_commands,
    plan_smart,
    read_drops,
    read_span,
)

from .test_smart import FPS, TICKS, facts, packets, timeline

GOP = 50
FRAMES = 300
CUTS = [(0, 10), (23, 37), (60, 75), (130, 150), (170, 180), (230, 260)]


def pyramid(frames: int = FRAMES, gop: int = GOP) -> list[Packet]:
    """x264's b-pyramid: in each group of three B-frames the middle one is a reference, the two
    beside it are not (frames 1 and 3 of every 4 in a GOP; the GOP's last, 49, is a P-frame)."""

    def reference(frame: int) -> bool:
        return frame % gop % 4 not in (1, 3) or frame % gop == gop - 1

    return [
        dataclasses.replace(p, reference=reference(p.pts // TICKS)) for p in packets(frames, gop)
    ]


def plan_of(ranges: Sequence[tuple[int, int]], stream: list[Packet]) -> SmartPlan:
    return plan_smart(timeline(ranges), facts(), stream, None)


def frames_of(plan: SmartPlan, drops: Sequence[tuple[int, int]]) -> set[int]:
    return {plan.packets[i].pts // TICKS for a, b in drops for i in range(a, b)}


def copies_of(plan: SmartPlan, root: Path) -> list[ReadCopy]:
    return [
        ReadCopy(read, root / f"r{read.keyframe}.mp4", tuple(read_drops(plan, read, FPS)))
        for read in edge_reads(plan)
    ]


def test_a_read_decodes_from_its_keyframe_to_its_last_picked_frame() -> None:
    plan = plan_of([(37, 120)], pyramid())
    head, tail = edge_reads(plan)
    # [37, 50) from keyframe 0: frame 49 is the GOP's last packet
    assert read_span(plan, head, FPS) == (0, 49)
    # [117, 120) from keyframe 100: those B-frames are decoded after P120, and the last of them
    # is the last packet needed.
    frames = [p.pts // TICKS for p in plan.packets]
    assert tail.pieces == ((117, 120),)
    assert read_span(plan, tail, FPS) == (100, max(frames.index(f) for f in (117, 118, 119)))


def test_pictures_nothing_predicts_from_are_left_out_before_the_cut() -> None:
    plan = plan_of([(37, 150)], pyramid())
    (read,) = edge_reads(plan)
    assert read.pieces == ((37, 50),)
    # Before 37: the non-reference B-frames; from 37: nothing the read picks; past its GOP:
    # everything.
    dropped = frames_of(plan, read_drops(plan, read, FPS))
    assert dropped == {f for f in range(37) if f % 4 in (1, 3)} | set(range(50, FRAMES))


def test_a_later_read_leaves_out_what_comes_before_it() -> None:
    plan = plan_of([(110, 120), (150, 200)], pyramid())
    (read,) = edge_reads(plan)
    assert read.keyframe == 100
    drops = read_drops(plan, read, FPS)
    assert drops[0] == (0, 100)
    assert set(range(100)) <= frames_of(plan, drops)


def test_references_and_picked_frames_are_always_kept() -> None:
    plan = plan_of(CUTS, pyramid())
    for read in edge_reads(plan):
        dropped = frames_of(plan, read_drops(plan, read, FPS))
        picked = {f for a, b in read.pieces for f in range(a, b)}
        assert not dropped & picked
        first, last = read_span(plan, read, FPS)
        for packet in plan.packets[first : last + 1]:
            frame = packet.pts // TICKS
            assert (frame in dropped) == (not packet.reference and frame not in picked)


def test_no_copy_when_every_picture_it_decodes_is_needed() -> None:
    # No B-frames (every picture a reference): a copy would save no decoding.
    plan = plan_smart(timeline([(37, 150)]), facts(), packets(FRAMES, GOP, delay=0), None)
    assert all(read_drops(plan, read, FPS) == [] for read in edge_reads(plan))
    # Nor when nothing is known of the pictures (references by default).
    plan = plan_of([(37, 150)], packets(FRAMES, GOP))
    assert all(read_drops(plan, read, FPS) == [] for read in edge_reads(plan))


def ffmpeg_expression(expression: str, dts: int) -> bool:
    """Evaluates the drop expressions written here: if/lt/between of dts."""
    functions = {
        "iff": lambda c, a, b: a if c else b,
        "lt": lambda a, b: a < b,
        "between": lambda x, a, b: a <= x <= b,
        "dts": dts,
    }
    python = re.sub(r"\bif\(", "iff(", expression)
    return bool(eval(python, {"__builtins__": {}}, functions))  # our own text, these names only


def test_one_pass_copies_the_source_for_each_read(tmp_path: Path) -> None:
    plan = plan_of(CUTS, pyramid())
    copies = copies_of(plan, tmp_path)
    (command,) = edge_source_commands(tmp_path / "s.mp4", plan, FPS, copies)
    # the source's own timestamps, confined by the allowlist, seeked to the first read's
    # keyframe by its own time
    opening = ["-seek_timestamp", "1", "-ss", "0.020000", "-i", str(tmp_path / "s.mp4")]
    assert command[: len(restrict(RECORDING_DEMUXERS)) + 7] == [
        "-copyts", *restrict(RECORDING_DEMUXERS), *opening,
    ]  # fmt: skip
    for copy in copies:
        at = command.index(str(copy.path))
        assert command[at - 10 : at - 5] == ["-map", "0:v:0", "-c", "copy", "-bsf:v"]
        assert command[at - 2 : at] == ["-f", "mp4"]
        # closed after the frame after the last one its span shows (the span ends in the GOP)
        first, last = read_span(plan, copy.read, FPS)
        shown = max(p.pts // TICKS for p in plan.packets[first : last + 1])
        assert command[at - 4 : at - 2] == ["-to", f"{(shown + 1) / 25:.6f}"]
        found = re.fullmatch(r"noise=drop='(.*)'", command[at - 5])
        assert found is not None
        # The expression is on the decode timestamp: packet n's is (n - 2) frames.
        left_out = {
            n for n in range(len(plan.packets)) if ffmpeg_expression(found[1], (n - 2) * TICKS)
        }
        assert left_out == {n for a, b in copy.drops for n in range(a, b)}


def test_a_long_expression_keeps_the_longest_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = plan_of([(37, 150)], pyramid())
    (copy,) = copies_of(plan, Path("w"))
    monkeypatch.setattr(smart, "EDGE_SOURCE_EXPRESSION_MAX", 200)
    (command,) = edge_source_commands(Path("s.mp4"), plan, FPS, [copy])
    expression = command[command.index("-bsf:v") + 1]
    assert len(expression) <= 200 + len("noise=drop=''")
    # The range past the GOP (150 packets) is the one worth most; it stays.
    a, b = max(copy.drops, key=lambda r: r[1] - r[0])
    assert f"between(dts,{(a - 2) * TICKS},{(b - 3) * TICKS})" in expression


@pytest.mark.parametrize("limit", ["EDGE_SOURCE_COPIES_PER_PASS", "EDGE_SOURCE_COMMAND_MAX"])
def test_passes_stay_small(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, limit: str) -> None:
    plan = plan_of(CUTS, pyramid())
    copies = copies_of(plan, tmp_path)
    assert len(copies) == 4  # the reads from keyframes 0, 50, 100 (on into 150) and 200
    (whole,) = edge_source_commands(tmp_path / "s.mp4", plan, FPS, copies)
    opening = whole.index("-map")
    longest = max(len("".join(whole[opening:])) // 2, 1)
    monkeypatch.setattr(smart, limit, 2 if limit.endswith("PASS") else longest)
    commands = edge_source_commands(tmp_path / "s.mp4", plan, FPS, copies)
    assert len(commands) >= 2
    # each pass reads the source once, from its own first read's keyframe; every copy made once
    written = [arg for c in commands for arg in c if arg.startswith(str(tmp_path / "r"))]
    assert written == [str(copy.path) for copy in copies]
    firsts = [next(cp for cp in copies if str(cp.path) in c) for c in commands]
    assert [c[c.index("-ss") + 1] for c in commands] == [
        f"{(cp.read.keyframe + 0.5) / 25:.6f}" for cp in firsts
    ]
    assert all(c[0] == "-copyts" and c.count("-i") == 1 for c in commands)
    for command in commands:
        outputs = command[command.index("-map") :]
        if limit.endswith("PASS"):
            assert outputs.count("-map") <= 2
        else:
            assert outputs.count("-map") == 1 or len("".join(outputs)) <= longest


def test_edge_inputs_read_their_copies(tmp_path: Path) -> None:
    plan = plan_of(CUTS, pyramid())
    copies = {c.read: c.path for c in copies_of(plan, tmp_path)[1:]}
    (run,) = smart.edge_runs(plan)
    args = smart.edge_encode_args(
        run, tmp_path / "s.mp4", FPS, [], tmp_path / "e.mp4", copies=copies
    )
    opened = [args[i + 1] for i, a in enumerate(args) if a == "-i"]
    first: EdgeRead = run.reads[0]
    assert opened == [str(tmp_path / "s.mp4"), *(str(copies[r]) for r in run.reads[1:])]
    assert first not in copies
    whitelists = [args[i + 1] for i, a in enumerate(args) if a == "-format_whitelist"]
    assert whitelists[0] == ",".join(RECORDING_DEMUXERS)
    assert set(whitelists[1:]) == {"mov,mp4,m4a,3gp,3g2,mj2"}
    # Our copies are not probed; the source is.
    unprobed = [args[i + 1] for i, a in enumerate(args) if a == "-nofind_stream_info"]
    assert unprobed == ["-i"] * len(copies)
    assert args[args.index("-i") - 1] != "-nofind_stream_info"
