"""What each edge run reads: a copy of the source without the packets it need not decode
(core/smart.py: read_spans, edge_source_drops, edge_source_commands)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from talkavocado_common.media.allowlist import RECORDING_DEMUXERS, restrict
from talkavocado_render.core import smart
from talkavocado_render.core.smart import (
    EdgeRun,
    Packet,
    SmartPlan,
    edge_runs,
    edge_source_commands,
    edge_source_drops,
    plan_smart,
    read_spans,
)

from .test_smart import FPS, TICKS, facts, packets, timeline

GOP = 50


def pyramid(frames: int = 200, gop: int = GOP) -> list[Packet]:
    """x264's b-pyramid: in each group of three B-frames the middle one is a reference, the two
    beside it are not (frames 1 and 3 of every 4 in a GOP; the GOP's last, 49, is a P-frame)."""

    def reference(frame: int) -> bool:
        return frame % gop % 4 not in (1, 3) or frame % gop == gop - 1

    return [
        dataclasses.replace(p, reference=reference(p.pts // TICKS)) for p in packets(frames, gop)
    ]


def plan_of(ranges: Sequence[tuple[int, int]], stream: list[Packet]) -> SmartPlan:
    return plan_smart(timeline(ranges), facts(), stream, None)


def dropped_frames(plan: SmartPlan, drops: Sequence[tuple[int, int]]) -> set[int]:
    return {plan.packets[i].pts // TICKS for a, b in drops for i in range(a, b)}


def test_a_read_decodes_from_its_keyframe_to_its_last_picked_frame() -> None:
    plan = plan_of([(37, 120)], pyramid())
    (run,) = edge_runs(plan)
    # [37, 50) from keyframe 0: frame 49 is the GOP's last packet; [117, 120) from keyframe 100:
    # those B-frames are decoded after P120, and the last of them is the last packet needed.
    spans = read_spans(plan, run, FPS)
    assert spans[0] == (0, 49)
    first, last = spans[1]
    assert first == 100
    frames = [p.pts // TICKS for p in plan.packets]
    assert max(frames.index(f) for f in (117, 118, 119)) == last


def test_pictures_nothing_predicts_from_are_left_out_before_the_cut() -> None:
    plan = plan_of([(37, 150)], pyramid())
    (run,) = edge_runs(plan)
    assert run.pieces == [(37, 50)]
    dropped = dropped_frames(plan, edge_source_drops(plan, run, FPS))
    # Before 37: the non-reference B-frames; from 37: nothing the run picks; past the GOP:
    # everything (the run reads no further).
    assert dropped == {f for f in range(37) if f % 4 in (1, 3)} | set(range(50, 200))


def test_references_and_picked_frames_are_always_kept() -> None:
    stream = pyramid()
    plan = plan_of([(0, 10), (23, 37), (60, 75), (130, 150)], stream)
    for run in edge_runs(plan, max_inputs=1):
        dropped = dropped_frames(plan, edge_source_drops(plan, run, FPS))
        picked = {f for a, b in run.pieces for f in range(a, b)}
        assert not dropped & picked
        for first, last in read_spans(plan, run, FPS):
            for packet in plan.packets[first : last + 1]:
                frame = packet.pts // TICKS
                assert (frame in dropped) == (not packet.reference and frame not in picked)


def test_no_copy_when_every_picture_it_decodes_is_needed() -> None:
    # No B-frames (every picture a reference): leaving out what the run does not read saves no
    # decoding, so the run reads the source.
    plan = plan_smart(timeline([(37, 150)]), facts(), packets(200, GOP, delay=0), None)
    (run,) = edge_runs(plan)
    assert edge_source_drops(plan, run, FPS) == []
    # Nor when nothing is known of the pictures (references by default).
    plan = plan_of([(37, 150)], packets(200, GOP))
    assert edge_source_drops(plan, edge_runs(plan)[0], FPS) == []


def ffmpeg_expression(expression: str, dts: int) -> bool:
    """Evaluates the drop expressions written here: if/lt/between of dts."""
    functions = {
        "iff": lambda c, a, b: a if c else b,
        "lt": lambda a, b: a < b,
        "between": lambda x, a, b: a <= x <= b,
        "dts": dts,
    }
    python = re.sub(r"\bif\(", "iff(", expression)
    return bool(eval(python, {"__builtins__": {}}, functions))  # our own text, no names but these


def test_one_pass_copies_the_source_for_each_run(tmp_path: Path) -> None:
    plan = plan_of([(0, 10), (23, 37), (60, 75), (130, 150)], pyramid())
    runs = edge_runs(plan, max_inputs=2)
    outputs = [
        (tmp_path / f"r{i}.mp4", edge_source_drops(plan, r, FPS)) for i, r in enumerate(runs)
    ]
    (command,) = edge_source_commands(tmp_path / "s.mp4", plan, FPS, outputs)
    # the source's own timestamps, the source confined by the allowlist
    assert command[: 1 + len(restrict(RECORDING_DEMUXERS)) + 2] == [
        "-copyts", *restrict(RECORDING_DEMUXERS), "-i", str(tmp_path / "s.mp4"),
    ]  # fmt: skip
    for path, drops in outputs:
        at = command.index(str(path))
        assert command[at - 8 : at - 3] == ["-map", "0:v:0", "-c", "copy", "-bsf:v"]
        assert command[at - 2 : at] == ["-f", "mp4"]
        found = re.fullmatch(r"noise=drop='(.*)'", command[at - 3])
        assert found is not None
        # The expression is on the decode timestamp: packet n's is (n - 2) frames.
        left_out = {
            n for n in range(len(plan.packets)) if ffmpeg_expression(found[1], (n - 2) * TICKS)
        }
        assert left_out == {n for a, b in drops for n in range(a, b)}


def test_a_long_expression_keeps_the_longest_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = plan_of([(37, 150)], pyramid())
    (run,) = edge_runs(plan)
    drops = edge_source_drops(plan, run, FPS)
    monkeypatch.setattr(smart, "EDGE_SOURCE_EXPRESSION_MAX", 200)
    (command,) = edge_source_commands(Path("s.mp4"), plan, FPS, [(Path("r.mp4"), drops)])
    expression = command[command.index("-bsf:v") + 1]
    assert len(expression) <= 200 + len("noise=drop=''")
    # The range past the GOP (150 packets) is the one worth most; it stays.
    longest = max(drops, key=lambda r: r[1] - r[0])
    assert f"between(dts,{(longest[0] - 2) * TICKS},{(longest[1] - 3) * TICKS})" in expression


def test_commands_stay_short(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plan = plan_of([(0, 10), (23, 37), (60, 75), (130, 150)], pyramid())
    runs: list[EdgeRun] = edge_runs(plan, max_inputs=1)
    outputs = [
        (tmp_path / f"r{i}.mp4", edge_source_drops(plan, r, FPS)) for i, r in enumerate(runs)
    ]
    longest = max(
        len(c[c.index("-bsf:v") + 1])
        for c in edge_source_commands(tmp_path / "s.mp4", plan, FPS, outputs[:1])
    )
    monkeypatch.setattr(smart, "EDGE_SOURCE_COMMAND_MAX", 2 * longest)
    commands = edge_source_commands(tmp_path / "s.mp4", plan, FPS, outputs)
    assert len(commands) > 1
    # each pass demuxes the source once for its own copies, every copy made once
    written = [arg for c in commands for arg in c if arg.startswith(str(tmp_path / "r"))]
    assert written == [str(path) for path, _ in outputs]
    assert all(c[0] == "-copyts" and c.count("-i") == 1 for c in commands)
