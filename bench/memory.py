"""Benchmark: per-step wall time and peak RSS of the pipeline on generated talks of given lengths.

Each step runs in its own process (tests.support.step_memory), as the services run them, so a
step's peak RSS is its own. The video is small (160x120) to keep the encode cheap: the point is
how memory grows with the recording's length. Prints a table (step x length: wall s, x realtime,
peak MiB) and, per step, the ratio of its peak RSS at the longest length to the shortest
(goal <= 1.3: flat memory). Figures are printed and saved under bench/out/, never asserted.

    .venv/bin/python -m bench.memory [--minutes 5,60,120] [--size 160x120]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from talkavocado_cli.samplegen import long_script, make_recording
from tests.support.step_memory import run_pipeline_measured

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
GOAL = 1.3


def bench_one(minutes: float, size: str, workdir: Path) -> dict[str, Any]:
    width, height = (int(v) for v in size.split("x"))
    began = time.perf_counter()
    recording = make_recording(
        long_script(minutes * 60), workdir / f"talk-{minutes:g}min.mp4", width=width, height=height
    )
    generated = time.perf_counter() - began
    recording.audio_path.unlink()  # only the MP4 is the input; the WAV would just fill the disk
    measures = run_pipeline_measured(recording.path, workdir / "storage")
    failed = next((m for m in measures if not m.ok), None)
    return {
        "minutes": minutes,
        "recordingSec": round(recording.duration, 2),
        "size": size,
        "generateSec": round(generated, 2),
        "failed": None if failed is None else {"step": failed.step, "error": failed.error},
        "steps": {
            m.step: {
                "wallSec": round(m.seconds, 3),
                "xRealtime": round(recording.duration / m.seconds, 2) if m.seconds > 0 else None,
                "peakRssMiB": round(m.peak_rss_bytes / MIB, 1),
            }
            for m in measures
        },
    }


def table(results: list[dict[str, Any]]) -> str:
    steps: list[str] = []
    for result in results:
        steps += [s for s in result["steps"] if s not in steps]
    header = f"{'step':<22}" + "".join(
        f"{format(r['minutes'], 'g') + ' min: wall s':>18}{'x rt':>8}{'peak MiB':>10}"
        for r in results
    )
    lines = [header]
    for step in steps:
        row = f"{step:<22}"
        for result in results:
            m = result["steps"].get(step)
            row += (
                f"{m['wallSec']:>18.1f}{m['xRealtime'] or 0:>8.1f}{m['peakRssMiB']:>10.1f}"
                if m
                else f"{'-':>18}{'-':>8}{'-':>10}"
            )
        lines.append(row)
    lines.append(
        "generating the talk:  "
        + ", ".join(f"{r['minutes']:g} min in {r['generateSec']:.1f} s" for r in results)
    )
    for result in results:
        if result["failed"]:
            lines.append(f"FAILED at {result['minutes']:g} min: {result['failed']}")
    return "\n".join(lines)


def growth(results: list[dict[str, Any]]) -> dict[str, float]:
    """Each step's peak RSS at the longest length over its peak at the shortest."""
    shortest = min(results, key=lambda r: r["minutes"])
    longest = max(results, key=lambda r: r["minutes"])
    return {
        step: round(longest["steps"][step]["peakRssMiB"] / m["peakRssMiB"], 3)
        for step, m in shortest["steps"].items()
        if step in longest["steps"] and m["peakRssMiB"] > 0
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--minutes", default="5,60,120", help="lengths in minutes (default 5,60,120)"
    )
    parser.add_argument("--size", default="160x120", help="video size (default 160x120)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "out" / "memory.json", help="JSON results"
    )
    args = parser.parse_args(argv)
    results = []
    for minutes in (float(x) for x in args.minutes.split(",")):
        with tempfile.TemporaryDirectory(prefix="avocado-bench-memory-") as tmp:
            result = bench_one(minutes, args.size, Path(tmp))
        results.append(result)
        print(f"\n{minutes:g} min done\n{table([result])}", flush=True)
    print("\n" + table(results))
    ratios = growth(results) if len(results) > 1 else {}
    if ratios:
        shortest = min(r["minutes"] for r in results)
        longest = max(r["minutes"] for r in results)
        print(f"\npeak RSS at {longest:g} min / at {shortest:g} min (goal <= {GOAL}):")
        for step, ratio in ratios.items():
            print(f"  {step:<22}{ratio:>6.2f}  {'ok' if ratio <= GOAL else 'OVER'}")
    saved: Path = args.out
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({"results": results, "peakRatio": ratios}, indent=2) + "\n")
    print(f"\nsaved {saved}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
